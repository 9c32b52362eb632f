"""Word and character error rates (jiwer), per utterance and for the corpus.

Texts are compared as given (normalise them first, e.g. with
``speechrnn.text.normalize_text``); runs of whitespace count as one space.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import SpeechRNNError


class MetricsError(SpeechRNNError, ValueError):
    """Metric inputs are inconsistent: length mismatch, empty, wrong shape."""


@dataclass
class UtteranceErrors:
    """Edit counts of one hypothesis against its reference."""

    id: str
    ref: str
    hyp: str
    ref_words: int
    substitutions: int
    deletions: int
    insertions: int
    ref_chars: int
    char_errors: int

    @property
    def word_errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Word errors / reference words (errors / 1 for an empty reference)."""
        return self.word_errors / max(self.ref_words, 1)

    @property
    def cer(self) -> float:
        """Character edits (spaces included) / reference characters."""
        return self.char_errors / max(self.ref_chars, 1)


@dataclass
class ErrorRates:
    """Corpus-level WER/CER: totals over utterances, not a mean of per-utterance rates."""

    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    ref_chars: int
    char_errors: int
    sentence_error_rate: float
    utterances: list[UtteranceErrors] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Utterances not scored because their audio could not be read: (id, reason)."""

    def summary(self) -> dict:
        """Aggregates only, JSON-friendly."""
        return {k: v for k, v in self.__dict__.items() if k != "utterances"}


def _edit_counts(alignments) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) from one utterance's jiwer alignment chunks."""
    s = d = i = 0
    for ch in alignments:
        if ch.type == "substitute":
            s += ch.ref_end_idx - ch.ref_start_idx
        elif ch.type == "delete":
            d += ch.ref_end_idx - ch.ref_start_idx
        elif ch.type == "insert":
            i += ch.hyp_end_idx - ch.hyp_start_idx
    return s, d, i


def error_rates(
    refs: Sequence[str], hyps: Sequence[str], ids: Sequence[str] | None = None
) -> ErrorRates:
    """WER and CER with a per-utterance breakdown.

    Parameters
    ----------
    refs, hyps : sequence of str, length N
        Reference and hypothesis texts, paired by position.
    ids : sequence of str, length N, optional
        Utterance ids (default ``"0".."N-1"``).

    Returns
    -------
    ErrorRates

    Examples
    --------
    >>> r = error_rates(["the cat sat"], ["the kat sat on"])
    >>> round(r.wer, 3), r.substitutions, r.insertions
    (0.667, 1, 1)
    """
    import jiwer

    if len(refs) != len(hyps):
        raise MetricsError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise MetricsError("no utterances to score")
    ids = [str(i) for i in range(len(refs))] if ids is None else [str(i) for i in ids]
    if len(ids) != len(refs):
        raise MetricsError(f"{len(ids)} ids for {len(refs)} utterances")
    refs = [" ".join(r.split()) for r in refs]
    hyps = [" ".join(h.split()) for h in hyps]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    utts = []
    for k, (uid, r, h) in enumerate(zip(ids, refs, hyps)):
        s, d, i = _edit_counts(words.alignments[k])
        cs, cd, ci = _edit_counts(chars.alignments[k])
        utts.append(UtteranceErrors(uid, r, h, len(r.split()), s, d, i, len(r), cs + cd + ci))
    n_words = sum(u.ref_words for u in utts)
    n_chars = sum(u.ref_chars for u in utts)
    char_errors = sum(u.char_errors for u in utts)
    word_errors = sum(u.word_errors for u in utts)
    return ErrorRates(
        wer=word_errors / max(n_words, 1),
        cer=char_errors / max(n_chars, 1),
        substitutions=sum(u.substitutions for u in utts),
        deletions=sum(u.deletions for u in utts),
        insertions=sum(u.insertions for u in utts),
        ref_words=n_words,
        ref_chars=n_chars,
        char_errors=char_errors,
        sentence_error_rate=sum(u.word_errors > 0 for u in utts) / len(utts),
        utterances=utts,
    )


def error_report(
    refs: Sequence[str], hyps: Sequence[str], ids: Sequence[str] | None = None
) -> list[dict]:
    """Rows for an errors file, worst utterance (most word errors) first.

    Each row: ``id, ref, hyp, wer, cer, errors, ref_words, substitutions,
    deletions, insertions``.
    """
    rows = [
        {
            "id": u.id, "ref": u.ref, "hyp": u.hyp, "wer": u.wer, "cer": u.cer,
            "errors": u.word_errors, "ref_words": u.ref_words,
            "substitutions": u.substitutions, "deletions": u.deletions,
            "insertions": u.insertions,
        }
        for u in error_rates(refs, hyps, ids).utterances
    ]
    return sorted(rows, key=lambda row: (-row["errors"], -row["wer"], row["id"]))
