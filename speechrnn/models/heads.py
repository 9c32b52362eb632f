"""Output heads on top of the encoder.

A head maps encoder states ``(x (B,T,D), lengths (B,))`` to the task output:

* :class:`CTCHead` - per-frame log-probabilities ``(B,T,V)`` and their lengths (transcription).
* :class:`PooledHead` - the generic interface for utterance-level outputs: a masked
  :class:`Pooling` over time followed by a projection. Two ready-made poolings:
  :class:`AttentionPooling` (keyword classes) and :class:`AttentiveStatsPooling`
  (speaker embeddings). Such heads return ``(out (B,C), lengths)`` where ``lengths`` is
  all ones, so every head has the same ``forward`` signature.

Built-in kinds: ``ctc``, ``classifier``, ``embedding`` (linear logits, for the plain softmax
loss) and ``cosine_embedding`` (the same embedding with :class:`CosineLinear` logits in
``[-1, 1]``, which the AAM-softmax loss of :mod:`speechrnn.tasks.speakers` turns into
``s * cos(theta + m)``). Heads are created by name with :func:`build_head`; other code can add
a kind with :func:`register_head` (a builder, or a ``"module:function"`` string imported on
first use, so a checkpoint naming that kind loads without anyone importing the module first).

Example
-------
>>> import torch
>>> head = build_head(HeadConfig(kind="classifier"), input_dim=8, num_outputs=3)
>>> out, _ = head(torch.randn(2, 5, 8), torch.tensor([5, 2]))
>>> tuple(out.shape)
(2, 3)
>>> head = build_head(HeadConfig(kind="cosine_embedding", embedding_dim=4), input_dim=6, num_outputs=3)
>>> cos, _ = head(torch.randn(2, 5, 6), torch.tensor([5, 3]))
>>> bool((cos.abs() <= 1 + 1e-6).all()), tuple(head.embed(torch.randn(2, 5, 6), torch.tensor([5, 3])).shape)
(True, (2, 4))
"""
from __future__ import annotations

from dataclasses import dataclass
import importlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError


@dataclass
class HeadConfig:
    """Head hyper-parameters (the ``model.head`` section of a run config)."""

    kind: str = "ctc"
    """Registered head name: ``ctc``, ``classifier`` (attention pooling -> class logits),
    ``embedding`` (attentive statistics pooling -> embedding -> class logits),
    ``cosine_embedding`` (the same with cosine logits, for AAM-softmax)."""
    attention_dim: int = 128
    """Hidden size of the attention scorer in pooled heads."""
    embedding_dim: int = 192
    """Size of the speaker embedding (``embedding`` head)."""
    dropout: float = 0.0
    """Dropout before the final projection."""

    def validate(self) -> None:
        if self.kind not in _HEADS:
            raise ConfigError(f"HeadConfig.kind: unknown head {self.kind!r} (known: {sorted(_HEADS)})")


def length_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """Boolean mask (B,T): True on valid frames."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


class CTCHead(nn.Module):
    """Linear -> log_softmax: (B,T,D) -> (B,T,V) log-probabilities; index 0 is the blank."""

    def __init__(self, input_dim: int, num_outputs: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(input_dim, num_outputs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        return torch.log_softmax(self.proj(self.dropout(x)), dim=-1), lengths


class Pooling(nn.Module):
    """Interface: masked pooling over time, (B,T,D) + lengths (B,) -> (B, output_dim)."""

    output_dim: int

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class _Scorer(nn.Module):
    """Additive attention scores with padding masked out: (B,T,D) -> weights (B,T,1)."""

    def __init__(self, input_dim: int, attention_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, attention_dim), nn.Tanh(), nn.Linear(attention_dim, 1))

    def forward(self, x, lengths):
        scores = self.net(x).squeeze(-1)  # (B,T,1) -> (B,T)
        scores = scores.masked_fill(~length_mask(lengths.to(x.device), x.shape[1]), float("-inf"))
        return torch.softmax(scores, dim=1).unsqueeze(-1)  # (B,T) -> (B,T,1)


class AttentionPooling(Pooling):
    """Attention-weighted mean over valid frames: (B,T,D) -> (B,D)."""

    def __init__(self, input_dim: int, attention_dim: int = 128):
        super().__init__()
        self.scorer = _Scorer(input_dim, attention_dim)
        self.output_dim = input_dim

    def forward(self, x, lengths):
        w = self.scorer(x, lengths)  # (B,T,1)
        return (w * x).sum(dim=1)  # (B,T,D) -> (B,D)


class AttentiveStatsPooling(Pooling):
    """Attentive statistics pooling (weighted mean and std): (B,T,D) -> (B,2D)."""

    def __init__(self, input_dim: int, attention_dim: int = 128):
        super().__init__()
        self.scorer = _Scorer(input_dim, attention_dim)
        self.output_dim = 2 * input_dim

    def forward(self, x, lengths):
        w = self.scorer(x, lengths)  # (B,T,1)
        mean = (w * x).sum(dim=1)  # (B,D)
        var = (w * x * x).sum(dim=1) - mean * mean
        std = var.clamp(min=1e-6).sqrt()
        return torch.cat([mean, std], dim=-1)  # (B,D),(B,D) -> (B,2D)


class CosineLinear(nn.Module):
    """Cosine similarity with ``num_outputs`` learned directions: (B,E) -> (B,C) in [-1, 1]."""

    def __init__(self, input_dim: int, num_outputs: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_outputs, input_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) @ F.normalize(self.weight, dim=-1).T  # (B,E) @ (E,C) -> (B,C)


class PooledHead(nn.Module):
    """Generic utterance-level head: ``pooling`` then ``projection``.

    ``forward`` returns ``(projection(pooling(x)) (B,C), ones (B,))``. Use ``embed`` for the
    output of ``embedding`` (identity when no embedding layer is given) - e.g. a speaker vector.
    """

    def __init__(self, pooling: Pooling, projection: nn.Module, embedding: nn.Module | None = None,
                 dropout: float = 0.0):
        super().__init__()
        self.pooling = pooling
        self.embedding = embedding if embedding is not None else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.projection = projection

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B,T,D) -> (B,E) pooled (and embedded) vectors before the final projection."""
        return self.embedding(self.pooling(x, lengths))

    def forward(self, x, lengths):
        out = self.projection(self.dropout(self.embed(x, lengths)))
        return out, torch.ones_like(lengths)


def _ctc(cfg: HeadConfig, input_dim: int, num_outputs: int) -> nn.Module:
    return CTCHead(input_dim, num_outputs, cfg.dropout)


def _classifier(cfg: HeadConfig, input_dim: int, num_outputs: int) -> nn.Module:
    pool = AttentionPooling(input_dim, cfg.attention_dim)
    return PooledHead(pool, nn.Linear(pool.output_dim, num_outputs), dropout=cfg.dropout)


def _embedding(cfg: HeadConfig, input_dim: int, num_outputs: int) -> nn.Module:
    pool = AttentiveStatsPooling(input_dim, cfg.attention_dim)
    emb = nn.Linear(pool.output_dim, cfg.embedding_dim)
    return PooledHead(pool, nn.Linear(cfg.embedding_dim, num_outputs), embedding=emb, dropout=cfg.dropout)


def _cosine_embedding(cfg: HeadConfig, input_dim: int, num_outputs: int) -> nn.Module:
    pool = AttentiveStatsPooling(input_dim, cfg.attention_dim)
    emb = nn.Linear(pool.output_dim, cfg.embedding_dim)
    return PooledHead(pool, CosineLinear(cfg.embedding_dim, num_outputs), embedding=emb, dropout=cfg.dropout)


HeadBuilder = Callable[[HeadConfig, int, int], nn.Module]
_HEADS: dict[str, HeadBuilder | str] = {"ctc": _ctc, "classifier": _classifier, "embedding": _embedding,
                                        "cosine_embedding": _cosine_embedding}
EMBEDDING_HEADS = ("embedding", "cosine_embedding")
"""Head kinds whose ``embed()`` is a speaker embedding."""


def register_head(kind: str, builder: HeadBuilder | str) -> None:
    """Make ``HeadConfig(kind=kind)`` build ``builder(cfg, input_dim, num_outputs)``.

    ``builder`` may be a ``"module:function"`` string, imported when the kind is first built
    (an import failure is then a :class:`ConfigError` that names it).
    """
    _HEADS[kind] = builder


def _builder(kind: str) -> HeadBuilder:
    target = _HEADS[kind]
    if isinstance(target, str):
        module, _, name = target.partition(":")
        try:
            target = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"HeadConfig.kind: head {kind!r} ({_HEADS[kind]}) cannot be imported: {e}") from e
        _HEADS[kind] = target
    return target


def build_head(cfg: HeadConfig, input_dim: int, num_outputs: int) -> nn.Module:
    """Build the head named by ``cfg.kind``."""
    cfg.validate()
    return _builder(cfg.kind)(cfg, input_dim, num_outputs)
