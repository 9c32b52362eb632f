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
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write", "write_json", "write_text"]


def _new_temp_file(folder: Path, name: str) -> Path:
    """Create an empty, new ``.<name>.<random>.tmp`` in ``folder`` with the mode a plain
    ``open()`` gives (``0o666`` less the process umask, applied by the kernel; ``mkstemp``
    would give ``0o600``). The umask is never read or changed, so other threads see no change."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{folder}: cannot create a temporary file for {name}")  # pragma: no cover


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
    tmp = _new_temp_file(path.parent, path.name)
    try:
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


_STDERR_LOCK = threading.Lock()


_RULER = b"----5---10"


def _drop_native_progress(lines: list[bytes]) -> bytes:
    """``lines`` less KenLM's ARPA loading chatter: ``Loading the LM will be faster ...``, a
    ``Reading <path>`` line followed by the ``----5---10---...--100`` ruler, the ruler and the
    ``****`` bar."""
    kept = []
    for i, line in enumerate(lines):
        text = line.strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else b""
        if (text.startswith(b"Loading the LM will be faster") or text.startswith(_RULER)
                or (text and set(text) <= set(b"*")) or (text.startswith(b"Reading ") and nxt.startswith(_RULER))):
            continue
        kept.append(line)
    return b"".join(kept)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide the progress bars native libraries print straight to file descriptor 2 (KenLM's ARPA
    loader inside flashlight-text) during the block.

    File descriptor 2 is process-wide, so nothing written meanwhile is lost: it goes to a
    temporary file and, once the block ends, every line that is not KenLM's loading chatter
    is written back to the real stderr (by this or any other thread). Blocks in several threads
    take turns (a lock), so the descriptor is always restored to what it was. Python exceptions
    still carry their messages; the descriptor is restored even if the block raises.
    """
    import sys
    import tempfile

    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable fd 2 (embedded): leave it alone
            yield
            return
        try:
            with tempfile.TemporaryFile() as capture:
                os.dup2(capture.fileno(), 2)
                try:
                    yield
                finally:
                    try:
                        sys.stderr.flush()
                    except (OSError, ValueError, AttributeError):  # pragma: no cover
                        pass
                    os.dup2(saved, 2)
                    capture.seek(0)
                    kept = _drop_native_progress(capture.readlines())
                    while kept:
                        kept = kept[os.write(2, kept):]
        finally:
            os.close(saved)
