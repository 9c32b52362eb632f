"""`ServeConfig`: every setting of the speech server, typed and validated.

Example
-------
>>> from speechrnn.config import from_dict
>>> cfg = from_dict(ServeConfig, {"port": 8080, "max_streams": 4})
>>> cfg.host, cfg.port, cfg.max_streams
('127.0.0.1', 8080, 4)
>>> from_dict(ServeConfig, {"workers": 0})
Traceback (most recent call last):
...
speechrnn.errors.ConfigError: serve: workers must be >= 1, got 0
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

DISABLED = "none"
"""Value of ``kws_model`` / ``speaker_model`` that leaves that model out."""


def default_store_path() -> str:
    """The speaker store the CLI uses: ``$SPEECHRNN_SPEAKERS`` or ``~/.speechrnn/speakers.json``."""
    return os.environ.get("SPEECHRNN_SPEAKERS") or str(Path.home() / ".speechrnn" / "speakers.json")


@dataclass
class ServeConfig:
    """Settings of :func:`speechrnn.serve.create_app` and ``speechrnn serve``."""

    model: str | None = None
    """Transcription model file (None: the bundled English model with its default decoding)."""
    kws_model: str | None = None
    """Keyword classifier file (None: the bundled 10-word model; ``"none"``: no classifier)."""
    speaker_model: str | None = None
    """Speaker-embedding model file (None: the bundled encoder; ``"none"``: no speaker endpoints)."""
    store: str | None = None
    """Speaker store JSON (None: the CLI's, ``$SPEECHRNN_SPEAKERS`` or ``~/.speechrnn/speakers.json``)."""
    host: str = "127.0.0.1"
    """Interface to bind; loopback unless told otherwise."""
    port: int = 2700
    """TCP port (Vosk server's default)."""
    api_key: str | None = None
    """When set, every API call and stream must carry it (``Authorization: Bearer KEY``,
    ``X-API-Key: KEY`` or, for WebSockets from a browser, ``?api_key=KEY``)."""
    workers: int = 2
    """Inference threads: every model call runs on this bounded pool, never on the event loop."""
    threads: int = 1
    """torch intra-op threads (shared by the workers)."""
    max_streams: int = 16
    """Concurrent WebSocket streams; one more is refused with close code 1013."""
    max_pending: int = 64
    """HTTP inference requests admitted at once (running + queued); more get 503."""
    max_upload_bytes: int = 25 * 1024 * 1024
    """Largest request body accepted (413 beyond)."""
    max_upload_s: float = 600.0
    """Longest uploaded audio, seconds (413 beyond)."""
    max_frame_bytes: int = 256 * 1024
    """Largest WebSocket message (1009 beyond)."""
    max_stream_s: float = 4 * 3600.0
    """Longest audio one stream may send, seconds."""
    min_sample_rate: int = 8000
    """Lowest stream sample rate accepted."""
    max_sample_rate: int = 48000
    """Highest stream sample rate accepted."""
    idle_timeout_s: float = 30.0
    """A stream that sends nothing for this long gets its final result and is closed (1001)."""
    shutdown_timeout_s: float = 15.0
    """On SIGTERM, how long open streams get to receive their final result."""

    def validate(self) -> None:
        for name in ("workers", "threads", "max_streams", "max_pending", "max_upload_bytes",
                     "max_frame_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"serve: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_upload_s", "max_stream_s", "idle_timeout_s", "shutdown_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"serve: {name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"serve: port must be in 0..65535, got {self.port}")
        if not 1000 <= self.min_sample_rate <= self.max_sample_rate:
            raise ConfigError(f"serve: need 1000 <= min_sample_rate <= max_sample_rate, got "
                              f"{self.min_sample_rate}, {self.max_sample_rate}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("serve: api_key must not be empty (leave it unset for no key)")

    @property
    def store_path(self) -> str:
        return self.store or default_store_path()
