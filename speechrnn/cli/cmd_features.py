"""``speechrnn features FILE...``: extract MFCC / log-mel features from audio files.

Prints one line per file (duration, frames, feature shape) and optionally saves each
matrix as ``<out>/<folders>/<stem>.npy`` (float32, ``(T, F)``; the inputs' folders below their
common parent are mirrored, and two inputs that would share a name are refused). Inputs are
files, folders (searched recursively for audio) or glob patterns. A file that cannot be read is
reported on stderr and the others are still processed; the exit status is 1 if any
file failed.

Example
-------
    speechrnn features speechrnn/assets/samples/sample.wav --style librosa --out feats/
"""
from __future__ import annotations

import argparse
import sys

from .options import add_out, gather_inputs, output_paths, positive_int, report_failed


def register(subparsers) -> None:
    """Add the ``features`` sub-command."""
    p = subparsers.add_parser(
        "features",
        help="extract MFCC features from audio files",
        description="Extract MFCC (or log-mel) features; print shapes, optionally save .npy.",
    )
    p.add_argument("files", nargs="+", metavar="INPUT",
                   help="audio files (wav/flac/ogg/mp3), directories or glob patterns")
    p.add_argument("--style", choices=["kaldi", "librosa"], default="kaldi",
                   help="reference implementation to match (default: kaldi)")
    p.add_argument("--kind", choices=["mfcc", "fbank"], default="mfcc",
                   help="cepstra or log-mel filterbank energies (default: mfcc)")
    p.add_argument("--n-mfcc", type=positive_int, default=40, help="cepstral coefficients (default: 40)")
    p.add_argument("--n-mels", type=positive_int, default=None,
                   help="mel filters (default: max(40, --n-mfcc))")
    p.add_argument("--deltas", type=int, choices=[0, 1, 2], default=0,
                   help="append deltas (1) or deltas and delta-deltas (2)")
    p.add_argument("--cmvn", choices=["none", "utterance"], default="none",
                   help="per-utterance mean/variance normalization (default: none)")
    add_out(p, "save each file's features as DIR/<folders>/<name>.npy", metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Extract features for every file; return 1 if any failed, else 0."""
    import numpy as np
    import torch

    from ..audio import load_audio
    from ..errors import SpeechRNNError
    from ..features import FeatureConfig, MFCCFrontend
    from ..fileio import atomic_write

    cfg = FeatureConfig(
        style=args.style, kind=args.kind, n_mfcc=args.n_mfcc,
        n_mels=args.n_mels if args.n_mels is not None else max(40, args.n_mfcc),
        deltas=args.deltas, cmvn=args.cmvn,
    )
    frontend = MFCCFrontend(cfg).eval()  # ConfigError -> reported by the dispatcher
    files, empty = gather_inputs("features", args.files)
    failed = empty
    targets = output_paths(files, args.out, "npy") if args.out is not None else None
    for i, name in enumerate(files):
        try:
            wav = load_audio(name, cfg.sample_rate)
        except SpeechRNNError as e:
            print(f"speechrnn features: {e}", file=sys.stderr)
            failed += 1
            continue
        with torch.inference_mode():
            feats, n = frontend(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
        mat = feats[0, : int(n[0])].numpy()  # (T, F)
        line = f"{name}: {len(wav) / cfg.sample_rate:.2f} s, {mat.shape[0]} frames, shape {mat.shape}"
        if targets is not None:
            with atomic_write(targets[i], "wb", durable=False) as fh:
                np.save(fh, mat.astype(np.float32))
            line += f" -> {targets[i]}"
        print(line, flush=True)
    return report_failed("features", failed, len(files) + empty)
