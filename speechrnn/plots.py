"""PNG plots for reports: DET curves and confusion matrices (matplotlib, Agg, imported lazily)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .fileio import atomic_path
from .metrics import MetricsError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_det(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | Path,
    xlabel: str = "false alarms per hour",
    ylabel: str = "false rejection rate",
    title: str | None = None,
    log_x: bool = True,
    log_y: bool = True,
) -> Path:
    """Plot one or more DET curves to a PNG.

    Parameters
    ----------
    curves : mapping name -> (x, y)
        e.g. ``{"model A": (fa_per_hour, frr)}`` from
        :func:`speechrnn.metrics.kws_det_curve`, or ``(p_fa, p_miss)`` from
        :func:`speechrnn.metrics.det_points`. Non-positive values are dropped
        on log axes.
    path : path
        Output PNG (parent folders are created).

    Returns
    -------
    Path
    """
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    try:
        plotted = 0
        for name, (x, y) in curves.items():
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            keep = np.isfinite(x) & np.isfinite(y)
            if log_x:
                keep &= x > 0
            if log_y:
                keep &= y > 0
            plotted += int(keep.sum())
            label = name if keep.any() else f"{name} (no errors to plot: perfect separation)"
            ax.step(x[keep], y[keep], where="post", label=label)
        if plotted:  # a log axis with no positive point cannot be drawn (e.g. a perfect detector)
            if log_x:
                ax.set_xscale("log")
            if log_y:
                ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        if curves:
            ax.legend()
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def plot_confusion(
    matrix,
    labels: Sequence[str],
    path: str | Path,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Plot a confusion matrix ``(C, C)`` (rows = true class) as a PNG heat map.

    With ``normalize`` each row is divided by its total (empty rows stay 0)
    and cells show fractions; otherwise counts.

    Raises
    ------
    MetricsError
        If ``matrix`` is not square with one row per label.
    """
    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(labels):
        raise MetricsError(
            f"matrix must be (C, C) with C = len(labels) = {len(labels)}, got {m.shape}"
        )
    if normalize:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)  # (C,C) row-normalised
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = max(4.0, 0.5 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    try:
        im = ax.imshow(m, cmap="Blues", vmin=0)
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_xticks(range(len(labels)), labels, rotation=90)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if len(labels) <= 20:
            for i in range(m.shape[0]):
                for j in range(m.shape[1]):
                    txt = f"{m[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=7)
        if title:
            ax.set_title(title)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path
