"""``speechrnn train CONFIG [--exp-dir DIR] [--no-resume] [key.sub=value ...]``."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a model from a YAML run config",
        description="Train any task from one YAML config (sections task, data, features, model, "
                    "train). Resumes from EXP_DIR/last.pt when it exists. For several processes "
                    "use: torchrun --nproc_per_node N -m speechrnn train CONFIG ...",
    )
    p.add_argument("config", help="YAML run config")
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="key.sub=value",
                   help="config overrides, e.g. train.lr=5e-4 model.encoder.num_layers=2")
    p.add_argument("-o", "--out", "--exp-dir", dest="exp_dir", default=None, metavar="EXP_DIR",
                   help="experiment folder (default: exp/<config file name without suffix>)")
    p.add_argument("--no-resume", action="store_true", help="start over even if last.pt exists")
    p.set_defaults(func=run)


def _split_overrides(args) -> list[str]:
    """Options may also follow the overrides (``CONFIG a=1 --exp-dir D``): pick them out."""
    extra = argparse.ArgumentParser(prog="speechrnn train", add_help=False)
    extra.add_argument("-o", "--out", "--exp-dir", dest="exp_dir", default=None)
    extra.add_argument("--no-resume", action="store_true")
    ns, rest = extra.parse_known_args(args.overrides)
    args.exp_dir = ns.exp_dir or args.exp_dir
    args.no_resume = ns.no_resume or args.no_resume
    bad = [r for r in rest if r.startswith("-") or "=" not in r]
    if bad:
        from ..errors import ConfigError

        raise ConfigError(f"train: {bad[0]!r} is neither an option nor a key.sub=value override")
    return rest


def run(args) -> int:
    from ..train import train

    args.overrides = _split_overrides(args)
    exp = args.exp_dir or str(Path("exp") / Path(args.config).stem)
    result = train(args.config, exp, args.overrides, resume=not args.no_resume)
    print(f"done: {result['epochs']} epoch(s), {result['steps']} step(s), best dev metric "
          f"{result['best']}, {result['skipped']} skipped batch(es); checkpoints in {exp}")
    return 0
