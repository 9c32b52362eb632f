"""Speaker identification: embedding head trained as a closed-set speaker classifier.

MFCC -> BiLSTM -> attentive statistics pooling -> embedding -> class logits. With
``loss: aam`` the head is ``cosine_embedding`` (:mod:`speechrnn.models.heads`) and the loss is
additive angular margin softmax, ``s * cos(theta_y + m)`` for the true class; with
``loss: softmax`` the head is the plain ``embedding`` head and the loss is cross-entropy. At
inference the L2-normalized embedding is used (cosine scoring), so the model works for
speakers it never saw.

The class list must be known before the model is built: give ``speakers`` (names) or
``speakers_from`` (a manifest whose ``speaker`` fields define the classes, usually the
training manifest; a relative path is taken from the current directory).

Example task section::

    task:
      name: speakers
      speakers_from: data/spk/train.jsonl
      loss: aam            # aam | softmax
      margin: 0.2          # AAM margin m (radians)
      scale: 30.0          # AAM scale s
      margin_warmup_steps: 500
      metric: top1         # dev metric: top1 (closed set) | eer (all dev pairs)
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import Task

log = logging.getLogger(__name__)


@dataclass
class SpeakerTaskConfig:
    """The ``task`` section for speakers."""

    name: str = "speakers"
    """Always ``speakers``."""
    speakers: list[str] | None = None
    """Training speaker names (class order); or use ``speakers_from``."""
    speakers_from: str | None = None
    """Manifest whose distinct ``speaker`` values (sorted) are the classes."""
    loss: Literal["aam", "softmax"] = "aam"
    """``aam``: additive angular margin softmax on cosine logits; ``softmax``: cross-entropy."""
    margin: float = 0.2
    """AAM angular margin m in radians."""
    scale: float = 30.0
    """AAM logit scale s."""
    margin_warmup_steps: int = 0
    """Raise the margin linearly from 0 over this many optimizer steps (0 = full margin); the
    trainer sets the step, so a resumed run continues the ramp where it stopped."""
    metric: Literal["top1", "eer"] = "top1"
    """Dev metric for best checkpoints: closed-set top-1 accuracy, or EER over dev pairs."""
    dev_max_pairs: int = 50000
    """At most this many dev pairs (random, fixed seed) for the dev EER."""

    def validate(self) -> None:
        if self.speakers is None and not self.speakers_from:
            raise ConfigError("task: speakers needs 'speakers' (a list of names) or 'speakers_from' (a manifest)")
        if self.speakers is not None and len(set(self.speakers)) != len(self.speakers):
            raise ConfigError("task.speakers: names must be unique")
        if not 0 <= self.margin < math.pi / 2 or self.scale <= 0:
            raise ConfigError(f"task: need 0 <= margin < pi/2 and scale > 0, got {self.margin}, {self.scale}")
        if self.margin_warmup_steps < 0 or self.dev_max_pairs < 1:
            raise ConfigError("task: margin_warmup_steps must be >= 0 and dev_max_pairs >= 1")


def speakers_of_manifest(path) -> list[str]:
    """Sorted distinct speakers of a manifest; ConfigError if some utterance has none."""
    from pathlib import Path

    from ..data import read_manifest

    if not Path(path).is_file():
        raise ConfigError(f"task.speakers_from: manifest {path} not found")
    utts = read_manifest(path)
    missing = [u.id for u in utts if not u.speaker]
    if missing:
        raise ConfigError(f"{path}: {len(missing)} utterance(s) without 'speaker', e.g. {missing[:3]}")
    names = sorted({u.speaker for u in utts})
    if not names:
        raise ConfigError(f"{path}: no utterances")
    return names


def aam_logits(cosine: torch.Tensor, targets: torch.Tensor, margin: float, scale: float) -> torch.Tensor:
    """Additive angular margin logits.

    Parameters
    ----------
    cosine : (B, C) cosines in [-1, 1]
    targets : (B,) int64 class indices

    Returns
    -------
    (B, C) ``scale * cos(theta + margin)`` at the target class, ``scale * cos(theta)`` elsewhere.
    Where ``theta + margin`` would pass pi, the target logit is ``cos(theta) - margin * sin(margin)``
    instead, keeping it monotonic in theta.
    """
    cos = cosine.float().clamp(-1 + 1e-7, 1 - 1e-7)
    sin = torch.sqrt(1.0 - cos * cos)
    phi = cos * math.cos(margin) - sin * math.sin(margin)  # cos(theta + m)
    phi = torch.where(cos > math.cos(math.pi - margin), phi, cos - margin * math.sin(margin))
    onehot = F.one_hot(targets, cos.shape[1]).to(cos.dtype)  # (B,) -> (B,C)
    return scale * (onehot * phi + (1.0 - onehot) * cos)


class SpeakerTask(Task):
    """Speaker classification for embedding training; primary metric ``top1`` or ``eer``."""

    name = "speakers"
    Config = SpeakerTaskConfig
    head_kind = "cosine_embedding"
    primary_metric = "top1"
    higher_is_better = True

    def __init__(self, cfg: SpeakerTaskConfig):
        super().__init__(cfg)
        cfg.validate()
        self.speakers = list(cfg.speakers) if cfg.speakers is not None else speakers_of_manifest(cfg.speakers_from)
        self.index = {s: i for i, s in enumerate(self.speakers)}
        self.head_kind = "cosine_embedding" if cfg.loss == "aam" else "embedding"
        self.primary_metric = cfg.metric
        self.higher_is_better = cfg.metric == "top1"

    @classmethod
    def from_labels(cls, labels: dict) -> "SpeakerTask":
        return cls(SpeakerTaskConfig(speakers=list(labels["labels"])))

    def num_outputs(self) -> int:
        return len(self.speakers)

    def labels(self) -> dict:
        return {"labels": list(self.speakers)}

    # ------------------------------------------------------------------ data
    def prepare(self, utts, durations, model, split: str) -> list[int]:
        """Keep utterances of known speakers; warn about (and drop) the others."""
        keep = [i for i, u in enumerate(utts) if u.speaker in self.index]
        if len(keep) < len(utts):
            bad = sorted({str(utts[i].speaker) for i in range(len(utts)) if utts[i].speaker not in self.index})
            log.warning("%s: dropping %d utterance(s) of speakers not in the class list: %s%s", split,
                        len(utts) - len(keep), ", ".join(bad[:10]), " ..." if len(bad) > 10 else "")
        return keep

    def targets(self, batch: dict) -> dict:
        """``targets (B,)`` class index per utterance, -1 for a speaker outside the class list."""
        return {"targets": torch.tensor([self.index.get(u.speaker, -1) for u in batch["utts"]],
                                        dtype=torch.int64),
                "speakers": [u.speaker for u in batch["utts"]]}

    # ------------------------------------------------------------------ training / eval
    def current_margin(self) -> float:
        w = self.cfg.margin_warmup_steps
        return self.cfg.margin if w == 0 else self.cfg.margin * min(1.0, self.step / w)

    def logits(self, out: torch.Tensor, targets: torch.Tensor, margin: float | None = None) -> torch.Tensor:
        """Training logits (B,C): AAM for cosine heads, the head's output for softmax."""
        if self.cfg.loss == "softmax":
            return out.float()
        return aam_logits(out, targets, self.current_margin() if margin is None else margin, self.cfg.scale)

    def loss(self, model_out, batch: dict) -> torch.Tensor:
        """Mean cross-entropy over the batch (AAM logits when ``loss: aam``)."""
        out, _ = model_out  # (B,C)
        targets = batch["targets"].to(out.device)
        if bool((targets < 0).any()):
            raise ConfigError(f"batch has speakers outside the class list: {batch['ids'][:3]}")
        return F.cross_entropy(self.logits(out, targets), targets)

    def decode(self, model_out) -> list[str]:
        """Closed-set speaker name per utterance (argmax of the logits)."""
        out, _ = model_out
        return [self.speakers[i] for i in out.argmax(dim=-1).tolist()]

    @torch.no_grad()
    def evaluate(self, model, loader, device="cpu") -> dict[str, float]:
        """Closed-set top-1/top-5, loss (on known speakers) and EER over dev pairs."""
        from ..metrics import top_k_accuracy
        from ..metrics.trials import pair_scores, sample_pairs, verification_report

        was_training = model.training
        model.eval()
        embs, logits, targets, speakers = [], [], [], []
        try:
            for batch in loader:
                x, n = model.encode(batch["waveforms"].to(device), batch["lengths"].to(device))
                e = model.head.embed(x, n)  # (B,T',D) -> (B,E)
                logits.append(model.head.projection(e).float().cpu())  # (B,E) -> (B,C)
                embs.append(F.normalize(e.float(), dim=-1).cpu())
                targets.append(batch["targets"])
                speakers += batch["speakers"]
        finally:
            model.train(was_training)
        if not speakers:
            return {}
        logits_all, y = torch.cat(logits), torch.cat(targets)  # (N,C), (N,)
        known = y >= 0
        metrics: dict[str, float] = {}
        if bool(known.any()):
            lk, yk = logits_all[known], y[known]
            metrics["top1"] = top_k_accuracy(lk.numpy(), yk.numpy(), 1)
            metrics["top5"] = top_k_accuracy(lk.numpy(), yk.numpy(), min(5, lk.shape[1]))
            metrics["loss"] = float(F.cross_entropy(self.logits(lk, yk, self.cfg.margin), yk))
        i, j, same = sample_pairs(speakers, self.cfg.dev_max_pairs, seed=0)  # never every pair at once
        if same.any() and (~same).any():
            s = pair_scores(torch.cat(embs).numpy(), i, j)
            metrics["eer"] = verification_report(s[same], s[~same])["eer"]
        return metrics
