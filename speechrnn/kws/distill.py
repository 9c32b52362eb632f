"""Distillation targets: a teacher keyword model's log-posteriors written into a manifest.

``speechrnn kws soft-labels TEACHER MANIFEST --out OUT`` classifies every clip of MANIFEST with
TEACHER (any keyword model, e.g. the bundled ensemble) and writes MANIFEST's lines to OUT with
``extra.teacher_log_posteriors`` (one float per class) and ``extra.teacher_labels`` (the
teacher's classes, comma-joined: training checks they are the student's, in the same order). Training on
OUT with ``task.distill_weight > 0`` (:class:`speechrnn.tasks.keywords.KeywordTaskConfig`) pulls a
single model towards the teacher, aiming at an ensemble's accuracy for the cost of one model
(measured on the synthetic recipe it did not keep the ensemble's gain: see
``recipes/keyword_spotting/README.md``).

Teacher posteriors are computed once, on the clips as stored (no training-time augmentation),
with the teacher in eval mode.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from ..errors import ConfigError

log = logging.getLogger(__name__)


def teacher_log_posteriors(model, utts, max_seconds: float = 60.0, task=None) -> np.ndarray:
    """Log-posteriors ``(N, C)`` of ``model`` for ``utts`` (manifest order), batched by duration
    (``task``: the model's :class:`KeywordTask`, rebuilt from its labels when not given)."""
    import torch.nn.functional as F

    from ..tasks.keywords import KeywordTask
    from .evaluate import manifest_loader

    task = task or KeywordTask.from_labels(model.labels)
    index = {u.id: i for i, u in enumerate(utts)}
    out = np.zeros((len(utts), model.num_outputs), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for batch in manifest_loader(model, task, utts, max_seconds):
            logits, _ = model(batch["waveforms"], batch["lengths"])  # (B, C)
            out[[index[i] for i in batch["ids"]]] = F.log_softmax(logits.float(), dim=-1).numpy()
    return out


def write_soft_labels(teacher_path, manifest, out, *, max_seconds: float = 60.0) -> int:
    """Write ``manifest``'s utterances to ``out`` with the teacher's log-posteriors; return the count.

    Raises
    ------
    ConfigError
        The teacher is not a keywords model, or the manifest has duplicate ids.
    """
    from ..data import read_manifest, write_manifest
    from ..models import load_model
    from ..tasks.keywords import TEACHER_KEY, TEACHER_LABELS_KEY, KeywordTask

    model = load_model(teacher_path)
    if model.task != "keywords":
        raise ConfigError(f"{teacher_path}: a {model.task!r} model; soft labels need a keywords model")
    labels = ",".join(model.labels["labels"])
    utts = read_manifest(manifest)
    if len({u.id for u in utts}) != len(utts):
        raise ConfigError(f"{manifest}: duplicate utterance ids")
    task = KeywordTask.from_labels(model.labels)
    logp = teacher_log_posteriors(model, utts, max_seconds, task)
    for u, row in zip(utts, logp):
        u.extra[TEACHER_KEY] = [round(float(v), 4) for v in row]
        u.extra[TEACHER_LABELS_KEY] = labels
    write_manifest(out, utts)
    agree = sum(int(np.argmax(r)) == task.class_id(u) for r, u in zip(logp, utts))
    log.info("%s: %d utterances; the teacher agrees with %.1f %% of the labels", out, len(utts),
             100.0 * agree / max(1, len(utts)))
    return len(utts)
