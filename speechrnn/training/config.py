"""Run configuration: the YAML sections ``task``, ``data``, ``features``, ``model``, ``train``.

See :mod:`speechrnn.train` for the documented format and an example.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from ..config import from_dict, load_file, merge, set_dotted, to_dict
from ..errors import ConfigError
from ..features import FeatureConfig
from ..models import ModelConfig


@dataclass
class DataConfig:
    """The ``data`` section."""

    train: str = ""
    """Training manifest (JSONL); relative paths are resolved against the config file's folder."""
    dev: str | None = None
    """Dev manifest for the primary metric, best checkpoints and early stopping (optional)."""
    max_duration: float | None = None
    """Drop training utterances longer than this many seconds (with a warning)."""
    min_duration: float = 0.0
    """Drop training utterances shorter than this many seconds (with a warning)."""

    def validate(self) -> None:
        if not self.train:
            raise ConfigError("data.train: a training manifest is required")


@dataclass
class TrainConfig:
    """The ``train`` section: optimisation, checkpoints, logging, devices."""

    epochs: int = 20  # passes over the training data
    max_steps: int = 0  # stop after this many optimizer steps in total (0 = no limit)
    max_minutes: float = 0.0  # wall-clock budget for training (0 = none): the LR schedule follows
    # max(step, elapsed-time) progress and training stops, evaluating and checkpointing, when it runs out
    max_seconds: float = 120.0  # padded audio seconds per batch (bucketing budget)
    max_batch_size: int | None = None  # cap on utterances per batch
    lr: float = 1e-3  # peak learning rate (AdamW)
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_steps: int = 500  # linear warm-up from 0 to lr over this many optimizer steps
    schedule: Literal["cosine", "linear", "constant"] = "cosine"  # decay after warm-up
    min_lr_ratio: float = 0.05  # final lr = lr * min_lr_ratio (cosine/linear)
    grad_clip: float = 5.0  # max global gradient norm (0 = off)
    accum_steps: int = 1  # micro-batches accumulated per optimizer step
    amp: bool = False  # float16 autocast + GradScaler (CUDA only; ignored on CPU)
    sortagrad: bool = True  # first epoch in ascending length order
    shuffle: bool = True  # shuffle batch order every epoch
    patience: int = 0  # early stopping: epochs without dev improvement (0 = off)
    stop_at: float | None = None  # stop once the dev primary metric reaches this value (e.g. wer 0)
    keep_best: int = 3  # epoch checkpoints kept by dev metric
    average_last: int = 1  # write averaged.pt from the last N epoch checkpoints (1 = off)
    seed: int = 0  # seeds python, numpy, torch and the batch order
    num_workers: int = 0  # DataLoader worker processes
    log_every: int = 50  # optimizer steps between log rows
    save_every_steps: int = 0  # also write last.pt every N optimizer steps (0 = epoch ends only)
    device: str = "auto"  # auto | cpu | cuda | cuda:N (DDP uses cuda:LOCAL_RANK)
    threads: int = 0  # torch CPU threads (0 = leave torch's default)
    init_from: str | None = None  # checkpoint to initialise from (transfer learning)
    freeze_layers: int = 0  # freeze subsampling + the first K recurrent layers
    cmvn_max_utterances: int = 2000  # training utterances used for global CMVN statistics
    # with init_from: recompute the global CMVN statistics on this run's training data instead of
    # keeping the checkpoint's (adapting to a new channel, e.g. a telephone line)
    refit_cmvn: bool = False
    progress: bool = True  # epoch progress bar (rank 0), drawn only when stderr is a terminal

    def validate(self) -> None:
        for name in ("epochs", "accum_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1")
        for name in ("max_steps", "warmup_steps", "patience", "save_every_steps", "freeze_layers",
                     "num_workers", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0")
        if self.keep_best < 1 or self.average_last < 1 or self.log_every < 1:
            raise ConfigError("train.keep_best, train.average_last and train.log_every must be >= 1")
        if self.max_seconds <= 0 or self.lr <= 0:
            raise ConfigError("train.max_seconds and train.lr must be > 0")


@dataclass
class RunConfig:
    """A whole run: one YAML file."""

    task: dict[str, Any] = field(default_factory=lambda: {"name": "transcription"})
    """Task section; validated by the task's own config class."""
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def resolve_config(source: str | Path | dict, overrides: Sequence[str] = (),
                   base: dict | None = None) -> tuple[RunConfig, dict]:
    """Load a run config (file or dict), apply ``key.sub=value`` overrides, validate.

    Manifest and ``init_from`` paths relative to a config file are made absolute.

    Returns
    -------
    (RunConfig, dict) the typed config and its plain, resolved dict (for ``config.yaml``).
    """
    if isinstance(source, dict):
        data, folder = copy.deepcopy(source), None  # overrides must not change the caller's dict
    else:
        data, folder = load_file(source), Path(source).resolve().parent
    if base:
        data = merge(base, data)
    for ov in overrides:
        set_dotted(data, ov)
    if folder is not None:
        for section, key in (("data", "train"), ("data", "dev"), ("train", "init_from")):
            value = (data.get(section) or {}).get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                data[section][key] = str((folder / value).resolve())
    cfg = from_dict(RunConfig, data, "config")
    resolved = {"task": dict(cfg.task), "data": to_dict(cfg.data), "features": to_dict(cfg.features),
                "model": to_dict(cfg.model), "train": to_dict(cfg.train)}
    return cfg, resolved
