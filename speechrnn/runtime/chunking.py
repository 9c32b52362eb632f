"""Bounded-memory CTC inference over audio of any length, in NumPy (no torch).

The same stitching as :mod:`speechrnn.inference.chunking` (whose torch version runs a torch
model): windows of ``chunk_s`` seconds plus ``context_s`` seconds of context on each side,
starting on multiples of the model's output frame period (``unit`` samples), each output frame
emitted once, from a window where it had context on both sides; then segment-wise decoding
cut at confident blank frames. Memory is bounded by the window, whatever the input length.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..decoding import DecodeResult, DecodingConfig, Word, decode

Runner = Callable[[np.ndarray], np.ndarray]
"""``run(samples (S,) float32) -> log_probs (T', V)`` for the valid frames of one input."""


def _empty() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


def _cat(pieces: list[np.ndarray]) -> np.ndarray:
    pieces = [p for p in pieces if p.shape[0]]
    return np.concatenate(pieces) if pieces else _empty()


class ChunkedCTC:
    """Feed samples, get finalized CTC log-probabilities ``(N, V)`` back.

    Parameters
    ----------
    run : Runner
        The model on one input (see :data:`Runner`).
    unit : int
        Samples per model output frame (feature hop x subsampling factor).
    chunk_s, context_s : float
        Frames emitted per window and context on each side, in seconds.
    sample_rate : int
    """

    def __init__(self, run: Runner, unit: int, chunk_s: float = 20.0, context_s: float = 2.0,
                 sample_rate: int = 16000):
        self.run = run
        self.unit = unit
        self.context = max(1, int(round(context_s * sample_rate / unit))) * unit  # samples
        self.chunk = max(1, int(round(chunk_s * sample_rate / unit))) * unit  # samples
        self.window = self.chunk + 2 * self.context
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # global sample index of _buf[0]; always a multiple of unit
        self._emitted = 0  # global output frames emitted so far

    def _take(self, log_probs: np.ndarray, end_frame: int) -> np.ndarray:
        """Frames [emitted, end_frame) of a window's output, in global frame numbers."""
        first = self._buf_start // self.unit
        lo, hi = self._emitted - first, min(end_frame - first, log_probs.shape[0])
        piece = log_probs[max(lo, 0): max(hi, 0)]
        self._emitted += piece.shape[0]
        return piece

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Append samples; return newly finalized frames ``(N, V)`` (N may be 0)."""
        self._buf = np.concatenate([self._buf, np.asarray(samples, dtype=np.float32).reshape(-1)])
        pieces = []
        while self._buf.shape[0] >= self.window:
            lp = self.run(self._buf[: self.window])
            end_frame = (self._buf_start + self.window - self.context) // self.unit
            pieces.append(self._take(lp, end_frame))
            new_start = self._emitted * self.unit - self.context  # keep `context` samples before
            drop = new_start - self._buf_start
            self._buf = self._buf[drop:]
            self._buf_start = new_start
        return _cat(pieces)

    @property
    def emitted(self) -> int:
        """Output frames finalized so far (global frame index of the next one)."""
        return self._emitted

    def provisional(self, since_frame: int) -> np.ndarray:
        """Frames ``[since_frame, end of the audio so far)`` computed without right context
        (for live partial text; :meth:`feed` later emits them again, final). ``(N, V)``."""
        since_frame = max(since_frame, self._emitted)
        start = max(self._buf_start, since_frame * self.unit - self.context)  # multiple of unit
        samples = self._buf[start - self._buf_start:]
        if samples.shape[0] == 0:
            return _empty()
        return self.run(samples)[since_frame - start // self.unit:]

    def flush(self) -> np.ndarray:
        """Process what is left; return the remaining frames ``(N, V)``."""
        if self._buf.shape[0] == 0:
            return _empty()
        piece = self._take(self.run(self._buf), 1 << 62)
        self._buf = np.zeros(0, dtype=np.float32)
        return piece


class SegmentDecoder:
    """Accumulate log-probabilities and decode them in segments cut at blank frames.

    Parameters
    ----------
    labels : list[str]
        Output symbols, ``labels[0]`` the blank, ``" "`` the word separator.
    frame_shift_s : float
        Seconds per output frame.
    decoding : DecodingConfig
    max_segment_s : float
        A segment is cut once this long, at the frame in its last third where the blank is
        most probable (ties: the latest), so a word is rarely split.
    """

    def __init__(self, labels, frame_shift_s: float, decoding: DecodingConfig,
                 max_segment_s: float = 30.0):
        self.labels = labels
        self.shift = frame_shift_s
        self.decoding = decoding
        self.max_frames = max(3, int(max_segment_s / frame_shift_s))
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0
        self._offset = 0  # global frame index of the first pending frame
        self.texts: list[str] = []
        self.words: list[Word] = []
        self.score = 0.0

    def _decode(self, lp: np.ndarray) -> DecodeResult | None:
        if lp.shape[0] == 0:
            return None
        r = decode(lp[None], [lp.shape[0]], self.labels, self.decoding, frame_shift_s=self.shift)[0]
        base = self._offset * self.shift
        words = [Word(w.word, w.start + base, w.end + base, w.confidence) for w in r.words]
        if r.text.strip():
            self.texts.append(r.text.strip())
        self.words.extend(words)
        self.score += r.score
        self._offset += lp.shape[0]
        return DecodeResult(r.text.strip(), r.tokens, r.score, words)

    def add(self, log_probs: np.ndarray) -> None:
        if log_probs.shape[0] == 0:
            return
        self._pending.append(log_probs)
        self._pending_frames += log_probs.shape[0]
        while self._pending_frames >= self.max_frames:
            lp = _cat(self._pending)
            tail = lp[2 * self.max_frames // 3: self.max_frames, 0]  # blank log-prob
            cut = 2 * self.max_frames // 3 + int(tail.shape[0] - 1 - np.argmax(tail[::-1]))
            cut = max(cut, 1)
            self._decode(lp[:cut])
            rest = lp[cut:]
            self._pending = [rest] if rest.shape[0] else []
            self._pending_frames = rest.shape[0]

    @property
    def decoded_frames(self) -> int:
        """Frames decoded into :attr:`texts` so far (global index of the first pending frame)."""
        return self._offset

    def pending_text(self, provisional: np.ndarray | None = None) -> str:
        """Greedy text of the frames not yet decoded, followed by ``provisional`` ``(N, V)``."""
        lp = _cat(self._pending + ([provisional] if provisional is not None else []))
        if lp.shape[0] == 0:
            return ""
        cfg = DecodingConfig(method="greedy", word_timestamps=False)
        return decode(lp[None], [lp.shape[0]], self.labels, cfg)[0].text.strip()

    def finish(self) -> None:
        if self._pending:
            lp = _cat(self._pending)
            self._pending, self._pending_frames = [], 0
            self._decode(lp)

    @property
    def text(self) -> str:
        return " ".join(self.texts)
