"""`speechrnn serve`: run the speech server (thin layer over :func:`speechrnn.serve.serve`).

Examples
--------
    speechrnn serve                                   # http://127.0.0.1:2700, bundled models
    speechrnn serve --port 8000 --api-key "$KEY" --max-streams 8
    speechrnn serve --model exp/asr/best.pt --kws-model none --store team.json
"""
from __future__ import annotations

import argparse


def run(args) -> int:
    from ..errors import ConfigError
    from ..serve import ServeConfig

    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "prometheus_client", "python_multipart")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"speechrnn serve needs the 'serve' extra ({', '.join(missing)} missing): "
                          "pip install 'speechrnn[serve]'")
    from ..serve import serve

    fields = ("model", "kws_model", "speaker_model", "store", "host", "port", "api_key", "workers",
              "threads", "max_streams", "max_pending", "max_upload_bytes", "max_upload_s",
              "max_frame_bytes", "max_stream_s", "idle_timeout_s", "shutdown_timeout_s")
    cfg = ServeConfig(**{k: getattr(args, k) for k in fields if getattr(args, k) is not None})
    cfg.validate()
    serve(cfg, log_level="debug" if args.verbose else "info")
    return 0


def register(sub) -> None:
    from ..serve.config import ServeConfig

    d = ServeConfig()
    p = sub.add_parser("serve", help="run the speech server (HTTP, WebSocket streaming, browser page)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="transcription model file (default: the bundled English model)")
    p.add_argument("--kws-model", help="keyword classifier file (default: bundled; 'none' to disable)")
    p.add_argument("--speaker-model", help="speaker model file (default: bundled; 'none' to disable)")
    p.add_argument("--store", help="speaker store JSON (default: $SPEECHRNN_SPEAKERS or "
                                   "~/.speechrnn/speakers.json, as the CLI)")
    p.add_argument("--host", help=f"interface to bind (default {d.host}; use 0.0.0.0 to expose it)")
    p.add_argument("--port", type=int, help=f"TCP port (default {d.port})")
    p.add_argument("--api-key", help="require this key (Authorization: Bearer KEY / ?api_key=KEY)")
    p.add_argument("--workers", type=int, help=f"inference threads (default {d.workers})")
    p.add_argument("--threads", type=int, help=f"torch threads (default {d.threads})")
    p.add_argument("--max-streams", type=int, help=f"concurrent WebSocket streams (default {d.max_streams})")
    p.add_argument("--max-pending", type=int, help=f"HTTP inference requests at once (default {d.max_pending})")
    p.add_argument("--max-upload-bytes", type=int, help=f"largest request body (default {d.max_upload_bytes})")
    p.add_argument("--max-upload-s", type=float, help=f"longest uploaded audio, s (default {d.max_upload_s:g})")
    p.add_argument("--max-frame-bytes", type=int, help=f"largest WebSocket frame (default {d.max_frame_bytes})")
    p.add_argument("--max-stream-s", type=float, help=f"longest stream, s (default {d.max_stream_s:g})")
    p.add_argument("--idle-timeout-s", type=float, help=f"close idle streams after, s (default {d.idle_timeout_s:g})")
    p.add_argument("--shutdown-timeout-s", type=float,
                   help=f"on SIGTERM, time for open streams to finish, s (default {d.shutdown_timeout_s:g})")
    p.set_defaults(func=run)
