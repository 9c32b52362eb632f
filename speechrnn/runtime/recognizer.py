"""Torch-free `Recognizer`: speech to text with an exported ONNX transcription model.

The surface of :class:`speechrnn.inference.Recognizer` (``transcribe``, ``transcribe_batch``,
``align``, ``stream``) on :class:`~speechrnn.runtime.model.OnnxModel`: the same bounded windows,
segment decoding (greedy, beam + LM, lexicon + LM from :mod:`speechrnn.decoding`) and word times,
so a transcript equals the torch model's up to the ONNX graph's float rounding.

Example
-------
>>> from speechrnn.runtime import Recognizer                    # doctest: +SKIP
>>> rec = Recognizer.load("en-char-bilstm.onnx", threads=2)    # its default decoding + LM beside it  # doctest: +SKIP
>>> t = rec.transcribe("speech.wav")  # doctest: +SKIP
>>> t.text, [(w.word, w.start, w.end) for w in t.words]  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..decoding import DecodingConfig, Word
from ..errors import CheckpointError, ConfigError, SpeechRNNError
from .chunking import ChunkedCTC, SegmentDecoder
from .model import OnnxModel

_BLOCK_S = 10.0  # seconds per block when a long file is streamed
PARTIAL_S = 0.5  # a live stream refreshes its provisional partial text every this many seconds
REVISE_S = 1.0  # ... recomputing this much of the previous provisional tail with more right context


@dataclass
class Transcript:
    """What :meth:`Recognizer.transcribe` returns (as :class:`speechrnn.inference.Transcript`).

    Attributes
    ----------
    text : str
    words : list[Word]
        ``word``, ``start``/``end`` in seconds from the start of the audio, ``confidence`` in [0, 1].
    duration : float
        Seconds of audio transcribed.
    path : str or None
        Source file, when the input was a file.
    score : float
        Sum of the decoder's segment scores.
    """

    text: str
    words: list[Word] = field(default_factory=list)
    duration: float = 0.0
    path: str | None = None
    score: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class StreamFinishedError(SpeechRNNError):
    """A finished stream was fed or finished again."""


def stored_decoding(model: OnnxModel) -> DecodingConfig | None:
    """The ONNX file's default decoding, its LM / lexicon resolved beside the file (``None``:
    greedy; a missing LM file or decoder package falls back to greedy with a warning)."""
    from ..inference.model_decoding import stored_decoding as resolve

    d = model.meta.get("decoding")
    return resolve(model.path, {"decoding": d}) if d else None


class Recognizer:
    """CTC speech recognizer around an exported ONNX transcription model.

    Parameters
    ----------
    model : OnnxModel
        With ``task == "transcription"``.
    decoding : DecodingConfig, optional
        Default decoding (greedy with word times when omitted; :meth:`load` uses the file's
        stored default).
    chunk_s, context_s : float
        Window size and context for long audio (see :class:`~.chunking.ChunkedCTC`).
    """

    def __init__(self, model: OnnxModel, decoding: DecodingConfig | None = None, *,
                 chunk_s: float = 20.0, context_s: float = 2.0):
        from ..text import tokenizer_from_dict

        if model.task != "transcription":
            raise CheckpointError(f"{model.path}: a Recognizer needs a transcription model, got a "
                                  f"{model.task!r} model")
        self.model = model
        self.tokenizer = tokenizer_from_dict(model.meta["labels"])
        self.labels = list(model.meta["output_labels"])
        self.decoding = decoding or DecodingConfig()
        self.chunk_s, self.context_s = chunk_s, context_s
        self.unit = int(model.meta["unit_samples"])  # samples per output frame
        self.sample_rate = model.sample_rate
        self.frame_shift_s = float(model.meta["frame_shift_s"])

    @classmethod
    def load(cls, path, *, threads: int | None = None, decoding: DecodingConfig | None = None,
             **kwargs) -> "Recognizer":
        """Load an exported ``.onnx`` file; without ``decoding``, its stored default decoding."""
        model = OnnxModel(path, threads=threads)
        return cls(model, decoding or stored_decoding(model), **kwargs)

    # ------------------------------------------------------------------ model
    def _run(self, samples: np.ndarray) -> np.ndarray:
        """One input ``(S,)`` -> log-probabilities of its valid frames ``(T', V)``."""
        log_probs, n = self.model.run(samples[None], np.array([samples.shape[0]]))
        return log_probs[0, : int(n[0])]

    def _chunked_ctc(self) -> ChunkedCTC:
        return ChunkedCTC(self._run, self.unit, self.chunk_s, self.context_s, self.sample_rate)

    def _blocks(self, audio: Any, sample_rate: int | None):
        from ..inference.audio_blocks import input_blocks

        return input_blocks(audio, sample_rate, self.sample_rate, _BLOCK_S)

    # ------------------------------------------------------------------ API
    def transcribe(self, audio: Any, sample_rate: int | None = None, *,
                   decoding: DecodingConfig | None = None) -> Transcript:
        """Transcribe a file path or a numpy array of samples ``(S,)``/``(S,C)``/``(C,S)``.

        Long files are read in blocks and run in bounded windows (memory does not grow with
        the length). ``sample_rate`` is an array's rate (default 16 kHz); ``decoding``
        overrides the default decoding for this call.
        """
        path, blocks = self._blocks(audio, sample_rate)
        stream = TranscriptionStream(self, decoding or self.decoding, partial_s=None)
        for block in blocks:
            stream.feed(block)
        t = stream.finish()
        t.path = path
        return t

    def transcribe_batch(self, inputs, sample_rate: int | None = None, *,
                         decoding: DecodingConfig | None = None) -> list[Transcript]:
        """One :class:`Transcript` per input, in order; inputs up to one window run as one padded
        batch (padding never changes a result), longer ones through :meth:`transcribe`."""
        from ..decoding import decode

        inputs = list(inputs)
        results: list[Transcript | None] = [None] * len(inputs)
        short = []
        window = (self.chunk_s + 2 * self.context_s) * self.sample_rate
        for i, x in enumerate(inputs):
            path, blocks = self._blocks(x, sample_rate)
            w = np.concatenate(list(blocks))
            if w.shape[0] > window:
                results[i] = self.transcribe(w, decoding=decoding)
                results[i].path = path
            else:
                short.append((i, path, w))
        if short:
            log_probs, n = self.model.run_pieces([w for _, _, w in short])  # (B, T', V), (B,)
            decoded = decode(log_probs, n.tolist(), self.labels, decoding or self.decoding,
                             frame_shift_s=self.frame_shift_s)
            for (i, path, w), r in zip(short, decoded):
                results[i] = Transcript(r.text.strip(), list(r.words), w.shape[0] / self.sample_rate,
                                        path, r.score)
        return results

    def align(self, audio: Any, text: str, sample_rate: int | None = None) -> list[Word]:
        """Word times of a *known* transcript (CTC forced alignment), as the torch Recognizer's."""
        from ..decoding import align_words
        from ..text import normalize_text

        _, blocks = self._blocks(audio, sample_rate)
        ctc = self._chunked_ctc()
        pieces = [ctc.feed(b) for b in blocks] + [ctc.flush()]
        log_probs = np.concatenate([p for p in pieces if p.shape[0]])  # (T', V)
        tokens = self.tokenizer.encode(normalize_text(text))
        return align_words(log_probs, tokens, self.labels, self.frame_shift_s)

    def stream(self, sample_rate: int | None = None, *, decoding: DecodingConfig | None = None,
               partial_s: float | None = PARTIAL_S) -> "TranscriptionStream":
        """A live session: ``feed(chunk) -> partial text``, ``finish() -> Transcript``
        (see :class:`TranscriptionStream`)."""
        return TranscriptionStream(self, decoding or self.decoding, sample_rate, partial_s=partial_s)


class TranscriptionStream:
    """Live transcription of one audio stream (one per stream; not shared between threads).

    As :class:`speechrnn.inference.TranscriptionStream`: chunks are float or integer PCM arrays,
    ``(N,)`` or ``(N, C)``, or 16-bit PCM bytes, at ``sample_rate``
    (:class:`~speechrnn.inference.audio_blocks.StreamInput`). ``feed`` returns the partial text:
    finished segments (final, the stream's decoding) then a greedy reading of the rest, refreshed
    every ``partial_s`` seconds without right context. :meth:`finish` returns the
    :class:`Transcript`, equal to :meth:`Recognizer.transcribe` of the same audio.
    """

    def __init__(self, recognizer: Recognizer, decoding: DecodingConfig,
                 sample_rate: int | None = None, *, partial_s: float | None = PARTIAL_S):
        from ..inference.audio_blocks import StreamInput

        r = recognizer
        if partial_s is not None and not (isinstance(partial_s, (int, float)) and partial_s > 0):
            raise ConfigError(f"stream partial_s must be > 0 seconds (or None), got {partial_s!r}")
        self._input = StreamInput(sample_rate, r.sample_rate)
        self._ctc = r._chunked_ctc()
        self._seg = SegmentDecoder(r.labels, r.frame_shift_s, decoding)
        self._samples = 0
        self._rate = r.sample_rate
        self._every = None if partial_s is None else max(1, int(round(partial_s * r.sample_rate)))
        self._revise = max(0, int(round(REVISE_S / r.frame_shift_s)))
        self._since = 0
        self._prov = np.zeros((0, 0), np.float32)  # provisional frames from global frame _prov_start
        self._prov_start = 0
        self._done = False
        self.partial = ""

    @property
    def duration(self) -> float:
        return self._samples / self._rate

    @property
    def final_text(self) -> str:
        return self._seg.text

    def _update_provisional(self) -> None:
        emitted = self._ctc.emitted
        keep = self._prov[max(0, emitted - self._prov_start):]
        start = max(emitted, self._prov_start)
        since = max(emitted, start + keep.shape[0] - self._revise)
        keep = keep[: max(0, since - start)]
        pieces = [p for p in (keep, self._ctc.provisional(since)) if p.shape[0]]
        self._prov = np.concatenate(pieces) if pieces else np.zeros((0, 0), np.float32)
        self._prov_start = emitted

    def _provisional_after_final(self) -> np.ndarray:
        emitted = self._ctc.emitted
        if self._prov_start + self._prov.shape[0] <= emitted:
            return np.zeros((0, 0), np.float32)
        return self._prov[max(0, emitted - self._prov_start):]

    def feed(self, chunk) -> str:
        """Add a chunk of audio; return the partial text so far."""
        if self._done:
            raise StreamFinishedError("this stream is finished; start another with Recognizer.stream()")
        x = self._input.convert(chunk)
        self._samples += x.shape[0]
        self._seg.add(self._ctc.feed(x))
        prov = None
        if self._every is not None:
            self._since += x.shape[0]
            if self._since >= self._every:
                self._since = 0
                self._update_provisional()
            prov = self._provisional_after_final()
        self.partial = " ".join(t for t in (self._seg.text, self._seg.pending_text(prov)) if t)
        return self.partial

    def finish(self) -> Transcript:
        """Decode the rest of the audio and return the whole :class:`Transcript` (once)."""
        if self._done:
            raise StreamFinishedError("this stream is already finished")
        self._done = True
        tail = self._input.flush()
        self._samples += tail.shape[0]
        self._seg.add(self._ctc.feed(tail))
        self._seg.add(self._ctc.flush())
        self._seg.finish()
        self.partial = self._seg.text
        return Transcript(self._seg.text, list(self._seg.words), self._samples / self._rate,
                          score=self._seg.score)
