"""Data layer: manifest schema, corpus importers, dataset and length-bucketed batching.

``manifest`` and ``importers`` import without torch; ``AudioDataset``,
``collate_audio`` and ``BucketBatchSampler`` are loaded on first use.
"""

from __future__ import annotations

from .manifest import (
    Utterance,
    filter_by_duration,
    labels,
    read_manifest,
    speakers,
    total_duration,
    write_manifest,
)

_LAZY = {
    "AudioDataset": "dataset",
    "collate_audio": "dataset",
    "readable_utterances": "dataset",
    "BucketBatchSampler": "sampler",
}

__all__ = [
    "Utterance",
    "read_manifest",
    "write_manifest",
    "filter_by_duration",
    "total_duration",
    "speakers",
    "labels",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
