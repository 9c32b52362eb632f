"""A speaker encoder trained on real speech, as the teacher of speaker adaptation.

resemblyzer's wheel (PyPI, Apache-2.0; ``pip install 'speechrnn[teacher]'``) ships a GE2E
speaker encoder: 3 LSTM layers (256) on 40 mel bands, 256-d L2-normalized, non-negative
embeddings, trained on thousands of real speakers. Its weights load from the wheel: no download.

:func:`embed_segments` embeds manifest segments (``offset``/``duration`` slices of longer
recordings) into an append-only cache file, so an interrupted run resumes where it stopped.

Example
-------
>>> teacher = SpeakerTeacher.load()                      # doctest: +SKIP
>>> teacher.embed(audio_16k).shape                       # float32 (S,) at 16 kHz  # doctest: +SKIP
(256,)
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..errors import SpeechRNNError
from .teacher import INSTALL_HINT, TeacherError

__all__ = ["SpeakerTeacher", "TEACHER_DIM", "embed_segments", "segment_key"]

log = logging.getLogger(__name__)

TEACHER_DIM = 256
"""Size of the teacher's embeddings."""


class SpeakerTeacher:
    """resemblyzer's GE2E encoder: ``embed(audio (S,) float32 @16 kHz) -> (256,)`` unit vector.

    Parameters
    ----------
    encoder : resemblyzer.VoiceEncoder
    """

    def __init__(self, encoder):
        self.encoder = encoder

    @classmethod
    def load(cls, device: str = "cpu") -> "SpeakerTeacher":
        """Load the encoder from the installed wheel; :class:`TeacherError` naming the fix if absent."""
        try:
            with warnings.catch_warnings():
                # webrtcvad (resemblyzer's dependency) imports the deprecated pkg_resources
                warnings.simplefilter("ignore")
                from resemblyzer import VoiceEncoder
        except ImportError as e:
            raise TeacherError(f"the speaker teacher needs resemblyzer ({e}): {INSTALL_HINT}") from None
        try:
            enc = VoiceEncoder(device, verbose=False)
        except (OSError, RuntimeError) as e:
            raise TeacherError(f"resemblyzer's encoder weights could not be loaded ({e}): "
                               f"reinstall it with {INSTALL_HINT}") from None
        return cls(enc)

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """Embedding ``(256,)`` float32 of ``audio`` ``(S,)`` float32 at 16 kHz.

        The teacher's own preprocessing applies (volume normalization, long silences trimmed by
        its VAD); when the VAD keeps almost nothing, the untrimmed audio is embedded instead.
        """
        from resemblyzer.audio import normalize_volume, trim_long_silences
        from resemblyzer.hparams import audio_norm_target_dBFS

        x = normalize_volume(np.asarray(audio, dtype=np.float32), audio_norm_target_dBFS, increase_only=True)
        x = np.clip(x, -1.0, 1.0)
        trimmed = trim_long_silences(x)
        if len(trimmed) >= 0.5 * SAMPLE_RATE:
            x = trimmed
        return np.asarray(self.encoder.embed_utterance(x), dtype=np.float32)


def segment_key(utt) -> str:
    """Cache key of a manifest segment: the file, its size and mtime, and the slice."""
    try:
        st = os.stat(utt.audio)
        stamp = f"{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        stamp = "missing"
    return f"{utt.audio}|{stamp}|{utt.offset:.3f}|{utt.duration if utt.duration is None else round(utt.duration, 3)}"


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    """``{key: embedding}`` of the complete lines of a cache file (a torn last line is ignored)."""
    out: dict[str, np.ndarray] = {}
    if not path.exists():
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
                emb = np.asarray(rec["emb"], dtype=np.float32)
            except (ValueError, KeyError, TypeError):
                continue
            if emb.shape == (TEACHER_DIM,):
                out[rec["key"]] = emb
    return out


def embed_segments(utts: Sequence, cache: str | os.PathLike, teacher: SpeakerTeacher | None = None,
                   *, progress: bool = False, flush_every: int = 16) -> tuple[np.ndarray, list[int]]:
    """Teacher embeddings of manifest segments, cached in ``cache`` (JSON lines) and resumable.

    Parameters
    ----------
    utts : sequence of :class:`~speechrnn.data.manifest.Utterance`
        Segments (``audio``, ``offset``, ``duration``).
    cache : path
        Append-only file; segments already in it (same file, size, mtime and slice) are not
        embedded again.
    teacher : SpeakerTeacher, optional
        Loaded on first need (a fully cached run never imports resemblyzer).

    Returns
    -------
    (embeddings (N, 256) float32, failed) where ``failed`` lists the indices of segments that
    could not be read (their rows are zeros; each is logged with its reason).
    """
    cache = Path(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    known = _read_cache(cache)
    keys = [segment_key(u) for u in utts]
    emb = np.zeros((len(utts), TEACHER_DIM), dtype=np.float32)
    todo = []
    for i, k in enumerate(keys):
        if k in known:
            emb[i] = known[k]
        else:
            todo.append(i)
    failed: list[int] = []
    if not todo:
        return emb, failed
    teacher = teacher or SpeakerTeacher.load()
    it: Iterable[int] = todo
    if progress:
        from ..progress import progress_bar

        it = progress_bar(todo, desc="teacher embeddings", dynamic_ncols=True)
    pending: list[str] = []
    with open(cache, "a", encoding="utf-8") as f:
        for n, i in enumerate(it):
            u = utts[i]
            try:
                x = load_audio(u.audio, SAMPLE_RATE, offset=u.offset, duration=u.duration)
            except SpeechRNNError as e:
                log.warning("teacher: skipped %s (%s)", u.audio, e)
                failed.append(i)
                continue
            emb[i] = teacher.embed(x)
            pending.append(json.dumps({"key": keys[i], "emb": [round(float(v), 6) for v in emb[i]]}) + "\n")
            if len(pending) >= flush_every or n == len(todo) - 1:
                f.write("".join(pending))
                f.flush()
                pending = []
        if pending:
            f.write("".join(pending))
    return emb, failed
