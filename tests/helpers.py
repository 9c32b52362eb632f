"""Shared test utilities: tiny real audio files written with soundfile, and tiny
look-alike corpus trees (LibriSpeech, Speech Commands, VoxCeleb1, Kaldi, folder-per-label).

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


# --- look-alike corpus trees (tiny real audio) for importer/dataset tests ---------------
def make_librispeech(root):
    """dev-clean (1 speaker, 2 utts) + test-clean (2 speakers) with FLAC and .trans.txt."""
    layout = {
        "dev-clean": {("84", "121123"): ["GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES"]},
        "test-clean": {
            ("1089", "134686"): ["HE HOPED THERE WOULD BE STEW"],
            ("121", "121726"): ["ALSO A POPULAR CONTRIVANCE"],
        },
    }
    for part, chapters in layout.items():
        for (spk, chap), texts in chapters.items():
            d = root / part / spk / chap
            lines = []
            for i, text in enumerate(texts):
                utt = f"{spk}-{chap}-{i:04d}"
                write_speech_like(d / f"{utt}.flac", seconds=0.25 + 0.05 * i, seed=i)
                lines.append(f"{utt} {text}")
            (d / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def make_speech_commands(root):
    """yes/no/cat words (9 files, 0.2 s), validation/testing lists, 20 s + 12 s noise."""
    files = {
        "yes": ["aa11_nohash_0", "aa11_nohash_1", "bb22_nohash_0", "cc33_nohash_0"],
        "no": ["aa11_nohash_0", "bb22_nohash_0", "dd44_nohash_0"],
        "cat": ["bb22_nohash_0", "ee55_nohash_0"],
    }
    for word, stems in files.items():
        for k, stem in enumerate(stems):
            write_tone(root / word / f"{stem}.wav", seconds=0.2, freq=300 + 50 * k)
    (root / "validation_list.txt").write_text(
        "yes/bb22_nohash_0.wav\nno/bb22_nohash_0.wav\ncat/bb22_nohash_0.wav\n"
    )
    (root / "testing_list.txt").write_text("yes/cc33_nohash_0.wav\nno/dd44_nohash_0.wav\n")
    write_noise(root / "_background_noise_" / "white_noise.wav", seconds=20.0, seed=1)
    write_noise(root / "_background_noise_" / "pink_ish.wav", seconds=12.0, seed=2)
    (root / "_background_noise_" / "README.md").write_text("noise")
    return root


def make_voxceleb(root):
    """8 wavs of 4 speakers, iden_split.txt (3 train/1 dev/1 test), veri_test2.txt (2 trials)."""
    files = [
        "id10001/1zcIwhmdeo4/00001",
        "id10001/1zcIwhmdeo4/00002",
        "id10001/7gWzIy6yIIk/00001",
        "id10002/C7k7C-PDvAA/00001",
        "id10002/C7k7C-PDvAA/00002",
        "id10270/x6uYqmx31kE/00001",
        "id10270/8jEAjG6SegY/00008",
        "id10271/1gtz-CUIygI/00001",
    ]
    for i, f in enumerate(files):
        write_tone(root / "wav" / f"{f}.wav", seconds=0.1 + 0.01 * i, freq=200 + 30 * i)
    (root / "iden_split.txt").write_text(
        "1 id10001/1zcIwhmdeo4/00001.wav\n1 id10001/1zcIwhmdeo4/00002.wav\n"
        "2 id10001/7gWzIy6yIIk/00001.wav\n"
        "1 id10002/C7k7C-PDvAA/00001.wav\n3 id10002/C7k7C-PDvAA/00002.wav\n"
    )
    (root / "veri_test2.txt").write_text(
        "1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav\n"
        "0 id10270/x6uYqmx31kE/00001.wav id10271/1gtz-CUIygI/00001.wav\n"
    )
    return root


def make_kaldi(d, audio_dir):
    """Data dir ``d`` with wav.scp: rec1 (2 s wav, absolute) and rec2 (0.5 s flac, ../audio)."""
    write_speech_like(audio_dir / "rec1.wav", seconds=2.0)
    write_tone(audio_dir / "rec2.flac", seconds=0.5)
    d.mkdir(parents=True)
    (d / "wav.scp").write_text(f"rec1 {audio_dir / 'rec1.wav'}\nrec2 ../audio/rec2.flac\n")
    return d


def make_folder(root, n=30):
    """alice (wav), bob (flac), carol (ogg): ``n`` 50 ms takes each; plus ignored _ignored/."""
    for spk, fmt in (("alice", "wav"), ("bob", "flac"), ("carol", "ogg")):
        for i in range(n):
            write_tone(root / spk / f"take{i:03d}.{fmt}", seconds=0.05, freq=200 + i)
    write_noise(root / "_ignored" / "noise.wav", seconds=0.05)
    (root / "alice" / "notes.txt").write_text("not audio")
    return root
