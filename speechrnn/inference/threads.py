"""The one place speechrnn changes torch's CPU thread count, which is process-wide.

torch runs every model on one intra-op thread pool per process, so a thread count is not a
property of a model: ``set_threads(n)`` once at program start (the CLI's ``--threads``, the
server's ``threads`` setting) is the explicit way. ``load(threads=n)`` on the inference classes
still works but is deprecated: it changed the count for every other model and thread too.
"""
from __future__ import annotations

import warnings

from ..errors import ConfigError


def set_threads(n: int) -> None:
    """Set torch's process-wide CPU thread count (intra-op pool) to ``n >= 1``.

    Example
    -------
    >>> from speechrnn.inference import set_threads   # doctest: +SKIP
    >>> set_threads(2)
    """
    import torch

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"threads must be an integer >= 1, got {n!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def load_threads(threads: int | None, owner: str) -> None:
    """What ``<owner>.load(threads=...)`` does: nothing for None; else warn (deprecated) and
    :func:`set_threads`."""
    if threads is None:
        return
    warnings.warn(f"{owner}.load(threads=...) sets torch's process-wide thread count for every "
                  "model; call speechrnn.inference.set_threads(n) once instead", DeprecationWarning,
                  stacklevel=3)
    set_threads(threads)
