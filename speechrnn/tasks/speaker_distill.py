"""Speaker training with a teacher on unlabeled audio: the speakers task plus distillation.

A training manifest mixes two kinds of utterance:

* **labelled** ones (``speaker`` among the classes): the speakers task's own loss (AAM or
  softmax cross-entropy), so what the encoder knew is not forgotten;
* **teacher** ones (no speaker; their id is in ``teacher_embeddings``, an ``.npz`` with ``ids``
  (N,) and ``embeddings`` (N, D) from a speaker encoder trained on real speech): the student's
  cosine-similarity matrix over a batch's teacher utterances is pulled towards the teacher's
  (:func:`similarity_distillation_loss`). No speaker label is needed.

The checkpoints are ordinary ``speakers`` models (``name`` below): inference, evaluation and
further training see no difference.

Example task section::

    task:
      name: speakers_distill
      speakers_from: data/spk/train.jsonl     # or speakers: [...], the base model's classes
      teacher_embeddings: work/teacher.npz
      distill_weight: 1.0
      distill_loss: pearson                    # pearson | mse | relation
      metric: teacher_corr
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .speakers import SpeakerTask, SpeakerTaskConfig

log = logging.getLogger(__name__)

__all__ = ["SpeakerDistillConfig", "SpeakerDistillTask", "similarity_distillation_loss",
           "load_teacher_embeddings"]


@dataclass
class SpeakerDistillConfig(SpeakerTaskConfig):
    """The ``task`` section of ``speakers_distill`` (the speakers keys, plus these)."""

    name: str = "speakers_distill"
    """Always ``speakers_distill``."""
    teacher_embeddings: str = ""
    """``.npz`` with ``ids`` (N,) and ``embeddings`` (N, D): the teacher's view of the unlabeled
    utterances of the training and dev manifests."""
    distill_weight: float = 1.0
    """Weight of the distillation loss against the labelled loss."""
    distill_loss: Literal["pearson", "mse", "relation"] = "pearson"
    """``pearson``: 1 - correlation of the two similarity matrices' off-diagonal entries (scale
    and offset free); ``mse``: mean squared difference of the raw cosines; ``relation``: KL
    divergence between each row's softmax over the other items (temperature ``temperature``)."""
    temperature: float = 0.1
    """Softmax temperature of ``relation``."""
    metric: Literal["top1", "eer", "teacher_corr"] = "teacher_corr"
    """Dev metric: ``teacher_corr`` (correlation of student and teacher cosines over every pair
    of the dev manifest's teacher utterances, higher is better), or the speakers task's."""

    def validate(self) -> None:
        super().validate()
        if not self.teacher_embeddings:
            raise ConfigError("task.teacher_embeddings: an .npz of teacher embeddings is required")
        if self.distill_weight < 0 or self.temperature <= 0:
            raise ConfigError("task: distill_weight must be >= 0 and temperature > 0")


def load_teacher_embeddings(path) -> dict[str, np.ndarray]:
    """``{utterance id: embedding (D,) float32}`` from an ``.npz`` with ``ids`` and ``embeddings``."""
    if not Path(path).is_file():
        raise ConfigError(f"task.teacher_embeddings: {path} not found")
    with np.load(path, allow_pickle=False) as z:
        if "ids" not in z or "embeddings" not in z:
            raise ConfigError(f"{path}: needs arrays 'ids' and 'embeddings'")
        ids, emb = z["ids"], z["embeddings"].astype(np.float32)
    if emb.ndim != 2 or len(ids) != len(emb):
        raise ConfigError(f"{path}: 'embeddings' must be (N, D) with one row per id")
    return {str(i): e for i, e in zip(ids, emb)}


def _off_diagonal(s: torch.Tensor) -> torch.Tensor:
    """(N,N) -> (N*(N-1),) entries off the diagonal."""
    n = s.shape[0]
    return s[~torch.eye(n, dtype=torch.bool, device=s.device)]


def similarity_distillation_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str = "pearson",
                                 temperature: float = 0.1) -> torch.Tensor:
    """How far the student's pairwise cosine similarities are from the teacher's.

    Parameters
    ----------
    student : (N, E) student embeddings (any norm), N >= 2
    teacher : (N, D) teacher embeddings of the same items (any norm; D may differ from E)
    kind : ``pearson`` | ``mse`` | ``relation`` (see :class:`SpeakerDistillConfig`)

    Returns
    -------
    scalar tensor; 0 when the student's similarity structure equals the teacher's (``mse``,
    ``relation``) or is an increasing affine function of it (``pearson``).

    >>> t = torch.randn(6, 8)
    >>> float(similarity_distillation_loss(t, t)) < 1e-5
    True
    """
    if student.shape[0] != teacher.shape[0] or student.shape[0] < 2:
        raise ConfigError(f"need N >= 2 matching rows, got {tuple(student.shape)} and {tuple(teacher.shape)}")
    s = F.normalize(student.float(), dim=-1)
    t = F.normalize(teacher.float(), dim=-1)
    ss, st = s @ s.T, t @ t.T  # (N,E) @ (E,N) -> (N,N)
    if kind == "mse":
        return F.mse_loss(_off_diagonal(ss), _off_diagonal(st))
    if kind == "pearson":
        a, b = _off_diagonal(ss), _off_diagonal(st)
        a, b = a - a.mean(), b - b.mean()
        return 1.0 - (a * b).sum() / (a.norm() * b.norm() + 1e-8)
    if kind == "relation":
        n = s.shape[0]
        mask = torch.eye(n, dtype=torch.bool, device=s.device)
        ls = F.log_softmax((ss / temperature).masked_fill(mask, -1e4), dim=-1)  # (N,N) rows over others
        lt = F.log_softmax((st / temperature).masked_fill(mask, -1e4), dim=-1)
        return F.kl_div(ls, lt, log_target=True, reduction="batchmean")
    raise ConfigError(f"unknown distillation loss {kind!r}")


class SpeakerDistillTask(SpeakerTask):
    """:class:`SpeakerTask` + similarity distillation on teacher-embedded, unlabeled utterances."""

    name = "speakers"  # checkpoints are plain speaker models
    Config = SpeakerDistillConfig

    def __init__(self, cfg: SpeakerDistillConfig):
        super().__init__(cfg)
        self.teacher = load_teacher_embeddings(cfg.teacher_embeddings)
        self.teacher_dim = len(next(iter(self.teacher.values()))) if self.teacher else 0
        self.primary_metric = cfg.metric
        self.higher_is_better = cfg.metric != "eer"
        self._emb: torch.Tensor | None = None

    def build_model(self, model_cfg, feature_cfg):
        """The speakers model; a forward hook keeps the batch's embeddings (B,E) for the loss."""
        model = super().build_model(model_cfg, feature_cfg)

        def keep(_module, _inputs, output):
            self._emb = output

        model.head.embedding.register_forward_hook(keep)
        return model

    # ------------------------------------------------------------------ data
    def prepare(self, utts, durations, model, split: str) -> list[int]:
        """Keep utterances of known speakers and those the teacher embedded; warn about the rest."""
        keep = [i for i, u in enumerate(utts) if u.speaker in self.index or u.id in self.teacher]
        if len(keep) < len(utts):
            log.warning("%s: dropping %d utterance(s) with neither a known speaker nor a teacher embedding",
                        split, len(utts) - len(keep))
        n_teacher = sum(utts[i].id in self.teacher for i in keep)
        log.info("%s: %d labelled + %d teacher-embedded utterances", split, len(keep) - n_teacher, n_teacher)
        return keep

    def targets(self, batch: dict) -> dict:
        """``targets (B,)`` (-1 without a known speaker), ``teacher (B,D)``, ``has_teacher (B,)``."""
        out = super().targets(batch)
        rows = [self.teacher.get(u.id) for u in batch["utts"]]
        has = torch.tensor([r is not None for r in rows], dtype=torch.bool)
        t = np.zeros((len(rows), self.teacher_dim), dtype=np.float32)
        for k, r in enumerate(rows):
            if r is not None:
                t[k] = r
        out.update(teacher=torch.from_numpy(t), has_teacher=has)
        return out

    # ------------------------------------------------------------------ training / eval
    def loss(self, model_out, batch: dict) -> torch.Tensor:
        """Labelled loss over the batch's known speakers + ``distill_weight`` x distillation loss
        over its teacher utterances (each part only when the batch has them)."""
        out, _ = model_out  # (B,C)
        targets = batch["targets"].to(out.device)
        has = batch["has_teacher"].to(out.device)
        known = targets >= 0
        total = out.sum() * 0.0  # keeps the graph when a part is absent
        if bool(known.any()):
            total = total + F.cross_entropy(self.logits(out[known], targets[known]), targets[known])
        if int(has.sum()) >= 2 and self.cfg.distill_weight > 0:
            emb = self._emb  # (B,E), set by this forward pass
            total = total + self.cfg.distill_weight * similarity_distillation_loss(
                emb[has], batch["teacher"].to(out.device)[has], self.cfg.distill_loss, self.cfg.temperature)
        return total

    @torch.no_grad()
    def evaluate(self, model, loader, device="cpu") -> dict[str, float]:
        """``teacher_corr`` and ``distill_loss`` over every pair of the dev teacher utterances;
        top-1 / loss / EER over its labelled ones."""
        from ..metrics import top_k_accuracy
        from ..metrics.trials import pair_scores, sample_pairs, verification_report

        was_training = model.training
        model.eval()
        embs, logits, targets, teach, has, speakers = [], [], [], [], [], []
        try:
            for batch in loader:
                x, n = model.encode(batch["waveforms"].to(device), batch["lengths"].to(device))
                e = model.head.embed(x, n)  # (B,T',D) -> (B,E)
                logits.append(model.head.projection(e).float().cpu())  # (B,E) -> (B,C)
                embs.append(F.normalize(e.float(), dim=-1).cpu())
                targets.append(batch["targets"])
                teach.append(batch["teacher"])
                has.append(batch["has_teacher"])
                speakers += batch["speakers"]
        finally:
            model.train(was_training)
        if not speakers:
            return {}
        emb, lg, y = torch.cat(embs), torch.cat(logits), torch.cat(targets)
        h, t = torch.cat(has), torch.cat(teach)
        metrics: dict[str, float] = {}
        if int(h.sum()) >= 2:
            metrics["teacher_corr"] = 1.0 - float(similarity_distillation_loss(emb[h], t[h], "pearson"))
            metrics["distill_loss"] = float(similarity_distillation_loss(emb[h], t[h], self.cfg.distill_loss,
                                                                         self.cfg.temperature))
        known = y >= 0
        if bool(known.any()):
            lk, yk = lg[known], y[known]
            metrics["top1"] = top_k_accuracy(lk.numpy(), yk.numpy(), 1)
            metrics["loss"] = float(F.cross_entropy(self.logits(lk, yk, self.cfg.margin), yk))
            names = [s for s, k in zip(speakers, known.tolist()) if k]
            i, j, same = sample_pairs(names, self.cfg.dev_max_pairs, seed=0)
            if same.any() and (~same).any():
                s = pair_scores(emb[known].numpy(), i, j)
                metrics["eer"] = verification_report(s[same], s[~same])["eer"]
        return metrics
