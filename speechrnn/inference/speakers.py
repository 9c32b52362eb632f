"""`SpeakerIdentifier`: speaker embeddings, enrollment, identification and verification.

Example
-------
>>> from speechrnn.inference.speakers import SpeakerIdentifier     # doctest: +SKIP
>>> sid = SpeakerIdentifier.load(store="speakers.json")            # bundled encoder  # doctest: +SKIP
>>> sid.enroll("alice", ["alice1.wav", "alice2.wav"])  # doctest: +SKIP
>>> m = sid.identify("who.wav")  # doctest: +SKIP
>>> m.speaker, m.score, m.accepted                                 # 'unknown' below the threshold  # doctest: +SKIP
>>> sid.verify("a.wav", "b.wav").same  # doctest: +SKIP

Speakers never seen in training work: scoring is the cosine between L2-normalized embeddings
(a test embedding vs. the normalized mean of a speaker's enrolled embeddings). Long inputs are
embedded in windows of ``window_s`` seconds (bounded memory) and the window embeddings averaged,
weighted by their length. The decision threshold comes from, in order: the ``threshold``
argument, the store's calibrated threshold, the model's ``extra["speaker_threshold"]``, and
:data:`DEFAULT_THRESHOLD`. Calibrate it on dev data with :meth:`SpeakerIdentifier.calibrate`.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..audio import SILENCE_DBFS, peak_dbfs
from ..errors import ConfigError
from ..speakers.head import embed_batch, load_speaker_model, model_fingerprint, save_threshold
from ..metrics.trials import all_pairs, calibrate_threshold, l2_normalize, pair_scores, verification_report
from ..speakers.store import SpeakerStore
from .audio_blocks import input_blocks
from .models import resolve_model
from .threads import load_threads

UNKNOWN = "unknown"
DEFAULT_THRESHOLD = 0.5
MIN_VOICE_S = 0.3
"""Shortest input embedded (seconds); shorter gives no usable voiceprint (training clips are >= 0.5 s)."""


@dataclass
class SpeakerMatch:
    """Result of :meth:`SpeakerIdentifier.identify`.

    Attributes
    ----------
    speaker : str
        Best enrolled speaker, or ``"unknown"`` when its score is below ``threshold``.
    score : float
        Cosine score of the best enrolled speaker.
    accepted : bool
        ``score >= threshold``.
    threshold : float
    candidates : list of (name, score)
        The best ``top_k`` enrolled speakers, best first.
    path : str or None
    """

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
    """Embed, enroll, identify and verify speakers with a speaker-embedding model.

    Parameters
    ----------
    model : AcousticModel
        With an ``embedding`` or ``cosine_embedding`` head (see :func:`load_speaker_model`).
    store : SpeakerStore, str or Path, optional
        Enrollment store; a path is opened as a JSON store, ``None`` keeps speakers in memory.
    threshold : float, optional
        Decision threshold overriding the store's / model's calibrated one.
    window_s : float
        Longest piece embedded at once; longer audio is embedded window by window.
    """

    def __init__(self, model, store: SpeakerStore | str | Path | None = None, *,
                 threshold: float | None = None, window_s: float = 30.0):
        if window_s <= 0:
            raise ConfigError(f"window_s must be > 0, got {window_s}")
        self.model = model.eval()
        self.store = store if isinstance(store, SpeakerStore) else SpeakerStore(store)
        self._threshold = threshold
        self.window_s = window_s
        self.sample_rate = model.feature_cfg.sample_rate
        self.fingerprint = getattr(model, "fingerprint", None) or model_fingerprint(model)
        self.device = next(model.parameters()).device if any(True for _ in model.parameters()) else "cpu"

    @classmethod
    def load(cls, path: str | Path | None = None, store=None, *, device: str = "cpu",
             threads: int | None = None, quantize: bool = False, **kwargs) -> "SpeakerIdentifier":
        """Load a model file (the bundled ``spk-bilstm.pt`` when ``path`` is None).
        ``threads`` is deprecated (process-wide): use :func:`speechrnn.inference.set_threads`.
        """
        load_threads(threads, "SpeakerIdentifier")
        path = resolve_model(path, "speakers")  # a file, a bundled name, or the default
        model = load_speaker_model(path, device=device, quantize=quantize)
        sid = cls(model, store, **kwargs)
        sid.model_path = Path(path)
        return sid

    # ------------------------------------------------------------------ threshold
    @property
    def threshold(self) -> float:
        """The decision threshold in use (see the module docstring for the order)."""
        if self._threshold is not None:
            return float(self._threshold)
        t = self.store.threshold
        if t is None:
            t = getattr(self.model, "extra", {}).get("speaker_threshold")
        return DEFAULT_THRESHOLD if t is None else float(t)

    # ------------------------------------------------------------------ embeddings
    def _windows(self, audio: Any, sample_rate: int | None) -> tuple[str | None, Iterator[np.ndarray]]:
        """``(path, iterator of float32 (S_i,) pieces of at most window_s seconds)``.

        A long file is read lazily in ``window_s`` blocks, so only the pieces being embedded
        are in memory, whatever the file's length."""
        win = int(self.window_s * self.sample_rate)
        path, blocks = input_blocks(audio, sample_rate, self.sample_rate, self.window_s)
        first, second = next(blocks, None), next(blocks, None)
        if second is not None:  # a long file, streamed in window_s blocks
            return path, (b for b in itertools.chain([first, second], blocks) if len(b))
        x = first if first is not None else np.zeros(0, np.float32)
        pieces = [x[i:i + win] for i in range(0, len(x), win)]
        if len(pieces) > 1 and len(pieces[-1]) < win // 4:  # fold a short tail into the previous piece
            tail = pieces.pop()
            pieces[-1] = np.concatenate([pieces[-1], tail])
        return path, iter([p for p in pieces if len(p)])

    @torch.no_grad()
    def _embed_pieces(self, pieces: list[np.ndarray]) -> np.ndarray:
        """Unit embeddings ``(P, E)`` of waveform pieces, one padded batch."""
        lengths = torch.tensor([len(p) for p in pieces], dtype=torch.int64)  # (P,)
        batch = torch.zeros(len(pieces), int(lengths.max()), dtype=torch.float32)  # (P, S)
        for i, p in enumerate(pieces):
            batch[i, : len(p)] = torch.from_numpy(np.ascontiguousarray(p))
        return embed_batch(self.model, batch.to(self.device), lengths.to(self.device)).cpu().numpy()

    def embed(self, audio: Any, sample_rate: int | None = None) -> np.ndarray:
        """Unit-length speaker embedding ``(E,)`` of a file path or a waveform array/tensor.

        Raises the :class:`~speechrnn.errors.AudioError` subclasses for unusable audio, and
        :class:`~speechrnn.errors.NoVoiceError` for a silent input or one shorter than
        :data:`MIN_VOICE_S`: its embedding would be noise that enrolls or matches anyone.
        """
        from ..errors import EmptyAudioError

        _, pieces = self._windows(audio, sample_rate)
        where = audio if isinstance(audio, (str, Path)) else None
        total, level, acc, group = 0, float("-inf"), None, []

        def embed_group() -> None:  # weighted sum of the group's unit embeddings, by length
            nonlocal acc
            emb = self._embed_pieces(group)  # (P,E)
            w = np.array([len(p) for p in group], dtype=np.float32)[:, None]  # (P,1)
            part = (emb * w).sum(axis=0)  # (P,E) -> (E,)
            acc = part if acc is None else acc + part
            group.clear()

        first = next(pieces, None)
        if first is None:
            raise EmptyAudioError(where, "no samples")
        more = next(pieces, None)
        if more is None:  # one piece: check it before spending a model call on it
            self._check_voice(where, len(first) / self.sample_rate, peak_dbfs(first))
        for p in itertools.chain([first], [] if more is None else [more], pieces):
            total += len(p)
            level = max(level, peak_dbfs(p))
            group.append(p)
            if len(group) == 8:
                embed_group()
        self._check_voice(where, total / self.sample_rate, level)
        if group:
            embed_group()
        return l2_normalize(acc)  # (E,)

    @staticmethod
    def _check_voice(where, seconds: float, level: float) -> None:
        from ..errors import NoVoiceError

        if seconds < MIN_VOICE_S:
            raise NoVoiceError(where, f"{seconds:.3f} s of audio: too short for a speaker embedding "
                                      f"(at least {MIN_VOICE_S} s)")
        if level < SILENCE_DBFS:
            raise NoVoiceError(where, f"silent (peak {level:.0f} dBFS, below {SILENCE_DBFS:.0f} dBFS): "
                                      "no voice to embed")

    def embed_many(self, audios: Sequence[Any], sample_rate: int | None = None) -> np.ndarray:
        """Embeddings ``(N, E)`` of several inputs (each as :meth:`embed`)."""
        return np.stack([self.embed(a, sample_rate) for a in audios]) if audios else \
            np.zeros((0, self.model.cfg.head.embedding_dim), np.float32)

    # ------------------------------------------------------------------ enrollment
    def enroll(self, name: str, audios: Sequence[Any], sample_rate: int | None = None,
               *, replace: bool = False) -> int:
        """Add recordings (paths or arrays) of speaker ``name`` to the store; returns the total
        number of embeddings now enrolled for ``name``."""
        if isinstance(audios, (str, Path, np.ndarray, torch.Tensor)):
            audios = [audios]
        if not audios:
            raise ConfigError(f"enroll {name!r}: no recordings given")
        emb = self.embed_many(audios, sample_rate)  # (K,E)
        sources = [str(a) if isinstance(a, (str, Path)) else "<array>" for a in audios]
        return self.add_embeddings(name, emb, sources, replace=replace)

    def add_embeddings(self, name: str, embeddings: np.ndarray, sources: Sequence[str] = (),
                       *, replace: bool = False) -> int:
        """Enroll precomputed embeddings ``(K, E)`` (from :meth:`embed`) of speaker ``name``."""
        return self.store.add(name, embeddings, sources=sources, model=self.fingerprint, replace=replace)

    def speakers(self) -> list[str]:
        """Enrolled speaker names."""
        return self.store.names()

    def _check_store(self) -> None:
        model = self.store.read().get("model")
        if model and model != self.fingerprint:
            from ..speakers.store import SpeakerStoreError

            raise SpeakerStoreError(f"{self.store.path}: speakers were enrolled with another model "
                                    f"({model}); this model is {self.fingerprint}")

    # ------------------------------------------------------------------ decisions
    def identify(self, audio: Any, sample_rate: int | None = None, *, top_k: int = 5) -> SpeakerMatch:
        """Best enrolled speaker for ``audio``; ``"unknown"`` if its score is below the threshold."""
        self._check_store()
        names, centroids = self.store.centroids()  # (N,E)
        if not names:
            raise ConfigError(f"identify: no speakers enrolled in {self.store.path or 'the in-memory store'}")
        e = self.embed(audio, sample_rate)
        scores = centroids @ e  # (N,E) @ (E,) -> (N,)
        order = np.argsort(-scores)[:top_k]
        best = int(order[0])
        thr = self.threshold
        ok = bool(scores[best] >= thr)
        return SpeakerMatch(speaker=names[best] if ok else UNKNOWN, score=float(scores[best]), accepted=ok,
                            threshold=thr, candidates=[(names[i], float(scores[i])) for i in order],
                            path=str(audio) if isinstance(audio, (str, Path)) else None)

    def verify(self, a: Any, b: Any, sample_rate: int | None = None) -> Verification:
        """Whether ``a`` and ``b`` (paths or arrays) are the same speaker (cosine >= threshold)."""
        score = float(self.embed(a, sample_rate) @ self.embed(b, sample_rate))
        thr = self.threshold
        return Verification(score=score, same=score >= thr, threshold=thr)

    def calibrate(self, audios: Sequence[Any], speakers: Sequence[str], *, method: str = "eer",
                  save: str | None = None) -> dict:
        """Choose the threshold from dev recordings of known speakers (every pair is a trial).

        Parameters
        ----------
        audios, speakers : one speaker label per recording (at least two speakers, one with 2+)
        method : ``eer`` or ``mindcf`` (see :func:`speechrnn.metrics.trials.calibrate_threshold`)
        save : ``"store"`` (the store file), ``"model"`` (the checkpoint's extra metadata) or None

        Returns
        -------
        dict: ``threshold`` plus EER/minDCF on those pairs.
        """
        if len(audios) != len(speakers):
            raise ConfigError("calibrate: one speaker label per recording is needed")
        emb = self.embed_many(audios)
        i, j, same = all_pairs(speakers)
        if not same.any() or same.all():
            raise ConfigError("calibrate: need same-speaker and different-speaker pairs")
        s = pair_scores(emb, i, j)  # (P,) in chunks: memory O(P), not O(P E)
        thr = calibrate_threshold(s[same], s[~same], method)
        info = {"threshold": thr, "method": method, **verification_report(s[same], s[~same])}
        self._threshold = None
        if save == "store":
            self.store.set_threshold(thr, self.fingerprint)
        elif save == "model":
            path = getattr(self, "model_path", None)
            if path is None:
                raise ConfigError("calibrate(save='model') needs an identifier made with SpeakerIdentifier.load")
            save_threshold(path, thr, info)
            self.model.extra = {**getattr(self.model, "extra", {}), "speaker_threshold": thr}
        elif save is not None:
            raise ConfigError(f"calibrate: save must be 'store', 'model' or None, got {save!r}")
        else:
            self._threshold = thr
        return info
