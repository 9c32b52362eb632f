"""Train any task with one command and one YAML file.

    speechrnn train recipes/transcription/demo.yaml --exp-dir exp/demo train.lr=5e-4
    torchrun --nproc_per_node 2 -m speechrnn train cfg.yaml --exp-dir exp/ddp   # DDP

Config format
-------------
A run config has five sections; every key is typed and unknown keys fail with their dotted
name. Command-line overrides ``key.sub=value`` (value parsed as YAML) are applied on top.
Relative manifest / ``init_from`` paths are relative to the config file.

``task`` (validated by the task's config class, e.g. :class:`~speechrnn.tasks.transcription.TranscriptionConfig`)
    ``name``: ``transcription`` (``keywords``, ``speakers`` when those tasks are installed),
    plus the task's own keys (transcription: ``tokenizer``, ``normalize``, ``beam_size``).
``data`` (:class:`~speechrnn.training.config.DataConfig`)
    ``train``, ``dev`` manifests (JSONL, see :mod:`speechrnn.data.manifest`), ``min_duration``,
    ``max_duration``.
``features`` (:class:`~speechrnn.features.FeatureConfig`)
    MFCC front-end; ``cmvn: global`` computes statistics from the training manifest at the
    start of a fresh run and stores them in the model.
``model`` (:class:`~speechrnn.models.ModelConfig`)
    ``encoder``: ``subsampling`` (none|stack|conv2d), ``subsampling_factor``, ``rnn_type``
    (lstm|gru|rnn), ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout``,
    ``layer_norm``, ``projection_size``; ``head``: ``kind`` is set by the task.
``train`` (:class:`~speechrnn.training.config.TrainConfig`)
    epochs, max_steps, max_seconds per batch, lr, weight_decay, warmup_steps, schedule
    (cosine|linear|constant), grad_clip, accum_steps, amp, sortagrad, patience, keep_best,
    average_last, seed, num_workers, log_every, save_every_steps, device, threads,
    init_from, freeze_layers, ...

Example (``recipes/transcription/demo.yaml``)::

    task: {name: transcription}
    data: {train: data/train.jsonl, dev: data/dev.jsonl}
    features: {n_mfcc: 40, cmvn: global}
    model:
      encoder: {subsampling: stack, subsampling_factor: 3, hidden_size: 256, num_layers: 3}
    train: {epochs: 30, max_seconds: 200, lr: 1.0e-3, warmup_steps: 500, patience: 5}

Experiment folder
-----------------
``config.yaml`` (the resolved config), ``train_log.csv`` / ``dev_log.csv`` (and
``tensorboard/`` when TensorBoard is installed), ``last.pt`` (weights + optimizer, scheduler,
batch position, RNG states: a crashed run resumes exactly), ``epoch-N.pt`` (the ``keep_best``
best and the ``average_last`` latest), ``best.pt``, ``averaged.pt``. Every ``.pt`` is a
self-describing checkpoint (:mod:`speechrnn.models.checkpoint`) loadable with
:func:`speechrnn.load_model`. Only rank 0 writes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .training import DataConfig, RunConfig, TrainConfig, Trainer, resolve_config

__all__ = ["train", "DataConfig", "RunConfig", "TrainConfig", "Trainer", "resolve_config"]


def train(config: str | Path | dict, exp_dir: str | Path, overrides: Sequence[str] = (),
          resume: bool = True) -> dict:
    """Train from a YAML file (or dict) into ``exp_dir``; resume from ``last.pt`` if present.

    Returns
    -------
    dict with ``best`` dev metric, ``epochs``, ``steps`` and ``skipped`` batches.
    """
    cfg, resolved = resolve_config(config, overrides)
    return Trainer(cfg, exp_dir, resume=resume, resolved=resolved).fit()
