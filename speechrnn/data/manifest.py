"""One manifest schema for every task: JSON Lines of :class:`Utterance` records.

A manifest line describes one utterance: an audio file (or a slice of it, via
``offset``/``duration`` in seconds) plus whatever supervision the task needs —
``text`` for transcription, ``label`` for keyword spotting, ``speaker`` for
speaker identification. Anything else goes under ``extra``; other top-level
keys are rejected so that typos fail loudly.

Example line::

    {"id": "84-121123-0000", "audio": "dev-clean/84/121123/84-121123-0000.flac",
     "duration": 1.505, "text": "go do you hear", "speaker": "84"}

Relative ``audio`` paths are resolved against the manifest's folder, so a
corpus folder with its manifests can be moved as a whole.

Example
-------
>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> utts = [Utterance("a", os.path.join(d, "a.wav"), text="hi")]
>>> write_manifest(os.path.join(d, "m.jsonl"), utts)
>>> [u.text for u in read_manifest(os.path.join(d, "m.jsonl"))]
['hi']
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError, ManifestNotFoundError
from ..fileio import atomic_write

__all__ = [
    "Utterance",
    "read_manifest",
    "write_manifest",
    "filter_by_duration",
    "total_duration",
    "speakers",
    "labels",
    "replace",
]


@dataclass
class Utterance:
    """One utterance: an audio file or a slice of one, plus its supervision.

    Parameters
    ----------
    id : str
        Unique identifier within a manifest.
    audio : str
        Path to the audio file (absolute once read from a manifest).
    offset : float
        Start of the utterance inside the file, seconds (>= 0).
    duration : float or None
        Length in seconds (> 0); None when unknown. For whole files it is the
        file's duration; with an ``offset`` it is the slice length.
    text : str or None
        Transcript (transcription task).
    speaker : str or None
        Speaker identifier (speaker task; also used to split data by speaker).
    label : str or None
        Class label (keyword spotting / classification task).
    extra : dict
        Free-form additional fields (JSON-serialisable).
    """

    id: str
    audio: str
    offset: float = 0.0
    duration: float | None = None
    text: str | None = None
    speaker: str | None = None
    label: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def end(self) -> float | None:
        """End time inside the file in seconds, or None when the duration is unknown."""
        return None if self.duration is None else self.offset + self.duration

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict without default-valued optional fields."""
        out: dict[str, Any] = {"id": self.id, "audio": str(self.audio)}
        if self.offset:
            out["offset"] = self.offset
        for key in ("duration", "text", "speaker", "label"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.extra:
            out["extra"] = self.extra
        return out


# key -> (accepted python types, allows None, human-readable type name)
_SCHEMA: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "id": ((str,), False, "a non-empty string"),
    "audio": ((str,), False, "a non-empty string"),
    "offset": ((int, float), False, "a number"),
    "duration": ((int, float), True, "a number or null"),
    "text": ((str,), True, "a string or null"),
    "speaker": ((str,), True, "a string or null"),
    "label": ((str,), True, "a string or null"),
    "extra": ((dict,), False, "an object"),
}
_REQUIRED = ("id", "audio")


def _validate_record(obj: Any) -> list[str]:
    """Return every reason why ``obj`` is not a valid manifest record (empty if valid)."""
    if not isinstance(obj, dict):
        return [f"expected a JSON object, got {type(obj).__name__}"]
    reasons = []
    unknown = sorted(set(obj) - set(_SCHEMA))
    if unknown:
        reasons.append(
            f"unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(_SCHEMA)};"
            " put other fields under 'extra')"
        )
    for key in _REQUIRED:
        if key not in obj:
            reasons.append(f"missing required key {key!r}")
    for key, (types, nullable, tname) in _SCHEMA.items():
        if key not in obj:
            continue
        value = obj[key]
        if value is None and nullable:
            continue
        bad_type = isinstance(value, bool) or not isinstance(value, types)
        if bad_type or (key in _REQUIRED and not value):
            reasons.append(f"{key!r} must be {tname}, got {value!r}")
            continue
        if key in ("offset", "duration") and not math.isfinite(value):
            reasons.append(f"{key!r} must be finite, got {value!r}")
        elif key == "offset" and value < 0:
            reasons.append(f"'offset' must be >= 0, got {value!r}")
        elif key == "duration" and value <= 0:
            reasons.append(f"'duration' must be > 0, got {value!r}")
    return reasons


def read_manifest(
    path: str | os.PathLike, root: str | os.PathLike | None = None
) -> list[Utterance]:
    """Read and validate a JSONL manifest.

    Parameters
    ----------
    path : path-like
        The manifest file (one JSON object per line; blank lines are ignored).
    root : path-like, optional
        Folder that relative ``audio`` paths are resolved against; defaults to
        the manifest's own folder.

    Returns
    -------
    list of Utterance
        In file order, with absolute ``audio`` paths.

    Raises
    ------
    ManifestError
        Listing *every* bad line with its number and reason: invalid JSON,
        missing ``id``/``audio``, wrong types, negative offset, non-positive
        duration, unknown top-level keys, duplicate ids.
    ManifestNotFoundError
        If the manifest itself does not exist (a ``FileNotFoundError``, reported cleanly by
        the CLI).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestNotFoundError(path)
    base = Path(root) if root is not None else path.parent
    base = base.resolve()
    problems: list[tuple[int, str]] = []
    utts: list[Utterance] = []
    first_line_of: dict[str, int] = {}
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append((line_no, "not UTF-8 text (an audio or binary file, not a "
                                          "JSONL manifest?); reading stopped here"))
                break
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append((line_no, f"invalid JSON: {e.msg} at column {e.colno}"))
                continue
            reasons = _validate_record(obj)
            if not reasons and obj["id"] in first_line_of:
                reasons.append(
                    f"duplicate id {obj['id']!r} (first on line {first_line_of[obj['id']]})"
                )
            if reasons:
                problems.extend((line_no, r) for r in reasons)
                continue
            first_line_of[obj["id"]] = line_no
            audio = Path(obj["audio"])
            obj["audio"] = str(audio if audio.is_absolute() else base / audio)
            for key in ("offset", "duration"):
                if obj.get(key) is not None:
                    obj[key] = float(obj[key])
            utts.append(Utterance(**obj))
    if problems:
        raise ManifestError(path, problems)
    return utts


def _relative_if_inside(audio: str, folder: Path) -> str:
    """``audio`` relative to ``folder`` when it lies inside it, else unchanged."""
    p = Path(audio)
    if not p.is_absolute():
        return audio
    try:
        return p.resolve().relative_to(folder).as_posix()
    except ValueError:
        return audio


def write_manifest(path: str | os.PathLike, utts: Iterable[Utterance]) -> None:
    """Write utterances as JSONL, atomically (temporary file + ``os.replace``).

    Audio paths inside the manifest's folder are written relative to it, so the
    folder can be moved; other paths are written as given.

    Parameters
    ----------
    path : path-like
        Destination; parent folders are created.
    utts : iterable of Utterance
        Written in order. Ids must be unique.

    Raises
    ------
    ManifestError
        If ids repeat (line numbers refer to the lines that would be written).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent.resolve()
    lines, seen, problems = [], {}, []
    for n, u in enumerate(utts, start=1):
        if u.id in seen:
            problems.append((n, f"duplicate id {u.id!r} (first on line {seen[u.id]})"))
        seen.setdefault(u.id, n)
        rec = u.to_dict()
        rec["audio"] = _relative_if_inside(rec["audio"], folder)
        lines.append(json.dumps(rec, ensure_ascii=False))
    if problems:
        raise ManifestError(path, problems)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))


def filter_by_duration(
    utts: Sequence[Utterance],
    min_duration: float | None = None,
    max_duration: float | None = None,
) -> list[Utterance]:
    """Keep utterances with ``min_duration <= duration <= max_duration``.

    Utterances whose duration is unknown (None) are dropped when either bound is
    given, since they cannot be shown to satisfy it.
    """
    if min_duration is None and max_duration is None:
        return list(utts)
    lo = -math.inf if min_duration is None else min_duration
    hi = math.inf if max_duration is None else max_duration
    return [u for u in utts if u.duration is not None and lo <= u.duration <= hi]


def total_duration(utts: Iterable[Utterance]) -> float:
    """Sum of known durations in seconds (utterances with ``duration=None`` count 0)."""
    return float(sum(u.duration for u in utts if u.duration is not None))


def speakers(utts: Iterable[Utterance]) -> list[str]:
    """Sorted distinct speaker ids (None excluded)."""
    return sorted({u.speaker for u in utts if u.speaker is not None})


def labels(utts: Iterable[Utterance]) -> list[str]:
    """Sorted distinct labels (None excluded)."""
    return sorted({u.label for u in utts if u.label is not None})


def replace(utt: Utterance, **changes) -> Utterance:
    """Copy of ``utt`` with fields changed (``extra`` is copied, not shared)."""
    changes.setdefault("extra", dict(utt.extra))
    return dataclasses.replace(utt, **changes)
