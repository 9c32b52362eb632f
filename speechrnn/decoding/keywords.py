"""Open-vocabulary keyword search on CTC posteriors (no decoding, no LM).

Scoring (documented choice)
---------------------------
For a keyword with tokens ``k_1..k_L`` we run a Viterbi pass over the CTC
topology ``k_1, blank, k_2, blank, ..., k_L`` (a blank is required between two
equal tokens, optional otherwise) in which the path may *start at any frame*
in ``k_1`` at zero cost: everything before the keyword is a free "wildcard"
background. ``scores[t]`` is the best path log-likelihood of a keyword whose
last token is emitted at frame ``t``, divided by ``L``: the average
log-posterior per keyword token, in ``(-inf, 0]``, comparable across keyword
lengths. Because starting late is free, ``starts[t]`` is the *last* frame of
the first token's run. Absent keywords need low-posterior frames on their path
and so score far below present ones.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from .greedy import as_log_probs
from .results import DecodingError, Detection


class KeywordScores(NamedTuple):
    """Per-end-frame keyword scores.

    Attributes
    ----------
    scores : np.ndarray, shape (T,), float64
        Best normalised log-likelihood of the keyword ending at each frame
        (``-inf`` where impossible).
    starts : np.ndarray, shape (T,), int64
        Start frame of that best path (``-1`` where impossible).
    """

    scores: np.ndarray
    starts: np.ndarray


def keyword_scores(log_probs, keyword_ids: Sequence[int], blank: int = 0) -> KeywordScores:
    """Score a keyword at every end frame with a wildcard-start CTC Viterbi pass.

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (T, V)
        Log-softmax outputs for the valid frames of one utterance.
    keyword_ids : sequence of int, length L >= 1
        Keyword token ids (no blanks), e.g. ``tokenizer.encode("hey there")``.
    blank : int
        CTC blank id.

    Returns
    -------
    KeywordScores
        See the module docstring for the scoring.
    """
    lp = as_log_probs(log_probs, 2).astype(np.float64)  # (T,V)
    kw = np.asarray(list(keyword_ids), dtype=np.int64)
    n_frames, vocab = lp.shape
    if kw.size == 0 or (kw == blank).any() or (kw < 0).any() or (kw >= vocab).any():
        raise DecodingError(f"keyword_ids must be non-blank ids in [0, {vocab}), got {kw.tolist()}")
    n_states = 2 * kw.size - 1
    ext = np.full(n_states, blank, dtype=np.int64)  # (S,) token of each state
    ext[0::2] = kw
    # skip s-2 -> s allowed into a token state whose token differs from the previous token
    can_skip = np.zeros(n_states, dtype=bool)  # (S,)
    can_skip[2::2] = kw[1:] != kw[:-1]
    emit = lp[:, ext]  # (T,S)

    delta = np.full(n_states, -np.inf)  # (S,)
    start = np.full(n_states, -1, dtype=np.int64)  # (S,)
    scores = np.full(n_frames, -np.inf)
    starts = np.full(n_frames, -1, dtype=np.int64)
    for t in range(n_frames):
        prev1 = np.concatenate(([-np.inf], delta[:-1]))  # (S,) from s-1
        prev2 = np.concatenate(([-np.inf, -np.inf], delta[:-2]))  # (S,) from s-2
        prev2 = np.where(can_skip, prev2, -np.inf)
        prev1[0] = 0.0  # wildcard: enter k_1 fresh at frame t
        cands = np.stack([delta, prev1, prev2])  # (3,S)
        best = cands.argmax(axis=0)  # (S,)
        src_start = np.stack(
            [start, np.concatenate(([t], start[:-1])), np.concatenate(([-1, -1], start[:-2]))]
        )  # (3,S)
        start = src_start[best, np.arange(n_states)]
        delta = cands[best, np.arange(n_states)] + emit[t]
        scores[t] = delta[-1]
        starts[t] = start[-1]
    return KeywordScores(scores / kw.size, starts)


def find_detections(ks: KeywordScores, threshold: float,
                    accept: Callable[[int, int], bool] | None = None) -> list[Detection]:
    """Non-overlapping detections with score >= ``threshold``, best first chosen, sorted by start.

    Candidates are end frames ``t`` with ``ks.scores[t] >= threshold`` (and, with ``accept``,
    ``accept(start, t)`` true); the best candidate is kept, candidates whose span
    ``[starts[t], t]`` overlaps a kept one are dropped, and so on.
    """
    cand = np.flatnonzero(np.isfinite(ks.scores) & (ks.scores >= threshold))
    order = cand[np.argsort(-ks.scores[cand], kind="stable")]
    kept: list[Detection] = []
    for t in order:
        s = int(ks.starts[t])
        if all(t < d.start or s > d.end for d in kept) and (accept is None or accept(s, int(t))):
            kept.append(Detection(start=s, end=int(t), score=float(ks.scores[t])))
    return sorted(kept, key=lambda d: d.start)


def at_word_boundaries(best_ids: np.ndarray, start: int, end: int, keyword_ids: Sequence[int],
                       space: int, blank: int = 0, pause: int | None = None) -> bool:
    """Whether a keyword match over frames ``[start, end]`` is a whole word of the best path.

    The wildcard-start search also matches a keyword spelled *inside* a longer word ("go" in
    "gone", "on" in "one"). A match is a whole word when, on the best path ``best_ids`` (the
    per-frame argmax, ``(T,)``), the nearest non-blank token before it is a space, or is at
    least ``pause`` blank frames away, or there is none (the start of the audio or of the
    search window); and likewise after it. The rest of the first token's run before ``start``
    and of the last token's run after ``end`` belong to the match (Viterbi may start or end
    inside a run) and are skipped.
    """
    best = np.asarray(best_ids)
    first, last = keyword_ids[0], keyword_ids[-1]
    before = np.flatnonzero(best[:start] != blank)
    i, edge = before.size, start
    while i and best[before[i - 1]] == first:
        i -= 1
        edge = before[i]
    if i and best[before[i - 1]] != space and (pause is None or edge - before[i - 1] - 1 < pause):
        return False
    after = end + 1 + np.flatnonzero(best[end + 1:] != blank)
    j, edge = 0, end
    while j < after.size and best[after[j]] == last:
        edge = after[j]
        j += 1
    return j == after.size or best[after[j]] == space or (pause is not None and after[j] - edge - 1 >= pause)


def keyword_search(
    log_probs, keyword_ids: Sequence[int], threshold: float = -1.0, blank: int = 0
) -> list[Detection]:
    """Find occurrences of a keyword in CTC posteriors.

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (T, V)
    keyword_ids : sequence of int
    threshold : float
        Minimum normalised score (average log-posterior per keyword token);
        calibrate it on dev data with :func:`speechrnn.metrics.threshold_for_fa_rate`.

    Returns
    -------
    list[Detection]
        Sorted by start frame; use ``Detection.times(frame_shift_s)`` for seconds.
    """
    return find_detections(keyword_scores(log_probs, keyword_ids, blank), threshold)
