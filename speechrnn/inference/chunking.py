"""Bounded-memory CTC inference over audio of any length.

:class:`ChunkedCTC` runs an acoustic model over a stream of 16 kHz samples in windows of
``chunk_s`` seconds plus ``context_s`` seconds of context on each side, and emits each
output frame exactly once, computed from a window where it had context on both sides. The
windows start on multiples of the model's output frame period (``unit`` samples), so frame
``j`` of a window starting at sample ``o`` is global frame ``o // unit + j`` and the stitched
output lines up with an unchunked pass. Memory is bounded by the window, whatever the length.

:class:`SegmentDecoder` cuts the emitted log-probabilities into segments at the most
confident blank frames and decodes each, so decoding and word alignment also stay bounded.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..decoding import DecodeResult, DecodingConfig, Word, decode


class ChunkedCTC:
    """Feed samples, get finalized CTC log-probabilities ``(N, V)`` back.

    Parameters
    ----------
    model : AcousticModel
        CTC model in eval mode; ``model(w (1,S), n (1,)) -> (log_probs (1,T',V), lengths (1,))``.
    unit : int
        Samples per model output frame (feature hop x subsampling factor).
    chunk_s, context_s : float
        Frames emitted per window and context on each side, in seconds.
    sample_rate : int
    """

    def __init__(self, model, unit: int, chunk_s: float = 20.0, context_s: float = 2.0,
                 sample_rate: int = 16000):
        self.model = model
        self.unit = unit
        self.context = max(1, int(round(context_s * sample_rate / unit))) * unit  # samples
        self.chunk = max(1, int(round(chunk_s * sample_rate / unit))) * unit  # samples
        self.window = self.chunk + 2 * self.context
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # global sample index of _buf[0]; always a multiple of unit
        self._emitted = 0  # global output frames emitted so far

    @torch.inference_mode()
    def _run(self, samples: np.ndarray) -> torch.Tensor:
        w = torch.from_numpy(samples)[None]  # (S,) -> (1,S)
        out, n = self.model(w, torch.tensor([samples.shape[0]]))
        return out[0, : int(n[0])].float()  # (T',V)

    def _take(self, log_probs: torch.Tensor, end_frame: int) -> torch.Tensor:
        """Frames [emitted, end_frame) of a window's output, in global frame numbers."""
        first = self._buf_start // self.unit
        lo, hi = self._emitted - first, min(end_frame - first, log_probs.shape[0])
        piece = log_probs[max(lo, 0): max(hi, 0)]
        self._emitted += piece.shape[0]
        return piece

    def feed(self, samples: np.ndarray) -> torch.Tensor:
        """Append samples; return newly finalized frames ``(N, V)`` (N may be 0)."""
        self._buf = np.concatenate([self._buf, np.asarray(samples, dtype=np.float32)])
        pieces = []
        while self._buf.shape[0] >= self.window:
            lp = self._run(self._buf[: self.window])
            end_frame = (self._buf_start + self.window - self.context) // self.unit
            pieces.append(self._take(lp, end_frame))
            # keep `context` samples of left context before the next frame to emit
            new_start = self._emitted * self.unit - self.context
            drop = new_start - self._buf_start
            self._buf = self._buf[drop:]
            self._buf_start = new_start
        return torch.cat(pieces) if pieces else torch.zeros(0, 0)

    @property
    def emitted(self) -> int:
        """Output frames finalized so far (global frame index of the next one)."""
        return self._emitted

    def provisional(self, since_frame: int) -> torch.Tensor:
        """Frames ``[since_frame, end of the audio so far)`` computed *without* right context.

        For live partial results: the window runs from ``context`` samples before
        ``since_frame`` (at least the first unfinalized frame) to the last sample fed, so the
        cost is bounded by that span, not by the stream's length. These frames are not final:
        :meth:`feed` later emits them again, computed with context on both sides.

        Returns
        -------
        torch.Tensor
            ``(N, V)`` for global frames ``since_frame ..``, ``N`` may be 0.
        """
        since_frame = max(since_frame, self._emitted)
        start = max(self._buf_start, since_frame * self.unit - self.context)  # multiple of unit
        samples = self._buf[start - self._buf_start:]
        if samples.shape[0] == 0:
            return torch.zeros(0, 0)
        lp = self._run(samples)  # (T', V), frame j is global frame start // unit + j
        return lp[since_frame - start // self.unit:]

    def flush(self) -> torch.Tensor:
        """Process what is left; return the remaining frames ``(N, V)``."""
        if self._buf.shape[0] == 0:
            return torch.zeros(0, 0)
        lp = self._run(self._buf)
        piece = self._take(lp, 1 << 62)
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
                 max_segment_s: float = 30.0,
                 on_segment: Callable[[DecodeResult], None] | None = None):
        self.labels = labels
        self.shift = frame_shift_s
        self.decoding = decoding
        self.max_frames = max(3, int(max_segment_s / frame_shift_s))
        self._pending: list[torch.Tensor] = []
        self._pending_frames = 0
        self._offset = 0  # global frame index of the first pending frame
        self.texts: list[str] = []
        self.words: list[Word] = []
        self.score = 0.0
        self.on_segment = on_segment

    def _decode(self, lp: torch.Tensor) -> None:
        if lp.shape[0] == 0:
            return
        r = decode(lp[None], [lp.shape[0]], self.labels, self.decoding, frame_shift_s=self.shift)[0]
        base = self._offset * self.shift
        words = [Word(w.word, w.start + base, w.end + base, w.confidence) for w in r.words]
        if r.text.strip():
            self.texts.append(r.text.strip())
        self.words.extend(words)
        self.score += r.score
        self._offset += lp.shape[0]
        if self.on_segment is not None:
            self.on_segment(DecodeResult(r.text.strip(), r.tokens, r.score, words))

    def add(self, log_probs: torch.Tensor) -> None:
        if log_probs.numel() == 0:
            return
        self._pending.append(log_probs)
        self._pending_frames += log_probs.shape[0]
        while self._pending_frames >= self.max_frames:
            lp = torch.cat(self._pending)
            tail = lp[2 * self.max_frames // 3: self.max_frames, 0]  # blank log-prob
            cut = 2 * self.max_frames // 3 + int(tail.shape[0] - 1 - torch.argmax(tail.flip(0)))
            cut = max(cut, 1)
            self._decode(lp[:cut])
            rest = lp[cut:]
            self._pending = [rest] if rest.shape[0] else []
            self._pending_frames = rest.shape[0]

    @property
    def decoded_frames(self) -> int:
        """Frames decoded into :attr:`texts` so far (global index of the first pending frame)."""
        return self._offset

    def pending_text(self, provisional: torch.Tensor | None = None) -> str:
        """Greedy text of the frames not yet decoded (for partial results).

        ``provisional`` ``(N, V)``: frames that follow the pending ones but are not final yet
        (:meth:`ChunkedCTC.provisional`), decoded together with them.
        """
        pieces = list(self._pending)
        if provisional is not None and provisional.numel():
            pieces.append(provisional)
        if not pieces:
            return ""
        lp = torch.cat(pieces)
        cfg = DecodingConfig(method="greedy", word_timestamps=False)
        return decode(lp[None], [lp.shape[0]], self.labels, cfg)[0].text.strip()

    def finish(self) -> None:
        if self._pending:
            lp = torch.cat(self._pending)
            self._pending, self._pending_frames = [], 0
            self._decode(lp)

    @property
    def text(self) -> str:
        return " ".join(self.texts)
