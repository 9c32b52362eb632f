"""Training state for exact resume: RNG states as plain containers, checkpoint retention."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) RNG states, loadable with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def epoch_checkpoints_to_keep(history: list[dict], keep_best: int, average_last: int,
                              higher_is_better: bool) -> set[int]:
    """Epochs whose checkpoint files stay: the ``keep_best`` best by metric (entries with a
    ``metric``) plus the last ``average_last`` epochs."""
    scored = [h for h in history if h.get("metric") is not None]
    scored.sort(key=lambda h: h["metric"], reverse=higher_is_better)
    keep = {h["epoch"] for h in scored[:keep_best]}
    keep |= {h["epoch"] for h in history[-average_last:]}
    return keep


def epoch_path(exp_dir: Path, epoch: int) -> Path:
    return Path(exp_dir) / f"epoch-{epoch}.pt"
