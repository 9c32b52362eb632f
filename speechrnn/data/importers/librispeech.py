"""LibriSpeech importer.

Layout (as distributed by OpenSLR 12)::

    <corpus_dir>/<part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <corpus_dir>/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<nnnn>.flac

where ``<part>`` is e.g. ``train-clean-100``, ``dev-clean``, ``test-other``.
Each transcript line is ``<utterance-id> <UPPER CASE TEXT>``. Every part
becomes one split named after it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import CorpusError
from ..manifest import Utterance
from .common import audio_duration, fail_on_missing, require_dir, write_splits

PART_PATTERN = re.compile(r"^(train|dev|test)-(clean|other)(-\d+)?$")


def prepare_librispeech(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    parts: list[str] | None = None,
) -> dict[str, list[Utterance]]:
    """Build manifests for the LibriSpeech parts found in ``corpus_dir``.

    Parameters
    ----------
    corpus_dir : path-like
        The ``LibriSpeech`` folder holding part folders.
    output_dir : path-like, optional
        Where to write ``<part>.jsonl``.
    parts : list of str, optional
        Parts to import (default: every folder named like ``train-clean-100``).

    Returns
    -------
    dict
        ``{part: [Utterance]}``; text lower-cased, ``speaker`` the speaker id,
        ``extra={"chapter": ...}``, ``duration`` from the FLAC header.

    Raises
    ------
    CorpusError
        Missing corpus/part folder, a chapter folder without its
        ``.trans.txt``, a malformed transcript line, or a missing audio file.
    """
    root = require_dir(Path(corpus_dir), "LibriSpeech corpus folder")
    if parts is None:
        parts = sorted(p.name for p in root.iterdir() if p.is_dir() and PART_PATTERN.match(p.name))
        if not parts:
            raise CorpusError(
                f"{root}: no LibriSpeech part folders (like train-clean-100, dev-clean, test-other)"
            )
    splits = {
        part: _read_part(require_dir(root / part, f"LibriSpeech part {part!r}")) for part in parts
    }
    write_splits(output_dir, splits)
    return splits


def _read_part(part_dir: Path) -> list[Utterance]:
    utts: list[Utterance] = []
    missing: list[str] = []
    for speaker_dir in sorted(p for p in part_dir.iterdir() if p.is_dir()):
        for chapter_dir in sorted(p for p in speaker_dir.iterdir() if p.is_dir()):
            trans = chapter_dir / f"{speaker_dir.name}-{chapter_dir.name}.trans.txt"
            if not trans.is_file():
                raise CorpusError(f"{trans}: missing LibriSpeech transcript file")
            for n, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                utt_id, _, text = line.strip().partition(" ")
                if not text.strip():
                    raise CorpusError(
                        f"{trans}:{n}: expected '<utterance-id> <text>', got {line!r}"
                    )
                audio = chapter_dir / f"{utt_id}.flac"
                if not audio.is_file():
                    missing.append(str(audio))
                    continue
                utts.append(
                    Utterance(
                        id=utt_id,
                        audio=str(audio.resolve()),
                        duration=audio_duration(audio),
                        text=" ".join(text.lower().split()),
                        speaker=speaker_dir.name,
                        extra={"chapter": chapter_dir.name},
                    )
                )
    fail_on_missing(missing, "audio file(s) listed in transcripts are missing", part_dir)
    if not utts:
        raise CorpusError(f"{part_dir}: no utterances (expected <speaker>/<chapter>/*.trans.txt)")
    return utts
