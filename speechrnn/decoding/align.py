"""CTC forced alignment -> word timestamps and confidences (torchaudio ``forced_align``).

Confidence (documented choice): the alignment assigns every token a run of
frames; a token's confidence is the mean, over those frames, of the model's
posterior probability of that token, and a word's confidence is the mean over
its tokens. Blank frames between tokens do not count.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .greedy import as_log_probs
from .labels import WORD_SEPARATOR, check_labels
from .results import DecodingError, Word


def _min_frames(tokens: Sequence[int]) -> int:
    """Frames CTC needs for ``tokens``: one per token plus a blank between repeats."""
    repeats = sum(1 for a, b in zip(tokens[:-1], tokens[1:]) if a == b)
    return len(tokens) + repeats


def align_tokens(log_probs, token_ids: Sequence[int], blank: int = 0):
    """Viterbi CTC alignment of ``token_ids`` to the frames of ``log_probs``.

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (T, V)
        Log-softmax outputs for the valid frames of one utterance.
    token_ids : sequence of int, length L
        Tokens to align (no blanks).

    Returns
    -------
    list[torchaudio.functional.TokenSpan]
        One span per token, with ``start``/``end`` (exclusive) frame indices and
        ``score`` = mean posterior *probability* of the token over its frames.
    """
    import torchaudio.functional as taf

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
    targets = torch.tensor([tokens], dtype=torch.int32)  # (1,L)
    path, scores = taf.forced_align(x.unsqueeze(0), targets, blank=blank)  # (1,T), (1,T)
    spans = taf.merge_tokens(path[0], scores[0].exp(), blank=blank)
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
    log_probs : torch.Tensor or np.ndarray, shape (T, V)
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
    >>> import torch
    >>> labels = ["<b>", " ", "a", "b"]
    >>> p = torch.full((6, 4), 0.02); p[[0, 1, 5], 2] = 0.94; p[[2, 4], 0] = 0.94; p[3, 1] = 0.94
    >>> [(w.word, w.start, w.end) for w in align_words(p.log(), [2, 1, 2], labels, 0.5)]
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
