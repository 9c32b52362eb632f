"""Options and checks shared by the sub-commands, so every command spells them alike.

Conventions
-----------
- Output: ``-o/--out`` everywhere (a file or a folder, as the command says). Older spellings stay
  as aliases (``--output-dir``, ``--out-dir``); commands that took their output as a positional
  argument still do.
- ``--device`` and ``--threads`` are checked before any model loads: a one-line error, exit 2.
- Exit status: 0 done; 1 some inputs failed (named on stderr); 2 usage or configuration error;
  3 internal error (a bug: the traceback is printed); 130 interrupted; 141 the reader of stdout
  went away (``| head``).

Nothing here imports torch at module level: ``speechrnn --help`` must stay fast.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..errors import ConfigError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def device_name(text: str) -> str:
    """argparse type: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (availability is checked later,
    by :func:`check_device`, so that parsing never imports torch)."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r} (use cpu, cuda, cuda:N or mps)")
    return text


def add_device_args(p: argparse.ArgumentParser, threads: bool = True) -> None:
    """``--device`` (checked) and ``--threads`` (>= 1)."""
    p.add_argument("--device", default="cpu", type=device_name,
                   help="cpu (default), cuda, cuda:N or mps")
    if threads:
        p.add_argument("--threads", type=positive_int, help="torch CPU threads")


def apply_threads(threads: int | None) -> None:
    """``--threads N``: torch's process-wide CPU thread count (nothing when not given)."""
    if threads:
        from ..inference import set_threads

        set_threads(threads)


def check_device(device: str) -> None:
    """Raise :class:`ConfigError` when ``device`` is not usable on this machine."""
    if device == "cpu":
        return
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: no CUDA GPU is available here (use --device cpu)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: only {torch.cuda.device_count()} CUDA "
                              f"device(s) here")
    elif device == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--device mps: Apple MPS is not available here (use --device cpu)")


def add_out(p: argparse.ArgumentParser, help: str, *, aliases: tuple[str, ...] = (),
            required: bool = False, metavar: str = "PATH", **kwargs) -> None:
    """``-o/--out`` (plus older spellings in ``aliases``), stored as ``args.out``."""
    p.add_argument("-o", "--out", *aliases, dest="out", required=required, metavar=metavar,
                   help=help, **kwargs)


def add_positional_out(p: argparse.ArgumentParser, name: str, help: str, metavar: str) -> None:
    """An output given either positionally (older usage) or as ``-o/--out``; read it with
    :func:`positional_out`."""
    p.add_argument(f"{name}_positional", nargs="?", metavar=metavar, default=None, help=help)
    p.add_argument("-o", "--out", dest=f"{name}_option", metavar=metavar, default=None,
                   help=f"same as the positional {metavar}")
    p.set_defaults(**{f"_positional_out_{name}": metavar})


def positional_out(args: argparse.Namespace, name: str) -> str:
    """The output given to an :func:`add_positional_out` option: exactly one spelling."""
    pos, opt = getattr(args, f"{name}_positional"), getattr(args, f"{name}_option")
    metavar = getattr(args, f"_positional_out_{name}")
    if pos and opt:
        raise ConfigError(f"give {metavar} once: positionally or as --out, not both")
    if not (pos or opt):
        raise ConfigError(f"missing {metavar} (positional, or --out {metavar})")
    return pos or opt


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")


def _expand(item: str) -> tuple[list[str], str | None]:
    """One FILE | DIR | GLOB argument -> (files, why it gave none)."""
    import glob
    import os

    if os.path.isdir(item):
        found = sorted(str(p) for p in Path(item).rglob("*")
                       if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        return found, None if found else f"no audio files ({' '.join(AUDIO_EXTENSIONS)}) in it"
    if any(c in item for c in "*?["):
        found = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
        return found, None if found else "matches no file"
    return [item], None  # a missing file is reported by the batch, like an unreadable one


def gather_inputs(cmd: str, items: list[str]) -> tuple[list[str], int]:
    """FILES | DIRS (recursive, audio extensions) | GLOBS -> (unique files in order, number of
    arguments that gave none). Each such argument is named on stderr; when no argument gives a
    file at all, :class:`ConfigError` ("nothing to do", exit 2).
    """
    import sys

    files: list[str] = []
    empty: list[tuple[str, str]] = []
    for item in items:
        found, why = _expand(item)
        files += found
        if why:
            empty.append((item, why))
    if not files:
        raise ConfigError("no input files: " + "; ".join(f"{i}: {w}" for i, w in empty))
    for item, why in empty:
        print(f"speechrnn {cmd}: skipped {item}: {why}", file=sys.stderr)
    return list(dict.fromkeys(files)), len(empty)


def report_failed(cmd: str, failed: int, total: int) -> int:
    """The exit status of a batch: prints ``N of M file(s) failed`` and returns 1 if any did."""
    import sys

    if failed:
        print(f"speechrnn {cmd}: {failed} of {total} file(s) failed", file=sys.stderr)
        return 1
    return 0


def output_paths(files: list[str], out_dir, extension: str) -> list[Path]:
    """One output file per input under ``out_dir``, mirroring the inputs' folders below their
    common parent (``a/x.wav``, ``b/x.wav`` -> ``OUT/a/x.EXT``, ``OUT/b/x.EXT``).

    Raises
    ------
    ConfigError
        Two inputs would write the same file (``x.wav`` and ``x.flac`` side by side).
    """
    import os

    parents = [os.path.dirname(os.path.abspath(f)) for f in files]
    root = os.path.commonpath(parents) if parents else ""
    out, seen = [], {}
    for f, parent in zip(files, parents):
        rel = os.path.relpath(parent, root)
        target = Path(out_dir) / rel / f"{Path(f).stem}.{extension}"
        target = Path(os.path.normpath(target))
        if target in seen:
            raise ConfigError(f"{seen[target]} and {f} would both be written to {target}; "
                              "rename one, or run them separately")
        seen[target] = f
        out.append(target)
    return out
