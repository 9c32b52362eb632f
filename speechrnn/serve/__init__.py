"""`speechrnn serve`: the toolkit as a speech server for apps, browsers and other languages.

One process loads the models once; HTTP requests and WebSocket streams share them, and all
inference runs on a bounded worker pool.

- ``POST /v1/audio/transcriptions``: OpenAI-compatible (json, text, srt, vtt, verbose_json);
- ``ws://HOST:2700/``: live streaming in Vosk server's protocol (partials, final text with word
  times, keyword events);
- ``/v1/keywords``, ``/v1/speakers/...``: keyword spotting and speakers on the CLI's store;
- ``/``: a browser page (microphone -> AudioWorklet -> 16 kHz PCM over the WebSocket);
- ``/health``, ``/ready``, ``/metrics`` (Prometheus).

Example
-------
>>> from speechrnn.serve import ServeConfig, create_app, serve    # doctest: +SKIP
>>> app = create_app(ServeConfig(port=2700, api_key="secret"))    # an ASGI app for any server  # doctest: +SKIP
>>> serve(ServeConfig(port=2700))                                  # or run it (blocking)  # doctest: +SKIP
"""
from .config import ServeConfig, default_store_path

__all__ = ["ServeConfig", "create_app", "default_store_path", "serve"]


def __getattr__(name):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
