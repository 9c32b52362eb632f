"""Recurrent encoder: optional time subsampling followed by a stack of RNN layers.

Every module here maps ``(x (B,T,F), lengths (B,)) -> (y (B,T',D), lengths' (B,))`` and is
exactly padding-invariant, in training and evaluation: a padded batch gives the same valid frames
as each item run alone. Frames past ``lengths`` are zeroed before every step that mixes
neighbouring frames (stacking, convolutions), and recurrent layers never see padding before a
valid frame (see below).

Padding in bidirectional layers: the decision
---------------------------------------------
A fused bidirectional ``nn.LSTM`` on a padded batch is wrong for the backward direction (it starts
in the padding); ``pack_padded_sequence`` fixes that but is slow on CPU. Instead each layer runs
the backward direction as its own unidirectional RNN over the sequences reversed *within their
lengths* (:func:`reverse_padded`), so padding is always at the end for both directions. Measured
on this 2-core machine (1 thread; B=16, T=200, 120-dim input, 3x256 BiLSTM, ~1.5 % padding,
forward+backward, best of 3)::

    fused padded nn.LSTM (inexact)     0.64 s
    fused packed nn.LSTM (exact)       2.46 s   (3.8x slower, as DESIGN.md reported)
    reverse-within-length (exact)      0.54 s   <- used for training, eval and inference

so there is no speed/exactness switch to configure.

Example
-------
>>> import torch
>>> enc = Encoder(EncoderConfig(subsampling="none", hidden_size=8, num_layers=2), input_dim=13)
>>> y, n = enc(torch.randn(2, 50, 13), torch.tensor([50, 31]))
>>> tuple(y.shape), n.tolist()
((2, 50, 16), [50, 31])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError


@dataclass
class EncoderConfig:
    """Encoder hyper-parameters (the ``model.encoder`` section of a run config)."""

    subsampling: Literal["none", "stack", "conv2d"] = "stack"
    """Time subsampling before the RNN: ``stack`` concatenates k frames, ``conv2d`` uses
    stride-2 3x3 convolutions, ``none`` keeps the frame rate."""
    subsampling_factor: int = 3
    """k for ``stack`` (any k >= 1); 2 or 4 for ``conv2d``; ignored for ``none``."""
    conv_channels: int = 32
    """Channels of each ``conv2d`` subsampling layer."""
    rnn_type: Literal["lstm", "gru", "rnn"] = "lstm"
    """Recurrent cell type (``rnn`` is an Elman RNN with tanh)."""
    hidden_size: int = 256
    """Hidden units per direction."""
    num_layers: int = 3
    """Number of stacked recurrent layers."""
    bidirectional: bool = True
    """Bidirectional layers (offline); set false for streaming / low-latency models."""
    dropout: float = 0.1
    """Dropout applied to every recurrent layer's output except the last."""
    layer_norm: bool = False
    """LayerNorm on each recurrent layer's output except the last."""
    projection_size: int = 0
    """If > 0, a Linear projection to this size between recurrent layers (not after the last)."""

    def validate(self) -> None:
        if self.subsampling == "conv2d" and self.subsampling_factor not in (2, 4):
            raise ConfigError(
                f"EncoderConfig.subsampling_factor: conv2d supports 2 or 4, got {self.subsampling_factor}"
            )
        if self.subsampling_factor < 1:
            raise ConfigError("EncoderConfig.subsampling_factor must be >= 1")
        for name in ("hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"EncoderConfig.{name} must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"EncoderConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.projection_size < 0:
            raise ConfigError("EncoderConfig.projection_size must be >= 0")


def mask_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero frames at or past ``lengths``.

    Parameters
    ----------
    x : Tensor (B, T, ...) ; lengths : Tensor (B,)

    Returns
    -------
    Tensor (B, T, ...) with ``x[b, t] = 0`` for ``t >= lengths[b]``.
    """
    t = torch.arange(x.shape[1], device=x.device)
    keep = t[None, :] < lengths.to(x.device)[:, None]  # (B,T)
    return x * keep.view(*keep.shape, *([1] * (x.dim() - 2))).to(x.dtype)


class FrameStacking(nn.Module):
    """Concatenate ``k`` consecutive frames: (B,T,F) -> (B,ceil(T/k),k*F).

    The last group of a sequence is completed with zeros, so ``T' = ceil(T / k)``.
    """

    def __init__(self, input_dim: int, k: int):
        super().__init__()
        self.k = k
        self.output_dim = input_dim * k

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """``ceil(lengths / k)``."""
        return torch.div(lengths + self.k - 1, self.k, rounding_mode="floor")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        b, t, f = x.shape
        x = mask_padding(x, lengths)
        pad = (-t) % self.k
        x = nn.functional.pad(x, (0, 0, 0, pad))  # (B,T,F) -> (B,T+pad,F)
        x = x.reshape(b, (t + pad) // self.k, self.k * f)  # (B,T+pad,F) -> (B,T',k*F)
        return x, self.output_lengths(lengths)


class Conv2dSubsampling(nn.Module):
    """One (factor 2) or two (factor 4) 3x3 stride-2 convolutions with ReLU.

    (B,T,F) -> (B,T',C*F') with ``T' = ceil(T/2)`` per layer (padding 1), and likewise F'.
    Frames past each layer's output length are zeroed, so a padded batch matches items alone.
    """

    def __init__(self, input_dim: int, factor: int, channels: int):
        super().__init__()
        n = {2: 1, 4: 2}[factor]
        self.convs = nn.ModuleList(
            nn.Conv2d(1 if i == 0 else channels, channels, 3, stride=2, padding=1) for i in range(n)
        )
        f = input_dim
        for _ in range(n):
            f = (f + 1) // 2
        self.output_dim = channels * f

    @staticmethod
    def _layer_lengths(lengths: torch.Tensor) -> torch.Tensor:
        # (L + 2*1 - 3) // 2 + 1 == ceil(L / 2)
        return torch.div(lengths + 1, 2, rounding_mode="floor")

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for _ in self.convs:
            lengths = self._layer_lengths(lengths)
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        x = mask_padding(x, lengths).unsqueeze(1)  # (B,T,F) -> (B,1,T,F)
        for conv in self.convs:
            x = torch.relu(conv(x))  # (B,C,T,F) -> (B,C,ceil(T/2),ceil(F/2))
            lengths = self._layer_lengths(lengths)
            x = mask_padding(x.transpose(1, 2), lengths).transpose(1, 2)  # masks along T
        b, c, t, f = x.shape
        x = x.transpose(1, 2).reshape(b, t, c * f)  # (B,C,T',F') -> (B,T',C*F')
        return x, lengths


class NoSubsampling(nn.Module):
    """Identity: keeps the frame rate."""

    def __init__(self, input_dim: int):
        super().__init__()
        self.output_dim = input_dim

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return lengths

    def forward(self, x, lengths):
        return x, lengths


_RNN = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding frames stay where they are.

    ``y[b, t] = x[b, lengths[b] - 1 - t]`` for ``t < lengths[b]``, else ``x[b, t]``.
    The operation is its own inverse.

    Parameters
    ----------
    x : Tensor (B, T, D) ; lengths : Tensor (B,)
    """
    b, t, _ = x.shape
    idx = torch.arange(t, device=x.device).expand(b, t)  # (B,T)
    rev = lengths.to(x.device)[:, None] - 1 - idx  # (B,T)
    rev = torch.where(rev >= 0, rev, idx)
    return x.gather(1, rev.unsqueeze(-1).expand_as(x))  # (B,T,D)


class RecurrentLayer(nn.Module):
    """One recurrent layer with optional dropout, LayerNorm and projection on its output.

    The backward direction is a separate unidirectional RNN run on the sequences reversed
    *within their lengths* (:func:`reverse_padded`), so padding only ever follows the valid
    frames of either direction and cannot leak into them: exact padding invariance at the
    speed of plain padded batches (no ``pack_padded_sequence``).
    """

    def __init__(self, input_dim: int, cfg: EncoderConfig, last: bool):
        super().__init__()
        rnn = _RNN[cfg.rnn_type]
        self.fwd = rnn(input_dim, cfg.hidden_size, batch_first=True)
        self.bwd = rnn(input_dim, cfg.hidden_size, batch_first=True) if cfg.bidirectional else None
        dim = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        self.norm = nn.LayerNorm(dim) if cfg.layer_norm and not last else nn.Identity()
        self.dropout = nn.Dropout(0.0 if last else cfg.dropout)
        self.proj = (
            nn.Linear(dim, cfg.projection_size) if cfg.projection_size and not last else nn.Identity()
        )
        self.output_dim = cfg.projection_size if cfg.projection_size and not last else dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B,T,D_in) -> (B,T,D_out); frames past ``lengths`` are zero."""
        y, _ = self.fwd(x)  # (B,T,H)
        if self.bwd is not None:
            yb, _ = self.bwd(reverse_padded(x, lengths))  # (B,T,H), time reversed
            y = torch.cat([y, reverse_padded(yb, lengths)], dim=-1)  # (B,T,H)x2 -> (B,T,2H)
        y = self.proj(self.dropout(self.norm(y)))
        return mask_padding(y, lengths)


class Encoder(nn.Module):
    """Subsampling + recurrent stack: (B,T,F) -> (B,T',output_dim)."""

    def __init__(self, cfg: EncoderConfig, input_dim: int):
        super().__init__()
        self.cfg = cfg
        if cfg.subsampling == "stack" and cfg.subsampling_factor > 1:
            self.subsampling = FrameStacking(input_dim, cfg.subsampling_factor)
        elif cfg.subsampling == "conv2d":
            self.subsampling = Conv2dSubsampling(input_dim, cfg.subsampling_factor, cfg.conv_channels)
        else:
            self.subsampling = NoSubsampling(input_dim)
        dim = self.subsampling.output_dim
        layers = []
        for i in range(cfg.num_layers):
            layer = RecurrentLayer(dim, cfg, last=i == cfg.num_layers - 1)
            layers.append(layer)
            dim = layer.output_dim
        self.layers = nn.ModuleList(layers)
        self.output_dim = dim

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frame counts after subsampling, (B,) -> (B,)."""
        return self.subsampling.output_lengths(lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        """
        Parameters
        ----------
        x : Tensor (B, T, F) features; lengths : Tensor (B,) int64 valid frames.

        Returns
        -------
        (Tensor (B, T', output_dim), Tensor (B,)) encoder states and their lengths.
        """
        x, lengths = self.subsampling(x, lengths)  # (B,T,F) -> (B,T',F')
        if x.shape[1] == 0:  # input shorter than one output frame (a few ms): nothing to encode,
            return x.new_zeros(x.shape[0], 0, self.output_dim), lengths  # and cuDNN/ATen refuse T'=0
        for layer in self.layers:
            x = layer(x, lengths)  # (B,T',D) -> (B,T',D')
        return x, lengths
