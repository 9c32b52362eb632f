"""The WebSocket stream endpoint at ``/``: Vosk server's protocol (see :mod:`.session`).

Every stream ends with a close code and a reason naming why:

======  ==============================================================================
1000    after ``{"eof": 1}`` and its final result
1001    idle timeout or server shutdown, after the final result of the audio received
1003    unknown message kind, unknown/bad config value (e.g. wrong sample_rate)
1007    malformed JSON text frame
1008    missing or wrong API key; stream longer than ``max_stream_s``
1009    frame larger than ``max_frame_bytes``
1011    unexpected server error (logged)
1013    ``max_streams`` streams already open, models still loading, or shutting down
======  ==============================================================================

A refused message never loses the audio already sent: when audio was received, the reply that
carries ``{"error": reason}`` also carries the final ``text``/``result`` of that audio.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from .errors import (CLOSE_BAD_DATA, CLOSE_GOING_AWAY, CLOSE_INTERNAL, CLOSE_NORMAL, CLOSE_POLICY,
                     CLOSE_TOO_BIG, CLOSE_TRY_LATER, CLOSE_UNSUPPORTED)
from .engine import FINAL
from .forms import key_ok
from .session import ProtocolError, StreamSession

LOGGER = logging.getLogger("speechrnn.serve")
_GONE = (WebSocketDisconnect, OSError, RuntimeError)  # the client vanished while we sent


class _ClientGone(Exception):
    pass


async def _send(ws: WebSocket, obj: dict) -> None:
    try:
        await ws.send_text(json.dumps(obj))
    except _GONE:
        raise _ClientGone from None


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    reason = reason.encode()[:123].decode(errors="ignore")  # RFC 6455: at most 123 bytes
    if ws.application_state != WebSocketState.DISCONNECTED:
        try:
            await ws.close(code, reason)
        except _GONE:
            pass


async def stream_endpoint(ws: WebSocket) -> None:
    """One audio stream: admission, message loop, final result, close."""
    state = ws.app.state
    engine, metrics = state.engine, state.metrics
    await ws.accept()
    if not key_ok(ws, state.config.api_key):
        metrics.streams.labels("unauthorized").inc()
        await _close(ws, CLOSE_POLICY, "missing or invalid API key (?api_key=KEY or Authorization: Bearer)")
        return
    if not engine.ready:
        metrics.streams.labels("refused").inc()
        await _close(ws, CLOSE_TRY_LATER, "models are still loading; retry shortly"
                     if engine.load_error is None else f"models failed to load: {engine.load_error}")
        return
    refusal = engine.open_stream()
    if refusal:
        metrics.streams.labels("refused").inc()
        await _close(ws, CLOSE_TRY_LATER, refusal)
        return
    session = StreamSession(engine)
    outcome = "error"
    try:
        outcome = await _message_loop(ws, session, engine)
    except _ClientGone:
        outcome = "client_gone"
    except Exception:  # never let one stream take anything else down
        LOGGER.exception("stream failed")
        await _close(ws, CLOSE_INTERNAL, "internal error (logged on the server)")
    finally:
        engine.close_stream()
        metrics.streams.labels(outcome).inc()
        metrics.audio("stream", session.audio_seconds(), session.compute_s)


async def _finish(ws, session: StreamSession, engine, code: int, reason: str, error: bool) -> None:
    """Send the final result of the audio so far (with ``error`` when refusing), then close."""
    reply = await engine.run(session.final, last=True, priority=FINAL) if session.started else {}
    if error:
        reply = {"error": reason, **reply}
    if reply:
        await _send(ws, reply)
    await _close(ws, code, reason)


async def _message_loop(ws: WebSocket, session: StreamSession, engine) -> str:
    cfg = engine.config
    stop = asyncio.ensure_future(engine.shutdown_event.wait())
    try:
        while True:
            recv = asyncio.ensure_future(ws.receive())
            done, _ = await asyncio.wait({recv, stop}, timeout=cfg.idle_timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
            if recv not in done:
                recv.cancel()
                if stop in done:
                    await _finish(ws, session, engine, CLOSE_GOING_AWAY, "server shutting down", False)
                    return "shutdown"
                await _finish(ws, session, engine, CLOSE_GOING_AWAY,
                              f"idle timeout: nothing received for {cfg.idle_timeout_s:g} s", False)
                return "idle"
            msg = recv.result()
            if msg["type"] == "websocket.disconnect":
                return "client_gone"
            try:
                end = await _handle(ws, session, engine, msg)
            except ProtocolError as e:
                await _finish(ws, session, engine, e.code, e.reason, True)
                return "refused_message"
            if end:
                return "ok"
    finally:
        stop.cancel()


async def _handle(ws: WebSocket, session: StreamSession, engine, msg: dict) -> bool:
    """Process one message; True when the stream is over (eof)."""
    cfg = engine.config
    data, text = msg.get("bytes"), msg.get("text")
    size = len(data) if data is not None else len((text or "").encode())
    if size > cfg.max_frame_bytes:
        raise ProtocolError(CLOSE_TOO_BIG, f"frame of {size} bytes is larger than max_frame_bytes="
                                           f"{cfg.max_frame_bytes}")
    if data is not None:
        if session.audio_seconds() + len(data) / 2 / session.rate > cfg.max_stream_s:
            raise ProtocolError(CLOSE_POLICY, f"stream longer than max_stream_s={cfg.max_stream_s:g} s")
        await _send(ws, await engine.run(session.feed, data))
        return False
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise ProtocolError(CLOSE_BAD_DATA, f"malformed JSON text frame: {e}") from None
    if not isinstance(obj, dict) or not obj:
        raise ProtocolError(CLOSE_UNSUPPORTED, "a text frame must be a JSON object: config, eof or reset")
    if "config" in obj:
        await engine.run(session.configure, obj["config"])
        return False
    if "eof" in obj:
        t0 = time.perf_counter()
        reply = await engine.run(session.final, last=True, priority=FINAL)
        await _send(ws, reply)
        engine.metrics.final_seconds.observe(time.perf_counter() - t0)
        await _close(ws, CLOSE_NORMAL, "eof")
        return True
    if "reset" in obj:
        await _send(ws, await engine.run(session.final, last=False, priority=FINAL))
        return False
    raise ProtocolError(CLOSE_UNSUPPORTED, f"unknown message {sorted(obj)[0]!r}: expected config, eof or reset")
