"""Torch-free `SpeakerIdentifier`: speaker embeddings, enrollment, identification, verification.

The surface of :class:`speechrnn.inference.speakers.SpeakerIdentifier` on an exported ONNX
speaker model, with the same store file (:class:`speechrnn.speakers.store.SpeakerStore`): the
export records the torch model's embedding-space fingerprint, so speakers enrolled with either
are scored by the other, and a store made by another model is refused. Embeddings, windows for
long inputs (``window_s``, length-weighted mean), the silence / too-short checks and the
threshold order (argument, store, model file, 0.5) are the torch identifier's.

Example
-------
>>> from speechrnn.runtime import SpeakerIdentifier                 # doctest: +SKIP
>>> sid = SpeakerIdentifier.load("spk-bilstm.onnx", store="speakers.json")  # doctest: +SKIP
>>> sid.enroll("alice", ["alice1.wav", "alice2.wav"])  # doctest: +SKIP
>>> sid.identify("who.wav").speaker, sid.verify("a.wav", "b.wav").same  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..audio import SILENCE_DBFS, peak_dbfs
from ..errors import CheckpointError, ConfigError
from ..metrics.trials import l2_normalize
from ..speakers.store import SpeakerStore, SpeakerStoreError
from .model import OnnxModel

UNKNOWN = "unknown"
DEFAULT_THRESHOLD = 0.5
MIN_VOICE_S = 0.3  # as speechrnn.inference.speakers.MIN_VOICE_S


@dataclass
class SpeakerMatch:
    """Result of :meth:`SpeakerIdentifier.identify` (as the torch identifier's)."""

    speaker: str
    score: float
    accepted: bool
    threshold: float
    candidates: list[tuple[str, float]] = field(default_factory=list)
    path: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Verification:
    """Result of :meth:`SpeakerIdentifier.verify`: cosine ``score``, ``same`` = score >= threshold."""

    score: float
    same: bool
    threshold: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class SpeakerIdentifier:
    """Embed, enroll, identify and verify speakers with an exported ONNX speaker model.

    Parameters
    ----------
    model : OnnxModel
        With ``task == "speakers"``.
    store : SpeakerStore, str or Path, optional
        Enrollment store (a path opens a JSON store; ``None`` keeps speakers in memory).
    threshold : float, optional
        Decision threshold overriding the store's / model's calibrated one.
    window_s : float
        Longest piece embedded at once; longer audio is embedded window by window.
    """

    def __init__(self, model: OnnxModel, store: SpeakerStore | str | Path | None = None, *,
                 threshold: float | None = None, window_s: float = 30.0):
        if model.task != "speakers":
            raise CheckpointError(f"{model.path}: a SpeakerIdentifier needs a speakers model, got a "
                                  f"{model.task!r} model")
        if window_s <= 0:
            raise ConfigError(f"window_s must be > 0, got {window_s}")
        self.model = model
        self.store = store if isinstance(store, SpeakerStore) else SpeakerStore(store)
        self._threshold = threshold
        self.window_s = window_s
        self.sample_rate = model.sample_rate
        self.fingerprint = model.meta["fingerprint"]
        self.embedding_dim = int(model.meta["embedding_dim"])

    @classmethod
    def load(cls, path, store=None, *, threads: int | None = None, **kwargs) -> "SpeakerIdentifier":
        """Load an exported ``.onnx`` speaker model (``store`` as in the constructor)."""
        return cls(OnnxModel(path, threads=threads), store, **kwargs)

    @property
    def threshold(self) -> float:
        """The decision threshold in use: argument, store, model file, then 0.5."""
        if self._threshold is not None:
            return float(self._threshold)
        t = self.store.threshold
        if t is None:
            t = (self.model.meta.get("extra") or {}).get("speaker_threshold")
        return DEFAULT_THRESHOLD if t is None else float(t)

    # ------------------------------------------------------------------ embeddings
    def _windows(self, audio: Any, sample_rate: int | None) -> list[np.ndarray]:
        from ..inference.audio_blocks import input_blocks

        win = int(self.window_s * self.sample_rate)
        _, blocks = input_blocks(audio, sample_rate, self.sample_rate, self.window_s)
        blocks = list(blocks)
        if len(blocks) > 1:  # a long file, streamed in window_s blocks
            return [b for b in blocks if len(b)]
        x = blocks[0]
        pieces = [x[i:i + win] for i in range(0, len(x), win)]
        if len(pieces) > 1 and len(pieces[-1]) < win // 4:  # fold a short tail into the previous piece
            tail = pieces.pop()
            pieces[-1] = np.concatenate([pieces[-1], tail])
        return [p for p in pieces if len(p)]

    def embed(self, audio: Any, sample_rate: int | None = None) -> np.ndarray:
        """Unit-length speaker embedding ``(E,)`` of a file path or a waveform array.

        Raises the :class:`~speechrnn.errors.AudioError` subclasses for unusable audio and
        :class:`~speechrnn.errors.NoVoiceError` for silence or input shorter than 0.3 s.
        """
        from ..errors import EmptyAudioError, NoVoiceError

        pieces = self._windows(audio, sample_rate)
        where = audio if isinstance(audio, (str, Path)) else None
        if not pieces:
            raise EmptyAudioError(where, "no samples")
        seconds = sum(len(p) for p in pieces) / self.sample_rate
        if seconds < MIN_VOICE_S:
            raise NoVoiceError(where, f"{seconds:.3f} s of audio: too short for a speaker embedding "
                                      f"(at least {MIN_VOICE_S} s)")
        level = peak_dbfs(*pieces)
        if level < SILENCE_DBFS:
            raise NoVoiceError(where, f"silent (peak {level:.0f} dBFS, below {SILENCE_DBFS:.0f} dBFS): "
                                      "no voice to embed")
        emb = np.concatenate([self.model.run_pieces(pieces[i:i + 8])[0]
                              for i in range(0, len(pieces), 8)])  # (P, E)
        w = np.array([len(p) for p in pieces], dtype=np.float32)[:, None]  # (P, 1)
        return l2_normalize((emb * w).sum(axis=0))  # (P, E) -> (E,)

    def embed_many(self, audios: Sequence[Any], sample_rate: int | None = None) -> np.ndarray:
        """Embeddings ``(N, E)`` of several inputs (each as :meth:`embed`)."""
        if not len(audios):
            return np.zeros((0, self.embedding_dim), np.float32)
        return np.stack([self.embed(a, sample_rate) for a in audios])

    # ------------------------------------------------------------------ enrollment
    def enroll(self, name: str, audios: Sequence[Any], sample_rate: int | None = None,
               *, replace: bool = False) -> int:
        """Add recordings (paths or arrays) of ``name`` to the store; returns its embedding count."""
        if isinstance(audios, (str, Path, np.ndarray)):
            audios = [audios]
        if not len(audios):
            raise ConfigError(f"enroll {name!r}: no recordings given")
        emb = self.embed_many(audios, sample_rate)  # (K, E)
        sources = [str(a) if isinstance(a, (str, Path)) else "<array>" for a in audios]
        return self.add_embeddings(name, emb, sources, replace=replace)

    def add_embeddings(self, name: str, embeddings: np.ndarray, sources: Sequence[str] = (),
                       *, replace: bool = False) -> int:
        """Enroll precomputed embeddings ``(K, E)`` of speaker ``name``."""
        return self.store.add(name, embeddings, sources=sources, model=self.fingerprint, replace=replace)

    def speakers(self) -> list[str]:
        """Enrolled speaker names."""
        return self.store.names()

    def _check_store(self) -> None:
        model = self.store.read().get("model")
        if model and model != self.fingerprint:
            raise SpeakerStoreError(f"{self.store.path}: speakers were enrolled with another model "
                                    f"({model}); this model is {self.fingerprint}")

    # ------------------------------------------------------------------ decisions
    def identify(self, audio: Any, sample_rate: int | None = None, *, top_k: int = 5) -> SpeakerMatch:
        """Best enrolled speaker for ``audio``; ``"unknown"`` if its score is below the threshold."""
        self._check_store()
        names, centroids = self.store.centroids()  # (N, E)
        if not names:
            raise ConfigError(f"identify: no speakers enrolled in {self.store.path or 'the in-memory store'}")
        e = self.embed(audio, sample_rate)
        scores = centroids @ e  # (N, E) @ (E,) -> (N,)
        order = np.argsort(-scores)[:top_k]
        best = int(order[0])
        thr = self.threshold
        ok = bool(scores[best] >= thr)
        return SpeakerMatch(speaker=names[best] if ok else UNKNOWN, score=float(scores[best]),
                            accepted=ok, threshold=thr,
                            candidates=[(names[i], float(scores[i])) for i in order],
                            path=str(audio) if isinstance(audio, (str, Path)) else None)

    def verify(self, a: Any, b: Any, sample_rate: int | None = None) -> Verification:
        """Whether ``a`` and ``b`` (paths or arrays) are the same speaker (cosine >= threshold)."""
        score = float(self.embed(a, sample_rate) @ self.embed(b, sample_rate))
        thr = self.threshold
        return Verification(score=score, same=score >= thr, threshold=thr)
