"""AdamW with linear warm-up followed by cosine, linear or constant decay."""
from __future__ import annotations

import math

import torch

from .config import TrainConfig


def lr_factor(step: int, total: int, cfg: TrainConfig, time_progress: float = 0.0) -> float:
    """Multiplier of ``cfg.lr`` at optimizer step ``step`` (0-based) of ``total``.

    ``time_progress`` (elapsed / budget, for ``cfg.max_minutes``) advances the decay when the
    wall-clock budget will run out before ``total`` steps: progress is the larger of the two.
    """
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    span = max(total - cfg.warmup_steps, 1)
    progress = min(max(max(step - cfg.warmup_steps, 0) / span, time_progress), 1.0)
    lo = cfg.min_lr_ratio
    if cfg.schedule == "linear":
        return 1.0 - (1.0 - lo) * progress
    return lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, total_steps: int, time_progress=None):
    """AdamW over trainable parameters (no weight decay on biases and norms) + LambdaLR.

    ``time_progress`` is an optional callable returning elapsed / budget in ``[0, 1]``.
    """
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, total_steps, cfg, time_progress() if time_progress else 0.0))
    return opt, sched
