"""Reading multipart requests: named fields, uploaded files saved to a temporary path, API key.

Every helper raises :class:`~speechrnn.serve.errors.APIError` with a message naming the field.
"""
from __future__ import annotations

import contextlib
import hmac
import os
import re
import tempfile
from pathlib import Path

from starlette.datastructures import FormData, UploadFile
from starlette.requests import HTTPConnection, Request

from .errors import APIError

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
_COPY_BLOCK = 1 << 20


async def read_form(request: Request) -> FormData:
    """The request's multipart/urlencoded form (400 naming what is wrong otherwise)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise APIError(400, f"expected a multipart/form-data body (got content-type {ctype or 'none'!r})",
                       code="bad_content_type")
    try:
        return await request.form(max_files=16, max_fields=64)
    except APIError:
        raise
    except Exception as e:  # python-multipart / starlette parse errors, body over the size limit
        detail = getattr(e, "detail", None) or str(e)
        if getattr(e, "status_code", 400) == 413:
            raise APIError(413, detail, code="too_large") from None
        raise APIError(400, f"malformed form body: {detail}", code="bad_form") from None


def form_file(form: FormData, name: str) -> UploadFile:
    """The uploaded file in field ``name``."""
    v = form.get(name)
    if v is None:
        raise APIError(400, f"missing form field {name!r} (an audio file)", code="missing_field", param=name)
    if not isinstance(v, UploadFile):
        raise APIError(400, f"form field {name!r} must be a file upload, got a text value",
                       code="invalid_value", param=name)
    return v


def form_files(form: FormData, name: str) -> list[UploadFile]:
    """All uploaded files in the (repeated) field ``name``; at least one."""
    files = [v for v in form.getlist(name)]
    if not files:
        raise APIError(400, f"missing form field {name!r} (one or more audio files)",
                       code="missing_field", param=name)
    bad = [v for v in files if not isinstance(v, UploadFile)]
    if bad:
        raise APIError(400, f"form field {name!r} must hold file uploads", code="invalid_value", param=name)
    return files


def form_str(form: FormData, name: str, default: str | None = None) -> str | None:
    v = form.get(name)
    if v is None:
        return default
    if isinstance(v, UploadFile):
        raise APIError(400, f"form field {name!r} must be a text value, got a file", code="invalid_value",
                       param=name)
    return v.strip()


def form_bool(form: FormData, name: str, default: bool = False) -> bool:
    v = form_str(form, name)
    if v is None:
        return default
    if v.lower() in _TRUE:
        return True
    if v.lower() in _FALSE:
        return False
    raise APIError(400, f"form field {name!r} must be true or false, got {v!r}", code="invalid_value",
                   param=name)


def form_float(form: FormData, name: str, lo: float, hi: float) -> float | None:
    v = form_str(form, name)
    if v in (None, ""):
        return None
    try:
        x = float(v)
    except ValueError:
        x = float("nan")
    if not lo <= x <= hi:
        raise APIError(400, f"form field {name!r} must be a number in [{lo}, {hi}], got {v!r}",
                       code="invalid_value", param=name)
    return x


def form_list(form: FormData, name: str) -> list[str] | None:
    """A list given as repeated fields and/or comma-separated values; None when absent."""
    values = [v for v in form.getlist(name) + form.getlist(name + "[]")]
    if any(isinstance(v, UploadFile) for v in values):
        raise APIError(400, f"form field {name!r} must hold text values", code="invalid_value", param=name)
    items = [s.strip() for v in values for s in v.split(",") if s.strip()]
    return items or None


@contextlib.asynccontextmanager
async def saved_upload(upload: UploadFile, field: str = "file"):
    """Copy an uploaded file to a temporary path (removed afterwards); 400 for an empty file."""
    suffix = Path(upload.filename or "").suffix.lower()
    suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""
    fd, name = tempfile.mkstemp(prefix="speechrnn-upload-", suffix=suffix)
    try:
        size = 0
        with os.fdopen(fd, "wb") as f:
            while block := await upload.read(_COPY_BLOCK):
                f.write(block)
                size += len(block)
        if size == 0:
            raise APIError(400, f"empty file in form field {field!r} ({upload.filename or 'no name'}): "
                                "0 bytes", code="empty_audio", param=field)
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def given_key(conn: HTTPConnection) -> str | None:
    """The API key a request or WebSocket carries (Bearer, X-API-Key or ?api_key=)."""
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return conn.headers.get("x-api-key") or conn.query_params.get("api_key")


def key_ok(conn: HTTPConnection, expected: str | None) -> bool:
    if expected is None:
        return True
    got = given_key(conn)
    return got is not None and hmac.compare_digest(got.encode(), expected.encode())


def require_key(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the server's API key."""
    expected = request.app.state.config.api_key
    if not key_ok(request, expected):
        raise APIError(401, "missing or invalid API key (send 'Authorization: Bearer KEY')",
                       code="invalid_api_key")
