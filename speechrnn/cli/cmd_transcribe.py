"""`speechrnn transcribe` and `speechrnn models`: thin wrappers over :class:`Recognizer`."""
from __future__ import annotations

import sys

from .decoding_args import add_decoding_args, decoding_for
from .options import (AUDIO_EXTENSIONS, add_device_args, add_out, apply_threads, check_device, gather_inputs,
                      output_paths, report_failed)

__all__ = ["AUDIO_EXTENSIONS", "expand_inputs"]


def expand_inputs(items: list[str]) -> list[str]:
    """FILES | DIRS (recursive, audio extensions) | GLOBS -> sorted unique file list.

    Names that match nothing are kept, so the batch reports them as missing files.
    """
    from .options import _expand

    out: list[str] = []
    for item in items:
        found, why = _expand(item)
        out += found if found else [item]
    return list(dict.fromkeys(out))


def run_transcribe(args) -> int:
    from ..errors import ConfigError, SpeechRNNError
    from ..fileio import atomic_write
    from ..inference import Recognizer
    from ..inference.models import resolve_model
    from ..progress import progress_bar
    from ..writers import Listing, get_writer

    writer = get_writer(args.format)
    files, empty = gather_inputs("transcribe", args.inputs)
    failed = empty
    targets = output_paths(files, args.out, writer.extension) if args.out else None
    if targets is None and args.format in ("srt", "vtt") and len(files) > 1:
        raise ConfigError(f"--format {args.format} holds one recording: give --out DIR for "
                          f"{len(files)} files (one {args.format} file each)")
    check_device(args.device)
    model = resolve_model(args.model, "transcription")
    apply_threads(args.threads)
    rec = Recognizer.load(model, device=args.device,
                          decoding=decoding_for(args, model))
    listing = Listing(args.format, sys.stdout)
    bar = progress_bar(files, unit="file", enabled=len(files) > 1)
    for i, f in enumerate(bar):
        try:
            result = rec.transcribe(f)
        except SpeechRNNError as e:
            failed += 1
            print(f"speechrnn transcribe: skipped {f}: {e}", file=sys.stderr)
            continue
        if targets:
            with atomic_write(targets[i], "w", encoding="utf-8", durable=False) as fh:
                writer.write(result, fh)
        else:
            listing.add(f, result)
    return report_failed("transcribe", failed, len(files) + empty)


def run_models(args) -> int:
    from ..inference import list_models

    rows = list_models()
    if not rows:
        print("no bundled models installed")
        return 0
    for r in rows:
        star = "*" if r["default"] else " "
        parents = f" [trained from {' <- '.join(r['init_from'])}]" if r["init_from"] else ""
        dec = f" [decoding: {r['decoding']}]" if r["decoding"] else ""
        print(f"{star} {r['name']:<22} {r['task']:<14} {r['size_mb']:>6.2f} MB  {r['description']}{parents}{dec}")
        for path in [r["path"], *r["decoding_files"]]:
            print(f"  {'':<22} {path}")
    print("(* the default for its task; pass a name or a path to --model)")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "transcribe", help="transcribe audio files to text",
        description="Transcribe audio files; bad files are reported and skipped (exit 1). On "
                    "stdout every format marks each result with its file: txt prints "
                    "FILE<TAB>TEXT lines, json one object per line (JSON Lines), tsv a leading "
                    "file column; srt/vtt hold one recording, so several need --out DIR.")
    p.add_argument("inputs", nargs="+", help="audio files, directories or glob patterns")
    p.add_argument("--model", help="model file or bundled model name (default: the bundled "
                                   "English model; `speechrnn models` lists them)")
    p.add_argument("--format", default="txt", choices=["txt", "json", "srt", "vtt", "tsv"])
    add_out(p, "write one file per input into DIR, mirroring the inputs' folders (default: "
               "stdout)", aliases=("--output-dir",), metavar="DIR")
    add_decoding_args(p)
    add_device_args(p)
    p.set_defaults(func=run_transcribe)

    m = sub.add_parser("models", help="list the bundled models and their files",
                       description="List the bundled models: name (usable as --model NAME), "
                                   "task, size, description, default decoding, and the paths "
                                   "of the model file and of the LM its decoding needs.")
    m.set_defaults(func=run_models)
