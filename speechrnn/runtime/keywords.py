"""Torch-free `KeywordSpotter`: keyword detection with an exported ONNX model.

The surface of :class:`speechrnn.inference.KeywordSpotter` (``spot``, ``stream``, ``classify``)
and its two modes, chosen by the model file:

* a **keywords** model (classifier or ensemble): sliding windows, smoothing, threshold and
  refractory period (:class:`speechrnn.kws.detector.StreamingDetector`, the same code the torch
  spotter runs, here over the ONNX graph's posteriors);
* a **transcription** model: open-vocabulary search for typed words or phrases
  (:class:`speechrnn.kws.openvocab.OpenVocabularyStream` over the runtime's chunked CTC).

Example
-------
>>> from speechrnn.runtime import KeywordSpotter                       # doctest: +SKIP
>>> spotter = KeywordSpotter.load("kws-10-bilstm.onnx")  # doctest: +SKIP
>>> [(d.keyword, d.start, d.score) for d in spotter.spot("call.wav").detections]  # doctest: +SKIP
>>> ov = KeywordSpotter.load("en-char-bilstm.onnx", keywords=["hello world"])  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError
from ..kws.detector import DetectorConfig, KeywordDetection, StreamingDetector, stored_detector
from .model import OnnxModel

_BLOCK_S = 10.0
NON_KEYWORDS = ("_unknown_", "_silence_")
OPEN_VOCAB_THRESHOLD = math.exp(-1.0)  # as the torch spotter's default


@dataclass
class SpotResult:
    """What :meth:`KeywordSpotter.spot` returns: ``detections`` in time order (seconds from the
    start, ``score`` in [0, 1]), ``duration`` searched, ``path`` of a file input."""

    detections: list[KeywordDetection] = field(default_factory=list)
    duration: float = 0.0
    path: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "duration": round(self.duration, 3),
                "detections": [d.to_dict() for d in self.detections]}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _WindowClassifier:
    """Posteriors ``(N, C)`` float64 of equal-length windows ``(N, W)`` through the ONNX graph."""

    def __init__(self, model: OnnxModel, batch: int):
        self.model, self.batch = model, batch
        self.num_classes = len(model.meta["labels"]["labels"])

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, windows.shape[0], self.batch):
            x = np.ascontiguousarray(windows[i:i + self.batch], dtype=np.float32)  # (b, W)
            scores, = self.model.run(x, np.full(x.shape[0], x.shape[1], dtype=np.int64))
            out.append(_softmax(scores.astype(np.float64)))
        return np.concatenate(out) if out else np.zeros((0, self.num_classes))


class KeywordSpotter:
    """Find keywords with an exported keyword classifier or CTC transcription model.

    Parameters
    ----------
    model : OnnxModel
        ``task`` ``keywords`` (classifier) or ``transcription`` (open vocabulary).
    keywords : list[str], optional
        Classifier: a subset of its classes (default: all but ``_unknown_``/``_silence_``);
        transcription model: the words/phrases to search (required).
    threshold : float, optional
        Default: the file's calibrated ``kws_threshold`` (and per-keyword ``kws_thresholds``)
        via :meth:`load`, else 0.5; open vocabulary: the ``open_vocab_threshold`` an adapted
        model stores, else exp(-1).
    detector : DetectorConfig, optional
        Window, hop, smoothing, refractory period (classifier mode).
    """

    def __init__(self, model: OnnxModel, keywords: list[str] | None = None, *,
                 threshold: float | None = None, detector: DetectorConfig | None = None):
        self.model = model
        self.task = model.task
        self.sample_rate = model.sample_rate
        if self.task == "keywords":
            self.classes = list(model.meta["labels"]["labels"])
            default = [c for c in self.classes if c not in NON_KEYWORDS]
            self.keywords = list(keywords) if keywords else default
            unknown = [k for k in self.keywords if k not in self.classes]
            if unknown:
                raise ConfigError(f"keyword(s) {unknown} are not classes of this model (it knows "
                                  f"{default}); use a transcription model for open-vocabulary search")
            cfg = dataclasses.replace(detector or DetectorConfig())
            if threshold is not None:
                cfg.threshold = threshold
            cfg.validate()
            self.detector, self.threshold = cfg, cfg.threshold
            self._clf = _WindowClassifier(model, cfg.batch_windows)
        elif self.task == "transcription":
            if not keywords:
                raise ConfigError("open-vocabulary search with a transcription model needs keywords")
            self.keywords = list(keywords)
            self.threshold = OPEN_VOCAB_THRESHOLD if threshold is None else threshold
            self._detector_stream()  # validate keywords / threshold now
        else:
            raise CheckpointError(f"{model.path}: a KeywordSpotter needs a keywords or transcription "
                                  f"model, got a {self.task!r} model")

    @property
    def open_vocabulary(self) -> bool:
        """True when searching with a CTC transcription model."""
        return self.task == "transcription"

    @classmethod
    def load(cls, path, keywords: list[str] | None = None, *, threshold: float | None = None,
             detector: DetectorConfig | None = None, threads: int | None = None) -> "KeywordSpotter":
        """Load an exported ``.onnx`` keyword or transcription model."""
        model = OnnxModel(path, threads=threads)
        # calibrated thresholds stored in the file: a keyword model's (one per keyword when
        # calibrated so), an adapted transcription model's open-vocabulary one
        threshold, detector = stored_detector(model.task, model.meta.get("extra") or {}, threshold, detector)
        return cls(model, keywords, threshold=threshold, detector=detector)

    def _detector_stream(self):
        if self.open_vocabulary:
            from ..kws.openvocab import OpenVocabularyStream
            from .recognizer import Recognizer

            rec = Recognizer(self.model, chunk_s=10.0, context_s=1.0)  # the torch search's windows
            return OpenVocabularyStream.over(rec._chunked_ctc(), self.model.meta["labels"],
                                             rec.frame_shift_s, self.keywords, self.threshold)
        return StreamingDetector(self._clf, self.classes, self.keywords, self.detector, self.sample_rate)

    def _blocks(self, audio: Any, sample_rate: int | None):
        from ..inference.audio_blocks import input_blocks

        return input_blocks(audio, sample_rate, self.sample_rate, _BLOCK_S)

    def spot(self, audio: Any, sample_rate: int | None = None) -> SpotResult:
        """Detections in a file path or a numpy array of samples (long files read in blocks)."""
        path, blocks = self._blocks(audio, sample_rate)
        stream = self._detector_stream()
        dets, n = [], 0
        for block in blocks:
            n += block.shape[0]
            dets += stream.feed(block)
        dets += stream.finish()
        return SpotResult(sorted(dets, key=lambda d: (d.start, d.keyword)), n / self.sample_rate, path)

    def classify(self, audio: Any, sample_rate: int | None = None) -> dict[str, float]:
        """Class posteriors of one short clip (classifier models)."""
        if self.open_vocabulary:
            raise ConfigError("classify() needs a keywords (classifier) model")
        _, blocks = self._blocks(audio, sample_rate)
        x = np.concatenate(list(blocks))
        scores, = self.model.run(x[None], np.array([x.shape[0]]))
        return dict(zip(self.classes, _softmax(scores[0].astype(np.float64)).tolist()))

    def stream(self, sample_rate: int | None = None) -> "KeywordStream":
        """A live session: ``feed(chunk) -> new detections``, ``finish() -> the rest``."""
        from ..inference.audio_blocks import StreamInput

        return KeywordStream(self._detector_stream(), StreamInput(sample_rate, self.sample_rate))


class KeywordStream:
    """Live keyword detection over one stream; detections equal :meth:`KeywordSpotter.spot`'s."""

    def __init__(self, detector, stream_input):
        self._detector = detector
        self._input = stream_input
        self._done = False

    def feed(self, chunk) -> list[KeywordDetection]:
        """Add a chunk (float/int PCM array or 16-bit PCM bytes); return new detections."""
        if self._done:
            raise ConfigError("this keyword stream is finished; start another with KeywordSpotter.stream()")
        return self._detector.feed(self._input.convert(chunk))

    def finish(self) -> list[KeywordDetection]:
        """End the stream; return the detections not reported yet."""
        if self._done:
            raise ConfigError("this keyword stream is already finished")
        self._done = True
        return self._detector.feed(self._input.flush()) + self._detector.finish()
