"""Seeded waveform augmentation; every applied step is recorded as a JSON-friendly dict.

Steps, each applied with its own probability, in this order: speed perturbation (resample,
changes tempo and pitch), room reverb (exponentially decaying noise impulse response with a
sampled RT60), telephone channel (300-3400 Hz band-pass + 8 kHz round trip), additive noise
at a sampled SNR (white/pink/brown, babble from other utterances, or a file from a user
noise folder), gain, and leading/trailing silence.

Example
-------
>>> import numpy as np
>>> x = np.sin(np.linspace(0, 800, 16000)).astype(np.float32)
>>> y, rec = augment(x, 16000, np.random.default_rng(0), AugmentConfig())
>>> y.dtype, isinstance(rec, list)
(dtype('float32'), True)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError

__all__ = ["AugmentConfig", "augment", "colored_noise", "add_noise", "reverb", "telephone",
           "speed", "NoiseBank"]


@dataclass
class AugmentConfig:
    """Probabilities and ranges of each step (all ranges are ``[low, high]``)."""

    p_speed: float = 0.3              # probability of speed perturbation
    speed: list[float] = field(default_factory=lambda: [0.9, 1.1])       # rate factor
    p_reverb: float = 0.3
    rt60: list[float] = field(default_factory=lambda: [0.15, 0.7])       # seconds
    p_telephone: float = 0.1
    p_noise: float = 0.6
    snr_db: list[float] = field(default_factory=lambda: [5.0, 30.0])
    noise_kinds: list[str] = field(default_factory=lambda: ["white", "pink", "brown", "babble", "file"])
    p_gain: float = 0.5
    gain_db: list[float] = field(default_factory=lambda: [-12.0, 3.0])
    p_silence: float = 0.5
    silence_s: list[float] = field(default_factory=lambda: [0.0, 0.4])   # each side

    def validate(self) -> None:
        for name in ("p_speed", "p_reverb", "p_telephone", "p_noise", "p_gain", "p_silence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"AugmentConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("speed", "rt60", "snr_db", "gain_db", "silence_s"):
            r = getattr(self, name)
            if len(r) != 2 or r[0] > r[1]:
                raise ConfigError(f"AugmentConfig.{name} must be [low, high], got {r}")
        bad = sorted(set(self.noise_kinds) - {"white", "pink", "brown", "babble", "file"})
        if bad:
            raise ConfigError(f"AugmentConfig.noise_kinds: unknown kind {bad[0]!r}")

    @classmethod
    def off(cls) -> "AugmentConfig":
        """No augmentation at all."""
        return cls(p_speed=0, p_reverb=0, p_telephone=0, p_noise=0, p_gain=0, p_silence=0)


class NoiseBank:
    """Sources for ``babble`` (other utterances) and ``file`` noise (a user folder).

    Parameters
    ----------
    babble : list of np.ndarray
        16 kHz speech clips ``(S,)`` mixed 3-5 at a time.
    noise_dir : str or Path, optional
        Folder searched recursively for audio files (wav/flac/ogg/mp3) loaded on demand.
    """

    def __init__(self, babble: list[np.ndarray] | None = None, noise_dir=None):
        self.babble = [np.asarray(b, np.float32) for b in (babble or []) if len(b)]
        self.files = []
        if noise_dir is not None:
            d = Path(noise_dir)
            if not d.is_dir():
                raise ConfigError(f"noise folder {d} does not exist")
            self.files = sorted(p for p in d.rglob("*") if p.suffix.lower() in {".wav", ".flac", ".ogg", ".mp3"})
            if not self.files:
                raise ConfigError(f"noise folder {d} holds no audio files")
        self._cache: dict[Path, np.ndarray] = {}

    def load(self, path: Path, sample_rate: int) -> np.ndarray:
        if path not in self._cache:
            from ..audio import load_audio

            self._cache[path] = load_audio(path, sample_rate)
        return self._cache[path]


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """White (flat), pink (1/f power) or brown (1/f^2 power) noise ``(n,)``, unit RMS."""
    white = rng.standard_normal(n)
    if kind == "white":
        x = white
    else:
        spec = np.fft.rfft(white)                          # (n//2+1,)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        spec /= np.sqrt(f) if kind == "pink" else f
        x = np.fft.irfft(spec, n)                          # (n,)
    x = x - x.mean()
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def _fit(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Loop or crop ``noise`` to length ``n`` at a random offset."""
    if len(noise) < n:
        noise = np.tile(noise, int(np.ceil(n / len(noise))) + 1)
    start = int(rng.integers(0, len(noise) - n + 1))
    return noise[start:start + n]


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix ``noise`` (same length) into ``x`` at ``snr_db`` relative to the speech RMS."""
    scale = _rms(x) / (_rms(noise) * 10 ** (snr_db / 20))
    return (x + scale * noise).astype(np.float32)


def reverb(x: np.ndarray, sample_rate: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with an exponentially decaying noise RIR (60 dB decay after ``rt60`` s)."""
    from scipy.signal import fftconvolve

    n = max(int(rt60 * sample_rate), 16)
    t = np.arange(n) / sample_rate
    rir = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)   # ln(1000) = 6.9078 -> -60 dB
    rir[0] = 1.0                                                 # direct path
    rir /= np.sqrt(np.sum(rir ** 2))
    y = fftconvolve(x, rir)[: len(x)]                            # (S,)
    return (y * (_rms(x) / _rms(y))).astype(np.float32)


def telephone(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """300-3400 Hz band-pass and a round trip through 8 kHz."""
    from scipy.signal import butter, sosfiltfilt

    from ..audio import resample

    sos = butter(4, [300, 3400], btype="bandpass", fs=sample_rate, output="sos")
    y = sosfiltfilt(sos, x).astype(np.float32)
    y = resample(resample(y, sample_rate, 8000), 8000, sample_rate)[: len(x)]
    return np.ascontiguousarray(y, dtype=np.float32)


def speed(x: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Play ``factor`` times faster (duration / factor, pitch * factor)."""
    from ..audio import resample

    return resample(x, int(round(sample_rate * factor)), sample_rate)


def _u(rng, r) -> float:
    return float(rng.uniform(r[0], r[1]))


def augment(x: np.ndarray, sample_rate: int, rng: np.random.Generator, cfg: AugmentConfig,
            bank: NoiseBank | None = None) -> tuple[np.ndarray, list[dict]]:
    """Apply the configured random steps to ``x`` ``(S,)``.

    Returns
    -------
    y : np.ndarray
        float32 ``(S',)`` (length changes with speed and silence), peak at most 0.99.
    record : list of dict
        One dict per applied step, e.g. ``{"step": "noise", "kind": "pink", "snr_db": 12.3}``.
    """
    bank = bank or NoiseBank()
    y = np.asarray(x, dtype=np.float32)
    rec: list[dict] = []
    if rng.random() < cfg.p_speed:
        f = round(_u(rng, cfg.speed), 3)
        y = speed(y, f, sample_rate)
        rec.append({"step": "speed", "factor": f})
    if rng.random() < cfg.p_reverb:
        rt = round(_u(rng, cfg.rt60), 3)
        y = reverb(y, sample_rate, rt, rng)
        rec.append({"step": "reverb", "rt60": rt})
    if rng.random() < cfg.p_telephone:
        y = telephone(y, sample_rate)
        rec.append({"step": "telephone", "band_hz": [300, 3400], "via_hz": 8000})
    if rng.random() < cfg.p_noise:
        kinds = [k for k in cfg.noise_kinds
                 if (k != "babble" or len(bank.babble) >= 2) and (k != "file" or bank.files)]
        if kinds:
            kind = str(rng.choice(kinds))
            snr = round(_u(rng, cfg.snr_db), 2)
            step = {"step": "noise", "kind": kind, "snr_db": snr}
            if kind == "babble":
                k = int(rng.integers(2, min(5, len(bank.babble)) + 1))
                idx = sorted(int(i) for i in rng.choice(len(bank.babble), size=k, replace=False))
                noise = sum(_fit(bank.babble[i], len(y), rng) for i in idx)
                step["talkers"] = k
            elif kind == "file":
                path = bank.files[int(rng.integers(len(bank.files)))]
                noise = _fit(bank.load(path, sample_rate), len(y), rng)
                step["file"] = path.name
            else:
                noise = colored_noise(len(y), kind, rng)
            y = add_noise(y, np.asarray(noise, np.float32), snr)
            rec.append(step)
    if rng.random() < cfg.p_gain:
        g = round(_u(rng, cfg.gain_db), 2)
        y = (y * 10 ** (g / 20)).astype(np.float32)
        rec.append({"step": "gain", "db": g})
    if rng.random() < cfg.p_silence:
        lead, trail = round(_u(rng, cfg.silence_s), 3), round(_u(rng, cfg.silence_s), 3)
        y = np.concatenate([np.zeros(int(lead * sample_rate), np.float32), y,
                            np.zeros(int(trail * sample_rate), np.float32)])
        rec.append({"step": "silence", "lead_s": lead, "trail_s": trail})
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return y.astype(np.float32), rec
