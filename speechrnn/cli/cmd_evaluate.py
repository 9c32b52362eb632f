"""``speechrnn evaluate CHECKPOINT MANIFEST [decoding options] [--errors-file PATH]``."""
from __future__ import annotations

from .decoding_args import add_decoding_args, decoding_config


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="WER/CER of a transcription checkpoint on a manifest",
        description="Decode every utterance of MANIFEST with CHECKPOINT and report WER/CER "
                    "(jiwer); optionally write per-utterance errors, worst first.",
    )
    p.add_argument("checkpoint")
    p.add_argument("manifest")
    add_decoding_args(p)
    p.add_argument("--errors-file", default=None, help="write per-utterance errors (TSV)")
    p.add_argument("--max-seconds", type=float, default=120.0, help="audio seconds per batch")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..tasks.transcription import evaluate_checkpoint

    rates, rows = evaluate_checkpoint(args.checkpoint, args.manifest, decoding_config(args),
                                      max_seconds=args.max_seconds, device=args.device)
    print(f"WER {100 * rates.wer:.2f}%  CER {100 * rates.cer:.2f}%  "
          f"({rates.ref_words} words, {len(rates.utterances)} utterances; "
          f"S {rates.substitutions} D {rates.deletions} I {rates.insertions})")
    if args.errors_file:
        write_errors(args.errors_file, rows)
        print(f"per-utterance errors: {args.errors_file}")
    return 0


def write_errors(path, rows: list[dict]) -> None:
    """Tab-separated per-utterance errors, one header line, worst utterance first."""
    import csv

    cols = ["id", "wer", "cer", "errors", "ref_words", "substitutions", "deletions", "insertions",
            "ref", "hyp"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols, delimiter="\t", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
