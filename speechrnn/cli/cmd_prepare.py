"""``speechrnn prepare CORPUS CORPUS_DIR OUT_DIR``: write ``<split>.jsonl`` manifests.

Examples
--------
    speechrnn prepare librispeech ~/data/LibriSpeech data/libri --parts dev-clean test-clean
    speechrnn prepare speech_commands ~/data/speech_commands_v0.02 data/kws --protocol 12class
    speechrnn prepare voxceleb ~/data/voxceleb1 data/vox --trial-list veri_test2.txt
    speechrnn prepare kaldi ~/kaldi/egs/x/data data/x
    speechrnn prepare folder ~/my_keywords data/mine --label-field label
"""

from __future__ import annotations

import argparse

from .options import add_positional_out, positional_out


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prepare",
        help="build JSONL manifests from a corpus folder",
        description="Validate a corpus layout and write <OUT_DIR>/<split>.jsonl manifests.",
        epilog=(__doc__ or "").partition("Examples\n--------\n")[2] or None,  # no docstrings under python -OO
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    corpora = p.add_subparsers(dest="corpus", metavar="CORPUS")
    corpora.required = True

    def corpus(name: str, help: str) -> argparse.ArgumentParser:
        c = corpora.add_parser(name, help=help)
        c.add_argument("corpus_dir", metavar="CORPUS_DIR", help="the corpus folder, as extracted")
        add_positional_out(c, "out_dir", "where <split>.jsonl manifests are written", "OUT_DIR")
        c.set_defaults(func=_run)
        return c

    c = corpus("librispeech", "LibriSpeech: <part>/<speaker>/<chapter>/*.trans.txt + .flac")
    c.add_argument("--parts", nargs="+", default=None, help="parts to import (default: all found)")

    c = corpus("speech_commands", "Google Speech Commands v1/v2")
    c.add_argument(
        "--protocol",
        choices=["35class", "12class"],
        default="35class",
        help="35class: every word; 12class: 10 commands + _unknown_ + _silence_",
    )
    c.add_argument(
        "--silence-fraction", type=float, default=0.1, help="12class: silence items per word item"
    )
    c.add_argument("--seed", type=int, default=0, help="12class: seed for silence slices")

    c = corpus(
        "voxceleb", "VoxCeleb1: wav/<speaker>/<video>/*.wav + iden_split.txt / veri_test2.txt"
    )
    c.add_argument("--trial-list", default=None, help="trial list file name inside CORPUS_DIR")

    c = corpus(
        "kaldi", "Kaldi data directory (wav.scp, text, utt2spk, segments) or a folder of them"
    )
    c.add_argument("--split", default=None, help="split name for a single data directory")

    c = corpus("folder", "one folder per label: CORPUS_DIR/<label>/*.wav|flac|ogg")
    c.add_argument(
        "--label-field",
        choices=["label", "speaker"],
        default="label",
        help="store folder names as keyword labels or as speaker ids",
    )
    c.add_argument("--dev-fraction", type=float, default=0.1)
    c.add_argument("--test-fraction", type=float, default=0.1)


_OPTIONS = {
    "librispeech": ("parts",),
    "speech_commands": ("protocol", "silence_fraction", "seed"),
    "voxceleb": ("trial_list",),
    "kaldi": ("split",),
    "folder": ("label_field", "dev_fraction", "test_fraction"),
}


def _run(args: argparse.Namespace) -> int:
    from ..data.importers import IMPORTERS
    from ..data.manifest import labels, speakers, total_duration

    kwargs = {k: getattr(args, k) for k in _OPTIONS[args.corpus]}
    args.out_dir = positional_out(args, "out_dir")
    splits = IMPORTERS[args.corpus](args.corpus_dir, args.out_dir, **kwargs)
    print(f"{'split':<20} {'utterances':>10} {'hours':>8} {'speakers':>8} {'labels':>6}")
    for name, utts in splits.items():
        print(
            f"{name:<20} {len(utts):>10} {total_duration(utts) / 3600:>8.3f}"
            f" {len(speakers(utts)):>8} {len(labels(utts)):>6}"
        )
    print(f"wrote {len(splits)} manifest(s) to {args.out_dir}")
    return 0
