"""One lever run of the adaptation demo: `speechrnn adapt` with changed settings, scored on dev sets.

    python recipes/adaptation/levers.py NAME BUDGET_MINUTES INPUT_DIR[,INPUT_DIR...] [key=value ...]
        [--dev MANIFEST ...] [--labels-from WORK_DIR]

``key=value`` sets an :class:`~speechrnn.adapt.pipeline.AdaptConfig` field (JSON value, e.g.
``lr=0.001`` or ``refit_cmvn=true``); ``flt.key=value`` a label filter
(:class:`~speechrnn.adapt.filters.FilterConfig`, e.g. ``flt.min_avg_logprob=-0.45``).
``--labels-from`` copies an earlier run's ``labels/`` so labelling is not repeated (the budget then
goes to training). Writes ``exp/adapt_demo/levers/NAME.pt`` and prints one JSON line: the held-out
slice's WER (teacher labels) and the WER/CER on each ``--dev`` manifest (true text). Never pass the
test set: levers are chosen on dev data.

The README's levers table (recipes/adaptation/README.md), e.g.::

    python recipes/adaptation/levers.py conf 13 data/adapt_demo/domain_telephone/unlabeled \\
        flt.min_avg_logprob=-0.45 --labels-from exp/adapt_demo/final/adapted.pt.work \\
        --dev data/adapt_demo/domain_telephone/corpus/dev.jsonl data/adapt_demo/domain_telephone_s1/test.jsonl
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from speechrnn.adapt.filters import FilterConfig
from speechrnn.adapt.pipeline import AdaptConfig, adapt
from speechrnn.adapt.pseudolabel import PseudoLabelConfig
from speechrnn.inference.evaluation import evaluate_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("budget_minutes", type=float, help="0: no budget (epochs=N then decides)")
    ap.add_argument("inputs", help="comma-separated folders of unlabeled recordings")
    ap.add_argument("settings", nargs="*", help="key=value (AdaptConfig) or flt.key=value (FilterConfig)")
    ap.add_argument("--dev", nargs="*", default=[], help="labelled dev manifests (never the test)")
    ap.add_argument("--labels-from", default=None, help="an earlier work dir whose labels/ to reuse")
    ap.add_argument("--exp", default="exp/adapt_demo/levers")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    kv = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.settings)}
    filters = {k[4:]: kv.pop(k) for k in list(kv) if k.startswith("flt.")}
    exp = Path(args.exp)
    work = exp / f"{args.name}.work"
    if args.labels_from and not (work / "labels").exists():
        shutil.copytree(Path(args.labels_from) / "labels", work / "labels")
    cfg = AdaptConfig(work_dir=str(work), threads=2, budget_minutes=args.budget_minutes or None,
                      labels=PseudoLabelConfig(filters=FilterConfig(**filters)), **kv)
    report = adapt(args.inputs.split(","), exp / f"{args.name}.pt", cfg, log=lambda line: None)
    dev = {}
    for m in args.dev:
        rates, _ = evaluate_checkpoint(exp / f"{args.name}.pt", m)
        dev[m] = {"wer": round(rates.wer, 4), "cer": round(rates.cer, 4), "words": rates.ref_words}
    print(json.dumps({"lever": args.name, "settings": kv, "filters": filters, "heldout": report["heldout"],
                      "dev": dev, "kept_minutes": round(report["labels"]["kept_hours"] * 60, 1),
                      "epochs": report["train"]["epochs"], "seconds": report["seconds"]}))


if __name__ == "__main__":
    main()
