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


BACKPOINTER_BYTES = 64 * 2**20  # backpointers held at once by _viterbi_path (bounded memory)


def _viterbi_path(lp: np.ndarray, tokens: list[int], blank: int,
                  budget: int | None = None) -> np.ndarray:
    """Best CTC path of ``tokens`` through ``lp (T, V)``: the label of every frame, ``(T,)``.

    States are ``blank, t1, blank, t2, ..., blank`` (S = 2L + 1). Each step keeps the state, or
    comes from the previous one, or skips a blank, by torchaudio's ``forced_align`` rules (which
    this replaced; the same paths, ties included): a move needs a strictly higher score than
    both others, else the state is kept; at the end the trailing blank needs a strictly higher
    score than the last token.

    Memory is bounded for long inputs (an hour of speech is ~120k frames x ~100k states):
    backpointers are kept for blocks of ``budget // S`` frames only (``budget`` bytes,
    default :data:`BACKPOINTER_BYTES`). A first forward pass
    stores the scores at each block start (``T / block x S`` floats); the backtrace recomputes
    one block's backpointers at a time from its stored start (the forward pass runs twice when
    there is more than one block). The path is the same as with every backpointer kept.
    """
    n_frames = lp.shape[0]
    ext = np.full(2 * len(tokens) + 1, blank, dtype=np.int64)  # (S,) label of each state
    ext[1::2] = tokens
    n_states = ext.shape[0]
    can_skip = np.zeros(n_states, dtype=bool)  # s-2 -> s into a token differing from the previous
    can_skip[3::2] = np.asarray(tokens[1:]) != np.asarray(tokens[:-1])
    neg = np.float32(-np.inf)
    budget = BACKPOINTER_BYTES if budget is None else budget

    def step(alpha: np.ndarray, t: int, back_row: np.ndarray | None) -> np.ndarray:
        one = np.concatenate([[neg], alpha[:-1]])  # (S,) score arriving from s-1
        two = np.where(can_skip, np.concatenate([[neg, neg], alpha[:-2]]), neg)  # from s-2
        skip = (two > one) & (two > alpha)
        move = ~skip & (one > alpha) & (one > two)
        if back_row is not None:
            back_row[:] = np.where(skip, 2, np.where(move, 1, 0))
        return np.where(skip, two, np.where(move, one, alpha)) + lp[t, ext]

    block = max(1, min(n_frames, budget // n_states))  # frames of backpointers per block
    alpha = np.full(n_states, neg, dtype=np.float32)
    alpha[:2] = lp[0, ext[:2]]
    starts = list(range(0, n_frames, block))  # block k holds frames (starts[k], starts[k] + block]
    saved = []  # scores after frame starts[k]
    back = np.zeros((block, n_states), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    single = len(starts) == 1
    for k, t0 in enumerate(starts):
        saved.append(alpha)
        for t in range(t0 + 1, min(t0 + block, n_frames - 1) + 1):
            alpha = step(alpha, t, back[t - t0 - 1] if single else None)
    s = n_states - 1 if alpha[n_states - 1] > alpha[n_states - 2] else n_states - 2
    states = np.empty(n_frames, dtype=np.int64)
    states[n_frames - 1] = s
    for k in range(len(starts) - 1, -1, -1):
        t0 = starts[k]
        t1 = min(t0 + block, n_frames - 1)  # last frame of the block
        if not single:
            a = saved[k]
            for t in range(t0 + 1, t1 + 1):
                a = step(a, t, back[t - t0 - 1])
        for t in range(t1, t0, -1):
            states[t] = s
            s -= back[t - t0 - 1, s]
        states[t0] = s
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

    Words are the whitespace-separated parts of the tokens' symbols joined, exactly as
    :func:`~speechrnn.decoding.ids_to_text` spells the text: a ``" "`` token separates words,
    and so does a space inside a symbol (subword pieces such as ``" the"``). So the words
    joined with single spaces always equal ``ids_to_text(token_ids, labels)``.

    When the frames are too few to give every ``" "`` token a frame of its own (a decoder's
    words emitted back to back), the other tokens are aligned alone and the separators only
    mark the word boundaries.

    Parameters
    ----------
    log_probs : np.ndarray or torch.Tensor, shape (T, V)
        Log-softmax outputs for the valid frames of one utterance.
    token_ids : sequence of int
        Tokens to align: a decoder's output or a reference transcript (leading, trailing and
        repeated separators are fine).
    labels : sequence of str, length V
    frame_shift_s : float
        Encoder output frame period in seconds (e.g. 0.03 with x3 subsampling
        of 10 ms frames).

    Returns
    -------
    list[Word]
        ``start`` = first frame of the word's first token x ``frame_shift_s``;
        ``end`` = one past the last frame of its last token x ``frame_shift_s``;
        ``confidence`` = mean score of its tokens.

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
    x = as_log_probs(log_probs, 2)
    tokens = [int(t) for t in token_ids]
    spans: list[TokenSpan | None]
    is_sep = [0 <= t < len(labels) and labels[t] == WORD_SEPARATOR for t in tokens]
    if any(is_sep) and x.shape[0] < _min_frames(tokens):
        others = iter(align_tokens(x, [t for t, sep in zip(tokens, is_sep) if not sep], blank=blank))
        spans = [None if sep else next(others) for sep in is_sep]
    else:
        spans = list(align_tokens(x, tokens, blank=blank))
    words: list[Word] = []
    chars: list[str] = []
    current: list[TokenSpan] = []  # spans of the word being read

    def flush() -> None:
        if chars:
            conf = sum(s.score for s in current) / len(current)
            words.append(Word("".join(chars), current[0].start * frame_shift_s,
                              current[-1].end * frame_shift_s, conf))
        chars.clear()
        current.clear()

    for token, span in zip(tokens, spans):
        for c in labels[token]:
            if c.isspace():
                flush()
            else:
                chars.append(c)
                if not current or current[-1] is not span:
                    current.append(span)
    flush()
    return words
