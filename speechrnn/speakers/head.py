"""The speaker-embedding head with cosine logits (for additive angular margin training).

``cosine_embedding`` = attentive statistics pooling -> Linear embedding -> cosine similarity
with one learned unit vector per training speaker. Its logits are cosines in ``[-1, 1]``, which
the AAM-softmax loss of :mod:`speechrnn.tasks.speakers` turns into ``s * cos(theta + m)``.
The plain ``embedding`` head of :mod:`speechrnn.models.heads` (linear logits) serves the
ordinary softmax loss. Importing this module registers the head kind, so it must be imported
before a checkpoint using it is loaded (:func:`load_speaker_model` does that).

Example
-------
>>> import torch
>>> from speechrnn.models import HeadConfig, build_head
>>> head = build_head(HeadConfig(kind="cosine_embedding", embedding_dim=4), input_dim=6, num_outputs=3)
>>> cos, _ = head(torch.randn(2, 5, 6), torch.tensor([5, 3]))
>>> bool((cos.abs() <= 1 + 1e-6).all()), tuple(head.embed(torch.randn(2, 5, 6), torch.tensor([5, 3])).shape)
(True, (2, 4))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.heads import AttentiveStatsPooling, HeadConfig, PooledHead, register_head

HEAD_KIND = "cosine_embedding"


class CosineLinear(nn.Module):
    """Cosine similarity with ``num_outputs`` learned directions: (B,E) -> (B,C) in [-1, 1]."""

    def __init__(self, input_dim: int, num_outputs: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_outputs, input_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=-1).T  # (B,E) @ (E,C) -> (B,C)


def _cosine_embedding(cfg: HeadConfig, input_dim: int, num_outputs: int) -> nn.Module:
    pool = AttentiveStatsPooling(input_dim, cfg.attention_dim)
    emb = nn.Linear(pool.output_dim, cfg.embedding_dim)
    return PooledHead(pool, CosineLinear(cfg.embedding_dim, num_outputs), embedding=emb, dropout=cfg.dropout)


register_head(HEAD_KIND, _cosine_embedding)

EMBEDDING_HEADS = ("embedding", HEAD_KIND)


def embed_batch(model, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """L2-normalized speaker embeddings of a padded batch.

    Parameters
    ----------
    model : AcousticModel with an ``embedding`` or ``cosine_embedding`` head
    waveforms : (B, S) float32
    lengths : (B,) int64 valid samples per row

    Returns
    -------
    (B, E) float32 unit vectors (padding does not change a row).
    """
    x, n = model.encode(waveforms, lengths)  # (B,S) -> (B,T',D)
    return F.normalize(model.head.embed(x, n).float(), dim=-1)  # (B,T',D) -> (B,E)


def load_speaker_model(path, *, device: str = "cpu", quantize: bool = False):
    """Load a speaker-embedding checkpoint (head registered, head kind checked).

    Like :func:`speechrnn.models.load_model`, plus ``model.extra`` (the checkpoint's ``extra``
    dict, where a calibrated ``speaker_threshold`` is kept).
    """
    from ..errors import CheckpointError
    from ..models.checkpoint import build_model_from_checkpoint, quantize_dynamic, read_checkpoint
    from ..models.ensemble import require_single

    ckpt = read_checkpoint(path)
    require_single(ckpt, path, "a speaker encoder")
    model = build_model_from_checkpoint(ckpt, path).to(device).eval()
    if model.cfg.head.kind not in EMBEDDING_HEADS:
        raise CheckpointError(f"{path}: a {model.task!r} model with a {model.cfg.head.kind!r} head, "
                              f"not a speaker-embedding model")
    extra = dict(ckpt.get("extra") or {})
    fingerprint = model_fingerprint(model)
    if quantize:
        model = quantize_dynamic(model)
    model.extra = extra
    model.fingerprint = fingerprint
    return model


def model_fingerprint(model) -> str:
    """Short hash of the float embedding-layer weights: names the embedding space a store uses."""
    import hashlib

    w = model.head.embedding.weight
    if callable(w):  # a dynamically quantized Linear exposes weight() (packed int8)
        w = w().dequantize()
    w = w.detach().float().cpu().numpy()
    return "spk-" + hashlib.sha1(w.round(4).tobytes()).hexdigest()[:12]


def save_threshold(path, threshold: float, info: dict | None = None) -> None:
    """Store a calibrated ``speaker_threshold`` (and ``speaker_calibration`` info) in a checkpoint's
    ``extra`` metadata, rewriting the file atomically."""
    from ..models.checkpoint import atomic_torch_save, read_checkpoint

    ckpt = read_checkpoint(path)
    extra = dict(ckpt.get("extra") or {})
    extra["speaker_threshold"] = float(threshold)
    if info is not None:
        extra["speaker_calibration"] = info
    ckpt["extra"] = extra
    atomic_torch_save(ckpt, path)
