"""Speaker-embedding models: batch embedding, loading with the head kind checked, fingerprint,
stored threshold.

The heads themselves (``embedding``, and ``cosine_embedding`` for additive angular margin
training) are built-in kinds of :mod:`speechrnn.models.heads`.

Example
-------
>>> import torch
>>> from speechrnn.models import AcousticModel, HeadConfig, ModelConfig
>>> model = AcousticModel(ModelConfig(head=HeadConfig(kind="cosine_embedding", embedding_dim=4)), 3).eval()
>>> e = embed_batch(model, torch.randn(2, 8000), torch.tensor([8000, 4000]))
>>> tuple(e.shape), bool(torch.allclose(e.norm(dim=-1), torch.ones(2)))
((2, 4), True)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.heads import EMBEDDING_HEADS

HEAD_KIND = "cosine_embedding"
"""The head kind of AAM-trained speaker encoders."""


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
