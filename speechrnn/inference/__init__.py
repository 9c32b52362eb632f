"""Inference APIs: :class:`Recognizer` (speech to text)."""
from .models import default_model_path, list_models
from .recognizer import Recognizer, Transcript, TranscriptionStream

__all__ = ["Recognizer", "Transcript", "TranscriptionStream", "default_model_path", "list_models"]
