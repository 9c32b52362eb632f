"""One exception hierarchy for everything a user can catch.

Every error a user sees derives from :class:`SpeechRNNError`; messages name the
offending file, key or line and the reason.
"""
from __future__ import annotations


class SpeechRNNError(Exception):
    """Base class of all speechrnn errors."""


class ConfigError(SpeechRNNError, ValueError):
    """A configuration is invalid: unknown key, wrong type, bad value."""


# --- audio -----------------------------------------------------------------
class AudioError(SpeechRNNError):
    """An audio file or array cannot be used. ``path`` is the file (or None)."""

    def __init__(self, path, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        where = self.path if self.path is not None else "<array>"
        super().__init__(f"{where}: {reason}")


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The file does not exist or is not a regular file."""


class NotAudioError(AudioError):
    """The file is not an audio file (e.g. text, an image)."""


class UnsupportedFormatError(AudioError):
    """The file is audio in a format libsndfile cannot decode here."""


class CorruptAudioError(AudioError):
    """The file is audio but truncated or damaged."""


class EmptyAudioError(AudioError):
    """The file or array holds no samples."""


class InvalidSamplesError(AudioError):
    """The samples contain NaN or infinite values."""


class AudioTooLongError(AudioError):
    """The audio is longer than the configured maximum duration."""


class NoVoiceError(AudioError):
    """The audio is silent or too short to say anything about who speaks (speaker embeddings)."""


# --- data ------------------------------------------------------------------
class ManifestError(SpeechRNNError, ValueError):
    """A manifest has bad lines. ``problems`` is a list of (line_number, reason)."""

    def __init__(self, path, problems):
        self.path = str(path)
        self.problems = list(problems)
        head = "\n".join(f"  line {n}: {why}" for n, why in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"{self.path}: {len(self.problems)} bad line(s)\n{head}{more}")


class ManifestNotFoundError(SpeechRNNError, FileNotFoundError):
    """The manifest file itself does not exist (``FileNotFoundError`` too, as before)."""

    def __init__(self, path):
        self.path = str(path)
        super().__init__(f"{self.path}: no such manifest file")


class CorpusError(SpeechRNNError):
    """A corpus directory does not have the documented layout."""


# --- synthesis ---------------------------------------------------------------
class SynthesisError(SpeechRNNError):
    """A text-to-speech engine failed or is missing."""


# --- models ------------------------------------------------------------------
class CheckpointError(SpeechRNNError):
    """A model file cannot be loaded: unknown version, missing keys, not a checkpoint."""


class ExportError(CheckpointError):
    """A model cannot be exported, or the exported model does not reproduce the original."""
