"""`KeywordSpotter`: keyword detections with times and scores, for files, arrays and streams.

Two modes, chosen by the model file:

* a **keywords** model (classifier, e.g. the bundled ``kws-10-bilstm.pt``): sliding 1 s windows,
  posterior smoothing, threshold and refractory period (:mod:`speechrnn.kws.detector`); the
  keywords are the model's classes (or a subset of them);
* a **transcription** model (CTC): open-vocabulary search for any typed words or phrases
  (:mod:`speechrnn.kws.openvocab`), no training per keyword.

Example
-------
>>> from speechrnn import KeywordSpotter                             # doctest: +SKIP
>>> spotter = KeywordSpotter.load()                                   # bundled 10-word model  # doctest: +SKIP
>>> [(d.keyword, d.start, d.score) for d in spotter.spot("call.wav").detections]  # doctest: +SKIP
>>> ov = KeywordSpotter.load("en-char-bilstm.pt", keywords=["hello world"])   # any phrase  # doctest: +SKIP
>>> stream = spotter.stream()  # doctest: +SKIP
>>> for chunk in microphone_chunks():                                 # 16 kHz float32 arrays  # doctest: +SKIP
...     for d in stream.feed(chunk): print(d)
>>> stream.finish()  # doctest: +SKIP

A `KeywordSpotter` holds no per-call state: one instance serves concurrent calls; each stream
is used by one thread.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError
from ..kws.detector import DetectorConfig, KeywordDetection, StreamingDetector, WindowClassifier, stored_detector
from .audio_blocks import StreamInput, input_blocks
from .models import resolve_model
from .threads import load_threads

_BLOCK_S = 10.0  # seconds per block when a long file is streamed (bounded memory)
NON_KEYWORDS = ("_unknown_", "_silence_")
OPEN_VOCAB_THRESHOLD = math.exp(-1.0)  # mean token log-posterior -1


@dataclass
class SpotResult:
    """What :meth:`KeywordSpotter.spot` returns.

    Attributes
    ----------
    detections : list[KeywordDetection]
        In time order; ``start``/``end`` seconds from the start of the audio, ``score`` in [0, 1].
    duration : float
        Seconds of audio searched.
    path : str or None
    """

    detections: list[KeywordDetection] = field(default_factory=list)
    duration: float = 0.0
    path: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "duration": round(self.duration, 3),
                "detections": [d.to_dict() for d in self.detections]}


class KeywordSpotter:
    """Find keywords in audio with a keyword classifier or a CTC transcription model.

    Parameters
    ----------
    model : AcousticModel
        From :func:`speechrnn.load_model`; ``model.task`` selects the mode.
    keywords : list[str], optional
        Classifier: a subset of the model's classes (default: all but ``_unknown_``/``_silence_``).
        Transcription model: the words/phrases to search (required).
    threshold : float, optional
        Score in [0, 1] a detection must reach, for every keyword (default: the calibrated
        ``kws_threshold`` stored in the model file, per keyword ``kws_thresholds`` where it was
        calibrated so, via :meth:`load`; else 0.5; open vocabulary: the ``open_vocab_threshold`` an adapted
        model stores, else exp(-1) ~ 0.37).
    detector : DetectorConfig, optional
        Window, hop, smoothing, refractory period (classifier mode).
    """

    def __init__(self, model, keywords: list[str] | None = None, *, threshold: float | None = None,
                 detector: DetectorConfig | None = None):
        self.model = model.eval()
        self.task = getattr(model, "task", None)
        self.sample_rate = model.feature_cfg.sample_rate
        if self.task == "keywords":
            self.classes = list(model.labels["labels"])
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
            self.detector = cfg
            self.threshold = cfg.threshold
            self._clf = WindowClassifier(model, int(round(cfg.window_s * self.sample_rate)),
                                         cfg.batch_windows)
        elif self.task == "transcription":
            if not keywords:
                raise ConfigError("open-vocabulary search with a transcription model needs keywords "
                                  "(e.g. --keywords 'hello' 'good morning')")
            self.keywords = list(keywords)
            self.threshold = OPEN_VOCAB_THRESHOLD if threshold is None else threshold
            self._detector_stream()  # validate keywords/threshold now, not at the first file
        else:
            raise CheckpointError(f"a KeywordSpotter needs a keywords or transcription model, got "
                                  f"a {self.task!r} model")

    @property
    def open_vocabulary(self) -> bool:
        """True when searching with a CTC transcription model."""
        return self.task == "transcription"

    @classmethod
    def load(cls, path: str | Path | None = None, keywords: list[str] | None = None, *,
             threshold: float | None = None, detector: DetectorConfig | None = None,
             device: str = "cpu", threads: int | None = None, open_vocabulary: bool = False,
             quantize: bool = False) -> "KeywordSpotter":
        """Load a model file or a bundled model by name (``kws-10-bilstm``,
        ``en-char-bilstm.pt``; default: the bundled keyword model, or with ``open_vocabulary``
        the bundled transcription model). ``threads`` is deprecated (process-wide): use
        :func:`speechrnn.inference.set_threads`."""
        from ..models.checkpoint import build_model_from_checkpoint, quantize_dynamic, read_checkpoint

        load_threads(threads, "KeywordSpotter")
        path = resolve_model(path, "transcription" if open_vocabulary else "keywords")
        ckpt = read_checkpoint(path)
        model = build_model_from_checkpoint(ckpt, path).to(device).eval()
        if quantize:
            model = quantize_dynamic(model)
        # calibrated thresholds stored in the file: a keyword model's (one per keyword when
        # calibrated so), an adapted transcription model's open-vocabulary one
        threshold, detector = stored_detector(model.task, ckpt.get("extra") or {}, threshold, detector)
        return cls(model, keywords, threshold=threshold, detector=detector)

    # ------------------------------------------------------------------ API
    def stream(self, sample_rate: int | None = None) -> "KeywordStream":
        """A new live session: ``feed(chunk) -> new detections``, ``finish() -> the rest``.

        Parameters
        ----------
        sample_rate : int, optional
            Rate of the chunks in Hz (default: the model's, 16 kHz); other rates are resampled
            as they arrive. Chunks may be float or integer PCM arrays/tensors or 16-bit PCM
            bytes (see :class:`~speechrnn.inference.audio_blocks.StreamInput`).
        """
        return KeywordStream(self._detector_stream(), StreamInput(sample_rate, self.sample_rate))

    def _detector_stream(self):
        """The detector over float32 blocks at the model's rate (what :meth:`spot` feeds)."""
        if self.open_vocabulary:
            from ..kws.openvocab import OpenVocabularyStream

            return OpenVocabularyStream(self.model, self.keywords, self.threshold)
        return StreamingDetector(self._clf, self.classes, self.keywords, self.detector, self.sample_rate)

    def spot(self, audio: Any, sample_rate: int | None = None) -> SpotResult:
        """Detections in a file path, or in a numpy array / torch tensor of samples.

        Parameters
        ----------
        audio : str, Path, np.ndarray or torch.Tensor
            A file (any format :func:`speechrnn.audio.load_audio` reads; long files are read in
            blocks) or samples ``(S,)``/``(S,C)``/``(C,S)``.
        sample_rate : int, optional
            Rate of an array input (default: 16 kHz).
        """
        path, blocks = self._blocks(audio, sample_rate)
        stream = self._detector_stream()
        dets, n = [], 0
        for block in blocks:
            n += block.shape[0]
            dets += stream.feed(block)
        dets += stream.finish()
        return SpotResult(sorted(dets, key=lambda d: (d.start, d.keyword)), n / self.sample_rate, path)

    def classify(self, audio: Any, sample_rate: int | None = None) -> dict[str, float]:
        """Class posteriors of one short clip (classifier models), e.g. ``{"yes": 0.97, ...}``."""
        if self.open_vocabulary:
            raise ConfigError("classify() needs a keywords (classifier) model")
        _, blocks = self._blocks(audio, sample_rate)
        x = torch.from_numpy(np.concatenate(list(blocks)))[None]  # (S,) -> (1,S)
        with torch.inference_mode():
            logits, _ = self.model(x, torch.tensor([x.shape[1]]))  # (1,C)
        post = torch.softmax(logits.float()[0], dim=-1).tolist()
        return dict(zip(self.classes, post))

    def _blocks(self, audio: Any, sample_rate: int | None):
        """``(path or None, iterator of float32 blocks at the model's rate)``."""
        return input_blocks(audio, sample_rate, self.sample_rate, _BLOCK_S)


class KeywordStream:
    """Live keyword detection over one audio stream (one per stream; not shared between threads).

    ``feed(chunk)`` takes float or integer PCM chunks (or 16-bit PCM bytes) at the stream's
    rate and returns the detections finalized by it; ``finish()`` returns the rest. The
    detections equal :meth:`KeywordSpotter.spot` of the same audio, however it is chunked.
    """

    def __init__(self, detector, stream_input: StreamInput):
        self._detector = detector
        self._input = stream_input
        self.sample_rate = stream_input.sample_rate
        self._done = False

    def feed(self, chunk) -> list[KeywordDetection]:
        """Add a chunk; return the new detections (times in seconds from the stream's start)."""
        if self._done:
            raise ConfigError("this keyword stream is finished; start another with KeywordSpotter.stream()")
        return self._detector.feed(self._input.convert(chunk))

    def finish(self) -> list[KeywordDetection]:
        """End the stream; return the detections not reported yet."""
        if self._done:
            raise ConfigError("this keyword stream is already finished")
        self._done = True
        return self._detector.feed(self._input.flush()) + self._detector.finish()
