"""Ensembles of keyword classifiers: one model file, the members' class posteriors averaged.

Runs of the same recipe that differ only in seed or front-end make different mistakes on
voices they never heard (per-keyword accuracy differs by up to 25 points between runs), so the
mean of their posteriors is more accurate than any one of them; the cost is one forward
pass per member.

File layout (``torch.load(weights_only=True)``)::

    format_version, speechrnn_version, task ("keywords"), labels   as for one model
    members   list of single-model checkpoint dicts (no training state, no extra)
    extra     optional metadata (description, kws_threshold, ...)

Example
-------
>>> from speechrnn.models.checkpoint import write_ensemble, load_model   # doctest: +SKIP
>>> write_ensemble(["a/best.pt", "b/best.pt"], "kws.pt")   # doctest: +SKIP
>>> load_model("kws.pt")(waveforms, lengths)                # log mean posterior (B, C)  # doctest: +SKIP
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError

__all__ = ["EnsembleModel", "ENSEMBLE_KEYS", "ENSEMBLE_TASKS", "is_ensemble", "require_single"]

ENSEMBLE_KEYS = ("format_version", "speechrnn_version", "task", "labels", "members")
ENSEMBLE_TASKS = ("keywords",)  # classifiers whose outputs are class logits


def is_ensemble(ckpt: dict) -> bool:
    """True for an ensemble checkpoint dict (it has ``members``)."""
    return "members" in ckpt


def require_single(ckpt: dict, path, what: str) -> None:
    """Raise :class:`CheckpointError` if ``ckpt`` is an ensemble (``what`` needs one model)."""
    if is_ensemble(ckpt):
        raise CheckpointError(f"{path}: an ensemble of {len(ckpt['members'])} models; {what} needs "
                              f"a single model (one of the members' own checkpoints)")


class EnsembleModel(nn.Module):
    """Average of the class posteriors of classifier models with the same labels.

    ``forward(waveforms (B, S), lengths (B,)) -> (log mean posterior (B, C), lengths)``:
    log-probabilities, so ``softmax`` of the output gives the mean posterior back and
    ``argmax`` the ensemble's decision. Members may use different front-ends (each computes
    its own features from the waveform) but must share the sample rate.

    Attributes ``task``, ``labels``, ``num_outputs`` and ``feature_cfg`` (the first member's,
    for the sample rate) stand in for an :class:`AcousticModel`'s.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise CheckpointError(f"an ensemble needs at least 2 members, got {len(members)}")
        first = members[0]
        for i, m in enumerate(members[1:], 1):
            if m.task != first.task or m.labels != first.labels or m.num_outputs != first.num_outputs:
                raise CheckpointError(f"ensemble member {i}: task/labels differ from member 0's "
                                      f"({m.task!r} vs {first.task!r})")
            if m.feature_cfg.sample_rate != first.feature_cfg.sample_rate:
                raise CheckpointError(f"ensemble member {i}: sample rate {m.feature_cfg.sample_rate} "
                                      f"differs from member 0's {first.feature_cfg.sample_rate}")
        if first.task not in ENSEMBLE_TASKS:
            raise CheckpointError(f"ensembles are for classifier tasks ({', '.join(ENSEMBLE_TASKS)}), "
                                  f"not {first.task!r}")
        self.members = nn.ModuleList(members)
        self.task, self.labels = first.task, first.labels
        self.num_outputs = first.num_outputs
        self.feature_cfg = first.feature_cfg

    def forward(self, waveforms: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        logp = torch.stack([F.log_softmax(m(waveforms, lengths)[0].float(), dim=-1)
                            for m in self.members])  # (K, B, C)
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members)), lengths  # (B, C)
