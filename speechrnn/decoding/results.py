"""Result types shared by every decoder: words with times, decode results, detections.

All times are in seconds from the start of the decoded segment; frame indices
refer to encoder output frames (``frame_shift_s`` apart).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SpeechRNNError


class DecodingError(SpeechRNNError, ValueError):
    """Decoder inputs are unusable: wrong shape, too few frames, unknown label, bad LM file."""


@dataclass(frozen=True)
class Word:
    """One recognised word.

    Attributes
    ----------
    word : str
        The word's text.
    start, end : float
        Start and end time in seconds; ``end`` is the end of the word's last
        token frame (exclusive), so ``end - start >= frame_shift_s``.
    confidence : float
        Mean over the word's tokens of each token's mean posterior probability
        across the frames the alignment gives it; in ``[0, 1]``.
    """

    word: str
    start: float
    end: float
    confidence: float


@dataclass
class DecodeResult:
    """Output of decoding one utterance.

    Attributes
    ----------
    text : str
        Decoded text, words separated by single spaces.
    tokens : list[int]
        Token ids of ``text`` (no blanks, no collapsed repeats).
    score : float
        Decoder score: the path log-probability for greedy, pyctcdecode's
        combined acoustic + LM score for beam search.
    words : list[Word]
        Words with times and confidences; empty unless alignment was requested.
    """

    text: str
    tokens: list[int]
    score: float = 0.0
    words: list[Word] = field(default_factory=list)


@dataclass(frozen=True)
class Detection:
    """A keyword occurrence found by :func:`speechrnn.decoding.keyword_search`.

    Attributes
    ----------
    start, end : int
        First and last (inclusive) encoder frame of the keyword's tokens.
    score : float
        Best CTC path log-likelihood of the keyword over ``[start, end]``
        divided by the number of keyword tokens (higher is better, ``<= 0``).
    """

    start: int
    end: int
    score: float

    def times(self, frame_shift_s: float) -> tuple[float, float]:
        """``(start_s, end_s)`` in seconds; ``end_s`` is exclusive."""
        return self.start * frame_shift_s, (self.end + 1) * frame_shift_s
