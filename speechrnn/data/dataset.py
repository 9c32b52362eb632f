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

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .manifest import Utterance

__all__ = ["AudioDataset", "collate_audio"]


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
    :func:`speechrnn.audio.load_audio`.
    """

    def __init__(
        self, utts: Sequence[Utterance], sample_rate: int = 16000, max_duration: float | None = None
    ):
        self.utts = list(utts)
        self.sample_rate = sample_rate
        self.max_duration = max_duration

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, index: int) -> dict[str, Any]:
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
        valid samples per row; ``utts`` list[Utterance].
    """
    if not items:
        raise ValueError("collate_audio needs at least one item")
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
    }
