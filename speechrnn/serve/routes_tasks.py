"""Keyword spotting and speaker endpoints, on the server's shared models and the CLI's store.

``POST /v1/keywords``                 file, [keywords], [open_vocabulary], [threshold] -> detections
``GET /v1/speakers``                  enrolled speakers and the decision threshold
``POST /v1/speakers/enroll``          name, file (repeatable), [replace]
``DELETE /v1/speakers/{name}``        remove one speaker (404 if unknown)
``POST /v1/speakers/identify``        file, [top_k] -> best speaker or "unknown"
``POST /v1/speakers/verify``          file + (file2 | speaker) -> score, same
"""
from __future__ import annotations

import contextlib

import numpy as np
from fastapi import APIRouter, Depends, Request

from ..errors import ConfigError
from ..speakers.store import SpeakerStoreError
from .errors import APIError
from .forms import (form_bool, form_file, form_files, form_float, form_list, form_str, read_form,
                    require_key, saved_upload)
from .routes_openai import check_duration
from .session import keyword_spotter

router = APIRouter(dependencies=[Depends(require_key)])


# ---------------------------------------------------------------------- keywords
def _spot(spotter, path, max_s):
    check_duration(path, max_s)
    r = spotter.spot(path)
    return r, r.duration


@router.post("/v1/keywords")
async def keywords(request: Request):
    engine = request.app.state.engine
    form = await read_form(request)
    upload = form_file(form, "file")
    words = form_list(form, "keywords")
    open_vocab = form_bool(form, "open_vocabulary")
    threshold = form_float(form, "threshold", 0.0, 1.0)
    engine.require("recognizer")
    try:
        spotter = keyword_spotter(engine, words, open_vocab, threshold)
    except ConfigError as e:
        raise APIError(400, str(e), code="invalid_value", param="keywords") from None
    with engine.admit():
        async with saved_upload(upload) as path:
            r = await engine.run_timed("http", _spot, spotter, path, engine.config.max_upload_s)
    return {"mode": "open_vocabulary" if spotter.open_vocabulary else "classifier",
            "keywords": spotter.keywords, "threshold": round(float(spotter.threshold), 4),
            "duration": round(r.duration, 3), "detections": [d.to_dict() for d in r.detections]}


# ---------------------------------------------------------------------- speakers
@contextlib.contextmanager
def _store_errors():
    try:
        yield
    except SpeakerStoreError as e:
        raise APIError(409, f"speaker store: {e}", code="store_conflict") from None


def _embed(sid, path, max_s, field: str):
    from ..errors import SpeechRNNError
    from .errors import api_error_from

    try:
        seconds = check_duration(path, max_s)
        return sid.embed(path), seconds
    except SpeechRNNError as e:
        raise api_error_from(e, field) from None


@router.get("/v1/speakers")
async def list_speakers(request: Request):
    sid = request.app.state.engine.require("speakers")
    with _store_errors():
        info = sid.store.info()
    return {"store": str(sid.store.path), "threshold": round(sid.threshold, 4),
            "speakers": [{"name": n, "recordings": k} for n, k in info["speakers"].items()]}


@router.post("/v1/speakers/enroll")
async def enroll(request: Request):
    engine = request.app.state.engine
    form = await read_form(request)
    name = form_str(form, "name")
    if not name:
        raise APIError(400, "missing form field 'name' (the speaker's name)", code="missing_field", param="name")
    if len(name) > 200 or any(ord(c) < 32 for c in name):
        raise APIError(400, "speaker name must be at most 200 printable characters", code="invalid_value",
                       param="name")
    uploads = form_files(form, "file")
    replace = form_bool(form, "replace")
    sid = engine.require("speakers")
    embeddings, sources = [], []
    with engine.admit():
        for i, up in enumerate(uploads):  # every file is checked before anything is stored
            async with saved_upload(up) as path:
                e = await engine.run_timed("http", _embed, sid, path, engine.config.max_upload_s,
                                           f"file[{i}] ({up.filename or 'no name'})")
            embeddings.append(e)
            sources.append(up.filename or "<upload>")
    with _store_errors():
        total = await engine.run(lambda: sid.add_embeddings(name, np.stack(embeddings), sources,
                                                            replace=replace))
    return {"name": name, "added": len(embeddings), "recordings": total}


@router.delete("/v1/speakers/{name}")
async def delete_speaker(name: str, request: Request):
    sid = request.app.state.engine.require("speakers")
    with _store_errors():
        found = sid.store.remove(name)
    if not found:
        raise APIError(404, f"unknown speaker {name!r}", code="unknown_speaker", param="name")
    return {"name": name, "deleted": True}


@router.post("/v1/speakers/identify")
async def identify(request: Request):
    engine = request.app.state.engine
    form = await read_form(request)
    upload = form_file(form, "file")
    top_k = int(form_float(form, "top_k", 1, 100) or 5)
    sid = engine.require("speakers")
    with _store_errors():
        sid._check_store()  # enrolled with this model?
        if not sid.speakers():
            raise APIError(409, f"no speakers enrolled in {sid.store.path}: enroll some first "
                                "(POST /v1/speakers/enroll)", code="no_speakers")
    with engine.admit():
        async with saved_upload(upload) as path:
            emb = await engine.run_timed("http", _embed, sid, path, engine.config.max_upload_s, "file")
    with _store_errors():
        names, centroids = sid.store.centroids()  # (N,E)
    scores = centroids @ emb  # (N,E) @ (E,) -> (N,)
    order = np.argsort(-scores)[:top_k]
    thr = sid.threshold
    best = int(order[0])
    ok = bool(scores[best] >= thr)
    return {"speaker": names[best] if ok else "unknown", "score": round(float(scores[best]), 4),
            "accepted": ok, "threshold": round(thr, 4),
            "candidates": [{"name": names[i], "score": round(float(scores[i]), 4)} for i in order]}


@router.post("/v1/speakers/verify")
async def verify(request: Request):
    engine = request.app.state.engine
    form = await read_form(request)
    upload = form_file(form, "file")
    speaker = form_str(form, "speaker")
    other = form.get("file2")
    if (speaker is None) == (other is None):
        raise APIError(400, "give exactly one of 'file2' (a second recording) or 'speaker' (an enrolled "
                            "name) to compare 'file' with", code="missing_field", param="file2")
    sid = engine.require("speakers")
    if speaker is not None:
        with _store_errors():
            sid._check_store()
            names, centroids = sid.store.centroids()
        if speaker not in names:
            raise APIError(404, f"unknown speaker {speaker!r} (enrolled: {', '.join(names) or 'none'})",
                           code="unknown_speaker", param="speaker")
        ref = centroids[names.index(speaker)]
    with engine.admit():
        async with saved_upload(upload) as path:
            a = await engine.run_timed("http", _embed, sid, path, engine.config.max_upload_s, "file")
        if speaker is None:
            async with saved_upload(form_file(form, "file2"), "file2") as path:
                ref = await engine.run_timed("http", _embed, sid, path, engine.config.max_upload_s, "file2")
    score = float(a @ ref)
    thr = sid.threshold
    return {"score": round(score, 4), "same": score >= thr, "threshold": round(thr, 4),
            **({"speaker": speaker} if speaker is not None else {})}
