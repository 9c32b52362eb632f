"""Audio input: load, resample, validate and write waveforms.

Everything downstream sees one thing: a ``np.float32`` mono waveform ``(S,)`` at
:data:`SAMPLE_RATE`. Files are decoded with libsndfile (``soundfile``): WAV, FLAC,
OGG/Vorbis/Opus and, where the installed libsndfile supports it, MP3. Resampling
uses soxr (the high-quality resampler librosa uses), which is both faster than
``torchaudio.functional.resample`` for arbitrary rate pairs and alias-free.

Every problem a user can hit raises a subclass of :class:`speechrnn.errors.AudioError`
whose message names the file and the reason:

==============================  ==================================================
missing file or a directory     :class:`~speechrnn.errors.AudioFileNotFoundError`
not audio (text, PNG, ...)      :class:`~speechrnn.errors.NotAudioError`
audio libsndfile cannot decode  :class:`~speechrnn.errors.UnsupportedFormatError`
truncated / damaged audio       :class:`~speechrnn.errors.CorruptAudioError`
no samples                      :class:`~speechrnn.errors.EmptyAudioError`
NaN or infinite samples         :class:`~speechrnn.errors.InvalidSamplesError`
longer than ``max_duration``    :class:`~speechrnn.errors.AudioTooLongError`
==============================  ==================================================

Example
-------
>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
>>> write_audio(path, np.zeros(8000, dtype=np.float32), 8000)
>>> load_audio(path).shape            # resampled to 16 kHz
(16000,)
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from .errors import (
    AudioError,
    AudioFileNotFoundError,
    AudioTooLongError,
    ConfigError,
    CorruptAudioError,
    EmptyAudioError,
    InvalidSamplesError,
    NotAudioError,
    UnsupportedFormatError,
)
from .fileio import atomic_write

__all__ = [
    "SAMPLE_RATE",
    "SILENCE_DBFS",
    "peak_dbfs",
    "AudioInfo",
    "audio_info",
    "load_audio",
    "prepare_waveform",
    "resample",
    "write_audio",
]

#: The rate every model in speechrnn works at.
SAMPLE_RATE = 16000
#: A recording whose peak is below this level (dB re full scale) holds nothing to hear: no word
#: to learn, no voice to embed (dither and idle-line noise sit far below it).
SILENCE_DBFS = -70.0
#: Arrays with at most this many rows/columns on one axis are read as multi-channel.
MAX_CHANNELS = 8
# MP3 frame counts from the header are estimates; allow this many samples of slack.
_MP3_SLACK = 2 * 1152


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says, read without decoding the samples.

    Attributes
    ----------
    sample_rate : int
        Samples per second per channel.
    channels : int
        Number of channels.
    frames : int
        Samples per channel.
    duration : float
        ``frames / sample_rate`` in seconds.
    format : str
        Container as libsndfile names it (``"WAV"``, ``"FLAC"``, ``"OGG"``, ``"MP3"``).
    subtype : str
        Sample encoding (``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``, ...).
    """

    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str


# --------------------------------------------------------------------------- #
# Diagnosis: turn libsndfile's failures into the errors users see
# --------------------------------------------------------------------------- #
def peak_dbfs(*arrays: np.ndarray) -> float:
    """Peak level of the samples in ``arrays`` in dB re full scale (``-inf`` if all zero or empty)."""
    peak = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
    return 20.0 * float(np.log10(peak)) if peak > 0 else float("-inf")


def _check_file(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path if it is a regular, non-empty file; raise otherwise."""
    p = Path(path)
    if not p.exists():
        raise AudioFileNotFoundError(p, "no such file")
    if p.is_dir():
        raise AudioFileNotFoundError(p, "is a directory, not an audio file")
    if not p.is_file():
        raise AudioFileNotFoundError(p, "not a regular file")
    if p.stat().st_size == 0:
        raise EmptyAudioError(p, "empty file (0 bytes)")
    return p


def _sniff(head: bytes) -> tuple[str, str]:
    """Classify a file by its first bytes.

    Returns
    -------
    (kind, name)
        ``kind`` is ``"audio"`` (a container libsndfile reads), ``"unsupported"``
        (audio libsndfile does not read) or ``"other"``; ``name`` describes it.
    """
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") or head[:4] == b"FORM":
        return "audio", "RIFF/AIFF"
    if head[:4] == b"fLaC":
        return "audio", "FLAC"
    if head[:4] == b"OggS":
        return "audio", "OGG"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        if "MP3" in sf.available_formats():
            return "audio", "MP3"
        return "unsupported", "MP3 (this libsndfile has no MP3 support; convert to WAV/FLAC)"
    if head[:4] in (b".snd", b"caff"):
        return "audio", "AU/CAF"
    if head[4:8] == b"ftyp":
        return "unsupported", "MP4/M4A/AAC (convert to WAV/FLAC)"
    for magic, name in (
        (b"#!AMR", "AMR"),
        (b"MAC ", "Monkey's Audio"),
        (b"wvpk", "WavPack"),
        (b"\x30\x26\xb2\x75", "WMA/ASF"),
    ):
        if head.startswith(magic):
            return "unsupported", f"{name} (convert to WAV/FLAC)"
    for magic, name in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive"),
        (b"\x1f\x8b", "a gzip archive"),
    ):
        if head.startswith(magic):
            return "other", name
    try:
        head.decode("utf-8")
        return "other", "a text file"
    except UnicodeDecodeError:
        return "other", "an unrecognised binary file"


def _diagnose(path: Path, exc: Exception) -> AudioError:
    """Map a libsndfile failure on ``path`` to the matching :class:`AudioError`."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    kind, name = _sniff(head)
    detail = str(exc).split(": ", 1)[-1] or type(exc).__name__
    if kind == "audio":
        return CorruptAudioError(path, f"damaged or truncated {name} audio ({detail})")
    if kind == "unsupported":
        return UnsupportedFormatError(path, f"unsupported audio format: {name}")
    return NotAudioError(path, f"not an audio file: looks like {name} (expected WAV/FLAC/OGG/MP3)")


def _wav_declared_frames(path: Path) -> int | None:
    """Frames the WAV ``data`` chunk header promises, or None if unknown/not a WAV.

    libsndfile silently shortens a truncated WAV to the bytes present; comparing with
    the header's promise is how a cut-off download is caught.
    """
    with open(path, "rb") as fh:
        riff = fh.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return None
        block_align = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = fh.read(size + (size & 1))
                if len(fmt) < 14:
                    return None
                block_align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                if not block_align or size in (0, 0xFFFFFFFF):  # streaming placeholder
                    return None
                return size // block_align
            else:
                fh.seek(size + (size & 1), os.SEEK_CUR)


def _info(path: Path) -> sf._SoundFileInfo:
    try:
        return sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as e:
        raise _diagnose(path, e) from None


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Read a file's header without decoding it.

    Parameters
    ----------
    path : str or PathLike
        Audio file.

    Returns
    -------
    AudioInfo

    Raises
    ------
    AudioError
        A subclass naming the file and the reason (missing, not audio, corrupt, ...).
    """
    p = _check_file(path)
    info = _info(p)
    frames = int(info.frames)
    return AudioInfo(
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=frames,
        duration=frames / info.samplerate if info.samplerate else 0.0,
        format=str(info.format),
        subtype=str(info.subtype),
    )


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #
def load_audio(
    path: str | os.PathLike,
    sample_rate: int = SAMPLE_RATE,
    *,
    offset: float = 0.0,
    duration: float | None = None,
    max_duration: float | None = None,
) -> np.ndarray:
    """Decode an audio file to a mono float32 waveform at ``sample_rate``.

    Parameters
    ----------
    path : str or PathLike
        WAV, FLAC, OGG (Vorbis/Opus) or MP3 file, any rate, channel count and
        sample format.
    sample_rate : int
        Target rate in Hz.
    offset : float
        Start reading this many seconds into the file (only the needed frames are
        decoded).
    duration : float, optional
        Read at most this many seconds; ``None`` reads to the end.
    max_duration : float, optional
        Refuse audio longer than this many seconds (of the requested segment),
        checked from the header before decoding.

    Returns
    -------
    np.ndarray
        float32 ``(S,)`` in ``[-1, 1]`` for integer sources.

    Raises
    ------
    AudioError
        The subclass for the problem (see the module docstring); the message names
        the file.
    """
    if offset < 0:
        raise ConfigError(f"offset must be >= 0, got {offset}")
    if duration is not None and duration <= 0:
        raise ConfigError(f"duration must be > 0, got {duration}")
    p = _check_file(path)
    info = _info(p)
    sr, total = int(info.samplerate), int(info.frames)

    declared = _wav_declared_frames(p) if info.format == "WAV" else None
    if declared is not None and total < declared:
        raise CorruptAudioError(
            p, f"truncated WAV: header declares {declared} frames but only {total} are present"
        )
    if total == 0:
        raise EmptyAudioError(p, "audio holds no samples")

    start = int(round(offset * sr))
    if start >= total:
        raise EmptyAudioError(
            p, f"offset {offset:.3f} s is past the end of the audio ({total / sr:.3f} s)"
        )
    n = total - start if duration is None else min(int(round(duration * sr)), total - start)
    if max_duration is not None and n / sr > max_duration + 1e-9:
        raise AudioTooLongError(
            p, f"audio is {n / sr:.2f} s long, more than the maximum of {max_duration:.2f} s"
        )

    try:
        with sf.SoundFile(str(p)) as f:
            if start:
                f.seek(start)
            data = f.read(frames=n, dtype="float32", always_2d=True)  # (n, C)
    except (sf.SoundFileError, RuntimeError) as e:
        raise _diagnose(p, e) from None
    slack = _MP3_SLACK if info.format == "MP3" else 0
    if data.shape[0] < n - slack or data.shape[0] == 0:
        raise CorruptAudioError(
            p, f"truncated {info.format} audio: expected {n} frames, decoded {data.shape[0]}"
        )
    return prepare_waveform(data, sr, sample_rate, path=p)


# --------------------------------------------------------------------------- #
# Arrays
# --------------------------------------------------------------------------- #
def _to_float32(x: np.ndarray, path) -> np.ndarray:
    """Integer PCM -> [-1, 1) float32; float -> float32; anything else is an error."""
    if x.dtype == np.uint8:
        return (x.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(x.dtype, np.signedinteger):
        return x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(np.float32, copy=False)
    raise AudioError(path, f"unsupported sample type {x.dtype}")


def _to_mono(x: np.ndarray, path) -> np.ndarray:
    """``(S,)``, ``(S,C)`` or ``(C,S)`` with ``C <= MAX_CHANNELS`` -> ``(S,)`` by averaging."""
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise AudioError(path, f"expected a (S,), (S,C) or (C,S) array, got shape {x.shape}")
    rows, cols = x.shape
    if cols <= MAX_CHANNELS and (rows > cols or rows > MAX_CHANNELS):
        return x.mean(axis=1) if cols > 1 else x[:, 0]  # (S,C) -> (S,)
    if rows <= MAX_CHANNELS:
        return x.mean(axis=0) if rows > 1 else x[0]  # (C,S) -> (S,)
    raise AudioError(path, f"cannot tell channels from samples in shape {x.shape}")


def prepare_waveform(
    samples: Any,
    sample_rate: int,
    target_rate: int = SAMPLE_RATE,
    *,
    max_duration: float | None = None,
    path: str | os.PathLike | None = None,
) -> np.ndarray:
    """Validate an in-memory waveform and bring it to mono float32 at ``target_rate``.

    Parameters
    ----------
    samples : np.ndarray or torch.Tensor
        ``(S,)``, ``(S, C)`` or ``(C, S)`` with ``C <= 8``; float in ``[-1, 1]`` or
        integer PCM (scaled to ``[-1, 1)``).
    sample_rate : int
        Rate of ``samples`` in Hz.
    target_rate : int
        Rate of the result in Hz.
    max_duration : float, optional
        Refuse input longer than this many seconds.
    path : str or PathLike, optional
        Source file, used only in error messages.

    Returns
    -------
    np.ndarray
        float32 ``(S',)`` with ``S' = round(S * target_rate / sample_rate)``.

    Raises
    ------
    EmptyAudioError, InvalidSamplesError, AudioTooLongError, AudioError
    """
    if hasattr(samples, "detach"):  # torch.Tensor without importing torch here
        samples = samples.detach().cpu().numpy()
    x = np.asarray(samples)
    if sample_rate <= 0 or target_rate <= 0:
        raise AudioError(path, f"sample rates must be positive, got {sample_rate} -> {target_rate}")
    x = _to_mono(_to_float32(x, path), path)
    if x.size == 0:
        raise EmptyAudioError(path, "audio holds no samples")
    if max_duration is not None and x.size / sample_rate > max_duration + 1e-9:
        raise AudioTooLongError(
            path,
            f"audio is {x.size / sample_rate:.2f} s long, more than the maximum of "
            f"{max_duration:.2f} s",
        )
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argmax(bad))
        raise InvalidSamplesError(
            path, f"{int(bad.sum())} NaN/infinite sample(s), first at sample {first}"
        )
    x = resample(x, sample_rate, target_rate)
    return np.ascontiguousarray(x, dtype=np.float32)


def resample(samples: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr (high quality, linear phase).

    Parameters
    ----------
    samples : np.ndarray
        ``(S,)`` or ``(S, C)`` float waveform.
    orig_rate, target_rate : int
        Rates in Hz.

    Returns
    -------
    np.ndarray
        float32 ``(S',)`` or ``(S', C)``, ``S' = ceil(S * target_rate / orig_rate)``.
    """
    x = np.asarray(samples, dtype=np.float32)
    if orig_rate == target_rate:
        return x
    if orig_rate <= 0 or target_rate <= 0:
        raise ConfigError(f"sample rates must be positive, got {orig_rate} -> {target_rate}")
    import soxr  # librosa's resampler; imported lazily to keep `import speechrnn` light

    return soxr.resample(x, orig_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #
def write_audio(path: str | os.PathLike, samples: Any, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a 16-bit PCM WAV atomically (a temporary file renamed into place).

    Parameters
    ----------
    path : str or PathLike
        Destination; its folder is created if missing. A reader never sees a
        half-written file.
    samples : np.ndarray or torch.Tensor
        ``(S,)`` mono or ``(S, C)`` float in ``[-1, 1]`` (clipped) or integer PCM.
    sample_rate : int
        Rate in Hz.
    """
    if hasattr(samples, "detach"):
        samples = samples.detach().cpu().numpy()
    x = _to_float32(np.asarray(samples), path)
    if x.ndim not in (1, 2):
        raise AudioError(path, f"expected (S,) or (S,C) samples, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidSamplesError(path, "refusing to write NaN/infinite samples")
    x = np.clip(x, -1.0, 1.0)
    with atomic_write(path, durable=False) as fh:  # bulk writes (synthesis): no fsync
        sf.write(fh, x, int(sample_rate), format="WAV", subtype="PCM_16")
