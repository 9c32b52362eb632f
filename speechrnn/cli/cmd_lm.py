"""`speechrnn lm`: build a word n-gram ARPA language model for beam-search decoding."""
from __future__ import annotations

import sys
from pathlib import Path

from .options import add_out, positive_int


def _sentences(source: str) -> list[str]:
    """Sentences of a manifest (.jsonl: the ``text`` fields), a text file, or a synth text source."""
    from ..text import normalize_text

    p = Path(source)
    if p.suffix == ".jsonl" and p.is_file():
        from ..data.manifest import read_manifest

        return [normalize_text(u.text) for u in read_manifest(p) if u.text]
    if p.is_file():
        return [normalize_text(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    from ..synth.textsource import load_sentences  # e.g. "wordnet", "fortunes"

    return [normalize_text(s) for s in load_sentences(source, 1, 1000)]


def run_lm(args) -> int:
    from ..lm import build_arpa

    sents = [s for src in args.sources for s in _sentences(src)]
    excluded = {s for src in args.exclude or [] for s in _sentences(src)}
    kept = [s for s in sents if s and s not in excluded]
    if not kept:
        print("speechrnn lm: no sentences left to train on", file=sys.stderr)
        return 2
    out = build_arpa(kept, args.out, order=args.order)
    vocab = {w for s in kept for w in s.split()}
    print(f"{out}: {args.order}-gram from {len(kept)} sentences ({len(sents) - len(kept)} excluded), "
          f"{len(vocab)} words")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "lm", help="build a word n-gram LM (ARPA) for beam search",
        description="Estimate a modified Kneser-Ney n-gram LM from manifests (.jsonl text fields), "
                    "text files (one sentence a line) or a synth text source (wordnet, fortunes). "
                    "Sentences found in --exclude sources (e.g. dev/test manifests) are left out.")
    p.add_argument("sources", nargs="+", help="manifests, text files or text-source names")
    add_out(p, "output .arpa (or .arpa.gz) path", required=True, metavar="FILE")
    p.add_argument("--order", type=positive_int, default=3)
    p.add_argument("--exclude", nargs="*", help="sources whose sentences must not be in the LM")
    p.set_defaults(func=run_lm)
