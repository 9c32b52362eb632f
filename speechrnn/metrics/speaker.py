"""Speaker metrics: top-k identification accuracy, EER, minDCF, DET, score normalisation.

Verification conventions: ``target`` scores come from same-speaker trials,
``nontarget`` from different-speaker trials; a trial is accepted when its
score is ``>= threshold``. ``P_miss(t)`` = fraction of targets below ``t``,
``P_fa(t)`` = fraction of non-targets at or above ``t``.
"""
from __future__ import annotations

import numpy as np

from .asr import MetricsError


def top_k_accuracy(scores, labels, k: int = 1) -> float:
    """Fraction of rows whose true class is among the ``k`` highest scores.

    Parameters
    ----------
    scores : array-like, shape (N, C)
    labels : array-like of int, shape (N,)
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if s.ndim != 2 or y.shape != (s.shape[0],) or s.shape[0] == 0:
        raise MetricsError(f"scores must be (N, C) and labels (N,), got {s.shape}, {y.shape}")
    if not 1 <= k <= s.shape[1]:
        raise MetricsError(f"k must lie in [1, {s.shape[1]}], got {k}")
    true = s[np.arange(len(y)), y]  # (N,)
    rank = (s > true[:, None]).sum(axis=1)  # (N,) classes strictly better; ties favour truth
    return float((rank < k).mean())


def det_points(target, nontarget):
    """Miss and false-alarm rates at every distinct threshold.

    Returns
    -------
    p_fa, p_miss, thresholds : np.ndarray, shape (K,)
        Thresholds ascending, the last ``+inf`` (everything rejected).
    """
    tgt = np.sort(np.asarray(target, dtype=np.float64).reshape(-1))
    non = np.sort(np.asarray(nontarget, dtype=np.float64).reshape(-1))
    if tgt.size == 0 or non.size == 0:
        raise MetricsError("need at least one target and one non-target score")
    if np.isnan(tgt).any() or np.isnan(non).any():
        raise MetricsError("scores contain NaN")
    thr = np.unique(np.concatenate([tgt, non, [np.inf]]))  # (K,)
    p_miss = np.searchsorted(tgt, thr, side="left") / tgt.size  # (K,)
    p_fa = (non.size - np.searchsorted(non, thr, side="left")) / non.size  # (K,)
    return p_fa, p_miss, thr


def eer(target, nontarget) -> tuple[float, float]:
    """Equal error rate and its threshold.

    ``P_miss - P_fa`` rises with the threshold; the EER is where it crosses
    zero, linearly interpolated between the two neighbouring DET points (no
    ROC convex hull).

    Examples
    --------
    >>> eer([2.0, 3.0], [0.0, 1.0])[0]
    0.0
    """
    p_fa, p_miss, thr = det_points(target, nontarget)
    diff = p_miss - p_fa  # (K,) non-decreasing
    i = int(np.argmax(diff >= 0))  # the last point has p_miss=1, p_fa=0, so one exists
    if i == 0:
        return float((p_miss[0] + p_fa[0]) / 2), float(thr[0])
    a, b = diff[i - 1], diff[i]
    w = -a / (b - a)
    rate = p_miss[i - 1] + w * (p_miss[i] - p_miss[i - 1])
    t = thr[i - 1] if not np.isfinite(thr[i]) else thr[i - 1] + w * (thr[i] - thr[i - 1])
    return float(rate), float(t)


def min_dcf(
    target, nontarget, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0
) -> tuple[float, float]:
    """Minimum normalised detection cost and the threshold reaching it.

    ``DCF(t) = c_miss p_target P_miss(t) + c_fa (1 - p_target) P_fa(t)``,
    divided by ``min(c_miss p_target, c_fa (1 - p_target))`` (the cost of the
    best trivial system), minimised over thresholds.
    """
    if not 0 < p_target < 1 or c_miss <= 0 or c_fa <= 0:
        raise MetricsError(
            f"need 0 < p_target < 1 and positive costs, got {p_target}, {c_miss}, {c_fa}"
        )
    p_fa, p_miss, thr = det_points(target, nontarget)
    dcf = c_miss * p_target * p_miss + c_fa * (1 - p_target) * p_fa  # (K,)
    dcf = dcf / min(c_miss * p_target, c_fa * (1 - p_target))
    i = int(np.argmin(dcf))
    return float(dcf[i]), float(thr[i])


def cohort_stats(cohort, top_k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each row of cohort scores ``(N, K)`` (or one ``(K,)`` row), over its
    ``top_k`` highest scores when given: ``(N,)`` and ``(N,)``."""
    c = np.asarray(cohort, dtype=np.float64)
    if c.ndim == 1:
        c = c[None, :]  # (K,) -> (1,K): one cohort for every score
    if c.shape[-1] < 2:
        raise MetricsError(f"cohort needs at least 2 scores, got shape {c.shape}")
    if top_k is not None:
        c = -np.sort(-c, axis=-1)[..., :top_k]  # (N,K) -> (N,top_k) highest scores
    return c.mean(axis=-1), c.std(axis=-1) + 1e-12  # (N,), (N,)


def z_norm(scores, cohort, top_k: int | None = None) -> np.ndarray:
    """Z-norm: ``(s - mean(cohort)) / std(cohort)``.

    Parameters
    ----------
    scores : array-like, shape (N,)
        Trial scores.
    cohort : array-like, shape (N, K) or (K,)
        Scores of each trial's enrolment model against an impostor cohort.
    top_k : int, optional
        Use only the ``top_k`` highest cohort scores (adaptive normalisation).
    """
    mu, sd = cohort_stats(cohort, top_k)
    return (np.asarray(scores, dtype=np.float64) - mu) / sd


def s_norm(scores, enroll_cohort, test_cohort, top_k: int | None = None) -> np.ndarray:
    """Symmetric normalisation: mean of z-norm (enrolment side) and t-norm (test side).

    Parameters
    ----------
    scores : array-like, shape (N,)
    enroll_cohort, test_cohort : array-like, shape (N, K) or (K,)
        Enrolment / test embedding scored against the cohort.
    top_k : int, optional
        Adaptive s-norm (AS-norm) over the ``top_k`` highest cohort scores.
    """
    return 0.5 * (z_norm(scores, enroll_cohort, top_k) + z_norm(scores, test_cohort, top_k))
