"""Greedy (best-path) CTC decoding, vectorised over a padded batch (NumPy only).

The decoding package imports no torch, so :mod:`speechrnn.runtime` can use it: inputs may be
numpy arrays or torch tensors (converted through their ``.numpy()``, without importing torch).
"""
from __future__ import annotations

import numpy as np

from .results import DecodingError


def as_log_probs(x, ndim: int, name: str = "log_probs") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 numpy array with ``ndim`` dims, or raise DecodingError.

    ``x`` is a numpy array or a torch tensor (any device or float dtype).
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch.Tensor, converted without importing torch
        x = x.detach().cpu().float().numpy()
    if not isinstance(x, np.ndarray):
        raise DecodingError(f"{name}: expected a tensor or array, got {type(x).__name__}")
    if x.ndim != ndim:
        want = "(B,T,V)" if ndim == 3 else "(T,V)"
        raise DecodingError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
    return np.ascontiguousarray(x, dtype=np.float32)


def _lengths(lengths, b: int, t: int) -> np.ndarray:
    """``(B,)`` int64 valid frames (default: all ``t``), checked to lie in ``[0, t]``."""
    if lengths is None:
        return np.full(b, t, dtype=np.int64)
    if hasattr(lengths, "detach"):
        lengths = lengths.detach().cpu().numpy()
    n = np.asarray(lengths, dtype=np.int64).reshape(-1) if np.ndim(lengths) else np.asarray([lengths])
    if n.shape != (b,):
        raise DecodingError(f"lengths: expected shape ({b},), got {tuple(n.shape)}")
    if (n < 0).any() or (n > t).any():
        raise DecodingError(f"lengths must lie in [0, {t}], got {n.tolist()}")
    return n


def greedy_decode(log_probs, lengths=None, blank: int = 0) -> list[list[int]]:
    """Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks.

    Parameters
    ----------
    log_probs : np.ndarray or torch.Tensor, shape (B, T, V)
        Per-frame log-probabilities (or logits: the argmax is the same).
    lengths : sequence of int, np.ndarray or torch.Tensor, shape (B,), optional
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
    >>> import numpy as np
    >>> lp = np.log(np.array([[[.1, .9, 0], [.1, .9, 0], [.9, .1, 0], [.1, .9, 0]]]) + 1e-9)
    >>> greedy_decode(lp, [4])
    [[1, 1]]
    """
    x = as_log_probs(log_probs, 3)
    b, t, _ = x.shape
    n = _lengths(lengths, b, t)
    if t == 0:
        return [[] for _ in range(b)]
    best = x.argmax(axis=-1)  # (B,T)
    prev = np.concatenate([np.full((b, 1), -1, dtype=best.dtype), best[:, :-1]], axis=1)  # (B,T)
    valid = np.arange(t)[None, :] < n[:, None]  # (B,T)
    keep = (best != prev) & (best != blank) & valid  # (B,T)
    return [best[i][keep[i]].tolist() for i in range(b)]


def greedy_score(log_probs, lengths=None) -> list[float]:
    """Log-probability of the best path per item, shape (B,) as a list.

    ``log_probs`` (B, T, V) must be log-softmax outputs for this to be a
    log-probability.
    """
    x = as_log_probs(log_probs, 3)
    b, t, _ = x.shape
    n = _lengths(lengths, b, t)
    if t == 0:
        return [0.0] * b
    valid = np.arange(t)[None, :] < n[:, None]  # (B,T)
    best = np.where(valid, x.max(axis=-1), 0.0)  # (B,T)
    return [float(s) for s in best.sum(axis=1, dtype=np.float64)]
