"""`speechrnn transcribe` and `speechrnn models`: thin wrappers over :class:`Recognizer`."""
from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from .decoding_args import add_decoding_args, decoding_config

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif"}


def expand_inputs(items: list[str]) -> list[str]:
    """FILES | DIRS (recursive, audio extensions) | GLOBS -> sorted unique file list.

    Names that match nothing are kept, so the batch reports them as missing files.
    """
    out: list[str] = []
    for item in items:
        if os.path.isdir(item):
            out += sorted(str(p) for p in Path(item).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
        elif any(c in item for c in "*?["):
            out += sorted(glob.glob(item, recursive=True))
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def run_transcribe(args) -> int:
    from tqdm import tqdm

    from ..errors import SpeechRNNError
    from ..inference import Recognizer
    from ..writers import get_writer

    decoding = decoding_config(args)
    writer = get_writer(args.format)
    files = expand_inputs(args.inputs)
    if not files:
        print("speechrnn transcribe: no input files", file=sys.stderr)
        return 2
    rec = Recognizer.load(args.model, device=args.device, threads=args.threads, decoding=decoding)
    out_dir = Path(args.output_dir) if args.output_dir else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    bar = tqdm(files, unit="file", disable=len(files) < 2 or not sys.stderr.isatty(), file=sys.stderr)
    for f in bar:
        try:
            result = rec.transcribe(f)
        except SpeechRNNError as e:
            failed.append(f)
            print(f"speechrnn transcribe: skipped {f}: {e}", file=sys.stderr)
            continue
        if out_dir:
            target = out_dir / f"{Path(f).stem}.{writer.extension}"
            tmp = target.with_suffix(target.suffix + ".tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                writer.write(result, fh)
            os.replace(tmp, target)
        else:
            if len(files) > 1 and args.format == "txt":
                sys.stdout.write(f"{f}\t")
            writer.write(result, sys.stdout)
    if failed:
        print(f"speechrnn transcribe: {len(failed)} of {len(files)} file(s) failed", file=sys.stderr)
        return 1
    return 0


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
    return 0


def register(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files to text",
                       description="Transcribe audio files; bad files are reported and skipped.")
    p.add_argument("inputs", nargs="+", help="audio files, directories or glob patterns")
    p.add_argument("--model", help="model file (default: the bundled English model)")
    p.add_argument("--format", default="txt", choices=["txt", "json", "srt", "vtt", "tsv"])
    p.add_argument("--output-dir", help="write one file per input here (default: stdout)")
    add_decoding_args(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=run_transcribe)

    m = sub.add_parser("models", help="list the bundled models")
    m.set_defaults(func=run_models)
