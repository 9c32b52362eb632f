"""Helpers shared by the corpus importers: layout checks, header probing,
deterministic hash splits and writing ``<split>.jsonl`` files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from ...errors import CorpusError
from ..manifest import Utterance, write_manifest

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a folder, else raise CorpusError naming ``what``."""
    if not path.is_dir():
        raise CorpusError(f"{path}: missing {what} (expected a folder)")
    return path


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise CorpusError naming ``what``."""
    if not path.is_file():
        raise CorpusError(f"{path}: missing {what} (expected a file)")
    return path


def audio_duration(path: str | os.PathLike) -> float:
    """Duration in seconds read from the file header (no decoding).

    Raises
    ------
    CorpusError
        If the file is missing or its header cannot be read.
    """
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise CorpusError(f"{path}: cannot read audio header: {e}") from None
    if info.samplerate <= 0:
        raise CorpusError(f"{path}: audio header has sample rate {info.samplerate}")
    return info.frames / info.samplerate


def fail_on_missing(missing: list[str], what: str, where: Path) -> None:
    """Raise one CorpusError listing (the first few of) ``missing`` items."""
    if not missing:
        return
    shown = "\n  ".join(missing[:10])
    more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
    raise CorpusError(f"{where}: {len(missing)} {what}:\n  {shown}{more}")


def hash_fraction(key: str) -> float:
    """Deterministic number in [0, 1) from ``key`` (SHA-1; stable across runs and machines)."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hash_split(key: str, dev_fraction: float, test_fraction: float) -> str:
    """Assign ``key`` to ``"train"``, ``"dev"`` or ``"test"`` by its hash."""
    h = hash_fraction(key)
    if h < test_fraction:
        return "test"
    if h < test_fraction + dev_fraction:
        return "dev"
    return "train"


def write_splits(output_dir: str | os.PathLike | None, splits: dict[str, list[Utterance]]) -> None:
    """Write ``<output_dir>/<split>.jsonl`` for every split (no-op when ``output_dir`` is None)."""
    if output_dir is None:
        return
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, utts in splits.items():
        write_manifest(out / f"{name}.jsonl", utts)


def parse_table(
    path: Path, min_fields: int, max_fields: int | None = None
) -> Iterable[tuple[int, list[str]]]:
    """Yield ``(line_no, fields)`` of a whitespace-separated text file, skipping blank lines.

    Raises CorpusError naming the file and line when there are fewer than
    ``min_fields`` fields. With ``max_fields`` given, the line is split at most
    ``max_fields - 1`` times, so the last field keeps its inner spaces (text).
    """
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            fields = line.split(None, max_fields - 1) if max_fields else line.split()
            if len(fields) < min_fields:
                raise CorpusError(
                    f"{path}:{n}: expected at least {min_fields} fields, "
                    f"got {len(fields)}: {line!r}"
                )
            yield n, fields
