"""``speechrnn evaluate CHECKPOINT MANIFEST [decoding options] [--errors-file PATH]`` and
``speechrnn tune-decoding CHECKPOINT DEV --lm LM --decoder beam lexicon --alpha … --beta …``."""
from __future__ import annotations

import sys

from .decoding_args import add_decoding_args, decoding_for
from .options import add_device_args, add_out, check_device, positive_float


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="WER/CER of a transcription checkpoint on a manifest",
        description="Decode every utterance of MANIFEST with CHECKPOINT and report WER/CER "
                    "(jiwer); optionally write per-utterance errors, worst first.",
    )
    p.add_argument("checkpoint", help="transcription model file or bundled model name")
    p.add_argument("manifest", help="JSONL manifest (one utterance per line: audio, text)")
    add_decoding_args(p)
    add_out(p, "write per-utterance errors here (TSV, worst first)", aliases=("--errors-file",),
            metavar="FILE")
    p.add_argument("--max-seconds", type=positive_float, default=120.0,
                   help="audio seconds per batch")
    add_device_args(p, threads=False)
    p.set_defaults(func=run)

    t = subparsers.add_parser(
        "tune-decoding", help="choose a decoder and LM weights on dev data (grid search)",
        description="Run CHECKPOINT once over the DEV manifest, then decode its posteriors with "
                    "every combination of --decoder x --alpha x --beta and print WER/CER, best "
                    "first (stderr shows each as it is scored). Tune on dev data, never on a test set.")
    t.add_argument("checkpoint", help="transcription model file or bundled model name")
    t.add_argument("manifest", help="dev manifest (JSONL)")
    t.add_argument("--lm", required=True, help="KenLM word n-gram (ARPA or binary)")
    t.add_argument("--lexicon", help="allowed words for --decoder lexicon (default: the LM's unigrams)")
    t.add_argument("--decoder", nargs="+", default=["beam", "lexicon"], choices=["beam", "lexicon"])
    t.add_argument("--beam-size", type=_ints, default=[32],
                   help="comma-separated, one per decoder or one for all (default 32)")
    t.add_argument("--alpha", type=_floats, default=[0.3, 0.6, 1.0], help="comma-separated LM weights")
    t.add_argument("--beta", type=_floats, default=[0.0, 1.0, 2.0], help="comma-separated word bonuses; "
                   "write negative ones as --beta=-1,0,1")
    add_out(t, "write the grid here (TSV: decoder beam_size alpha beta wer cer)", metavar="FILE")
    t.add_argument("--max-seconds", type=positive_float, default=120.0,
                   help="audio seconds per batch")
    add_device_args(t, threads=False)
    t.set_defaults(func=run_tune)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def run_tune(args) -> int:
    import sys

    from ..config import from_dict
    from ..decoding import DecodingConfig
    from ..inference.models import resolve_model
    from ..inference.evaluation import tune_decoding

    check_device(args.device)
    args.checkpoint = resolve_model(args.checkpoint)
    beams = args.beam_size
    if len(beams) not in (1, len(args.decoder)):
        print("speechrnn tune-decoding: give one --beam-size, or one per --decoder", file=sys.stderr)
        return 2
    beams = beams * len(args.decoder) if len(beams) == 1 else beams
    grid = [from_dict(DecodingConfig, {"method": dec, "beam_size": beam, "lm_path": args.lm,
                                       "lexicon_path": args.lexicon, "alpha": a, "beta": b},
                      "decoding")
            for dec, beam in zip(args.decoder, beams) for a in args.alpha for b in args.beta]

    def row(d, r) -> str:
        return f"{d.method}\t{d.beam_size}\t{d.alpha:g}\t{d.beta:g}\t{100 * r.wer:.2f}\t{100 * r.cer:.2f}"

    def progress(d, r) -> None:  # grid order, as each is scored; the table below is best first
        print(f"scored {row(d, r)}", file=sys.stderr, flush=True)

    rows = tune_decoding(args.checkpoint, args.manifest, grid, max_seconds=args.max_seconds,
                         device=args.device, progress=progress)
    print("decoder\tbeam_size\talpha\tbeta\twer\tcer")
    for d, r in rows:
        print(row(d, r))
    best, rates = rows[0]
    print(f"best: --decoder {best.method} --beam-size {best.beam_size} --alpha {best.alpha:g} "
          f"--beta {best.beta:g}  (WER {100 * rates.wer:.2f}%  CER {100 * rates.cer:.2f}%)")
    if args.out:
        from ..fileio import atomic_write

        with atomic_write(args.out, "w", encoding="utf-8") as f:
            f.write("decoder\tbeam_size\talpha\tbeta\twer\tcer\n")
            f.writelines(row(d, r) + "\n" for d, r in rows)
    return report_unreadable("tune-decoding", rates.skipped, len(rates.skipped) + len(rates.utterances))


def run(args) -> int:
    from ..inference.models import resolve_model
    from ..inference.evaluation import evaluate_checkpoint

    check_device(args.device)
    model = resolve_model(args.checkpoint)
    rates, rows = evaluate_checkpoint(model, args.manifest, decoding_for(args, model),
                                      max_seconds=args.max_seconds, device=args.device)
    print(f"WER {100 * rates.wer:.2f}%  CER {100 * rates.cer:.2f}%  "
          f"({rates.ref_words} words, {len(rates.utterances)} utterances; "
          f"S {rates.substitutions} D {rates.deletions} I {rates.insertions})")
    if args.out:
        write_errors(args.out, rows)
        print(f"per-utterance errors: {args.out}")
    return report_unreadable("evaluate", rates.skipped, len(rates.skipped) + len(rates.utterances))


def report_unreadable(cmd: str, skipped, total: int | None = None) -> int:
    """Name each utterance an evaluation left out (``(id, reason)``); the exit status: 1 if any."""
    for uid, why in skipped:
        print(f"speechrnn {cmd}: not scored {uid}: {why}", file=sys.stderr)
    if skipped:
        of = f" of {total}" if total is not None else ""
        print(f"speechrnn {cmd}: {len(skipped)}{of} utterance(s) could not be read and are not in "
              "the figures above", file=sys.stderr)
    return 1 if skipped else 0


def write_errors(path, rows: list[dict]) -> None:
    """Tab-separated per-utterance errors, one header line, worst utterance first."""
    import csv

    from ..fileio import atomic_write

    cols = ["id", "wer", "cer", "errors", "ref_words", "substitutions", "deletions", "insertions",
            "ref", "hyp"]
    with atomic_write(path, "w", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols, delimiter="\t", lineterminator="\n",
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
