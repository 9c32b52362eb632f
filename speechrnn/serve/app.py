"""`create_app(config)`: the speech server as an ASGI application (FastAPI on Starlette).

Example
-------
>>> from speechrnn.serve import create_app, ServeConfig          # doctest: +SKIP
>>> app = create_app(ServeConfig(max_streams=4))  # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=2700)  # doctest: +SKIP

Routes: ``/`` (the browser page; WebSocket streams in Vosk's protocol on the same path),
``/v1/audio/transcriptions`` and ``/v1/models`` (OpenAI-compatible), ``/v1/keywords``,
``/v1/speakers/...``, ``/health``, ``/ready``, ``/metrics``. Models load in the background at
startup: ``/health`` answers at once, ``/ready`` turns 200 when they are loaded.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import from_dict
from ..errors import SpeechRNNError
from .config import ServeConfig
from .engine import Engine
from .errors import APIError, api_error_from
from .metrics import Metrics

LOGGER = logging.getLogger("speechrnn.serve")
STATIC = Path(__file__).resolve().parent / "static"


class BodyTooLarge(StarletteHTTPException):
    """Raised from the request body reader once more than ``max_upload_bytes`` arrived."""


class _Limits:
    """ASGI middleware: request-size limit (413) and per-endpoint request metrics."""

    def __init__(self, app, config: ServeConfig, metrics: Metrics):
        self.app, self.config, self.metrics = app, config, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.config.max_upload_bytes
        t0 = time.perf_counter()
        status = {"code": 500}
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            err = APIError(413, f"request body of {int(length)} bytes is larger than the server's "
                                f"limit of {limit} bytes (max_upload_bytes)", code="too_large")
            await JSONResponse(err.body(), 413)(scope, receive, send)
            self._count(scope, 413, t0)
            return
        seen = 0

        async def limited_receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(413, f"request body larger than the server's limit of {limit} "
                                            "bytes (max_upload_bytes)")
            return msg

        async def counting_send(msg):
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, limited_receive, counting_send)
        finally:
            self._count(scope, status["code"], t0)

    def _count(self, scope, status: int, t0: float) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or "unmatched"
        self.metrics.requests.labels(endpoint, str(status)).inc()
        self.metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - t0)


def _model_list(engine: Engine):
    def listing():
        rows = []
        for task, attr in (("transcription", "recognizer"), ("keywords", "spotter"),
                           ("speakers", "speakers")):
            if getattr(engine, attr) is not None:
                rows.append({"id": engine.model_ids[task], "task": task})
        return rows
    return listing


def _model_ids(config: ServeConfig) -> dict[str, str]:
    from ..inference.models import DEFAULTS

    return {task: Path(path or DEFAULTS[task]).stem for task, path in
            (("transcription", config.model), ("keywords", config.kws_model),
             ("speakers", config.speaker_model))}


def _install_error_handlers(app: FastAPI) -> None:
    def reply(err: APIError) -> JSONResponse:
        return JSONResponse(err.body(), err.status)

    @app.exception_handler(APIError)
    async def _api(request, exc: APIError):
        return reply(exc)

    @app.exception_handler(SpeechRNNError)
    async def _lib(request, exc: SpeechRNNError):
        return reply(api_error_from(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc: StarletteHTTPException):
        msg = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            msg = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            msg = f"method {request.method} not allowed on {request.url.path}"
        code = {413: "too_large", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return reply(APIError(exc.status_code, msg, code=code))

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return reply(APIError(400, f"{where}: {first.get('msg', 'invalid request')}", code="invalid_value",
                              param=where or None))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        LOGGER.exception("request failed: %s %s", request.method, request.url.path)
        return reply(APIError(500, f"internal error ({type(exc).__name__}); see the server log",
                              code="internal"))


def create_app(config: ServeConfig | dict | None = None) -> FastAPI:
    """Build the server application; models load in the background when it starts.

    Parameters
    ----------
    config : ServeConfig or dict, optional
        Settings (a dict is validated strictly: unknown keys fail with their name).
    """
    from . import routes_openai, routes_tasks
    from .websocket import stream_endpoint

    if config is None:
        config = ServeConfig()
    elif isinstance(config, dict):
        config = from_dict(ServeConfig, config, "serve")
    else:
        config.validate()
    metrics = Metrics()
    engine = Engine(config, metrics)
    engine.model_ids = _model_ids(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        engine.shutdown_event = asyncio.Event()
        loading = asyncio.ensure_future(engine.run(engine.load))
        loading.add_done_callback(lambda f: f.cancelled() or f.exception())  # logged by load()
        try:
            yield
        finally:
            engine.shutdown_event.set()
            engine.close()

    app = FastAPI(title="speechrnn", version=_version(), lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    app.state.config, app.state.engine, app.state.metrics = config, engine, metrics
    app.state.model_id = engine.model_ids["transcription"]
    app.state.model_list = _model_list(engine)
    _install_error_handlers(app)
    app.add_middleware(_Limits, config=config, metrics=metrics)
    app.include_router(routes_openai.router)
    app.include_router(routes_tasks.router)
    app.add_api_websocket_route("/", stream_endpoint)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        if engine.ready and not engine.draining:
            return {"status": "ready", "models": app.state.model_list(),
                    "active_streams": engine.active_streams, "max_streams": config.max_streams,
                    "auth": config.api_key is not None}
        why = ("shutting down" if engine.draining else
               f"models failed to load: {engine.load_error}" if engine.load_error else "loading models")
        return JSONResponse({"status": "not ready", "reason": why}, 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


def _version() -> str:
    from .. import __version__

    return __version__
