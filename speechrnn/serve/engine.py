"""`Engine`: the models (loaded once, shared by every request and stream) and the worker pool.

All model work runs on a bounded pool of ``config.workers`` threads (:class:`PriorityPool`),
never on the event loop; torch releases the GIL during its kernels, so the workers run in
parallel on separate cores. Jobs run in arrival order, except that final results (a stream's
eof/reset/close) go first: a user who stopped talking waits only for running jobs, not for
every other stream's queued partials. The recognizer, spotters and speaker identifier hold no
per-call state (streams hold their own), so one instance of each serves all threads.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable

import numpy as np

from .config import DISABLED, ServeConfig
from .errors import APIError
from .metrics import Metrics

LOGGER = logging.getLogger("speechrnn.serve")
FINAL, NORMAL = 0, 1
"""Job priorities of :meth:`Engine.run` (lower runs first)."""


class PriorityPool:
    """A fixed pool of worker threads taking jobs by (priority, arrival order).

    Parameters
    ----------
    workers : int
    name : str
        Thread name prefix.
    """

    def __init__(self, workers: int, name: str = "speechrnn-worker"):
        self._q: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, priority: int, fn: Callable[[], Any]) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._q.put((priority, next(self._seq), fn, fut))
        return fut

    def _work(self) -> None:
        while True:
            _, _, fn, fut = self._q.get()
            if fn is None:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed to the awaiting request
                fut.set_exception(e)

    def shutdown(self) -> None:
        """Stop the workers after the jobs already queued (they are daemon threads)."""
        for _ in self._threads:
            self._q.put((1 << 30, next(self._seq), None, None))


class Engine:
    """Models + worker pool + admission counters of one server.

    Parameters
    ----------
    config : ServeConfig
    metrics : Metrics
    """

    def __init__(self, config: ServeConfig, metrics: Metrics):
        self.config = config
        self.metrics = metrics
        self.recognizer = None
        self.spotter = None       # keyword classifier (None when disabled)
        self.speakers = None      # SpeakerIdentifier (None when disabled)
        self.ready = False
        self.load_error: str | None = None
        self.draining = False
        self.active_streams = 0
        self._pending = 0         # HTTP inference requests admitted
        self._lock = threading.Lock()
        self.pool = PriorityPool(config.workers)
        self.shutdown_event: asyncio.Event | None = None  # made on the server's loop (startup)

    # ------------------------------------------------------------------ models
    def load(self) -> None:
        """Load every configured model (blocking; the app calls it on the pool at startup)."""
        from ..inference import KeywordSpotter, Recognizer, SpeakerIdentifier, set_threads

        cfg = self.config
        set_threads(cfg.threads)
        try:
            t0 = time.perf_counter()
            self.recognizer = Recognizer.load(cfg.model)
            if cfg.kws_model != DISABLED:
                self.spotter = KeywordSpotter.load(cfg.kws_model)
            if cfg.speaker_model != DISABLED:
                self.speakers = SpeakerIdentifier.load(cfg.speaker_model, cfg.store_path)
            # warm-up: builds decoders / LM caches before the first request is timed
            self.recognizer.transcribe(np.zeros(self.recognizer.sample_rate // 2, np.float32))
            LOGGER.info("models loaded in %.1f s", time.perf_counter() - t0)
            self.ready = True
        except Exception as e:  # reported by /ready and in the log; the server stays up
            self.load_error = f"{type(e).__name__}: {e}"
            LOGGER.error("loading models failed: %s", self.load_error)
            raise

    def require(self, what: str) -> Any:
        """The loaded model ``what`` (recognizer | spotter | speakers), else a 503/404 APIError."""
        if not self.ready:
            raise APIError(503, "models are still loading (see /ready)"
                           if self.load_error is None else f"models failed to load: {self.load_error}",
                           code="not_ready")
        obj = getattr(self, what)
        if obj is None:
            flag = {"spotter": "--kws-model", "speakers": "--speaker-model"}.get(what, what)
            raise APIError(404, f"this server runs without a {what} model (started with {flag} none)",
                           code="disabled")
        return obj

    # ------------------------------------------------------------------ work
    async def run(self, fn: Callable, *args, priority: int = NORMAL, **kwargs) -> Any:
        """Run ``fn(*args, **kwargs)`` on the worker pool and await its result."""
        self.metrics.pending_jobs.inc()
        try:
            return await asyncio.wrap_future(self.pool.submit(priority, functools.partial(fn, *args, **kwargs)))
        finally:
            self.metrics.pending_jobs.dec()

    async def run_timed(self, kind: str, fn: Callable, *args) -> Any:
        """:meth:`run` and count the worker time; ``fn`` returns ``(result, audio_seconds)``."""
        def timed():
            t0 = time.perf_counter()
            result, audio_s = fn(*args)
            self.metrics.audio(kind, audio_s, time.perf_counter() - t0)
            return result

        return await self.run(timed)

    @contextlib.contextmanager
    def admit(self):
        """Admission of one HTTP inference request (503 when ``max_pending`` are in)."""
        with self._lock:
            if self._pending >= self.config.max_pending:
                raise APIError(503, f"server busy: {self._pending} requests in progress "
                                    f"(max_pending={self.config.max_pending}); retry later",
                               code="busy")
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1

    def open_stream(self) -> str | None:
        """Take a stream slot; returns the refusal reason when none is free."""
        with self._lock:
            if self.draining:
                return "server shutting down"
            if self.active_streams >= self.config.max_streams:
                return (f"server busy: {self.active_streams} streams open "
                        f"(max_streams={self.config.max_streams}); retry later")
            self.active_streams += 1
        self.metrics.active_streams.inc()
        return None

    def close_stream(self) -> None:
        with self._lock:
            self.active_streams -= 1
        self.metrics.active_streams.dec()

    def close(self) -> None:
        self.pool.shutdown()
