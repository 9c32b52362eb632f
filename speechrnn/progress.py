"""Progress bars that appear only on a terminal.

A tqdm bar written to a redirected log arrives as long runs of ``\\r`` updates, so every bar
speechrnn draws (training epochs, corpus synthesis, batch transcription) goes through
:func:`progress_bar`, which draws nothing unless stderr is a terminal. ``train.progress: false``
(or ``synth --no-progress``) turns a bar off on a terminal too.
"""
from __future__ import annotations

import sys


def stderr_is_terminal() -> bool:
    """True when stderr is an interactive terminal (not a file, pipe or closed stream)."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A ``tqdm`` bar on stderr, disabled unless ``enabled`` and stderr is a terminal.

    ``kwargs`` go to ``tqdm`` (``total``, ``desc``, ``unit``, ``leave``, ...).
    """
    from tqdm import tqdm

    kwargs.setdefault("file", sys.stderr)
    disable = kwargs.pop("disable", False) or not enabled or not stderr_is_terminal()
    return tqdm(iterable, disable=disable, **kwargs)
