"""Open-vocabulary keyword search: any typed word or phrase, with a CTC transcription model.

No training per keyword: the transcription model's CTC posteriors are computed in bounded
windows (:class:`speechrnn.models.chunked.ChunkedCTC`, the Recognizer's chunked inference)
and every keyword is scored with a wildcard-start CTC Viterbi pass
(:func:`speechrnn.decoding.keyword_scores`). Scores are reported as ``exp`` of the mean
log-posterior per keyword token, in (0, 1], so one threshold scale serves both this and the
classifier detector. By default only whole words count: a match whose neighbouring best-path
characters are letters ("go" in "gone") is dropped
(:func:`speechrnn.decoding.at_word_boundaries`).

Streams are searched incrementally: at each step only the frames after the last finalized
frame, plus ``lookback_s`` seconds before them, are searched; a match is final once it ends
``settle_s`` seconds before the newest frame.
"""
from __future__ import annotations

import math

import numpy as np

from ..decoding import keyword_scores
from ..decoding.greedy import as_log_probs
from ..errors import ConfigError
from .detector import KeywordDetection


def keyword_token_ids(tokenizer, keyword: str) -> list[int]:
    """Token ids of a normalized keyword; a clear error for words the model cannot spell."""
    from ..text import normalize_text

    text = normalize_text(keyword)
    if not text:
        raise ConfigError(f"keyword {keyword!r} is empty after normalization")
    ids = tokenizer.encode(text)
    if not ids or 0 in ids:
        raise ConfigError(f"keyword {keyword!r}: the model's tokenizer cannot spell {text!r}")
    return ids


def search_log_probs(log_probs, keywords: dict[str, list[int]], threshold: float,
                     frame_shift_s: float, frame_offset: int = 0,
                     space: int | None = None, pause_s: float = 0.25) -> list[KeywordDetection]:
    """Detections of every keyword in CTC log-probabilities ``(T, V)``.

    Parameters
    ----------
    log_probs : np.ndarray or torch.Tensor, shape (T, V)
    keywords : dict keyword -> token ids
    threshold : float
        Minimum score in (0, 1] (``exp`` of the mean token log-posterior).
    frame_shift_s : float
        Seconds per frame.
    frame_offset : int
        Global index of frame 0 (times are reported from the stream's start).
    space : int, optional
        Token id of the word separator: keep whole-word matches only
        (:func:`speechrnn.decoding.at_word_boundaries`); ``None`` also keeps matches inside
        longer words.
    pause_s : float
        With ``space``: blank-only seconds that also separate words (a pause).

    Returns
    -------
    list[KeywordDetection], sorted by start time. Overlapping matches of the same keyword
    keep the best one (:func:`speechrnn.decoding.find_detections`).
    """
    from ..decoding import at_word_boundaries, find_detections

    log_thr = math.log(threshold) if threshold > 0 else -math.inf
    best = None if space is None else np.asarray(log_probs).argmax(-1)  # (T,)
    pause = max(1, int(round(pause_s / frame_shift_s)))
    out = []
    for word, ids in keywords.items():
        accept = None if best is None else (
            lambda s, e, ids=ids: at_word_boundaries(best, s, e, ids, space, pause=pause))
        for d in find_detections(keyword_scores(log_probs, ids), log_thr, accept):
            out.append(KeywordDetection(word, (d.start + frame_offset) * frame_shift_s,
                                        (d.end + 1 + frame_offset) * frame_shift_s, math.exp(d.score)))
    return sorted(out, key=lambda d: (d.start, d.keyword))


class OpenVocabularyStream:
    """Incremental open-vocabulary search over a stream of 16 kHz samples.

    Parameters
    ----------
    model : AcousticModel
        CTC transcription model (eval mode) with a tokenizer in ``model.labels``.
    keywords : list[str]
        Words or phrases to find.
    threshold : float
        Minimum score in (0, 1].
    chunk_s, context_s : float
        :class:`ChunkedCTC` window and context.
    lookback_s, settle_s : float
        Frames re-searched before the unfinalized region / how old a match end must be to be
        final (both at least the longest keyword's duration is wise).
    whole_words : bool
        Report a keyword only as a whole word (not "go" inside "gone"; see
        :func:`speechrnn.decoding.at_word_boundaries`); needs a character tokenizer with a
        space symbol, otherwise every match is kept.

    :meth:`over` builds the same search over any source of CTC frames (e.g. an ONNX model's,
    :mod:`speechrnn.runtime`).
    """

    def __init__(self, model, keywords, threshold: float = 0.3, *, chunk_s: float = 10.0,
                 context_s: float = 1.0, lookback_s: float = 3.0, settle_s: float = 1.0,
                 whole_words: bool = True):
        from ..models.chunked import ChunkedCTC

        if getattr(model, "task", "transcription") != "transcription":
            raise ConfigError(f"open-vocabulary search needs a transcription (CTC) model, got a "
                              f"{model.task!r} model")
        enc = model.encoder.cfg
        factor = 1 if enc.subsampling == "none" else enc.subsampling_factor
        unit = model.frontend.hop_length * factor  # samples per output frame
        sr = model.feature_cfg.sample_rate
        ctc = ChunkedCTC(model.eval(), unit, chunk_s, context_s, sr)
        self._setup(ctc, model.labels, unit / sr, keywords, threshold, lookback_s, settle_s,
                    whole_words)

    @classmethod
    def over(cls, ctc, labels: dict, frame_shift_s: float, keywords, threshold: float = 0.3, *,
             lookback_s: float = 3.0, settle_s: float = 1.0,
             whole_words: bool = True) -> "OpenVocabularyStream":
        """The search over ``ctc``: any object whose ``feed(samples (S,))`` and ``flush()``
        return newly final CTC log-probabilities ``(N, V)`` (numpy or torch), as
        :class:`~speechrnn.models.chunked.ChunkedCTC` does; ``labels`` is the model's
        tokenizer dict, ``frame_shift_s`` its seconds per output frame."""
        self = cls.__new__(cls)
        self._setup(ctc, labels, frame_shift_s, keywords, threshold, lookback_s, settle_s,
                    whole_words)
        return self

    def _setup(self, ctc, labels: dict, shift: float, keywords, threshold: float,
               lookback_s: float, settle_s: float, whole_words: bool) -> None:
        from ..text import tokenizer_from_dict

        if not keywords:
            raise ConfigError("open-vocabulary search: give at least one keyword")
        if not 0.0 < threshold <= 1.0:
            raise ConfigError(f"open-vocabulary threshold must be in (0, 1], got {threshold}")
        tok = tokenizer_from_dict(labels)
        self.keywords = {k: keyword_token_ids(tok, k) for k in keywords}
        self.threshold = threshold
        symbols = getattr(tok, "symbols", None) or []
        self._space = symbols.index(" ") + 1 if whole_words and " " in symbols else None
        self.shift = shift
        self._ctc = ctc
        self._lookback = max(1, int(round(lookback_s / self.shift)))
        self._settle = max(1, int(round(settle_s / self.shift)))
        self._frames: list[np.ndarray] = []  # pending frames (T_i, V)
        self._offset = 0  # global index of the first pending frame
        self._final_end = {k: 0.0 for k in self.keywords}  # seconds: end of the last reported match

    def _search(self, final: bool) -> list[KeywordDetection]:
        if not self._frames:
            return []
        lp = np.concatenate(self._frames)  # (T, V)
        n = lp.shape[0]
        limit = n if final else n - self._settle  # matches must end before this frame
        if limit <= 0:
            return []
        dets = search_log_probs(lp, self.keywords, self.threshold, self.shift, self._offset, self._space)
        out = []
        for d in dets:
            end_frame = int(round(d.end / self.shift)) - self._offset
            if end_frame <= limit and d.start >= self._final_end[d.keyword] - 1e-9:
                self._final_end[d.keyword] = d.end
                out.append(d)
        # keep only `lookback` frames before the first unsettled frame
        drop = max(0, limit - self._lookback)
        if drop:
            self._frames = [lp[drop:]]
            self._offset += drop
        return out

    def _add(self, new) -> None:
        if new.shape[0]:
            self._frames.append(as_log_probs(new, 2))

    def feed(self, samples) -> list[KeywordDetection]:
        """Append samples ``(S,)``; return newly final detections."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._add(self._ctc.feed(x))
        return self._search(final=False)

    def finish(self) -> list[KeywordDetection]:
        """Process the rest of the audio; return the remaining detections."""
        self._add(self._ctc.flush())
        return self._search(final=True)
