"""OpenAI-compatible transcription: ``POST /v1/audio/transcriptions`` and ``GET /v1/models``.

Form fields: ``file`` (required; any format :func:`speechrnn.audio.load_audio` reads), ``model``
(any value is accepted: the server has one transcription model), ``response_format`` = json
(default) | text | srt | vtt | verbose_json, ``language`` (``en`` or empty: the model is
English), ``timestamp_granularities[]`` = segment | word, ``prompt`` and ``temperature``
(accepted, unused: decoding is deterministic). verbose_json always carries ``words`` with times.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ..audio import audio_info
from ..errors import AudioTooLongError, EmptyAudioError
from .errors import APIError
from .forms import form_file, form_float, form_list, form_str, read_form, require_key, saved_upload

router = APIRouter(dependencies=[Depends(require_key)])

FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
_LANGUAGES = ("", "en", "eng", "english", "en-us", "en-gb")


def check_duration(path: Path, max_s: float) -> float:
    """Header check before decoding: empty -> EmptyAudioError, too long -> AudioTooLongError."""
    info = audio_info(path)  # not audio / unsupported -> AudioError
    if info.frames == 0 or info.duration <= 0:
        raise EmptyAudioError(None, "the file holds no samples")
    if info.duration > max_s:
        raise AudioTooLongError(None, f"{info.duration:.1f} s is longer than the server's limit of "
                                      f"{max_s:g} s (max_upload_s)")
    return info.duration


def _transcribe(recognizer, path: Path, max_s: float):
    check_duration(path, max_s)
    t = recognizer.transcribe(path)
    return t, t.duration


def verbose_json(t, model: str) -> dict:
    """OpenAI's verbose_json: segments (subtitle-sized word groups) and word times."""
    from ..writers import cues

    segments = []
    words = list(t.words)
    for i, (start, end, text) in enumerate(cues(words)):
        conf = [w.confidence for w in words if w.start >= start - 1e-9 and w.end <= end + 1e-9]
        segments.append({
            "id": i, "seek": 0, "start": round(start, 3), "end": round(end, 3), "text": text,
            "tokens": [], "temperature": 0.0,
            "avg_logprob": round(sum(math.log(max(c, 1e-6)) for c in conf) / max(len(conf), 1), 4),
            "compression_ratio": 1.0, "no_speech_prob": 0.0,
        })
    return {"task": "transcribe", "language": "english", "duration": round(t.duration, 3),
            "text": t.text, "model": model, "segments": segments,
            "words": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                       "probability": round(float(w.confidence), 4)} for w in words]}


def render(t, fmt: str, model: str):
    """The response for ``response_format`` ``fmt``."""
    if fmt == "json":
        return JSONResponse({"text": t.text,
                             "usage": {"type": "duration", "seconds": math.ceil(t.duration)}})
    if fmt == "text":
        return PlainTextResponse(t.text + "\n")
    if fmt == "verbose_json":
        return JSONResponse(verbose_json(t, model))
    from ..writers import get_writer

    buf = io.StringIO()
    get_writer(fmt).write(t, buf)
    media = "text/vtt" if fmt == "vtt" else "application/x-subrip"
    return PlainTextResponse(buf.getvalue(), media_type=media)


@router.post("/v1/audio/transcriptions")
async def transcriptions(request: Request):
    engine = request.app.state.engine
    form = await read_form(request)
    upload = form_file(form, "file")
    fmt = form_str(form, "response_format", "json") or "json"
    if fmt not in FORMATS:
        raise APIError(400, f"response_format {fmt!r} is not one of {', '.join(FORMATS)}",
                       code="invalid_value", param="response_format")
    language = (form_str(form, "language") or "").lower()
    if language not in _LANGUAGES:
        raise APIError(400, f"language {language!r} is not supported: the model transcribes English ('en')",
                       code="unsupported_language", param="language")
    grains = form_list(form, "timestamp_granularities") or []
    bad = [g for g in grains if g not in ("word", "segment")]
    if bad:
        raise APIError(400, f"timestamp_granularities value {bad[0]!r} is not 'word' or 'segment'",
                       code="invalid_value", param="timestamp_granularities[]")
    if (form_str(form, "stream") or "").lower() in ("1", "true", "yes", "on"):
        raise APIError(400, "stream=true is not supported here; stream audio over the WebSocket at / "
                            "(Vosk protocol) for live results", code="unsupported", param="stream")
    form_float(form, "temperature", 0.0, 1.0)  # validated, unused
    rec = engine.require("recognizer")
    with engine.admit():
        async with saved_upload(upload) as path:
            t = await engine.run_timed("http", _transcribe, rec, path, engine.config.max_upload_s)
    return render(t, fmt, request.app.state.model_id)


@router.get("/v1/models")
async def models(request: Request):
    return {"object": "list", "data": [
        {"id": m["id"], "object": "model", "created": 0, "owned_by": "speechrnn", "task": m["task"]}
        for m in request.app.state.model_list()]}
