"""`speechrnn export`: a thin wrapper over :func:`speechrnn.export.export_model`."""
from __future__ import annotations

import sys
from pathlib import Path

from .decoding_args import add_decoding_args, decoding_config


def run_export(args) -> int:
    import torch

    from ..export import export_model

    if args.threads:
        torch.set_num_threads(args.threads)
    decoding = decoding_config(args)
    if decoding is not None and args.format != "checkpoint":
        print("speechrnn export: a default decoding (--decoder/--lm/...) needs --format checkpoint",
              file=sys.stderr)
        return 2
    out = export_model(args.checkpoint, args.output, format=args.format, int8=args.int8,
                       description=args.description)
    kind = f"{args.format}{' (int8)' if args.int8 else ''}"
    size_mb = out.stat().st_size / 1e6
    src_mb = Path(args.checkpoint).stat().st_size / 1e6
    print(f"exported {args.checkpoint} -> {out} [{kind}], {size_mb:.2f} MB (was {src_mb:.2f} MB)")
    if decoding is not None:
        from ..inference.model_decoding import attach_decoding, describe

        stored = attach_decoding(out, decoding)
        print(f"default decoding: {describe(stored)}"
              + "".join(f"; {f}" for f in (stored.lm_path, stored.lexicon_path) if f))
    return 0


def register(sub) -> None:
    from ..export import FORMATS

    p = sub.add_parser(
        "export", help="export a checkpoint for deployment (int8 checkpoint, TorchScript)",
        description="Export a trained checkpoint without its training state: a slim or int8 "
                    "self-describing checkpoint, or a traced TorchScript module (features "
                    "included; labels and frame shift stored in the archive). TorchScript "
                    "exports are checked against the original on a second input shape.",
    )
    p.add_argument("checkpoint", help="trained speechrnn checkpoint (.pt)")
    p.add_argument("output", help="file to write")
    p.add_argument("--format", default="checkpoint", choices=FORMATS,
                   help="checkpoint (loads with speechrnn.load_model) or torchscript")
    p.add_argument("--int8", action="store_true",
                   help="int8 weights (checkpoint: ~4x smaller file; torchscript: dynamic "
                        "int8 quantization for faster CPU inference)")
    p.add_argument("--description", help="free text stored with the model (shown by `models`)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    add_decoding_args(p, hotwords=False)
    p.description += (" Decoding options make that decoding the model's default (`transcribe` and "
                      "`evaluate` use it when given none); its LM/lexicon are copied beside OUTPUT.")
    p.set_defaults(func=run_export)
