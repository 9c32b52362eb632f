"""`serve(config)`: run the app on uvicorn, finishing open streams on SIGTERM/SIGINT.

uvicorn's own shutdown drops open WebSockets with close code 1012. Here the first SIGTERM (or
Ctrl-C) first marks the server as draining (``/ready`` turns 503, new streams are refused with
1013), sends every open stream the final result of the audio it received and closes it with
1001, waits for that (at most ``shutdown_timeout_s``), and only then lets uvicorn stop. A second
Ctrl-C exits at once.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time

import uvicorn

from .app import create_app
from .config import ServeConfig

LOGGER = logging.getLogger("speechrnn.serve")


class DrainingServer(uvicorn.Server):
    """uvicorn server whose first exit signal drains the app's streams before stopping."""

    def __init__(self, config: uvicorn.Config, engine):
        super().__init__(config)
        self.engine = engine
        self._draining = False

    def handle_exit(self, sig, frame) -> None:
        if self._draining:
            if sig == signal.SIGINT:
                self.force_exit = True
            return
        self._draining = True
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain()))

    async def _drain(self) -> None:
        eng = self.engine
        eng.draining = True
        n = eng.active_streams
        LOGGER.info("shutting down: finishing %d open stream(s)", n)
        if eng.shutdown_event is not None:
            eng.shutdown_event.set()
        deadline = time.monotonic() + eng.config.shutdown_timeout_s
        while eng.active_streams and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if eng.active_streams:
            LOGGER.warning("%d stream(s) not finished after %.0f s", eng.active_streams,
                           eng.config.shutdown_timeout_s)
        self.should_exit = True


def serve(config: ServeConfig | dict | None = None, *, log_level: str = "info") -> None:
    """Run the server until SIGTERM/SIGINT (blocking). See :class:`ServeConfig` for settings."""
    app = create_app(config)
    cfg = app.state.config
    ucfg = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level=log_level,
                          ws_max_size=cfg.max_frame_bytes + 65536, ws="websockets-sansio",
                          timeout_graceful_shutdown=cfg.shutdown_timeout_s, lifespan="on")
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        LOGGER.warning("listening on %s: reachable from other machines%s", cfg.host,
                       "" if cfg.api_key else " and without an API key (--api-key)")
    DrainingServer(ucfg, app.state.engine).run()
