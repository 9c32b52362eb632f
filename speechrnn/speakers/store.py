"""A persistent speaker store: one JSON file of enrolled speakers' embeddings.

The file is plain JSON so a user can read, diff and back it up::

    {"format": "speechrnn-speakers", "version": 1,
     "model": "<fingerprint of the embedding model>", "dim": 192,
     "threshold": 0.42 | null,
     "speakers": {"alice": {"embeddings": [[...192 floats...], ...],
                            "sources": ["alice1.wav", ...], "updated": 1712345678.9}}}

Writes are atomic (temporary file in the same folder, ``fsync``, ``os.replace``): a crash
leaves the previous file intact. Every read-modify-write holds an exclusive
``fcntl.flock`` on a side file ``<store>.lock`` (the store itself is replaced on each write,
so its inode cannot carry the lock), so several processes enrolling at once all land.

Example
-------
>>> store = SpeakerStore("speakers.json")                   # doctest: +SKIP
>>> store.add("alice", np.ones((2, 192)), sources=["a.wav", "b.wav"])  # doctest: +SKIP
>>> store.names()                                            # doctest: +SKIP
['alice']
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import SpeechRNNError
from ..fileio import atomic_write

FORMAT = "speechrnn-speakers"
VERSION = 1


class SpeakerStoreError(SpeechRNNError):
    """The speaker store file is unreadable, of another format, or made by another model."""


def _empty(model: str | None = None, dim: int | None = None) -> dict:
    return {"format": FORMAT, "version": VERSION, "model": model, "dim": dim, "threshold": None,
            "speakers": {}}


class SpeakerStore:
    """Enrolled speakers in one JSON file (or in memory when ``path`` is None).

    Parameters
    ----------
    path : str or Path, optional
        Store file; created on first write. ``None`` keeps everything in memory.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = None if path is None else Path(path)
        self._memory = _empty() if self.path is None else None

    # ------------------------------------------------------------------ file access
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive lock on ``<store>.lock`` for a read-modify-write."""
        if self.path is None:
            yield
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def read(self) -> dict:
        """The whole store as a validated dict (empty store if the file does not exist)."""
        if self.path is None:
            return self._memory
        if not self.path.exists():
            return _empty()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SpeakerStoreError(f"{self.path}: not a readable speaker store ({e})") from None
        _validate(data, self.path)
        return data

    def _write(self, data: dict) -> None:
        if self.path is None:
            self._memory = data
            return
        with atomic_write(self.path, "w", encoding="utf-8") as f:
            json.dump(data, f)

    # ------------------------------------------------------------------ queries
    def names(self) -> list[str]:
        """Enrolled speaker names, sorted."""
        return sorted(self.read()["speakers"])

    def embeddings(self, name: str) -> np.ndarray:
        """All enrolled embeddings of ``name``, ``(K, D)`` float32."""
        spk = self.read()["speakers"].get(name)
        if spk is None:
            raise SpeakerStoreError(f"{self.path or '<memory>'}: no speaker named {name!r}")
        return np.asarray(spk["embeddings"], dtype=np.float32)

    def centroids(self) -> tuple[list[str], np.ndarray]:
        """``(names, C (N, D))``: each speaker's L2-normalized mean embedding (N may be 0)."""
        data = self.read()
        names = sorted(data["speakers"])
        if not names:
            return [], np.zeros((0, data.get("dim") or 0), dtype=np.float32)
        from ..metrics.trials import l2_normalize

        means = [np.asarray(data["speakers"][n]["embeddings"], dtype=np.float32).mean(axis=0) for n in names]
        return names, l2_normalize(np.stack(means))  # N x (D,) -> (N, D)

    @property
    def threshold(self) -> float | None:
        """Decision threshold saved with the store (``None`` if never calibrated here)."""
        return self.read().get("threshold")

    def info(self) -> dict:
        """Summary: model fingerprint, dim, threshold, and per-speaker embedding counts."""
        data = self.read()
        return {"model": data["model"], "dim": data["dim"], "threshold": data["threshold"],
                "speakers": {n: len(s["embeddings"]) for n, s in sorted(data["speakers"].items())}}

    # ------------------------------------------------------------------ updates
    def add(self, name: str, embeddings: np.ndarray, *, sources: Sequence[str] = (),
            model: str | None = None, replace: bool = False) -> int:
        """Add ``embeddings (K, D)`` to speaker ``name`` (created if new); returns their total.

        Raises
        ------
        SpeakerStoreError
            Empty name, wrong dimension, or a store made with a different model fingerprint.
        """
        if not name or not name.strip():
            raise SpeakerStoreError("speaker name must not be empty")
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim == 1:
            emb = emb[None, :]  # (D,) -> (1,D)
        if emb.ndim != 2 or emb.shape[0] == 0 or not np.isfinite(emb).all():
            raise SpeakerStoreError(f"embeddings for {name!r} must be a finite (K, D) array, got {emb.shape}")
        with self._locked():
            data = self.read()
            data = json.loads(json.dumps(data)) if self.path is None else data  # no aliasing in memory
            self._check_model(data, model, emb.shape[1])
            data["model"] = data["model"] or model
            data["dim"] = data["dim"] or int(emb.shape[1])
            old = data["speakers"].get(name) if not replace else None
            entry = old or {"embeddings": [], "sources": []}
            entry["embeddings"] += [[float(v) for v in row] for row in emb]
            entry["sources"] += [str(s) for s in sources]
            entry["updated"] = time.time()
            data["speakers"][name] = entry
            self._write(data)
            return len(entry["embeddings"])

    def remove(self, name: str) -> bool:
        """Delete speaker ``name``; returns whether it existed."""
        with self._locked():
            data = self.read()
            found = data["speakers"].pop(name, None) is not None
            if found:
                self._write(data)
            return found

    def set_threshold(self, threshold: float | None, model: str | None = None) -> None:
        """Save a calibrated decision threshold with the store."""
        with self._locked():
            data = self.read()
            self._check_model(data, model, None)
            data["model"] = data["model"] or model
            data["threshold"] = None if threshold is None else float(threshold)
            self._write(data)

    def _check_model(self, data: dict, model: str | None, dim: int | None) -> None:
        where = self.path or "<memory>"
        if model and data["model"] and data["model"] != model:
            raise SpeakerStoreError(
                f"{where}: speakers were enrolled with another embedding model ({data['model']}), "
                f"not this one ({model}); use a new store or re-enroll everyone")
        if dim is not None and data["dim"] and data["dim"] != dim:
            raise SpeakerStoreError(f"{where}: store holds {data['dim']}-dim embeddings, got {dim}-dim")


def _validate(data, path) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SpeakerStoreError(f"{path}: not a speechrnn speaker store (missing format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise SpeakerStoreError(f"{path}: unsupported store version {data.get('version')!r} (reads {VERSION})")
    spk = data.get("speakers")
    if not isinstance(spk, dict):
        raise SpeakerStoreError(f"{path}: 'speakers' must be a mapping")
    for name, entry in spk.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("embeddings"), list) or not entry["embeddings"]:
            raise SpeakerStoreError(f"{path}: speaker {name!r} has no embeddings list")
        if data.get("dim") and any(len(e) != data["dim"] for e in entry["embeddings"]):
            raise SpeakerStoreError(f"{path}: speaker {name!r} has embeddings not of dim {data['dim']}")
    data.setdefault("threshold", None)
    data.setdefault("model", None)
    data.setdefault("dim", None)
