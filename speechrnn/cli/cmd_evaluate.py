"""``speechrnn evaluate CHECKPOINT MANIFEST [--beam-size N] [--lm ARPA] [--errors-file PATH]``."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="WER/CER of a transcription checkpoint on a manifest",
        description="Decode every utterance of MANIFEST with CHECKPOINT and report WER/CER "
                    "(jiwer); optionally write per-utterance errors, worst first.",
    )
    p.add_argument("checkpoint")
    p.add_argument("manifest")
    p.add_argument("--beam-size", type=int, default=1, help="1 = greedy (default); >1 = beam search")
    p.add_argument("--lm", default=None, help="KenLM ARPA/binary word LM for beam search")
    p.add_argument("--alpha", type=float, default=0.5, help="LM weight")
    p.add_argument("--beta", type=float, default=1.0, help="word insertion bonus")
    p.add_argument("--errors-file", default=None, help="write per-utterance errors (TSV)")
    p.add_argument("--max-seconds", type=float, default=120.0, help="audio seconds per batch")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..tasks.transcription import evaluate_checkpoint

    rates, rows = evaluate_checkpoint(
        args.checkpoint, args.manifest, beam_size=args.beam_size, lm=args.lm, alpha=args.alpha,
        beta=args.beta, max_seconds=args.max_seconds, device=args.device,
    )
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
