"""Google Speech Commands (v1/v2) importer.

Layout::

    <corpus_dir>/<word>/<speaker-hash>_nohash_<n>.wav
    <corpus_dir>/validation_list.txt      # "<word>/<file>.wav" per line -> dev
    <corpus_dir>/testing_list.txt         # -> test
    <corpus_dir>/testing_seen_list.txt    # optional -> test_seen (written by ``speechrnn synth
                                          # keywords``: clips of training voices; not in Google's
                                          # release, where speakers never cross splits)
    <corpus_dir>/_background_noise_/*.wav # long noise recordings

Protocols
---------
``"35class"``
    every word folder is a label (35 in v2, 30 in v1).
``"12class"``
    the ten commands ``yes no up down left right on off stop go`` keep their
    label, every other word becomes ``_unknown_``, and ``_silence_`` items are
    added: 1-second slices (``offset``/``duration``) of the background noise
    files. Each noise file is cut in time into train/dev/test regions (80/10/10)
    so silence audio never leaks across splits; offsets are drawn from a
    generator seeded by ``(seed, split)``, so the result is deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from ...errors import CorpusError
from ..manifest import Utterance
from .common import audio_duration, fail_on_missing, require_dir, require_file, write_splits

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
NOISE_DIR = "_background_noise_"
# Fractions of each background-noise file (in time) reserved for each split.
_NOISE_REGIONS = {"train": (0.0, 0.8), "dev": (0.8, 0.9), "test": (0.9, 1.0)}


def prepare_speech_commands(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    protocol: Literal["12class", "35class"] = "35class",
    silence_fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, list[Utterance]]:
    """Build ``train``/``dev``/``test`` manifests for Speech Commands.

    Parameters
    ----------
    corpus_dir : path-like
        Extracted ``speech_commands_v0.02`` folder.
    output_dir : path-like, optional
        Where to write ``train.jsonl``, ``dev.jsonl``, ``test.jsonl``.
    protocol : {"35class", "12class"}
        Label set (see module docstring).
    silence_fraction : float
        12-class only: number of ``_silence_`` items per split as a fraction
        of that split's word items (0.1 as in the original benchmark).
    seed : int
        Seeds the choice of silence slices.

    Returns
    -------
    dict
        ``{"train", "dev", "test"} -> [Utterance]`` (plus ``"test_seen"`` when
        ``testing_seen_list.txt`` exists) with ``label`` set,
        ``speaker`` the hash prefix of the file name, ``extra["word"]`` the
        original word.

    Raises
    ------
    CorpusError
        Missing list files, list entries without audio, no word folders, or
        (12-class) a missing ``_background_noise_`` folder.
    """
    if protocol not in ("12class", "35class"):
        raise CorpusError(
            f"unknown Speech Commands protocol {protocol!r} (use '12class' or '35class')"
        )
    root = require_dir(Path(corpus_dir), "Speech Commands corpus folder")
    dev_set = _read_list(require_file(root / "validation_list.txt", "validation_list.txt"), root)
    test_set = _read_list(require_file(root / "testing_list.txt", "testing_list.txt"), root)
    seen_list = root / "testing_seen_list.txt"
    seen_set = _read_list(seen_list, root) if seen_list.is_file() else set()
    words = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    )
    if not words:
        raise CorpusError(f"{root}: no word folders (expected e.g. yes/, no/, ...)")

    splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
    if seen_set:
        splits["test_seen"] = []
    for word in words:
        label = word if protocol == "35class" or word in COMMANDS else UNKNOWN
        for wav in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{wav.name}"
            split = ("dev" if rel in dev_set else "test" if rel in test_set
                     else "test_seen" if rel in seen_set else "train")
            splits[split].append(
                Utterance(
                    id=f"{word}/{wav.stem}",
                    audio=str(wav.resolve()),
                    duration=audio_duration(wav),
                    label=label,
                    speaker=wav.name.split("_nohash_")[0],
                    extra={"word": word},
                )
            )
    if protocol == "12class":
        noise = _noise_files(
            require_dir(root / NOISE_DIR, f"{NOISE_DIR} folder (needed for 12class)")
        )
        for i, split in enumerate(("train", "dev", "test")):
            count = int(np.floor(silence_fraction * len(splits[split]) + 0.5))  # round half up
            splits[split].extend(
                _silence_items(noise, split, count, np.random.default_rng([seed, i]))
            )
    write_splits(output_dir, splits)
    return splits


def _read_list(path: Path, root: Path) -> set[str]:
    """Entries of a split list file; raises CorpusError if any entry has no audio file."""
    entries = [
        line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    fail_on_missing(
        [e for e in entries if not (root / e).is_file()],
        f"entries of {path.name} have no audio file",
        root,
    )
    return set(entries)


def _noise_files(noise_dir: Path) -> list[tuple[Path, float]]:
    files = [(p, audio_duration(p)) for p in sorted(noise_dir.glob("*.wav"))]
    files = [(p, d) for p, d in files if d * 0.1 >= 1.0]  # every region must hold a 1 s slice
    if not files:
        raise CorpusError(f"{noise_dir}: no background noise .wav of at least 10 s")
    return files


def _silence_items(
    noise: list[tuple[Path, float]], split: str, count: int, rng: np.random.Generator
) -> list[Utterance]:
    """``count`` 1-second slices drawn from ``split``'s time region of the noise files."""
    lo, hi = _NOISE_REGIONS[split]
    lengths = np.array([d for _, d in noise])
    file_idx = rng.choice(len(noise), size=count, p=lengths / lengths.sum())
    starts = rng.random(count)
    items = []
    for k, (fi, u) in enumerate(zip(file_idx, starts, strict=True)):
        path, dur = noise[fi]
        first, last = lo * dur, hi * dur - 1.0  # slice [offset, offset+1] stays inside the region
        # millisecond grid, clamped so rounding never crosses into another split's region
        offset = float(
            np.clip(
                round(first + u * (last - first), 3),
                np.ceil(first * 1000) / 1000,
                np.floor(last * 1000) / 1000,
            )
        )
        items.append(
            Utterance(
                id=f"{SILENCE}/{split}-{k:05d}",
                audio=str(path.resolve()),
                offset=offset,
                duration=1.0,
                label=SILENCE,
                extra={"word": SILENCE, "noise": path.stem},
            )
        )
    return items
