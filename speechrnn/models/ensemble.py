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
>>> write_ensemble(["a/best.pt", "b/best.pt"], "kws.pt")   # doctest: +SKIP
>>> load_model("kws.pt")(waveforms, lengths)                # log mean posterior (B, C)  # doctest: +SKIP
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError

__all__ = ["EnsembleModel", "ENSEMBLE_KEYS", "ENSEMBLE_TASKS", "ensemble_dict", "is_ensemble",
           "require_single", "write_ensemble"]

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


def ensemble_dict(members: list[dict], extra: dict | None = None) -> dict:
    """Ensemble checkpoint dict from validated single-model checkpoint dicts."""
    from .. import __version__
    from .checkpoint import FORMAT_VERSION

    if len(members) < 2:
        raise CheckpointError(f"an ensemble needs at least 2 members, got {len(members)}")
    singles = []
    for m in members:
        if is_ensemble(m):  # flatten: an ensemble of ensembles is the ensemble of all members
            singles += m["members"]
        else:
            singles.append({k: v for k, v in m.items() if k not in ("training", "extra")})
    ckpt = {"format_version": FORMAT_VERSION, "speechrnn_version": __version__,
            "task": singles[0]["task"], "labels": singles[0]["labels"], "members": singles}
    if extra is not None:
        ckpt["extra"] = extra
    return ckpt


def write_ensemble(paths: list, out, *, description: str | None = None) -> Path:
    """Write the ensemble of the checkpoints ``paths`` to ``out`` (atomic) and return ``out``.

    The members are checked to build together (same task, labels and sample rate) before
    anything is written; ``extra.members`` records the source files.
    """
    from .checkpoint import atomic_torch_save, build_model_from_checkpoint, read_checkpoint

    cks = [read_checkpoint(p) for p in paths]
    for p, ck in zip(paths[1:], cks[1:]):
        if (ck["task"], ck["labels"]) != (cks[0]["task"], cks[0]["labels"]):
            raise CheckpointError(f"{p}: a {ck['task']!r} model with other labels than {paths[0]} "
                                  f"(a {cks[0]['task']!r} model); ensemble members must share them")
    extra = {"members": [str(p) for p in paths]}
    if description:
        extra["description"] = description
    ckpt = ensemble_dict(cks, extra)
    build_model_from_checkpoint(ckpt, out)  # raises before writing if the members disagree
    atomic_torch_save(ckpt, out)
    return Path(out)
