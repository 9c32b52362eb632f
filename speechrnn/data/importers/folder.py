"""Folder-per-label importer, for your own keyword or speaker recordings.

Layout::

    <corpus_dir>/<label>/**/*.wav|flac|ogg

Folders whose names start with ``_`` or ``.`` (e.g. ``_background_noise_``)
are skipped. Each file goes to ``train``, ``dev`` or ``test`` by a SHA-1 hash
of its path relative to its label folder, without extension, so the assignment
is deterministic, stable when files are added, and the same file name (e.g. one
speaker's take) lands in the same split under every label.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ...errors import CorpusError
from ..manifest import Utterance
from .common import AUDIO_EXTENSIONS, audio_duration, hash_split, require_dir, write_splits


def prepare_folder(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    label_field: Literal["label", "speaker"] = "label",
    dev_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> dict[str, list[Utterance]]:
    """Build ``train``/``dev``/``test`` manifests from a folder-per-label tree.

    Parameters
    ----------
    corpus_dir : path-like
        Root holding one folder per label (keyword or speaker).
    output_dir : path-like, optional
        Where to write ``train.jsonl``, ``dev.jsonl``, ``test.jsonl``.
    label_field : {"label", "speaker"}
        Which Utterance field receives the folder name.
    dev_fraction, test_fraction : float
        Expected fractions of files in dev and test (hash-based, so approximate).

    Returns
    -------
    dict
        ``{"train", "dev", "test"} -> [Utterance]``; ids are
        ``<label>/<relative path without extension>``.

    Raises
    ------
    CorpusError
        Missing folder, no label folders with audio, or bad fractions.
    """
    if label_field not in ("label", "speaker"):
        raise CorpusError(f"label_field must be 'label' or 'speaker', got {label_field!r}")
    if not (0 <= dev_fraction and 0 <= test_fraction and dev_fraction + test_fraction < 1):
        raise CorpusError(
            f"dev_fraction ({dev_fraction}) and test_fraction ({test_fraction}) "
            "must be >= 0 and sum below 1"
        )
    root = require_dir(Path(corpus_dir), "corpus folder")
    splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
    for label_dir in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    ):
        files = sorted(
            p for p in label_dir.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
        )
        for f in files:
            rel = f.relative_to(label_dir).with_suffix("").as_posix()
            split = hash_split(rel, dev_fraction, test_fraction)
            splits[split].append(
                Utterance(
                    id=f"{label_dir.name}/{rel}",
                    audio=str(f.resolve()),
                    duration=audio_duration(f),
                    **{label_field: label_dir.name},
                )
            )
    if not any(splits.values()):
        raise CorpusError(
            f"{root}: no audio found (expected <label>/*{'|*'.join(AUDIO_EXTENSIONS)} sub-folders)"
        )
    write_splits(output_dir, splits)
    return splits
