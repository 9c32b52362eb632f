"""Shared test utilities: tiny real audio files written with soundfile.

The format follows the file suffix (``.wav`` 16-bit PCM, ``.flac``, ``.ogg``).
Signals are deterministic (seeded), so tests never depend on global RNG state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def _write(path, samples: np.ndarray, sr: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "VORBIS" if path.suffix.lower() == ".ogg" else "PCM_16"
    sf.write(str(path), samples.astype(np.float32), sr, subtype=subtype)
    return path


def tone(
    seconds: float, sr: int = 16000, freq: float = 440.0, amplitude: float = 0.5
) -> np.ndarray:
    """Sine ``(S,)`` float32 with ``S = round(seconds * sr)``."""
    t = np.arange(int(round(seconds * sr))) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_tone(
    path, seconds: float = 0.5, sr: int = 16000, freq: float = 440.0, amplitude: float = 0.5
) -> Path:
    """Write a sine tone; returns the path."""
    return _write(path, tone(seconds, sr, freq, amplitude), sr)


def write_noise(
    path, seconds: float = 0.5, sr: int = 16000, amplitude: float = 0.1, seed: int = 0
) -> Path:
    """Write seeded white noise; returns the path."""
    rng = np.random.default_rng(seed)
    return _write(path, amplitude * rng.uniform(-1, 1, int(round(seconds * sr))), sr)


def write_speech_like(
    path,
    seconds: float = 0.5,
    sr: int = 16000,
    f0: float = 120.0,
    syllable_hz: float = 4.0,
    seed: int = 0,
) -> Path:
    """Write a crude voiced signal: harmonics of ``f0`` with a syllable-rate
    amplitude envelope plus a little noise; returns the path."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    harmonics = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    envelope = 0.5 * (1 - np.cos(2 * np.pi * syllable_hz * t))
    noise = np.random.default_rng(seed).normal(0, 0.01, n)
    return _write(path, 0.2 * envelope * harmonics + noise, sr)
