"""Keyword-spotting metrics: accuracy, confusion matrix, FRR at a false-alarm rate, DET.

Conventions: a detection fires when its score is ``>= threshold``.
``pos_scores`` holds one score per positive utterance (the best detection of
the keyword in it, ``-inf`` if none); ``neg_detection_scores`` holds every
detection score produced on keyword-free audio lasting ``neg_hours`` hours,
each of which is a false alarm if it fires.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .asr import MetricsError


def _scores(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if np.isnan(a).any():
        raise MetricsError(f"{name}: contains NaN")
    return a


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Fraction of exact matches between two label sequences."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.size == 0:
        raise MetricsError(f"y_true {t.shape} and y_pred {p.shape} must match and be non-empty")
    return float((t == p).mean())


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts ``M[i, j]`` of items with true class ``i`` predicted as ``j``, shape (C, C)."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise MetricsError(f"y_true {t.shape} and y_pred {p.shape} must match")
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    c = num_classes
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= c):
        raise MetricsError(f"class ids must lie in [0, {c})")
    m = np.zeros((c, c), dtype=np.int64)
    np.add.at(m, (t, p), 1)
    return m


def threshold_for_fa_rate(neg_detection_scores, neg_hours: float, fa_per_hour: float) -> float:
    """Lowest threshold giving at most ``fa_per_hour`` false alarms per hour on negatives.

    With ``k = floor(fa_per_hour * neg_hours)`` allowed false alarms and the
    negative scores sorted high to low ``n_1 >= n_2 >= ...``, the threshold is
    the next float above ``n_{k+1}`` (``-inf`` if there are at most ``k``).
    Calibrate on dev data, then apply to test.
    """
    if neg_hours <= 0 or fa_per_hour < 0:
        raise MetricsError(
            f"need neg_hours > 0 and fa_per_hour >= 0, got {neg_hours}, {fa_per_hour}"
        )
    neg = np.sort(_scores(neg_detection_scores, "neg_detection_scores"))[::-1]
    allowed = math.floor(fa_per_hour * neg_hours + 1e-9)
    if allowed >= neg.size:
        return -math.inf
    return float(np.nextafter(neg[allowed], np.inf))


def frr_at_fa_per_hour(
    pos_scores, neg_detection_scores, neg_hours: float, fa_per_hour: float
) -> tuple[float, float]:
    """False-rejection rate at the operating point of :func:`threshold_for_fa_rate`.

    Returns
    -------
    (frr, threshold) : tuple of float
        ``frr`` = fraction of ``pos_scores`` below the threshold (``-inf``,
        i.e. no detection, always counts as a miss).
    """
    pos = _scores(pos_scores, "pos_scores")
    if pos.size == 0:
        raise MetricsError("pos_scores is empty")
    thr = threshold_for_fa_rate(neg_detection_scores, neg_hours, fa_per_hour)
    missed = (pos < thr) | (pos == -np.inf)  # -inf: no detection at all, never accepted
    return float(missed.mean()), thr


def kws_det_curve(pos_scores, neg_detection_scores, neg_hours: float):
    """False alarms per hour vs false-rejection rate over every distinct threshold.

    Returns
    -------
    fa_per_hour, frr, thresholds : np.ndarray, shape (K,)
        Thresholds ascending (last is ``+inf``: nothing fires), so
        ``fa_per_hour`` decreases and ``frr`` increases along the arrays.
    """
    pos = np.sort(_scores(pos_scores, "pos_scores"))
    neg = np.sort(_scores(neg_detection_scores, "neg_detection_scores"))
    if pos.size == 0 or neg_hours <= 0:
        raise MetricsError("need positive scores and neg_hours > 0")
    thr = np.unique(np.concatenate([pos, neg, [np.inf]]))  # (K,)
    thr = thr[np.isfinite(thr) | (thr > 0)]  # drop -inf: it equals the lowest finite point
    frr = np.searchsorted(pos, thr, side="left") / pos.size  # (K,) frac pos < thr
    fa = (neg.size - np.searchsorted(neg, thr, side="left")) / neg_hours  # (K,) neg >= thr
    return fa, frr, thr
