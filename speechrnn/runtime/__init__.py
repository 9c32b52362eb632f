"""speechrnn without torch: run exported ONNX models with numpy and onnxruntime.

Export a model once (this step needs torch)::

    speechrnn export en-char-bilstm OUT/en.onnx --format onnx [--int8]

then, in an environment with only ``pip install speechrnn[runtime]`` (numpy, soundfile, soxr,
onnxruntime; ``[runtime,lm]`` adds the beam / lexicon decoders)::

    from speechrnn.runtime import Recognizer, KeywordSpotter, SpeakerIdentifier
    Recognizer.load("OUT/en.onnx").transcribe("speech.wav").text

Nothing in this package imports torch (``tests/test_runtime_no_torch.py`` runs it with torch
blocked). The classes mirror :mod:`speechrnn.inference`'s; see README "Embed without torch".
"""
from __future__ import annotations

_LAZY = {
    "OnnxModel": "model", "read_metadata": "model",
    "Recognizer": "recognizer", "Transcript": "recognizer", "TranscriptionStream": "recognizer",
    "KeywordSpotter": "keywords", "SpotResult": "keywords", "KeywordStream": "keywords",
    "SpeakerIdentifier": "speakers", "SpeakerMatch": "speakers", "Verification": "speakers",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
