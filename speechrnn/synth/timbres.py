"""Generated espeak-ng timbres: new synthetic *speakers* beyond the ~100 the installed voices give.

espeak-ng shapes a voice with a variant file (``voices/!v/NAME``): formant frequency, height
and width scales, pitch base and range, voice-source lines (breath, roughness, flutter,
voicing), optionally the Klatt synthesizer. This module draws such files at random — a vocal
tract length and a pitch drawn per speaker, with a few percent of independent jitter per
formant — so a corpus can train on hundreds of distinct timbres instead of the installed few
dozen. They are meant for the *training* side only: held-out and validation voices stay the
installed ones, so an unseen-voice figure still measures voices that nobody drew.

A generated variant is named ``gen<seed>x<index>`` and its file is a pure function of that
name, so any process can rebuild it: :func:`ensure_timbre` writes it (once, atomically) into a
private copy of espeak-ng's data folder made of symlinks (:func:`timbre_data_dir`, 64 generated
variants per copy), and the espeak-ng engine passes ``--path`` to that copy for them.

Example
-------
>>> print(timbre_text(0, 3).splitlines()[1])
name gen0x0003
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..errors import SynthesisError
from ..fileio import atomic_write

__all__ = ["GENERATED", "is_generated", "timbre_name", "timbre_text", "timbre_gender", "timbre_data_dir",
           "ensure_timbre", "espeak_data_dir"]

GENERATED = re.compile(r"^gen(\d+)x(\d{4})$")


def is_generated(variant: str) -> bool:
    """True for a generated variant name ``gen<seed>x<index>``."""
    return GENERATED.match(variant) is not None


def _parse(variant: str) -> tuple[int, int]:
    """``(seed, index)`` of generated ``variant``; :class:`SynthesisError` for any other name."""
    m = GENERATED.match(variant)
    if m is None:
        raise SynthesisError(f"{variant!r} is not a generated timbre (gen<seed>x<index>)")
    return int(m.group(1)), int(m.group(2))


def timbre_name(seed: int, index: int) -> str:
    """The variant name of generated timbre ``index`` of ``seed``."""
    if seed < 0 or not 0 <= index < 10000:
        raise SynthesisError(f"generated timbre: need seed >= 0 and 0 <= index < 10000, got {seed}, {index}")
    return f"gen{seed}x{index:04d}"


def timbre_text(seed: int, index: int) -> str:
    """The espeak-ng variant file of one generated timbre (deterministic in ``seed, index``).

    Ranges follow the installed variants: formant scales 85-125 % (male vocal tracts around
    97 %, female around 112 %), pitch base 70-110 Hz (male) or 140-210 Hz (female), and
    sometimes breathiness, roughness, flutter or the Klatt source.
    """
    rng = np.random.default_rng([int(seed), int(index), 7919])
    female = bool(rng.random() < 0.5)
    tract = float(np.clip(rng.normal(1.12 if female else 0.97, 0.05), 0.85, 1.25))
    lines = ["language variant", f"name {timbre_name(seed, index)}", f"gender {'female' if female else 'male'}"]
    base = int(rng.integers(140, 211) if female else rng.integers(70, 111))
    lines.append(f"pitch {base} {base + int(rng.integers(30, 81))}")
    if rng.random() < 0.25:
        lines.append(f"klatt {int(rng.integers(1, 5))}")
    for k in range(9):
        # higher formants vary more between people than F1-F2 do; heights and widths shape
        # the spectral tilt and brightness
        freq = tract * (1 + rng.normal(0, 0.03 + 0.01 * min(k, 4)))
        height = rng.uniform(70, 130) if k < 6 else rng.uniform(50, 110)
        width = rng.uniform(70, 160)
        lines.append(f"formant {k} {int(round(100 * freq))} {int(round(height))} {int(round(width))}")
    if rng.random() < 0.35:
        lines.append("breath " + " ".join(str(int(b)) for b in [0] + list(rng.integers(0, 6, size=7))))
        lines.append("breathw " + " ".join(str(int(b)) for b in rng.integers(100, 401, size=6)))
    lines.append(f"roughness {int(rng.integers(0, 4))}")
    lines.append(f"flutter {int(rng.integers(0, 6))}")
    lines.append(f"voicing {int(rng.integers(80, 131))}")
    lines.append(f"consonants {int(rng.integers(70, 131))} {int(rng.integers(70, 131))}")
    return "\n".join(lines) + "\n"


def timbre_gender(variant: str) -> str:
    """``"F"`` or ``"M"``: the gender line of generated ``variant``'s file."""
    return "F" if "\ngender female\n" in timbre_text(*_parse(variant)) else "M"


_SHARD = 64  # generated variants per data folder: espeak-ng lists at most 349 voice files


def timbre_data_dir(variant: str) -> Path:
    """The private espeak-ng data folder that holds generated ``variant``.

    Symlinks to the installed data folder, except ``voices/!v``, which holds generated variants
    only — 64 per folder, as espeak-ng scans at most 349 voice files (languages + voices) and
    refuses any voice beyond them. Under ``$SPEECHRNN_CACHE`` (default ``~/.cache/speechrnn``),
    ``espeak-ng/<seed>-<shard>/espeak-ng-data``. Built once; concurrent builders race harmlessly
    (each builds in its own folder and renames).
    """
    seed, index = _parse(variant)
    cache = Path(os.environ.get("SPEECHRNN_CACHE") or Path.home() / ".cache" / "speechrnn")
    root = cache / "espeak-ng" / f"{seed}-{index // _SHARD}"
    data = root / "espeak-ng-data"
    if data.is_dir():
        return data
    system = espeak_data_dir()
    if system is None:
        raise SynthesisError("generated timbres need espeak-ng's data folder (espeak-ng --version: 'Data at')")
    tmp = root / f".build-{os.getpid()}"
    try:
        (tmp / "voices" / "!v").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SynthesisError(f"cannot create the generated-timbre folder {root} ({e.strerror}); "
                             "set SPEECHRNN_CACHE to a writable folder") from e
    for entry in system.iterdir():
        if entry.name != "voices":
            (tmp / entry.name).symlink_to(entry)
    for entry in (system / "voices").iterdir():
        if entry.name != "!v":
            (tmp / "voices" / entry.name).symlink_to(entry)
    try:
        tmp.rename(data)
    except OSError:  # another process won the race: keep its folder, drop ours
        shutil.rmtree(tmp, ignore_errors=True)
        if not data.is_dir():
            raise
    return data


def ensure_timbre(variant: str) -> Path:
    """Write generated ``variant``'s file into its :func:`timbre_data_dir`; returns that folder."""
    data = timbre_data_dir(variant)
    path = data / "voices" / "!v" / variant
    text = timbre_text(*_parse(variant))
    if not path.is_file() or path.read_text() != text:
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(text)
    return data


def espeak_data_dir() -> Path | None:
    """espeak-ng's data folder (``espeak-ng --version`` says "Data at: ..."), None if unknown."""
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"Data at:\s*(\S+)", out)
    return Path(m.group(1)) if m and Path(m.group(1)).is_dir() else None
