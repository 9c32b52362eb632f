"""`Recognizer`: speech to text with word times, for files, arrays and live streams.

Example
-------
>>> from speechrnn import Recognizer                      # doctest: +SKIP
>>> rec = Recognizer.load()                               # the bundled English model  # doctest: +SKIP
>>> t = rec.transcribe("speech.wav")  # doctest: +SKIP
>>> t.text, [(w.word, w.start, w.end) for w in t.words]  # doctest: +SKIP

Long inputs are processed in bounded windows (:mod:`speechrnn.inference.chunking`), so memory
does not grow with the file's length. A `Recognizer` holds no per-call state: one instance can
serve concurrent calls from several threads.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..audio import audio_info
from ..decoding import DecodingConfig, Word
from ..errors import CheckpointError, ConfigError, SpeechRNNError
from ..text import output_labels  # noqa: F401 - re-exported (export.py)
from .audio_blocks import StreamInput, input_blocks
from .chunking import ChunkedCTC, SegmentDecoder
from .models import resolve_model
from .threads import load_threads

_BLOCK_S = 10.0  # seconds per block when a long file is streamed
PARTIAL_S = 0.5  # a live stream refreshes its provisional partial text every this many seconds
REVISE_S = 1.0  # ... recomputing this much of the previous provisional tail with more right context


@dataclass
class Transcript:
    """What :meth:`Recognizer.transcribe` returns.

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


class Recognizer:
    """CTC speech recognizer around a trained transcription model.

    Parameters
    ----------
    model : AcousticModel
        A transcription (CTC) model with ``labels`` (see :func:`speechrnn.load_model`).
    decoding : DecodingConfig, optional
        Default decoding (greedy with word times when omitted; :meth:`load` passes the model
        file's stored default, see :mod:`speechrnn.inference.model_decoding`).
    chunk_s, context_s : float
        Window size and context for long audio (see :class:`ChunkedCTC`).
    """

    def __init__(self, model, decoding: DecodingConfig | None = None, *,
                 chunk_s: float = 20.0, context_s: float = 2.0):
        from ..text import tokenizer_from_dict

        if getattr(model, "task", "transcription") != "transcription":
            raise CheckpointError(f"a Recognizer needs a transcription model, got a {model.task!r} model")
        self.model = model.eval()
        self.tokenizer = tokenizer_from_dict(model.labels)
        self.labels = output_labels(self.tokenizer)
        self.decoding = decoding or DecodingConfig()
        self.decoding.validate()  # ranges and files: a clear error now, not at the first call
        self.chunk_s, self.context_s = chunk_s, context_s
        enc = model.encoder.cfg
        factor = 1 if enc.subsampling == "none" else enc.subsampling_factor
        self.unit = model.frontend.hop_length * factor  # samples per output frame
        self.sample_rate = model.feature_cfg.sample_rate
        self.frame_shift_s = self.unit / self.sample_rate

    @classmethod
    def load(cls, path: str | Path | None = None, *, device: str = "cpu", threads: int | None = None,
             quantize: bool = False, decoding: DecodingConfig | None = None, **kwargs) -> "Recognizer":
        """Load a model file (the bundled default when ``path`` is None).

        Without ``decoding``, the model file's stored default decoding is used (e.g. the bundled
        model's lexicon search + LM), else greedy. ``threads`` is deprecated: torch's thread
        count is process-wide, set it once with :func:`speechrnn.inference.set_threads`.
        """
        from ..models import load_model
        from .model_decoding import stored_decoding

        load_threads(threads, "Recognizer")
        path = resolve_model(path, "transcription")  # a file, a bundled name, or the default
        model = load_model(path, device=device, quantize=quantize)
        return cls(model, decoding or stored_decoding(path), **kwargs)

    # ------------------------------------------------------------------ inputs
    def _chunked_ctc(self) -> ChunkedCTC:
        """A fresh bounded-window CTC runner (per call or stream: it holds the stream's state)."""
        return ChunkedCTC(self.model, self.unit, self.chunk_s, self.context_s, self.sample_rate)

    def _blocks(self, audio: Any, sample_rate: int | None):
        """``(path or None, iterator of float32 blocks at the model's rate)``."""
        return input_blocks(audio, sample_rate, self.sample_rate, _BLOCK_S)

    # ------------------------------------------------------------------ API
    def transcribe(self, audio: Any, sample_rate: int | None = None, *,
                   decoding: DecodingConfig | None = None) -> Transcript:
        """Transcribe a file path, or a numpy array / torch tensor of samples.

        Parameters
        ----------
        audio : str, Path, np.ndarray or torch.Tensor
            A file (any format/rate/channels :func:`speechrnn.audio.load_audio` reads) or
            samples ``(S,)``/``(S,C)``/``(C,S)``.
        sample_rate : int, optional
            Rate of an array input (default: the model's rate, 16 kHz).
        decoding : DecodingConfig, optional
            Overrides the recognizer's default decoding for this call.
        """
        path, blocks = self._blocks(audio, sample_rate)
        stream = self.stream(decoding=decoding, partial_s=None)
        for block in blocks:
            stream.feed(block)
        t = stream.finish()
        t.path = path
        return t

    def transcribe_batch(self, inputs, sample_rate: int | None = None, *,
                         decoding: DecodingConfig | None = None) -> list[Transcript]:
        """Transcribe several inputs, returning one :class:`Transcript` per input in order.

        Inputs no longer than one window (``chunk_s + 2 * context_s``) run as one padded batch
        (padding never changes a result); longer ones go through :meth:`transcribe`.
        """
        from ..decoding import decode

        inputs = list(inputs)
        results: list[Transcript | None] = [None] * len(inputs)
        short: list[tuple[int, str | None, np.ndarray]] = []
        window = (self.chunk_s + 2 * self.context_s) * self.sample_rate
        for i, x in enumerate(inputs):
            path, blocks = self._blocks(x, sample_rate)
            if path is not None and audio_info(path).duration * self.sample_rate > window:
                results[i] = self.transcribe(x, decoding=decoding)
                continue
            w = np.concatenate(list(blocks))
            if w.shape[0] > window:
                results[i] = self.transcribe(w, decoding=decoding)
            else:
                short.append((i, path, w))
        if short:
            lengths = torch.tensor([w.shape[0] for _, _, w in short])
            batch = torch.zeros(len(short), int(lengths.max()))  # (B, S) zero-padded
            for j, (_, _, w) in enumerate(short):
                batch[j, : w.shape[0]] = torch.from_numpy(w)
            with torch.inference_mode():
                log_probs, out_lengths = self.model(batch, lengths)  # (B,T',V), (B,)
            decoded = decode(log_probs.float(), out_lengths.tolist(), self.labels,
                             decoding or self.decoding, frame_shift_s=self.frame_shift_s)
            for (i, path, w), r in zip(short, decoded):
                results[i] = Transcript(r.text.strip(), list(r.words), w.shape[0] / self.sample_rate,
                                        path, r.score)
        return results

    def align(self, audio: Any, text: str, sample_rate: int | None = None) -> list[Word]:
        """Word times of a *known* transcript (CTC forced alignment), e.g. to time subtitles.

        ``text`` is normalized like training text (lowercase, numbers as words); every word
        gets ``start``/``end`` in seconds and the model's ``confidence`` in it. Memory stays
        bounded on long files: the audio runs through the same bounded windows as
        :meth:`transcribe` (only the ``(T', V)`` log-probabilities are kept, ~14 MB per hour),
        and the alignment keeps backpointers for one block of frames at a time
        (:data:`speechrnn.decoding.align.BACKPOINTER_BYTES`, 64 MB). Time grows with
        frames x characters (minutes for an hour of speech).

        Raises :class:`~speechrnn.decoding.DecodingError` when the text cannot fit the audio
        (more characters than output frames, e.g. a few milliseconds of audio).
        """
        from ..decoding import DecodingError, align_words
        from ..text import normalize_text

        _, blocks = self._blocks(audio, sample_rate)
        ctc = self._chunked_ctc()
        n = 0
        pieces = []
        for b in blocks:
            n += b.shape[0]
            pieces.append(ctc.feed(b))
        pieces = [p for p in pieces + [ctc.flush()] if p.numel()]
        tokens = self.tokenizer.encode(normalize_text(text))
        if not tokens:
            return []
        if not pieces:
            raise DecodingError(f"cannot align {len(tokens)} tokens to {n / self.sample_rate * 1000:.0f} ms "
                                "of audio: it gives no output frame")
        log_probs = torch.cat(pieces)  # (T', V) for the whole input
        return align_words(log_probs.float().numpy(), tokens, self.labels, self.frame_shift_s)

    def stream(self, sample_rate: int | None = None, *, decoding: DecodingConfig | None = None,
               partial_s: float | None = PARTIAL_S) -> "TranscriptionStream":
        """A new live transcription session: ``feed(chunk) -> partial text``, ``finish() -> Transcript``.

        Parameters
        ----------
        sample_rate : int, optional
            Rate of the chunks in Hz (default: the model's, 16 kHz); other rates are resampled
            as they arrive.
        decoding : DecodingConfig, optional
            Decoding of the final text (default: the recognizer's).
        partial_s : float or None
            Refresh the provisional part of the partial text after every ``partial_s`` seconds
            of new audio (default 0.5); ``None`` turns provisional partials off (then only text
            of finalized windows appears before :meth:`TranscriptionStream.finish`).

        See :class:`TranscriptionStream` for chunk types and partial/final semantics.
        """
        return TranscriptionStream(self, decoding or self.decoding, sample_rate, partial_s=partial_s)


class StreamFinishedError(SpeechRNNError):
    """A finished stream was fed or finished again."""


class TranscriptionStream:
    """Live transcription of one audio stream (one per stream; not shared between threads).

    Chunks (:meth:`feed`) may be float or integer PCM numpy arrays / torch tensors, ``(N,)`` or
    ``(N, C)`` frames, or 16-bit little-endian PCM ``bytes``, at the stream's ``sample_rate``
    (see :class:`~speechrnn.inference.audio_blocks.StreamInput`); any chunk size works, and the
    final result does not depend on how the audio was cut into chunks.

    Partial and final text
    ----------------------
    ``feed`` returns the *partial* text of everything fed so far: the text of finished segments
    (final, decoded with the stream's decoding, e.g. lexicon + LM), then a greedy reading of
    the rest. The rest is computed every ``partial_s`` seconds of audio (0.5 s by default) from
    the audio so far, without right context, so it arrives within about ``partial_s`` of the
    speech and may change as more audio comes. Audio becomes final in windows of the
    recognizer's ``chunk_s`` (20 s by default) and text is decoded in segments of up to 30 s.
    :meth:`finish` decodes the rest and returns the :class:`Transcript`; it equals
    :meth:`Recognizer.transcribe` of the same audio (which runs this class with partials off).

    Attributes
    ----------
    partial : str
        The latest partial text (what :meth:`feed` returned last).
    final_text : str
        Text of the finished segments so far (never changes once there).
    duration : float
        Seconds of audio fed (at the model's rate, after resampling).
    """

    def __init__(self, recognizer: Recognizer, decoding: DecodingConfig, sample_rate: int | None = None,
                 *, partial_s: float | None = PARTIAL_S):
        r = recognizer
        if partial_s is not None and not (isinstance(partial_s, (int, float)) and partial_s > 0):
            raise ConfigError(f"stream partial_s must be > 0 seconds (or None for no partials), got {partial_s!r}")
        self._input = StreamInput(sample_rate, r.sample_rate)
        self._ctc = r._chunked_ctc()
        self._seg = SegmentDecoder(r.labels, r.frame_shift_s, decoding)
        self._samples = 0
        self._rate = r.sample_rate
        self._every = None if partial_s is None else max(1, int(round(partial_s * r.sample_rate)))
        self._revise = max(0, int(round(REVISE_S / r.frame_shift_s)))  # provisional frames recomputed
        self._since = 0  # samples since the last provisional update
        self._prov = torch.zeros(0, 0)  # provisional frames (N, V) from global frame _prov_start
        self._prov_start = 0
        self._done = False
        self.partial = ""
        self.sample_rate = self._input.sample_rate

    @property
    def duration(self) -> float:
        return self._samples / self._rate

    @property
    def final_text(self) -> str:
        return self._seg.text

    def _update_provisional(self) -> None:
        emitted = self._ctc.emitted
        keep = self._prov[max(0, emitted - self._prov_start):] if self._prov.numel() else self._prov
        start = max(emitted, self._prov_start)
        since = max(emitted, start + keep.shape[0] - self._revise)
        keep = keep[: max(0, since - start)]
        new = self._ctc.provisional(since)
        pieces = [p for p in (keep, new) if p.numel()]
        self._prov = torch.cat(pieces) if pieces else torch.zeros(0, 0)
        self._prov_start = emitted

    def _provisional_after_final(self) -> torch.Tensor:
        """The provisional frames not yet superseded by final ones."""
        emitted = self._ctc.emitted
        if not self._prov.numel() or self._prov_start + self._prov.shape[0] <= emitted:
            return torch.zeros(0, 0)
        return self._prov[max(0, emitted - self._prov_start):]

    def feed(self, chunk) -> str:
        """Add a chunk of audio; return the partial text so far (see the class docstring)."""
        if self._done:
            raise StreamFinishedError("this stream is finished; start another with Recognizer.stream()")
        x = self._input.convert(chunk)
        self._samples += x.shape[0]
        self._seg.add(self._ctc.feed(x))
        if self._every is not None:
            self._since += x.shape[0]
            if self._since >= self._every:
                self._since = 0
                self._update_provisional()
            prov = self._provisional_after_final()
        else:
            prov = None
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
        self._prov = torch.zeros(0, 0)
        self.partial = self._seg.text
        return Transcript(self._seg.text, list(self._seg.words), self._samples / self._rate,
                          score=self._seg.score)
