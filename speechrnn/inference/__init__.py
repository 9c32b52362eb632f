"""Inference APIs: :class:`Recognizer` (speech to text), :class:`SpeakerIdentifier`
(enrollment, identification, verification) and :class:`KeywordSpotter` (keyword detection).

Imports are lazy so that using one API does not load the others' dependencies, and so that
torch-free modules here (``audio_blocks``, ``model_decoding``, ``models``) import without torch
(:mod:`speechrnn.runtime` uses them).
"""
from .models import default_model_path, list_models

_LAZY = {
    "Recognizer": "recognizer", "Transcript": "recognizer", "TranscriptionStream": "recognizer",
    "SpeakerIdentifier": "speakers", "SpeakerMatch": "speakers", "Verification": "speakers",
    "KeywordSpotter": "keywords", "set_threads": "threads",
}

__all__ = ["Recognizer", "Transcript", "TranscriptionStream", "default_model_path", "list_models",
           *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
