"""Cosine scoring, score normalization with a cohort, and threshold calibration (pure NumPy).

Embeddings are rows ``(N, D)``; scores are cosine similarities in ``[-1, 1]`` (or normalized
scores after s-norm). Metrics come from :mod:`speechrnn.metrics`.

Example
-------
>>> import numpy as np
>>> e = l2_normalize(np.array([[1.0, 0.0], [1.0, 1.0]]))
>>> cosine_matrix(e, e).astype(float).round(3).tolist()
[[1.0, 0.707], [0.707, 1.0]]
"""
from __future__ import annotations

import numpy as np

from ..metrics import cohort_stats, eer, min_dcf


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(n, 1e-12)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a (N, D)`` with every row of ``b (M, D)`` -> ``(N, M)``."""
    return l2_normalize(a) @ l2_normalize(b).T


def pair_scores(emb: np.ndarray, enroll_idx, test_idx) -> np.ndarray:
    """Cosine score of each trial ``(emb[enroll_idx[i]], emb[test_idx[i]])`` -> ``(T,)``."""
    e = l2_normalize(emb)
    return np.einsum("td,td->t", e[np.asarray(enroll_idx)], e[np.asarray(test_idx)])  # (T,D),(T,D) -> (T,)


def snorm_pairs(emb: np.ndarray, enroll_idx, test_idx, cohort: np.ndarray,
                top_k: int | None = 200) -> np.ndarray:
    """Adaptive s-norm of cosine trial scores with a cohort of embeddings ``(K, D)`` -> ``(T,)``.

    Each side of a trial is scored against the cohort; the trial score is normalized by the
    mean/std of each side's ``top_k`` highest cohort scores (= :func:`speechrnn.metrics.s_norm`).
    The statistics are computed once per embedding ``(N,)`` and indexed per trial, so memory
    grows with utterances x cohort, not trials x cohort (all pairs of 900 utterances against a
    2,000-embedding cohort would otherwise need ~13 GB).
    """
    raw = pair_scores(emb, enroll_idx, test_idx)
    c = cosine_matrix(emb, cohort)  # (N, K)
    k = None if top_k is None else min(top_k, c.shape[1])
    mu, sd = cohort_stats(c, k)  # (N,), (N,)
    e, t = np.asarray(enroll_idx), np.asarray(test_idx)
    return 0.5 * ((raw - mu[e]) / sd[e] + (raw - mu[t]) / sd[t])


def calibrate_threshold(target, nontarget, method: str = "eer", p_target: float = 0.01) -> float:
    """Decision threshold from dev trial scores.

    Parameters
    ----------
    target, nontarget : array-like
        Same-speaker and different-speaker scores.
    method : {"eer", "mindcf"}
        ``eer``: the equal-error-rate operating point; ``mindcf``: the threshold minimizing the
        detection cost at ``p_target`` (stricter: fewer false accepts).
    """
    if method == "eer":
        return eer(target, nontarget)[1]
    if method == "mindcf":
        return min_dcf(target, nontarget, p_target=p_target)[1]
    raise ValueError(f"calibration method must be 'eer' or 'mindcf', got {method!r}")


def verification_report(target, nontarget, p_target: float = 0.01) -> dict:
    """EER (fraction), its threshold, minDCF at ``p_target`` and its threshold, trial counts."""
    rate, thr = eer(target, nontarget)
    dcf, dcf_thr = min_dcf(target, nontarget, p_target=p_target)
    return {"eer": rate, "eer_threshold": thr, "min_dcf": dcf, "min_dcf_threshold": dcf_thr,
            "p_target": p_target, "target_trials": int(np.size(target)),
            "nontarget_trials": int(np.size(nontarget))}


def all_pairs(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair ``i < j`` of items: ``(i (P,), j (P,), same-label (P,) bool)``."""
    y = np.asarray(labels)
    i, j = np.triu_indices(len(y), k=1)
    return i, j, y[i] == y[j]
