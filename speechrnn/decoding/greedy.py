"""Greedy (best-path) CTC decoding, vectorised over a padded batch."""
from __future__ import annotations

import numpy as np
import torch

from .results import DecodingError


def as_log_probs(x, ndim: int, name: str = "log_probs") -> torch.Tensor:
    """Return ``x`` as a CPU float32 tensor with ``ndim`` dims, or raise DecodingError."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise DecodingError(f"{name}: expected a tensor or array, got {type(x).__name__}")
    if x.dim() != ndim:
        want = "(B,T,V)" if ndim == 3 else "(T,V)"
        raise DecodingError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
    return x.detach().to("cpu", torch.float32)


def greedy_decode(log_probs, lengths=None, blank: int = 0) -> list[list[int]]:
    """Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks.

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (B, T, V)
        Per-frame log-probabilities (or logits: the argmax is the same).
    lengths : torch.Tensor or sequence of int, shape (B,), optional
        Valid frames per item; frames at or past ``lengths[b]`` are ignored, so
        the result does not depend on padding. Default: all ``T`` frames.
    blank : int
        Id of the CTC blank.

    Returns
    -------
    list[list[int]]
        Token ids per item.

    Examples
    --------
    >>> import torch
    >>> lp = torch.log(torch.tensor([[[.1, .9, 0], [.1, .9, 0], [.9, .1, 0], [.1, .9, 0]]]) + 1e-9)
    >>> greedy_decode(lp, torch.tensor([4]))
    [[1, 1]]
    """
    x = as_log_probs(log_probs, 3)
    b, t, _ = x.shape
    if lengths is None:
        lengths = torch.full((b,), t, dtype=torch.long)
    lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
    if lengths.shape != (b,):
        raise DecodingError(f"lengths: expected shape ({b},), got {tuple(lengths.shape)}")
    if bool((lengths < 0).any()) or bool((lengths > t).any()):
        raise DecodingError(f"lengths must lie in [0, {t}], got {lengths.tolist()}")
    best = x.argmax(dim=-1)  # (B,T)
    prev = torch.cat([torch.full((b, 1), -1, dtype=best.dtype), best[:, :-1]], dim=1)  # (B,T)
    valid = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)  # (B,T)
    keep = (best != prev) & (best != blank) & valid  # (B,T)
    return [best[i][keep[i]].tolist() for i in range(b)]


def greedy_score(log_probs, lengths=None) -> list[float]:
    """Log-probability of the best path per item, shape (B,) as a list.

    ``log_probs`` (B, T, V) must be log-softmax outputs for this to be a
    log-probability.
    """
    x = as_log_probs(log_probs, 3)
    b, t, _ = x.shape
    if lengths is None:
        lengths = torch.full((b,), t, dtype=torch.long)
    lengths = torch.as_tensor(lengths, dtype=torch.long).cpu()
    valid = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)  # (B,T)
    best = x.max(dim=-1).values.masked_fill(~valid, 0.0)  # (B,T)
    return best.sum(dim=1).tolist()
