"""Map-style dataset of manifest utterances and the padding collate function.

Example
-------
>>> from torch.utils.data import DataLoader
>>> from speechrnn.data import AudioDataset, BucketBatchSampler, collate_audio
>>> ds = AudioDataset(utts)                                     # doctest: +SKIP
>>> sampler = BucketBatchSampler(ds.durations(), max_seconds=120)  # doctest: +SKIP
>>> loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_audio)  # doctest: +SKIP
>>> batch = next(iter(loader))                                  # doctest: +SKIP
>>> batch["waveforms"].shape, batch["lengths"].shape            # doctest: +SKIP
(torch.Size([B, S]), torch.Size([B]))
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from .manifest import Utterance

log = logging.getLogger(__name__)

__all__ = ["AudioDataset", "collate_audio", "readable_utterances"]


class AudioDataset(Dataset):
    """Waveforms of manifest utterances, decoded on access.

    Parameters
    ----------
    utts : sequence of Utterance
        Audio path plus optional ``offset``/``duration`` slice.
    sample_rate : int
        Output rate in Hz (files are resampled).
    max_duration : float, optional
        Refuse items longer than this (``AudioTooLongError``), checked from the
        header before decoding.

    Notes
    -----
    Item ``i`` is ``dict(index=i, id=str, waveform=torch.float32 (S,), utt=Utterance)``.
    Decoding errors are the :class:`~speechrnn.errors.AudioError` subclasses of
    :func:`speechrnn.audio.load_audio`. ``on_error`` says what an unusable file does:
    ``raise`` (default); ``skip`` (logged; the item is ``dict(index, id, utt, error=str)``
    with no waveform, and :func:`collate_audio` leaves it out of the batch, listing it in
    ``skipped``: for evaluation, which must not score another utterance); ``substitute``
    (logged; the next readable utterance is returned instead: for training, where a batch job
    must go on and the batch keeps its shape on every process).
    """

    def __init__(
        self, utts: Sequence[Utterance], sample_rate: int = 16000, max_duration: float | None = None,
        on_error: str = "raise",
    ):
        if on_error not in ("raise", "skip", "substitute"):
            raise ConfigError(f"on_error must be raise, skip or substitute, got {on_error!r}")
        self.utts = list(utts)
        self.sample_rate = sample_rate
        self.max_duration = max_duration
        self.on_error = on_error
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.utts)

    def _load(self, index: int) -> dict[str, Any]:
        from ..audio import load_audio

        u = self.utts[index]
        # The slice [offset, offset + duration); importers take durations from
        # headers (frames / rate), so whole files are read exactly to their end.
        samples = load_audio(
            u.audio,
            self.sample_rate,
            offset=u.offset,
            duration=u.duration,
            max_duration=self.max_duration,
        )
        return {
            "index": index,
            "id": u.id,
            "waveform": torch.from_numpy(np.ascontiguousarray(samples)),
            "utt": u,
        }

    def __getitem__(self, index: int) -> dict[str, Any]:
        from ..errors import AudioError

        try:
            return self._load(index)
        except AudioError as e:
            if self.on_error == "raise":
                raise
            error = e
        u = self.utts[index]
        if self.on_error == "skip":
            self._warn_once(index, f"utterance {u.id}: {error}")
            return {"index": index, "id": u.id, "utt": u, "error": str(error)}
        for k in range(1, len(self.utts)):  # substitute: the next utterance that loads
            try:
                item = self._load((index + k) % len(self.utts))
            except AudioError:
                continue
            self._warn_once(index, f"utterance {u.id} is unusable: {item['id']} used in its place ({error})")
            return item
        raise AudioError(u.audio, "no utterance of the dataset can be read")

    def _warn_once(self, index: int, message: str) -> None:
        """Log ``message`` the first time ``index`` fails (per process / loader worker), not every epoch."""
        if index not in self._warned:
            self._warned.add(index)
            log.warning("%s", message)

    def durations(self) -> np.ndarray:
        """Durations in seconds ``(N,)`` float64, probing headers where the manifest has none."""
        from ..audio import audio_info

        out = np.empty(len(self.utts), dtype=np.float64)
        for i, u in enumerate(self.utts):
            out[i] = (
                u.duration
                if u.duration is not None
                else max(audio_info(u.audio).duration - u.offset, 0.0)
            )
        return out


def readable_utterances(utts: Sequence[Utterance], what: str = "manifest"
                        ) -> tuple[list[Utterance], list[tuple[str, str]]]:
    """Split ``utts`` into those whose audio header can be read and ``(id, reason)`` of the rest.

    For evaluations: an unreadable file is reported and left out before any decoding, instead of
    stopping the run when its turn comes. Reads headers only (no decoding); logs one warning.
    """
    from ..audio import audio_info
    from ..errors import AudioError

    ok, bad = [], []
    for u in utts:
        try:
            audio_info(u.audio)
        except AudioError as e:
            bad.append((u.id, str(e)))
            continue
        ok.append(u)
    if bad:
        log.warning("%s: %d of %d utterance(s) cannot be read and are left out: %s", what, len(bad),
                    len(utts), "; ".join(f"{i} ({why})" for i, why in bad[:5]) + (" ..." if len(bad) > 5 else ""))
    return ok, bad


def collate_audio(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Zero-pad dataset items into a batch.

    Parameters
    ----------
    items : sequence of dict
        Items from :class:`AudioDataset` (``waveform`` float32 ``(S_i,)``).

    Returns
    -------
    dict
        ``ids`` list[str]; ``indices`` int64 ``(B,)``; ``waveforms`` float32
        ``(B, max S_i)`` zero-padded on the right; ``lengths`` int64 ``(B,)``
        valid samples per row; ``utts`` list[Utterance]; ``skipped`` list of (id, reason)
        of items that could not be read (``on_error="skip"``), left out of the batch.
    """
    skipped = [(it["id"], it["error"]) for it in items if "error" in it]  # on_error="skip"
    items = [it for it in items if "error" not in it]
    if not items and not skipped:
        raise ConfigError("collate_audio needs at least one item")
    if not items:  # every item unusable: an empty batch that says why
        return {"ids": [], "indices": torch.zeros(0, dtype=torch.int64),
                "waveforms": torch.zeros(0, 0), "lengths": torch.zeros(0, dtype=torch.int64),
                "utts": [], "skipped": skipped}
    lengths = torch.tensor([it["waveform"].shape[0] for it in items], dtype=torch.int64)  # (B,)
    waveforms = torch.zeros(len(items), int(lengths.max()), dtype=torch.float32)  # (B, S)
    for row, it in enumerate(items):
        waveforms[row, : it["waveform"].shape[0]] = it["waveform"]
    return {
        "ids": [it["id"] for it in items],
        "indices": torch.tensor([it["index"] for it in items], dtype=torch.int64),
        "waveforms": waveforms,
        "lengths": lengths,
        "utts": [it["utt"] for it in items],
        "skipped": skipped,
    }
