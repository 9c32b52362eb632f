"""Keyword classification: attention-pooled BiLSTM states -> class logits, cross-entropy.

Each training item is a short clip (about 1 s) with a ``label`` in the manifest: one of the
keywords, ``_unknown_`` (other words) or ``_silence_`` (noise/no speech), as written by
``speechrnn prepare speech_commands --protocol 12class`` and ``speechrnn synth keywords``.
The dev metric is accuracy. The same model runs over long audio in sliding 1 s windows
(:mod:`speechrnn.kws.detector`).

Why a classifier head (and not CTC over the keyword's characters): see
``recipes/keyword_spotting/README.md``. In short, a closed set of ten words is a 12-way
decision per window; pooling + cross-entropy trains in minutes and gives calibrated
posteriors to threshold, while open-vocabulary spotting (any word, no training) is served by
CTC keyword search with the transcription model (:class:`speechrnn.kws.OpenVocabularySearch`).

Example task section::

    task:
      name: keywords
      labels: [yes, no, up, down, left, right, on, off, stop, go, _unknown_, _silence_]
      map_unknown: true        # labels outside `labels` become _unknown_
      label_smoothing: 0.1
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import Task

log = logging.getLogger(__name__)

UNKNOWN = "_unknown_"
SILENCE = "_silence_"
COMMANDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
TEACHER_KEY = "teacher_log_posteriors"  # Utterance.extra key of distillation targets (C floats)
TEACHER_LABELS_KEY = "teacher_labels"  # ... and of the teacher's class names, comma-joined


@dataclass
class KeywordTaskConfig:
    """The ``task`` section for keyword classification."""

    name: str = "keywords"
    """Always ``keywords``."""
    labels: list[str] = field(default_factory=lambda: COMMANDS + [UNKNOWN, SILENCE])
    """Class names in output order (the Speech Commands 12-class protocol by default)."""
    map_unknown: bool = True
    """Map manifest labels not in ``labels`` to ``_unknown_`` (needs ``_unknown_`` in labels);
    when false such utterances are an error."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing in [0, 1)."""
    distill_weight: float = 0.0
    """Knowledge distillation: weight ``w`` in [0, 1] of the term that pulls the model towards a
    teacher's posteriors, stored per training utterance in ``extra.teacher_log_posteriors`` by
    ``speechrnn kws soft-labels TEACHER MANIFEST`` (e.g. the bundled ensemble). The loss is
    ``(1 - w) * CE(labels) + w * T^2 * KL(teacher_T || model_T)``; 0 = plain cross-entropy."""
    distill_temperature: float = 2.0
    """Temperature ``T`` > 0 that softens both distributions in the distillation term."""

    def validate(self) -> None:
        if len(self.labels) < 2:
            raise ConfigError("task.labels: need at least two classes")
        dup = [k for k, n in Counter(self.labels).items() if n > 1]
        if dup:
            raise ConfigError(f"task.labels: duplicate class(es) {dup}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("task.label_smoothing must be in [0, 1)")
        if not 0.0 <= self.distill_weight <= 1.0 or self.distill_temperature <= 0:
            raise ConfigError("task.distill_weight must be in [0, 1] and task.distill_temperature > 0")
        if self.map_unknown and UNKNOWN not in self.labels:
            raise ConfigError(f"task.map_unknown needs {UNKNOWN!r} in task.labels")


class KeywordTask(Task):
    """Utterance classification over ``cfg.labels``; primary metric ``accuracy`` (higher is better)."""

    name = "keywords"
    Config = KeywordTaskConfig
    head_kind = "classifier"
    primary_metric = "accuracy"
    higher_is_better = True

    def __init__(self, cfg: KeywordTaskConfig):
        cfg.validate()
        super().__init__(cfg)
        self.index = {c: i for i, c in enumerate(cfg.labels)}

    @classmethod
    def from_labels(cls, labels: dict) -> "KeywordTask":
        """Rebuild from a checkpoint's ``{"labels": [...]}``."""
        names = list(labels["labels"])
        return cls(KeywordTaskConfig(labels=names, map_unknown=UNKNOWN in names))

    def num_outputs(self) -> int:
        return len(self.cfg.labels)

    def labels(self) -> dict:
        return {"labels": list(self.cfg.labels)}

    @property
    def keywords(self) -> list[str]:
        """The real keywords: every class except ``_unknown_`` and ``_silence_``."""
        return [c for c in self.cfg.labels if c not in (UNKNOWN, SILENCE)]

    # ------------------------------------------------------------------ data
    def class_id(self, utt) -> int:
        """Class index of an utterance's ``label`` (mapped to ``_unknown_`` if configured)."""
        if utt.label is None:
            raise ConfigError(f"utterance {utt.id!r} has no 'label': the keywords task needs one")
        i = self.index.get(utt.label)
        if i is None:
            if not self.cfg.map_unknown:
                raise ConfigError(f"utterance {utt.id!r}: label {utt.label!r} is not in task.labels "
                                  f"{self.cfg.labels} (set task.map_unknown: true to map it to {UNKNOWN})")
            i = self.index[UNKNOWN]
        return i

    def prepare(self, utts, durations, model, split: str) -> list[int]:
        """Check every label up front (one error naming all offenders); log the class counts."""
        bad = [f"{u.id} (label {u.label!r})" for u in utts if u.label is None
               or (u.label not in self.index and not self.cfg.map_unknown)]
        if bad:
            raise ConfigError(f"{split}: {len(bad)} utterance(s) without a usable label, e.g. {bad[:5]} "
                              f"(task.labels = {self.cfg.labels}, map_unknown = {self.cfg.map_unknown})")
        if split == "train" and self.cfg.distill_weight > 0:
            n, names = len(self.cfg.labels), ",".join(self.cfg.labels)
            bad = [u.id for u in utts if len(u.extra.get(TEACHER_KEY) or ()) != n]
            if bad:
                raise ConfigError(
                    f"train: task.distill_weight > 0 needs extra.{TEACHER_KEY} ({n} values) on every "
                    f"utterance; {len(bad)} lack it, e.g. {bad[:5]} (write them with `speechrnn kws "
                    f"soft-labels TEACHER MANIFEST --out ...`)")
            other = [u.id for u in utts if u.extra.get(TEACHER_LABELS_KEY) != names]
            if other:
                raise ConfigError(f"train: {len(other)} utterance(s) carry teacher posteriors over other "
                                  f"classes than task.labels ({names}), e.g. {other[:5]}")
        counts = Counter(self.cfg.labels[self.class_id(u)] for u in utts)
        missing = [c for c in self.cfg.labels if c not in counts]
        if missing:
            log.warning("%s: no training utterances for class(es) %s", split, missing)
        log.info("%s: class counts %s", split, dict(sorted(counts.items())))
        return list(range(len(utts)))

    def targets(self, batch: dict) -> dict:
        utts = batch["utts"]
        out = {"targets": torch.tensor([self.class_id(u) for u in utts], dtype=torch.int64)}  # (B,)
        if self.cfg.distill_weight > 0 and all(TEACHER_KEY in u.extra for u in utts):
            out["teacher"] = torch.tensor([u.extra[TEACHER_KEY] for u in utts], dtype=torch.float32)  # (B,C)
        return out

    # ------------------------------------------------------------------ training / eval
    def loss(self, model_out, batch: dict) -> torch.Tensor:
        """Mean cross-entropy of the logits ``(B,C)`` against ``targets`` ``(B,)``, mixed with the
        distillation term when the batch carries teacher log-posteriors ``(B,C)``."""
        logits, _ = model_out
        logits = logits.float()
        ce = F.cross_entropy(logits, batch["targets"], label_smoothing=self.cfg.label_smoothing)
        w = self.cfg.distill_weight
        if w == 0 or "teacher" not in batch:
            return ce
        t = self.cfg.distill_temperature
        teacher = F.log_softmax(batch["teacher"].to(logits.device) / t, dim=-1)  # (B,C)
        kl = F.kl_div(F.log_softmax(logits / t, dim=-1), teacher, log_target=True, reduction="batchmean")
        return (1 - w) * ce + w * t * t * kl

    def decode(self, model_out) -> list[str]:
        """Predicted class names for a batch of logits ``(B,C)``."""
        logits, _ = model_out
        return [self.cfg.labels[i] for i in logits.argmax(dim=-1).tolist()]

    @torch.no_grad()
    def evaluate(self, model, loader, device="cpu") -> dict[str, float]:
        """Accuracy and mean loss; ``self.last_report`` keeps ids, true and predicted classes."""
        from ..metrics import accuracy

        was_training = model.training
        model.eval()
        y_true, y_pred, ids, loss_sum = [], [], [], 0.0
        try:
            for batch in loader:
                logits, n = model(batch["waveforms"].to(device), batch["lengths"].to(device))  # (B,C)
                targets = batch["targets"].to(device)
                loss_sum += float(F.cross_entropy(logits.float(), targets, reduction="sum"))
                y_true += targets.tolist()
                y_pred += logits.argmax(dim=-1).tolist()
                ids += batch["ids"]
        finally:
            model.train(was_training)
        self.last_report = {"ids": ids, "y_true": y_true, "y_pred": y_pred}
        if not ids:
            return {"accuracy": 0.0, "loss": float("nan")}
        return {"accuracy": accuracy(y_true, y_pred), "loss": loss_sum / len(ids)}


def class_counts(utts: Sequence, task: KeywordTask) -> dict[str, int]:
    """Utterances per class name (after ``_unknown_`` mapping)."""
    counts = Counter(task.cfg.labels[task.class_id(u)] for u in utts)
    return {c: counts.get(c, 0) for c in task.cfg.labels}
