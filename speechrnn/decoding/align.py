"""CTC forced alignment -> word timestamps and confidences (a NumPy Viterbi pass, no torch).

Confidence (documented choice): the alignment assigns every token a run of
frames; a token's confidence is the mean, over those frames, of the model's
posterior probability of that token, and a word's confidence is the mean over
its tokens. Blank frames between tokens do not count.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .greedy import as_log_probs
from .labels import WORD_SEPARATOR, check_labels
from .results import DecodingError, Word


def _min_frames(tokens: Sequence[int]) -> int:
    """Frames CTC needs for ``tokens``: one per token plus a blank between repeats."""
    repeats = sum(1 for a, b in zip(tokens[:-1], tokens[1:]) if a == b)
    return len(tokens) + repeats


class TokenSpan(NamedTuple):
    """One aligned token: frames ``[start, end)`` and its mean posterior probability there."""

    token: int
    start: int
    end: int
    score: float


def _viterbi_path(lp: np.ndarray, tokens: list[int], blank: int) -> np.ndarray:
    """Best CTC path of ``tokens`` through ``lp (T, V)``: the label of every frame, ``(T,)``.

    States are ``blank, t1, blank, t2, ..., blank`` (S = 2L + 1). Each step keeps the state, or
    comes from the previous one, or skips a blank, by torchaudio's ``forced_align`` rules (which
    this replaced; the same paths, ties included): a move needs a strictly higher score than
    both others, else the state is kept; at the end the trailing blank needs a strictly higher
    score than the last token.
    """
    n_frames = lp.shape[0]
    ext = np.full(2 * len(tokens) + 1, blank, dtype=np.int64)  # (S,) label of each state
    ext[1::2] = tokens
    n_states = ext.shape[0]
    can_skip = np.zeros(n_states, dtype=bool)  # s-2 -> s into a token differing from the previous
    can_skip[3::2] = np.asarray(tokens[1:]) != np.asarray(tokens[:-1])
    emit = lp[:, ext]  # (T, S) float32
    neg = np.float32(-np.inf)
    alpha = np.full(n_states, neg, dtype=np.float32)
    alpha[:2] = emit[0, :2]
    back = np.zeros((n_frames, n_states), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, n_frames):
        one = np.concatenate([[neg], alpha[:-1]])  # (S,) score arriving from s-1
        two = np.where(can_skip, np.concatenate([[neg, neg], alpha[:-2]]), neg)  # from s-2
        skip = (two > one) & (two > alpha)
        step = ~skip & (one > alpha) & (one > two)
        back[t] = np.where(skip, 2, np.where(step, 1, 0))
        alpha = np.where(skip, two, np.where(step, one, alpha)) + emit[t]
    s = n_states - 1 if alpha[n_states - 1] > alpha[n_states - 2] else n_states - 2
    states = np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        states[t] = s
        s -= back[t, s]
    return ext[states]  # (T,)


def align_tokens(log_probs, token_ids: Sequence[int], blank: int = 0) -> list[TokenSpan]:
    """Viterbi CTC alignment of ``token_ids`` to the frames of ``log_probs``.

    Parameters
    ----------
    log_probs : np.ndarray or torch.Tensor, shape (T, V)
        Log-softmax outputs for the valid frames of one utterance.
    token_ids : sequence of int, length L
        Tokens to align (no blanks).

    Returns
    -------
    list[TokenSpan]
        One span per token, with ``start``/``end`` (exclusive) frame indices and
        ``score`` = mean posterior *probability* of the token over its frames.
    """
    x = as_log_probs(log_probs, 2)
    tokens = [int(t) for t in token_ids]
    if not tokens:
        return []
    if any(t == blank or t < 0 or t >= x.shape[1] for t in tokens):
        raise DecodingError(f"token_ids must be non-blank ids in [1, {x.shape[1]}), got {tokens}")
    need = _min_frames(tokens)
    if x.shape[0] < need:
        raise DecodingError(
            f"cannot align {len(tokens)} tokens to {x.shape[0]} frames (CTC needs >= {need})"
        )
    path = _viterbi_path(x, tokens, blank)  # (T,)
    probs = np.exp(x[np.arange(x.shape[0]), path])  # (T,) posterior of each frame's label
    edges = np.flatnonzero(np.diff(path, prepend=-1, append=-1) != 0)  # run boundaries
    spans = [TokenSpan(int(path[a]), int(a), int(b), float(probs[a:b].mean()))
             for a, b in zip(edges[:-1], edges[1:]) if path[a] != blank]
    if len(spans) != len(tokens):  # cannot happen for a valid CTC path; guard anyway
        raise DecodingError(f"alignment produced {len(spans)} spans for {len(tokens)} tokens")
    return spans


def align_words(
    log_probs,
    token_ids: Sequence[int],
    labels: Sequence[str],
    frame_shift_s: float,
    blank: int = 0,
) -> list[Word]:
    """Word start/end times and confidences from a CTC forced alignment.

    Parameters
    ----------
    log_probs : np.ndarray or torch.Tensor, shape (T, V)
        Log-softmax outputs for the valid frames of one utterance.
    token_ids : sequence of int
        Tokens to align: a decoder's output or a reference transcript; the
        ``" "`` token separates words (leading/trailing/repeated spaces are fine).
    labels : sequence of str, length V
    frame_shift_s : float
        Encoder output frame period in seconds (e.g. 0.03 with x3 subsampling
        of 10 ms frames).

    Returns
    -------
    list[Word]
        ``start`` = first frame of the word's first token x ``frame_shift_s``;
        ``end`` = one past the last frame of its last token x ``frame_shift_s``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = ["<b>", " ", "a", "b"]
    >>> p = np.full((6, 4), 0.02); p[[0, 1, 5], 2] = 0.94; p[[2, 4], 0] = 0.94; p[3, 1] = 0.94
    >>> [(w.word, w.start, w.end) for w in align_words(np.log(p), [2, 1, 2], labels, 0.5)]
    [('a', 0.0, 1.0), ('a', 2.5, 3.0)]
    """
    labels = check_labels(labels)
    if frame_shift_s <= 0:
        raise DecodingError(f"frame_shift_s must be > 0, got {frame_shift_s}")
    spans = align_tokens(log_probs, token_ids, blank=blank)
    words: list[Word] = []
    current: list = []

    def flush() -> None:
        if current:
            text = "".join(labels[s.token] for s in current)
            conf = sum(s.score for s in current) / len(current)
            words.append(
                Word(text, current[0].start * frame_shift_s, current[-1].end * frame_shift_s, conf)
            )
            current.clear()

    for span in spans:
        if labels[span.token] == WORD_SEPARATOR:
            flush()
        else:
            current.append(span)
    flush()
    return words
