"""`StreamSession`: one audio stream in Vosk server's protocol, independent of the transport.

The WebSocket endpoint (:mod:`speechrnn.serve.websocket`) parses frames and calls these methods
on the worker pool; a session is used by one task at a time.

Messages (client -> server)
---------------------------
- ``{"config": {"sample_rate": R, "words": bool, "max_alternatives": N, "keywords": true | [...],
  "open_vocabulary": bool, "keyword_threshold": x}}`` before the audio (Vosk's keys plus keywords);
- binary frames of 16-bit little-endian mono PCM at ``R`` Hz;
- ``{"eof": 1}``: final result, then the server closes (1000);
- ``{"reset": 1}``: final result of the audio so far; the stream stays open.

Replies (server -> client), one per audio frame / eof / reset
-------------------------------------------------------------
- ``{"partial": "text so far"}`` after an audio frame;
- ``{"text": "...", "result": [{"word", "start", "end", "conf"}]}`` at eof/reset (with
  ``max_alternatives`` > 0: ``{"alternatives": [{"confidence", "text", "result"}]}``);
- ``"keywords": [{"keyword", "start", "end", "score"}]`` is added to a reply when keywords
  were detected since the previous reply (only if the config asked for keywords).

Times are seconds from the start of the stream (they keep counting across resets).
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import AudioError, ConfigError
from .engine import Engine
from .errors import CLOSE_BAD_DATA, CLOSE_UNSUPPORTED

_CONFIG_KEYS = {"sample_rate", "words", "max_alternatives", "keywords", "open_vocabulary",
                "keyword_threshold"}


class ProtocolError(Exception):
    """A message the stream refuses; ``code`` is the WebSocket close code to use."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _word_dicts(words, offset: float) -> list[dict]:
    return [{"word": w.word, "start": round(w.start + offset, 3), "end": round(w.end + offset, 3),
             "conf": round(float(w.confidence), 4)} for w in words]


class StreamSession:
    """State of one stream: recognizer stream, optional keyword stream, counters.

    Parameters
    ----------
    engine : Engine
        Loaded models and limits.
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.rate = 16000
        self.words = True
        self.alternatives = 0
        self._kws_spotter = None    # KeywordSpotter when the config asked for keywords
        self._asr = None            # TranscriptionStream of the current utterance
        self._kws = None            # its KeywordStream
        self.samples_in = 0         # samples received at the stream's rate (since start)
        self._segment_start = 0.0   # seconds: where the current utterance (after a reset) starts
        self.compute_s = 0.0
        self.started = False        # audio received (config can no longer change)

    # ------------------------------------------------------------------ config
    def configure(self, cfg: Any) -> None:
        """Apply a ``{"config": {...}}`` payload (before the first audio frame)."""
        if not isinstance(cfg, dict):
            raise ProtocolError(CLOSE_UNSUPPORTED, "config must be a JSON object")
        unknown = sorted(set(cfg) - _CONFIG_KEYS)
        if unknown:
            raise ProtocolError(CLOSE_UNSUPPORTED, f"unknown config key {unknown[0]!r} "
                                                   f"(known: {', '.join(sorted(_CONFIG_KEYS))})")
        if self.started:
            raise ProtocolError(CLOSE_UNSUPPORTED, "config must come before the first audio frame")
        limits = self.engine.config
        if "sample_rate" in cfg:
            r = cfg["sample_rate"]
            if isinstance(r, float) and r.is_integer():
                r = int(r)
            if not isinstance(r, int) or isinstance(r, bool) or not (
                    limits.min_sample_rate <= r <= limits.max_sample_rate):
                raise ProtocolError(CLOSE_UNSUPPORTED, f"wrong sample_rate {cfg['sample_rate']!r}: "
                                    f"need an integer in {limits.min_sample_rate}..{limits.max_sample_rate}")
            self.rate = r
        if "words" in cfg:
            self.words = bool(cfg["words"])
        if "max_alternatives" in cfg:
            n = cfg["max_alternatives"]
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ProtocolError(CLOSE_UNSUPPORTED, f"max_alternatives must be an integer >= 0, got {n!r}")
            self.alternatives = n
        kw = cfg.get("keywords")
        if kw not in (None, False):
            if not (kw is True or (isinstance(kw, list) and kw and all(isinstance(k, str) and k.strip()
                                                                       for k in kw))):
                raise ProtocolError(CLOSE_UNSUPPORTED, "keywords must be true or a non-empty list of strings")
            thr = cfg.get("keyword_threshold")
            if thr is not None and (not isinstance(thr, (int, float)) or isinstance(thr, bool)):
                raise ProtocolError(CLOSE_UNSUPPORTED, f"keyword_threshold must be a number, got {thr!r}")
            try:
                self._kws_spotter = keyword_spotter(self.engine, None if kw is True else list(kw),
                                                    bool(cfg.get("open_vocabulary", False)), thr)
            except ConfigError as e:
                raise ProtocolError(CLOSE_UNSUPPORTED, str(e)) from None

    # ------------------------------------------------------------------ audio
    def _streams(self):
        """The recognizer stream (and keyword stream) of the current utterance, made on first use
        at the configured rate: the library resamples and converts the 16-bit PCM bytes."""
        if self._asr is None:
            self._asr = self.engine.recognizer.stream(sample_rate=self.rate)
        if self._kws is None and self._kws_spotter is not None:
            self._kws = self._kws_spotter.stream(sample_rate=self.rate)
        return self._asr, self._kws

    def feed(self, pcm: bytes) -> dict:
        """Process one binary frame (16-bit little-endian PCM); returns ``{"partial": ...}``."""
        t0 = time.perf_counter()
        self.started = True
        self.samples_in += len(pcm) // 2
        asr, kws = self._streams()
        try:
            reply: dict = {"partial": asr.feed(pcm)}
            self._add_keywords(reply, kws.feed(pcm) if kws is not None else [])
        except AudioError as e:  # a frame the stream cannot use; the audio before it is kept
            raise ProtocolError(CLOSE_BAD_DATA, f"bad audio frame: {e.reason}") from None
        self.compute_s += time.perf_counter() - t0
        return reply

    def audio_seconds(self) -> float:
        return self.samples_in / self.rate

    def final(self, *, last: bool) -> dict:
        """The final result of the audio since the start or the last reset.

        ``last`` = end of the stream (the keyword stream finishes too); otherwise a reset: a
        fresh recognizer stream continues, word times keep counting from the stream's start.
        """
        t0 = time.perf_counter()
        asr, kws = self._streams()
        t = asr.finish()
        dets = kws.finish() if kws is not None and last else []
        result = _word_dicts(t.words, self._segment_start)
        if self.alternatives > 0:
            conf = float(np.mean([w["conf"] for w in result])) if result else 0.0
            alt = {"confidence": round(conf, 4), "text": t.text}
            if self.words:
                alt["result"] = result
            reply: dict = {"alternatives": [alt]}
        else:
            reply = {"result": result, "text": t.text} if self.words else {"text": t.text}
        self._add_keywords(reply, dets)
        self._segment_start += t.duration
        self._asr = None
        self.compute_s += time.perf_counter() - t0
        return reply

    @staticmethod
    def _add_keywords(reply: dict, dets) -> None:
        if dets:
            reply["keywords"] = [d.to_dict() for d in dets]


def keyword_spotter(engine: Engine, keywords: list[str] | None, open_vocabulary: bool,
                    threshold: float | None):
    """The :class:`KeywordSpotter` for a request, sharing the server's loaded models.

    The classifier is used unless ``open_vocabulary`` is set or a keyword is not one of its
    classes (then the transcription model searches for the words).
    """
    from ..inference import KeywordSpotter

    clf = engine.spotter
    if not open_vocabulary and clf is not None and (
            keywords is None or all(k in clf.classes for k in keywords)):
        if keywords is None and threshold is None:
            return clf
        return KeywordSpotter(clf.model, keywords, threshold=clf.threshold if threshold is None else threshold,
                              detector=clf.detector)
    if not keywords:
        raise ConfigError("open-vocabulary keyword search needs a list of keywords"
                          if clf is not None or open_vocabulary else
                          "this server has no keyword classifier (--kws-model none): give keywords "
                          "to search with the transcription model")
    return KeywordSpotter(engine.recognizer.model, keywords, threshold=threshold)
