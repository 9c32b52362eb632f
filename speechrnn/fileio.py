"""Atomic file writes: a crash, a kill or a full disk mid-write leaves the previous file intact.

Every file speechrnn writes for keeps (checkpoints, exported models, manifests, LMs, audio, the
speaker store, reports) goes through :func:`atomic_write` or :func:`atomic_path`: the data goes
to a temporary file in the destination folder, which replaces the destination with
``os.replace`` only once it is complete.

>>> with atomic_write("out/report.json", "w", encoding="utf-8") as f:   # doctest: +SKIP
...     json.dump(report, f)
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write", "write_json", "write_text"]


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()  # what a plain open() would give, not mkstemp's 0o600


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name; on success
    it replaces ``path``, on any error it is removed and ``path`` is untouched.

    Parameters
    ----------
    path : destination (its folder is created)
    durable : fsync the file and the folder, so the new file survives a power loss
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, _FILE_MODE)
        yield Path(tmp)
        if durable:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None,
                 durable: bool = True) -> Iterator[IO]:
    """Open a temporary file beside ``path`` (``mode`` ``"wb"`` or ``"w"``); when the block ends
    without error it replaces ``path``, otherwise it is removed and ``path`` is untouched.

    ``durable`` as for :func:`atomic_path` (off for bulk writes such as synthesized audio).
    """
    if mode not in ("w", "wb"):
        from .errors import ConfigError

        raise ConfigError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    with atomic_path(path, durable=False) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            if durable:
                f.flush()
                os.fsync(f.fileno())
    if durable:
        _fsync_dir(Path(path).parent)


def write_text(path: str | os.PathLike, text: str, *, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) atomically; the replacement for ``Path.write_text``."""
    with atomic_write(path, "w", encoding="utf-8", durable=durable) as f:
        f.write(text)


def write_json(path: str | os.PathLike, data, indent: int = 2) -> None:
    """Write ``data`` as indented JSON (one trailing newline), atomically."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=indent)
        f.write("\n")


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block: silences progress bars that native
    libraries (KenLM's ARPA loader) print straight to stderr. Python exceptions still carry
    their messages; the descriptor is restored even if the block raises."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): leave it alone
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
