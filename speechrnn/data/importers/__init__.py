"""Corpus importers: ``prepare_<corpus>(corpus_dir, output_dir=None, ...)``.

Each importer checks the documented on-disk layout (raising
:class:`~speechrnn.errors.CorpusError` naming the missing piece), reads
durations from audio headers, and returns ``{split: [Utterance]}``, writing
``<output_dir>/<split>.jsonl`` when ``output_dir`` is given.
"""

from __future__ import annotations

from .folder import prepare_folder
from .kaldi import prepare_kaldi
from .librispeech import prepare_librispeech
from .speech_commands import prepare_speech_commands
from .voxceleb import Trial, prepare_voxceleb, read_trials, voxceleb_trials, write_trials

IMPORTERS = {
    "librispeech": prepare_librispeech,
    "speech_commands": prepare_speech_commands,
    "voxceleb": prepare_voxceleb,
    "kaldi": prepare_kaldi,
    "folder": prepare_folder,
}

__all__ = [
    "IMPORTERS",
    "Trial",
    "prepare_folder",
    "prepare_kaldi",
    "prepare_librispeech",
    "prepare_speech_commands",
    "prepare_voxceleb",
    "read_trials",
    "voxceleb_trials",
    "write_trials",
]
