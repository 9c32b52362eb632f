"""speechrnn: MFCC features, bidirectional LSTM acoustic models and CTC, for
transcription, keyword spotting and speaker identification.

The public API is re-exported here lazily so that ``import speechrnn`` stays fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "load_audio": ("speechrnn.audio", "load_audio"),
    "MFCCFrontend": ("speechrnn.features", "MFCCFrontend"),
    "FeatureConfig": ("speechrnn.features", "FeatureConfig"),
    "Recognizer": ("speechrnn.inference", "Recognizer"),
    "KeywordSpotter": ("speechrnn.inference", "KeywordSpotter"),
    "SpeakerIdentifier": ("speechrnn.inference", "SpeakerIdentifier"),
    "load_model": ("speechrnn.models.checkpoint", "load_model"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'speechrnn' has no attribute {name!r}")
