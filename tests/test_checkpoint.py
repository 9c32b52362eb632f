"""Checkpoints: round trip, refusal of bad files, atomic writes, int8 export, averaging."""
from __future__ import annotations

import os

import pytest
import torch

from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig
from speechrnn.models import (
    AcousticModel, EncoderConfig, ModelConfig, average_checkpoints, export_int8, load_model,
    quantize_dynamic, read_checkpoint, save_checkpoint,
)
from speechrnn.models import checkpoint as ckpt_mod
from speechrnn.text import CharTokenizer, tokenizer_from_dict

torch.set_num_threads(1)


@pytest.fixture
def model():
    torch.manual_seed(0)
    cfg = ModelConfig(encoder=EncoderConfig(hidden_size=16, num_layers=2, subsampling="conv2d",
                                            subsampling_factor=2, conv_channels=4))
    m = AcousticModel(cfg, 29, FeatureConfig(n_mfcc=13, n_mels=23, cmvn="global"))
    m.frontend.set_global_cmvn(torch.full((13,), 0.5), torch.full((13,), 2.0))
    return m.eval()


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 4000, generator=g) * 0.1, torch.tensor([4000, 2500])


def test_round_trip_restores_config_labels_cmvn_and_outputs(tmp_path, model, batch):
    tok = CharTokenizer.english()
    path = save_checkpoint(tmp_path / "m.pt", model, task="transcription", labels=tok.to_dict(),
                           extra={"epoch": 3})
    loaded = load_model(path)
    assert not loaded.training
    assert loaded.task == "transcription"
    assert loaded.cfg == model.cfg and loaded.feature_cfg == model.feature_cfg
    assert tokenizer_from_dict(loaded.labels).encode("hi") == tok.encode("hi")
    assert torch.equal(loaded.frontend.cmvn_mean, model.frontend.cmvn_mean)
    assert torch.equal(loaded.frontend.cmvn_std, model.frontend.cmvn_std.clamp(min=1e-5))
    with torch.no_grad():
        torch.testing.assert_close(loaded(*batch)[0], model(*batch)[0], rtol=0, atol=0)
    assert read_checkpoint(path)["extra"] == {"epoch": 3}


def _rewrite(path, **changes):
    d = torch.load(path, weights_only=True)
    for k, v in changes.items():
        if v is None:
            del d[k]
        else:
            d[k] = v
    torch.save(d, path)


def test_refuses_unknown_version_and_missing_keys(tmp_path, model):
    p = save_checkpoint(tmp_path / "m.pt", model, task="transcription", labels={"labels": []})
    _rewrite(p, format_version=99)
    with pytest.raises(CheckpointError, match=r"format_version 99"):
        load_model(p)
    p = save_checkpoint(tmp_path / "m2.pt", model, task="transcription", labels={"labels": []})
    _rewrite(p, feature_config=None, labels=None)
    with pytest.raises(CheckpointError, match=r"missing key\(s\): feature_config, labels"):
        load_model(p)


def test_refuses_non_checkpoints_and_mismatched_weights(tmp_path, model):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    with pytest.raises(CheckpointError, match="not a speechrnn checkpoint"):
        load_model(junk)
    p = save_checkpoint(tmp_path / "m.pt", model, task="transcription", labels={"labels": []})
    d = torch.load(p, weights_only=True)
    d["model_config"]["encoder"]["hidden_size"] = 8
    torch.save(d, p)
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_model(p)


def test_atomic_write_keeps_old_file_when_save_fails(tmp_path, model, monkeypatch):
    p = save_checkpoint(tmp_path / "m.pt", model, task="transcription", labels={"labels": []})
    before = p.read_bytes()

    def boom(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(p, model, task="transcription", labels={"labels": []})
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pt"]  # no temporary left behind


def test_int8_export_is_smaller_and_close(tmp_path, model, batch):
    src = save_checkpoint(tmp_path / "m.pt", model, task="transcription", labels={"labels": []})
    dst = export_int8(src, tmp_path / "m8.pt")
    assert dst.stat().st_size < 0.5 * src.stat().st_size
    small = load_model(dst)
    with torch.no_grad():
        ref, q = model(*batch)[0], small(*batch)[0]
        assert (ref - q).abs().max() < 0.05
        fast = quantize_dynamic(load_model(src))
        assert (ref - fast(*batch)[0]).abs().max() < 0.05
    assert fast.task == "transcription"


def test_average_checkpoints(tmp_path, model):
    a = save_checkpoint(tmp_path / "a.pt", model, task="transcription", labels={"labels": []})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    b = save_checkpoint(tmp_path / "b.pt", model, task="transcription", labels={"labels": []})
    avg = load_model(average_checkpoints([a, b], tmp_path / "avg.pt"))
    wa = load_model(a).head.proj.weight
    torch.testing.assert_close(avg.head.proj.weight, wa + 0.5)


def test_loading_any_task_imports_no_task_module(tmp_path):
    """The loader sits below the tasks: a speaker model (cosine_embedding head, once defined by
    the speakers task) loads in a process that never imports speechrnn.tasks."""
    import subprocess
    import sys

    from speechrnn.models import HeadConfig

    m = AcousticModel(ModelConfig(encoder=EncoderConfig(hidden_size=8, num_layers=1),
                                  head=HeadConfig(kind="cosine_embedding", embedding_dim=4)), 3)
    path = save_checkpoint(tmp_path / "spk.pt", m, task="speakers", labels={"speakers": ["a", "b", "c"]})
    code = ("import sys\nfrom speechrnn.models import load_model\n"
            f"m = load_model({str(path)!r})\n"
            "assert m.cfg.head.kind == 'cosine_embedding'\n"
            "print(sorted(k for k in sys.modules if k.startswith('speechrnn.tasks')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_a_registered_head_that_cannot_be_imported_is_named(tmp_path):
    """A head kind registered as "module:function" is imported when a checkpoint needs it; an
    ImportError there is reported with the module's name, not hidden behind 'unknown head'."""
    from speechrnn.models import HeadConfig, register_head
    from speechrnn.models import heads

    register_head("test_pooled", heads._classifier)
    try:
        m = AcousticModel(ModelConfig(encoder=EncoderConfig(hidden_size=8, num_layers=1),
                                      head=HeadConfig(kind="test_pooled")), 3)
        path = save_checkpoint(tmp_path / "h.pt", m, task="mytask", labels={})
        register_head("test_pooled", "speechrnn.models.heads:_classifier")  # lazy, importable
        assert load_model(path).cfg.head.kind == "test_pooled"
        register_head("test_pooled", "no_such_package.heads:build")
        with pytest.raises(CheckpointError, match="no_such_package"):
            load_model(path)
    finally:
        heads._HEADS.pop("test_pooled", None)
    with pytest.raises(CheckpointError, match="unknown head 'test_pooled'"):
        load_model(path)
