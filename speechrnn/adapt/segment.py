"""Cut long recordings into training-sized segments at pauses (Silero VAD, as shipped in
faster-whisper), in bounded memory.

A recording is read in windows of ``window_s`` seconds; voice-activity regions of a window are
merged while the result stays within ``max_s`` (cuts fall in the pauses between them), padded
by ``pad_s`` into the pauses, and returned as ``(offset, duration)`` seconds for the manifest
(the audio itself is never copied).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..audio import audio_info, load_audio

__all__ = ["SegmentConfig", "merge_regions", "speech_segments"]


@dataclass
class SegmentConfig:
    """How recordings are cut (seconds)."""

    min_s: float = 1.0          # shorter merged segments are dropped ("too short")
    max_s: float = 15.0         # training-sized: merged speech never exceeds this
    max_gap_s: float = 1.5      # a longer pause always ends a segment
    pad_s: float = 0.2          # silence kept on each side (within the pause)
    window_s: float = 300.0     # audio read at once: memory does not grow with file length
    # Silero speech probability; 0.5 (faster-whisper's default) missed most of a diphone voice on
    # a telephone line (10 of ~150 s); the teacher's no-speech filter drops what 0.25 lets through
    vad_threshold: float = 0.25

    def validate(self) -> None:
        from ..errors import ConfigError

        if not 0 < self.min_s < self.max_s <= 30.0:
            raise ConfigError(f"segments need 0 < min_s < max_s <= 30 s, got {self.min_s}, {self.max_s}")
        if self.window_s < 2 * self.max_s:
            raise ConfigError(f"window_s ({self.window_s}) must be at least twice max_s ({self.max_s})")
        if self.pad_s < 0 or self.max_gap_s <= 0:
            raise ConfigError("pad_s must be >= 0 and max_gap_s > 0")


def merge_regions(regions: list[tuple[float, float]], cfg: SegmentConfig) -> list[tuple[float, float]]:
    """Merge sorted speech ``(start, end)`` regions into segments of at most ``cfg.max_s``.

    Neighbours join while the merged span stays within ``max_s`` and the pause between them is
    shorter than ``max_gap_s``; a single region longer than ``max_s`` is cut into equal parts.

    >>> merge_regions([(0.0, 2.0), (2.5, 5.0), (9.0, 10.0)], SegmentConfig(max_s=6, max_gap_s=1))
    [(0.0, 5.0), (9.0, 10.0)]
    """
    out: list[tuple[float, float]] = []
    for start, end in regions:
        if out and end - out[-1][0] <= cfg.max_s and start - out[-1][1] < cfg.max_gap_s:
            out[-1] = (out[-1][0], end)
            continue
        n = int(np.ceil((end - start) / cfg.max_s))
        step = (end - start) / max(n, 1)
        out += [(start + i * step, start + (i + 1) * step) for i in range(max(n, 1))]
    return out


def _pad(segs: list[tuple[float, float]], pad: float, lo: float, hi: float) -> list[tuple[float, float]]:
    """Widen each segment by ``pad`` into the pauses, never past a neighbour's midpoint."""
    out = []
    for i, (s, e) in enumerate(segs):
        left = max(lo, s - pad, (segs[i - 1][1] + s) / 2 if i else lo)
        right = min(hi, e + pad, (e + segs[i + 1][0]) / 2 if i + 1 < len(segs) else hi)
        out.append((left, right))
    return out


def _vad_regions(audio: np.ndarray, sample_rate: int, cfg: SegmentConfig) -> list[tuple[float, float]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(threshold=cfg.vad_threshold, min_speech_duration_ms=250,
                      max_speech_duration_s=cfg.max_s, min_silence_duration_ms=300, speech_pad_ms=0)
    return [(r["start"] / sample_rate, r["end"] / sample_rate)
            for r in get_speech_timestamps(audio, vad_options=opts, sampling_rate=sample_rate)]


def speech_segments(path, cfg: SegmentConfig | None = None, *, offset: float = 0.0,
                    duration: float | None = None, sample_rate: int = 16000,
                    ) -> Iterator[tuple[float, float, np.ndarray]]:
    """Yield ``(offset_s, duration_s, audio float32 (S,))`` for each speech segment of a file.

    ``offset``/``duration`` restrict the search to a slice (a manifest line). Windows overlap
    by ``max_s``: a segment is taken from the window in which it starts before the overlap, so
    a pause near a window's edge is never cut twice.
    """
    cfg = cfg or SegmentConfig()
    cfg.validate()
    end = audio_info(path).duration if duration is None else offset + duration
    t = offset
    while t < end - 1e-3:
        win_end = min(end, t + cfg.window_s)
        x = load_audio(path, sample_rate, offset=t, duration=win_end - t)
        last = win_end >= end - 1e-3
        keep_until = win_end - t if last else cfg.window_s - cfg.max_s
        segs = [s for s in merge_regions(_vad_regions(x, sample_rate, cfg), cfg) if s[0] < keep_until]
        # the next window starts where the last kept segment ends (or where this one stopped)
        next_t = t + (segs[-1][1] if segs and not last else keep_until)
        for s, e in _pad(segs, cfg.pad_s, 0.0, len(x) / sample_rate):
            if e - s >= cfg.min_s:
                a, b = int(round(s * sample_rate)), int(round(e * sample_rate))
                yield round(t + s, 3), round(e - s, 3), x[a:b]
        t = max(next_t, t + 1.0) if not last else end
