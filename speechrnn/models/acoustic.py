"""The acoustic model: waveform -> MFCC front-end -> encoder -> head.

Features are computed inside the model (``speechrnn.features.MFCCFrontend``), so a checkpoint
holds everything needed to go from samples to outputs, normalization statistics included.

Example
-------
>>> import torch
>>> from speechrnn.models import AcousticModel, ModelConfig
>>> model = AcousticModel(ModelConfig(), num_outputs=29).eval()
>>> out, n = model(torch.zeros(2, 16000), torch.tensor([16000, 8000]))
>>> out.shape[0], out.shape[2]          # (B, T', V) CTC log-probabilities
(2, 29)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..features import FeatureConfig, MFCCFrontend
from .encoder import Encoder, EncoderConfig
from .heads import HeadConfig, build_head


@dataclass
class ModelConfig:
    """Model hyper-parameters (the ``model`` section of a run config).

    The front-end settings live in the run config's separate ``features`` section
    (:class:`speechrnn.features.FeatureConfig`).
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Subsampling and recurrent stack."""
    head: HeadConfig = field(default_factory=HeadConfig)
    """Output head (``ctc`` for transcription)."""


class AcousticModel(nn.Module):
    """MFCC front-end -> encoder -> head.

    Parameters
    ----------
    cfg : ModelConfig
    num_outputs : int
        Output size of the head: vocabulary size with blank (CTC) or number of classes.
    features : FeatureConfig, optional
        Front-end settings (defaults when omitted).

    ``forward(waveforms (B,S) float32, lengths (B,) int64) -> (output, out_lengths (B,))`` where
    ``output`` is ``(B,T',V)`` log-probabilities for CTC or ``(B,C)`` for pooled heads.
    """

    def __init__(self, cfg: ModelConfig, num_outputs: int, features: FeatureConfig | None = None):
        super().__init__()
        self.cfg = cfg
        self.feature_cfg = features if features is not None else FeatureConfig()
        self.num_outputs = num_outputs
        self.frontend = MFCCFrontend(self.feature_cfg)
        self.encoder = Encoder(cfg.encoder, self.frontend.output_dim)
        self.head = build_head(cfg.head, self.encoder.output_dim, num_outputs)

    def output_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        """Encoder frame counts for waveforms of ``sample_lengths`` samples, (B,) -> (B,)."""
        return self.encoder.output_lengths(self.frontend.num_frames(sample_lengths))

    def encode(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        """(B,S) samples -> ``(states (B,T',D), lengths (B,))`` before the head."""
        feats, feat_lengths = self.frontend(waveforms, lengths)  # (B,S) -> (B,T,F)
        return self.encoder(feats, feat_lengths)  # (B,T,F) -> (B,T',D)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        x, n = self.encode(waveforms, lengths)
        return self.head(x, n)

    def recurrent_layers(self) -> list[nn.Module]:
        """The recurrent layers in order (used to freeze the first K in transfer learning)."""
        return list(self.encoder.layers)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def frame_shift_seconds(model) -> float:
    """Seconds per output frame of a CTC model (front-end hop x encoder subsampling)."""
    enc = model.encoder.cfg
    factor = 1 if enc.subsampling == "none" else enc.subsampling_factor
    return model.frontend.hop_length * factor / model.feature_cfg.sample_rate
