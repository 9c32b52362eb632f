"""Acoustic models (front-end -> encoder -> head) and self-describing checkpoints.

Public API: :class:`AcousticModel`, :class:`ModelConfig`, :class:`EncoderConfig`,
:class:`HeadConfig`, :func:`register_head`, :func:`save_checkpoint`, :func:`load_model`,
:func:`read_checkpoint`, :func:`export_int8`, :func:`quantize_dynamic`,
:func:`average_checkpoints`.
"""
from .acoustic import AcousticModel, ModelConfig
from .checkpoint import (
    FORMAT_VERSION,
    average_checkpoints,
    export_int8,
    load_model,
    quantize_dynamic,
    read_checkpoint,
    save_checkpoint,
)
from .encoder import Encoder, EncoderConfig
from .heads import HeadConfig, PooledHead, Pooling, build_head, register_head

__all__ = [
    "AcousticModel", "ModelConfig", "EncoderConfig", "Encoder", "HeadConfig", "PooledHead",
    "Pooling", "build_head", "register_head", "FORMAT_VERSION", "save_checkpoint", "load_model",
    "read_checkpoint", "export_int8", "quantize_dynamic", "average_checkpoints",
]
