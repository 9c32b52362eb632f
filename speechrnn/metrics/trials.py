"""Verification trials: cosine scoring in bounded memory, trial lists, s-norm, thresholds (NumPy).

Embeddings are rows ``(N, D)``; scores are cosine similarities in ``[-1, 1]`` (or normalized
scores after s-norm). A trial list is two index arrays ``(T,)`` into the embeddings. Memory
never grows with trials x dimensions: :func:`pair_scores` gathers at most
``_CHUNK_ELEMENTS`` embedding values per side at a time (all pairs of 1,800 utterances, 1.6 M
trials, need their ``(T,)`` scores, not 2.4 GB of gathered rows), and :func:`sample_pairs`
draws pairs without listing every pair first.

Example
-------
>>> import numpy as np
>>> e = l2_normalize(np.array([[1.0, 0.0], [1.0, 1.0]]))
>>> cosine_matrix(e, e).astype(float).round(3).tolist()
[[1.0, 0.707], [0.707, 1.0]]
>>> pairs_at(np.arange(pair_count(4)), 4)   # the order of np.triu_indices(4, k=1)
(array([0, 0, 0, 1, 1, 2]), array([1, 2, 3, 2, 3, 3]))
"""
from __future__ import annotations

import numpy as np

from .asr import MetricsError
from .speaker import cohort_stats, eer, min_dcf

_CHUNK_ELEMENTS = 1 << 20  # embedding values gathered per side per step of pair_scores (4 MB)


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=axis, keepdims=True)
    return x / np.maximum(n, 1e-12)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``a (N, D)`` with every row of ``b (M, D)`` -> ``(N, M)``."""
    return l2_normalize(a) @ l2_normalize(b).T


def pair_scores(emb: np.ndarray, enroll_idx, test_idx) -> np.ndarray:
    """Cosine score of each trial ``(emb[enroll_idx[t]], emb[test_idx[t]])`` -> ``(T,)`` float32.

    Trials are scored in chunks, so the extra memory is ``O(N D + T)``, not ``O(T D)``.
    """
    e = l2_normalize(emb)  # (N,D)
    i, j = np.asarray(enroll_idx, dtype=np.int64), np.asarray(test_idx, dtype=np.int64)
    if i.shape != j.shape or i.ndim != 1:
        raise MetricsError(f"trial index arrays must both be (T,), got {i.shape} and {j.shape}")
    out = np.empty(len(i), dtype=np.float32)
    step = max(1, _CHUNK_ELEMENTS // max(e.shape[-1], 1))
    for s in range(0, len(i), step):
        a, b = e[i[s:s + step]], e[j[s:s + step]]  # (t,D), (t,D) with t <= step
        out[s:s + step] = np.einsum("td,td->t", a, b)  # (t,D),(t,D) -> (t,)
    return out


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
    raise MetricsError(f"calibration method must be 'eer' or 'mindcf', got {method!r}")


def verification_report(target, nontarget, p_target: float = 0.01) -> dict:
    """EER (fraction), its threshold, minDCF at ``p_target`` and its threshold, trial counts."""
    rate, thr = eer(target, nontarget)
    dcf, dcf_thr = min_dcf(target, nontarget, p_target=p_target)
    return {"eer": rate, "eer_threshold": thr, "min_dcf": dcf, "min_dcf_threshold": dcf_thr,
            "p_target": p_target, "target_trials": int(np.size(target)),
            "nontarget_trials": int(np.size(nontarget))}


def pair_count(n: int) -> int:
    """Number of unordered pairs ``i < j`` of ``n`` items."""
    return n * (n - 1) // 2


def pairs_at(k, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k``-th pairs ``(i (P,), j (P,))`` of ``np.triu_indices(n, k=1)``, without listing them all."""
    k = np.asarray(k, dtype=np.int64)
    r = np.arange(n, dtype=np.int64)
    starts = r * (2 * n - r - 1) // 2  # (n,) index of row r's first pair (r, r+1)
    i = np.searchsorted(starts, k, side="right") - 1  # (P,)
    return i, k - starts[i] + i + 1


def all_pairs(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair ``i < j`` of items: ``(i (P,), j (P,), same-label (P,) bool)``."""
    y = np.asarray(labels)
    i, j = np.triu_indices(len(y), k=1)
    return i, j, y[i] == y[j]


def sample_pairs(labels, max_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``max_pairs`` pairs of :func:`all_pairs`, drawn without replacement (all of them
    when there are fewer), in memory ``O(max_pairs)`` rather than ``O(pairs)`` whenever the
    pairs outnumber ``max_pairs`` fifty times (NumPy's set-based draw)."""
    y = np.asarray(labels)
    total = pair_count(len(y))
    if total <= max_pairs:
        return all_pairs(y)
    i, j = pairs_at(np.random.default_rng(seed).choice(total, max_pairs, replace=False), len(y))
    return i, j, y[i] == y[j]
