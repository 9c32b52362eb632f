"""Bounded-memory CTC inference over audio of any length.

:class:`ChunkedCTC` runs an acoustic model over a stream of 16 kHz samples in windows of
``chunk_s`` seconds plus ``context_s`` seconds of context on each side, and emits each
output frame exactly once, computed from a window where it had context on both sides. The
windows start on multiples of the model's output frame period (``unit`` samples), so frame
``j`` of a window starting at sample ``o`` is global frame ``o // unit + j`` and the stitched
output lines up with an unchunked pass. Memory is bounded by the window, whatever the length.
The :class:`~speechrnn.inference.Recognizer` and the open-vocabulary keyword search
(:mod:`speechrnn.kws.openvocab`) both run their models through it.

Example
-------
>>> import torch
>>> from speechrnn.models import AcousticModel, ModelConfig
>>> model = AcousticModel(ModelConfig(), 29).eval()
>>> unit = model.frontend.hop_length * model.encoder.cfg.subsampling_factor
>>> ctc = ChunkedCTC(model, unit, chunk_s=1.0, context_s=0.5)
>>> x = torch.randn(48000).numpy() * 0.1
>>> pieces = [ctc.feed(x[:20000]), ctc.feed(x[20000:]), ctc.flush()]  # (N_i, V), N_i may be 0
>>> frames = torch.cat([p for p in pieces if p.numel()])
>>> whole, n = model(torch.from_numpy(x)[None], torch.tensor([48000]))
>>> frames.shape[0] == int(n[0])
True
"""
from __future__ import annotations

import numpy as np
import torch


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
