"""Bounded-memory CTC inference over audio of any length.

:class:`~speechrnn.models.chunked.ChunkedCTC` (re-exported here) runs the model in bounded
windows and emits each output frame once, with context on both sides.
:class:`SegmentDecoder` cuts the emitted log-probabilities into segments at the most
confident blank frames and decodes each, so decoding and word alignment also stay bounded.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..decoding import DecodeResult, DecodingConfig, Word, decode
from ..models.chunked import ChunkedCTC

__all__ = ["ChunkedCTC", "SegmentDecoder"]


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
