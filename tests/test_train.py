"""The one Trainer: overfitting, exact resume, transfer learning, config handling, CTC checks."""
from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.data import Utterance, write_manifest
from speechrnn.errors import ConfigError
from speechrnn.models import load_model, read_checkpoint
from speechrnn.tasks import get_task
from speechrnn.tasks.transcription import ctc_min_frames
from speechrnn.train import resolve_config, train

torch.set_num_threads(1)
SR = 16000
ALPHABET = "abcdehr"  # letters used by the fake corpus


def tone_speech(text: str, rng: np.random.Generator) -> np.ndarray:
    """Sine-coded fake speech: each letter a 90 ms tone at its own pitch, 30 ms gaps,
    150 ms silence for a space."""
    parts = [np.zeros(int(0.05 * SR))]
    for ch in text:
        if ch == " ":
            parts.append(np.zeros(int(0.15 * SR)))
            continue
        f = 300.0 * 1.35 ** ALPHABET.index(ch)
        t = np.arange(int(0.09 * SR)) / SR
        parts += [0.3 * np.sin(2 * np.pi * f * t) * np.hanning(t.size), np.zeros(int(0.03 * SR))]
    parts.append(np.zeros(int(0.05 * SR)))
    x = np.concatenate(parts)
    return (x + 0.003 * rng.standard_normal(x.size)).astype(np.float32)


def make_corpus(folder, texts, name="train", seed=0):
    """Write WAVs + a manifest for ``texts``; returns the manifest path."""
    rng = np.random.default_rng(seed)
    utts = []
    for i, text in enumerate(texts):
        path = folder / f"{name}-{i}.wav"
        x = tone_speech(text, rng)
        sf.write(path, x, SR)
        utts.append(Utterance(id=f"{name}-{i}", audio=str(path), duration=x.size / SR, text=text))
    manifest = folder / f"{name}.jsonl"
    write_manifest(manifest, utts)
    return manifest


def tiny_config(train_manifest, dev_manifest=None, **train_overrides):
    cfg = {
        "task": {"name": "transcription"},
        "data": {"train": str(train_manifest), "dev": str(dev_manifest) if dev_manifest else None},
        "features": {"n_mfcc": 13, "n_mels": 23, "cmvn": "global"},
        "model": {"encoder": {"subsampling": "stack", "subsampling_factor": 2, "hidden_size": 32,
                              "num_layers": 2, "dropout": 0.0}},
        "train": {"epochs": 1, "lr": 1e-2, "warmup_steps": 0, "schedule": "constant", "grad_clip": 5.0,
                  "max_seconds": 100.0, "progress": False, "log_every": 1, "seed": 0,
                  "keep_best": 1, **train_overrides},
    }
    return cfg


TEXTS = ["bad cab", "he had", "red bee", "a deer"]


def test_overfit_tiny_model_reaches_wer_zero(tmp_path):
    m = make_corpus(tmp_path, TEXTS)
    cfg = tiny_config(m, m, epochs=150, stop_at=0.0)
    result = train(cfg, tmp_path / "exp")
    assert result["best"] == 0.0, result
    model = load_model(tmp_path / "exp" / "best.pt")
    task = get_task({"name": "transcription"})
    from speechrnn.data import AudioDataset, collate_audio

    batch = collate_audio([AudioDataset(read_ds := __import__("speechrnn.data", fromlist=["x"]).read_manifest(m))[i]
                           for i in range(len(TEXTS))])
    with torch.no_grad():
        assert task.decode(model(batch["waveforms"], batch["lengths"])) == TEXTS
    assert (tmp_path / "exp" / "config.yaml").exists()
    assert (tmp_path / "exp" / "dev_log.csv").read_text().startswith("epoch,step,train_loss")
