"""HTTP errors of the server: one JSON shape (OpenAI's) and one mapping from library errors.

Every refused request gets ``{"error": {"message", "type", "code", "param"}}`` with a 4xx (or
503) status; ``message`` names the problem (not audio, empty, too long, unknown speaker ...).
"""
from __future__ import annotations

from ..errors import (AudioError, AudioFileNotFoundError, AudioTooLongError, ConfigError,
                      EmptyAudioError, NotAudioError, NoVoiceError, SpeechRNNError,
                      UnsupportedFormatError)

# WebSocket close codes (RFC 6455) the stream endpoint uses; the reason text names the problem.
CLOSE_NORMAL = 1000       # after {"eof": 1}
CLOSE_GOING_AWAY = 1001   # idle timeout, server shutting down (after the final result)
CLOSE_UNSUPPORTED = 1003  # a message of an unknown kind / bad config value
CLOSE_BAD_DATA = 1007     # malformed JSON text frame
CLOSE_POLICY = 1008       # missing or wrong API key, stream longer than allowed
CLOSE_TOO_BIG = 1009      # frame larger than max_frame_bytes
CLOSE_INTERNAL = 1011     # unexpected server error (logged)
CLOSE_TRY_LATER = 1013    # max_streams reached / server shutting down


class APIError(Exception):
    """A request the server refuses; rendered as a JSON error with ``status``."""

    def __init__(self, status: int, message: str, *, code: str = "invalid_request",
                 param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def body(self) -> dict:
        kind = ("authentication_error" if self.status == 401 else
                "server_error" if self.status >= 500 else "invalid_request_error")
        return {"error": {"message": self.message, "type": kind, "code": self.code,
                          "param": self.param}}


def api_error_from(exc: SpeechRNNError, param: str | None = "file") -> APIError:
    """The HTTP error for a library error raised while handling a request."""
    msg = str(exc)
    if isinstance(exc, AudioError):
        reason = exc.reason
        if isinstance(exc, (NotAudioError, AudioFileNotFoundError)):
            return APIError(415, f"not audio: {reason}", code="not_audio", param=param)
        if isinstance(exc, UnsupportedFormatError):
            return APIError(415, f"unsupported audio format: {reason}", code="unsupported_format",
                            param=param)
        if isinstance(exc, EmptyAudioError):
            return APIError(400, f"empty audio: {reason}", code="empty_audio", param=param)
        if isinstance(exc, AudioTooLongError):
            return APIError(413, f"audio too long: {reason}", code="audio_too_long", param=param)
        if isinstance(exc, NoVoiceError):
            return APIError(422, f"no voice: {reason}", code="no_voice", param=param)
        return APIError(400, f"bad audio: {reason}", code="bad_audio", param=param)
    if isinstance(exc, ConfigError):
        return APIError(400, msg, code="invalid_value", param=None)
    return APIError(400, msg, code="invalid_request", param=None)
