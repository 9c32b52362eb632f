"""`speechrnn export`: a thin wrapper over :func:`speechrnn.export.export_model`."""
from __future__ import annotations

import sys
from pathlib import Path

from .decoding_args import add_decoding_args, decoding_for
from .options import add_positional_out, apply_threads, positional_out, positive_int


def run_export(args) -> int:
    from ..export import export_model
    from ..inference.models import resolve_model

    apply_threads(args.threads)
    src = resolve_model(args.checkpoint)
    output = positional_out(args, "output")
    decoding = decoding_for(args, src)
    if decoding is not None and args.format != "checkpoint":
        print("speechrnn export: a default decoding (--decoder/--lm/...) needs --format checkpoint",
              file=sys.stderr)
        return 2
    out = export_model(src, output, format=args.format, int8=args.int8,
                       description=args.description)
    kind = f"{args.format}{' (int8)' if args.int8 else ''}"
    size_mb = out.stat().st_size / 1e6
    src_mb = Path(src).stat().st_size / 1e6
    print(f"exported {src} -> {out} [{kind}], {size_mb:.2f} MB (was {src_mb:.2f} MB)")
    from ..inference.model_decoding import attach_decoding, describe, stored_decoding

    stored = attach_decoding(out, decoding) if decoding is not None else (
        stored_decoding(out) if args.format == "checkpoint" else None)
    if stored is not None:
        print(f"default decoding: {describe(stored)}"
              + "".join(f"; {f}" for f in (stored.lm_path, stored.lexicon_path) if f))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="export a checkpoint for deployment (int8 checkpoint, TorchScript)",
        description="Export a trained checkpoint without its training state: a slim or int8 "
                    "self-describing checkpoint, or a traced TorchScript module (features "
                    "included; labels and frame shift stored in the archive). TorchScript "
                    "exports are checked against the original on a second input shape. The new "
                    "file is verified before it replaces OUTPUT. A checkpoint export keeps the "
                    "model's default decoding and copies its LM/lexicon beside OUTPUT.",
    )
    p.add_argument("checkpoint", help="trained speechrnn checkpoint (.pt) or bundled model name")
    add_positional_out(p, "output", "file to write", "OUTPUT")
    # choices are checked by export_model (an unknown one lists them): importing speechrnn.export
    # here would load torch for `speechrnn --help`
    p.add_argument("--format", default="checkpoint",
                   help="checkpoint (default; loads with speechrnn.load_model), torchscript, or "
                        "onnx (front-end inside; runs on speechrnn.runtime without torch)")
    p.add_argument("--int8", action="store_true",
                   help="int8 weights (checkpoint: ~4x smaller file; torchscript / onnx: dynamic "
                        "int8 quantization for faster CPU inference)")
    p.add_argument("--description", help="free text stored with the model (shown by `models`)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    add_decoding_args(p, hotwords=False)
    p.description += (" Decoding options change that default decoding (each replaces only its "
                      "part; `transcribe` and `evaluate` use it when given none); its LM/lexicon "
                      "are copied beside OUTPUT.")
    p.set_defaults(func=run_export)
