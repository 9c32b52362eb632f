"""The :class:`Task` interface: what differs between transcription, keywords and speakers.

The one trainer (:mod:`speechrnn.training`) only talks to a task through these hooks:

============================  ============================================================
``Config``                    dataclass of the run config's ``task`` section (has ``name``)
``num_outputs()``             head output size (vocabulary with blank, or classes)
``labels()``                  plain dict stored in checkpoints (tokenizer or class names)
``head_kind``                 head the task needs (``ctc``, ``classifier``, ``embedding``)
``build_model(model, feats)`` the :class:`AcousticModel` (forces ``head.kind``)
``prepare(utts, durations,    validate/filter training utterances before training;
model, split)``               returns the indices to keep
``collate(items)``            batch dict: ``collate_audio`` + ``targets(batch)``
``targets(batch)``            task targets added to the batch
``loss(model_out, batch)``    scalar training loss (mean over the batch)
``decode(model_out)``         predictions (texts, class names, embeddings)
``evaluate(model, loader,     metrics dict holding ``primary_metric``
device)``
``primary_metric``,           the dev metric used for best checkpoints / early stopping,
``higher_is_better``          and its direction
``step``                      optimizer steps taken so far; the trainer sets it before each
                              micro-batch (also after a resume), for schedules inside the
                              loss such as the AAM margin warmup
============================  ============================================================

Tasks are looked up by name with :func:`speechrnn.tasks.get_task`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Sequence

import torch

from ..config import from_dict


@dataclasses.dataclass
class TaskConfig:
    """Common part of every task section."""

    name: str = ""
    """Registered task name."""


class Task:
    """Base class; subclasses set ``name``, ``Config``, ``head_kind``, ``primary_metric``,
    ``higher_is_better`` and implement the hooks that raise ``NotImplementedError``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = TaskConfig
    head_kind: ClassVar[str] = "ctc"
    primary_metric: ClassVar[str] = "loss"
    higher_is_better: ClassVar[bool] = False

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.step = 0

    @classmethod
    def from_section(cls, section: dict) -> "Task":
        """Build from the run config's ``task`` section (unknown keys fail)."""
        return cls(from_dict(cls.Config, dict(section), "task"))

    @classmethod
    def from_labels(cls, labels: dict) -> "Task":
        """Rebuild from a checkpoint's ``labels`` dict (for evaluation/inference)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ model
    def num_outputs(self) -> int:
        raise NotImplementedError

    def labels(self) -> dict:
        raise NotImplementedError

    def build_model(self, model_cfg, feature_cfg):
        """An :class:`~speechrnn.models.AcousticModel` with this task's head kind."""
        from ..models import AcousticModel

        head = dataclasses.replace(model_cfg.head, kind=self.head_kind)
        cfg = dataclasses.replace(model_cfg, head=head)
        return AcousticModel(cfg, self.num_outputs(), feature_cfg)

    # ------------------------------------------------------------------ data
    def prepare(self, utts: Sequence, durations: Sequence[float], model, split: str) -> list[int]:
        """Indices of the utterances to use (default: all). Log/raise on bad ones."""
        return list(range(len(utts)))

    def collate(self, items: Sequence[dict]) -> dict:
        from ..data.dataset import collate_audio

        batch = collate_audio(items)
        batch.update(self.targets(batch))
        return batch

    def targets(self, batch: dict) -> dict:
        raise NotImplementedError

    # ------------------------------------------------------------------ training / eval
    def loss(self, model_out: tuple[torch.Tensor, torch.Tensor], batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, model_out: tuple[torch.Tensor, torch.Tensor]) -> list:
        raise NotImplementedError

    def evaluate(self, model, loader, device="cpu") -> dict[str, float]:
        """Metrics on ``loader``'s batches (model in eval mode); must hold ``primary_metric``."""
        raise NotImplementedError

    def is_better(self, a: float, b: float | None) -> bool:
        """Whether metric value ``a`` beats ``b`` (``None`` = no value yet)."""
        if b is None:
            return True
        return a > b if self.higher_is_better else a < b
