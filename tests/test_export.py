"""Model export: TorchScript vs eager on other shapes, int8 checkpoints, CLI, bad inputs."""
import importlib.util
import warnings
from types import SimpleNamespace as NS

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from speechrnn.cli import main
from speechrnn.config import from_dict
from speechrnn.decoding import DecodingConfig
from speechrnn.errors import CheckpointError
from speechrnn.export import ExportError, export_model, load_torchscript, trace_model
from speechrnn.features import FeatureConfig
from speechrnn.inference import Recognizer
from speechrnn.models import (
    AcousticModel, ModelConfig, load_model, quantize_dynamic, read_checkpoint,
)
from speechrnn.models.checkpoint import save_checkpoint
from speechrnn.text import CharTokenizer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    tok = CharTokenizer.english()
    cfg = from_dict(ModelConfig, {"encoder": {"hidden_size": 16, "num_layers": 2}})
    model = AcousticModel(cfg, tok.vocab_size, FeatureConfig(n_mfcc=13, n_mels=23))
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    save_checkpoint(path, model, task="transcription", labels=tok.to_dict(),
                    training={"epoch": 3, "optimizer": {"lr": torch.tensor(0.1)}},
                    extra={"description": "random test model"})
    return path


def _batch(seconds, seed, sr=16000):
    """Noise batch (B,S) zero-padded past each length, and lengths (B,)."""
    rng = np.random.default_rng(seed)
    lengths = [int(s * sr) for s in seconds]
    w = np.zeros((len(lengths), max(lengths)), np.float32)
    for i, n in enumerate(lengths):
        w[i, :n] = rng.standard_normal(n) * 0.05
    return torch.from_numpy(w), torch.tensor(lengths)


SHAPES = [((0.8, 0.5), 10), ((2.1, 1.4, 0.3, 2.0), 11)]  # two batch sizes and lengths, padded


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_torchscript_matches_eager_on_other_shapes(ckpt, tmp_path, int8):
    out = export_model(ckpt, tmp_path / "m.ts", format="torchscript", int8=int8)
    module, meta = load_torchscript(out)
    eager = load_model(ckpt)
    if int8:
        eager = quantize_dynamic(eager)
    with torch.no_grad():
        for seconds, seed in SHAPES:
            w, n = _batch(seconds, seed)
            ref, ref_n = eager(w, n)
            got, got_n = module(w, n)
            assert got.shape == ref.shape and torch.equal(got_n, ref_n)
            torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
            # padding does not change an item's outputs in the exported module either; dynamic
            # int8 picks one activation scale per batch, so its outputs move slightly with it
            tol = 0.05 if int8 else 1e-5
            alone, alone_n = module(w[-1:, : int(n[-1])], n[-1:])
            torch.testing.assert_close(alone[0, : int(alone_n[0])], got[-1, : int(got_n[-1])],
                                       atol=tol, rtol=tol)
    assert meta["weights"] == ("int8-dynamic" if int8 else "float")


def test_torchscript_metadata_is_enough_to_decode(ckpt, tmp_path):
    out = export_model(ckpt, tmp_path / "m.ts", format="torchscript", description="demo")
    _, meta = load_torchscript(out)
    rec = Recognizer(load_model(ckpt))
    assert meta["output_labels"] == rec.labels
    assert meta["frame_shift_s"] == pytest.approx(rec.frame_shift_s)
    assert meta["sample_rate"] == 16000 and meta["task"] == "transcription"
    assert meta["description"] == "demo"
    assert meta["labels"] == read_checkpoint(ckpt)["labels"]


def test_int8_checkpoint_is_smaller_and_transcribes_close_to_float(ckpt, tmp_path):
    out = export_model(ckpt, tmp_path / "q.pt", int8=True, description="int8 demo")
    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert raw["weights_format"] == "int8" and "training" not in raw
    assert raw["extra"]["description"] == "int8 demo"
    assert out.stat().st_size < 0.6 * ckpt.stat().st_size
    x = _batch((3.0,), 20)[0][0].numpy()
    fl, q8 = Recognizer.load(ckpt), Recognizer.load(out)
    with torch.no_grad():
        n = torch.tensor([x.size])
        lp_f, _ = fl.model(torch.from_numpy(x)[None], n)
        lp_q, _ = q8.model(torch.from_numpy(x)[None], n)
    assert (lp_f - lp_q).abs().max() < 0.05
    assert (lp_f.argmax(-1) == lp_q.argmax(-1)).float().mean() > 0.9
    tf, tq = fl.transcribe(x), q8.transcribe(x)
    assert tq.duration == pytest.approx(tf.duration)


def test_float_checkpoint_export_drops_training_state(ckpt, tmp_path):
    out = export_model(ckpt, tmp_path / "slim.pt")
    raw = read_checkpoint(out)
    assert "training" not in raw and raw["weights_format"] == "float"
    assert raw["extra"]["description"] == "random test model"
    src = read_checkpoint(ckpt)["state_dict"]
    assert all(torch.equal(src[k], v) for k, v in raw["state_dict"].items())


def test_cli_round_trip(ckpt, tmp_path, capsys):
    ts, q = tmp_path / "m.ts", tmp_path / "q.pt"
    args = ["export", str(ckpt), str(ts), "--format", "torchscript", "--description", "x"]
    assert main(args) == 0
    assert load_torchscript(ts)[1]["description"] == "x"
    assert main(["export", str(ckpt), str(q), "--int8"]) == 0
    assert "exported" in capsys.readouterr().out
    sf.write(tmp_path / "a.wav", _batch((1.0,), 3)[0][0].numpy(), 16000)
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", str(q), "--format", "json"]) == 0
    assert '"duration": 1.0' in capsys.readouterr().out


def test_missing_or_bad_checkpoint_gives_clear_errors(tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint file not found"):
        export_model(missing, tmp_path / "out.ts", format="torchscript")
    assert main(["export", str(missing), str(tmp_path / "o.pt")]) == 2
    assert "nope.pt: checkpoint file not found" in capsys.readouterr().err
    (tmp_path / "t.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a speechrnn checkpoint"):
        export_model(tmp_path / "t.pt", tmp_path / "o.pt", int8=True)
    assert not (tmp_path / "o.pt").exists()
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_model(tmp_path / "t.pt", tmp_path / "o.tflite", format="tflite")
    with pytest.raises(CheckpointError, match="not a speechrnn checkpoint"):
        export_model(tmp_path / "t.pt", tmp_path / "o.onnx", format="onnx")
    assert not (tmp_path / "o.onnx").exists()


def test_export_refuses_to_overwrite_its_input(ckpt):
    with pytest.raises(ExportError, match="overwrite the input"):
        export_model(ckpt, ckpt, int8=True)


def test_load_torchscript_rejects_foreign_archives(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notices
        torch.jit.save(torch.jit.script(nn.Linear(2, 2)), str(tmp_path / "lin.ts"))
    with pytest.raises(ExportError, match="without speechrnn.json"):
        load_torchscript(tmp_path / "lin.ts")
    (tmp_path / "junk.ts").write_bytes(b"\x00" * 10)
    with pytest.raises(ExportError, match="not a TorchScript archive"):
        load_torchscript(tmp_path / "junk.ts")


class ShapeBakingModel(nn.Module):
    """Reads a length as a Python int: tracing freezes it, so other shapes give wrong outputs."""

    feature_cfg = NS(sample_rate=16000)

    def forward(self, w, n):
        frames = int(n.max()) // 160  # a constant in the trace
        return w.new_zeros(w.shape[0], frames, 3), n // 160


def test_trace_refuses_a_model_that_does_not_generalize():
    with pytest.raises(ExportError, match="traced model on a batch of shape"):
        trace_model(ShapeBakingModel())


@pytest.mark.parametrize("kind", ["classifier", "embedding"])
def test_pooled_head_models_export_too(tmp_path, kind):
    torch.manual_seed(0)
    cfg = from_dict(ModelConfig, {"encoder": {"hidden_size": 8, "num_layers": 1},
                                  "head": {"kind": kind}})
    model = AcousticModel(cfg, 4, FeatureConfig(n_mfcc=13, n_mels=23)).eval()
    save_checkpoint(tmp_path / "k.pt", model, task="keywords", labels={"labels": list("abcd")})
    module, meta = load_torchscript(export_model(tmp_path / "k.pt", tmp_path / "k.ts",
                                                 format="torchscript"))
    assert meta["labels"] == {"labels": list("abcd")} and "output_labels" not in meta
    w, n = _batch((1.1, 0.4, 0.9), 5)
    with torch.no_grad():
        torch.testing.assert_close(module(w, n)[0], model(w, n)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(importlib.util.find_spec("flashlight") is None,
                    reason="lexicon decoding needs the 'lm' extra (flashlight-text)")
def test_export_stores_a_default_decoding_that_travels_with_the_model(ckpt, tmp_path, capsys, caplog,
                                                                     monkeypatch):
    import shutil

    from speechrnn.decoding import arpa_unigrams
    from speechrnn.inference.model_decoding import stored_decoding
    from speechrnn.lm import build_arpa

    lm = build_arpa(["the cat sat", "a dog ran", "the dog sat on a mat"] * 2, tmp_path / "w.arpa.gz")
    out = tmp_path / "deploy" / "m.pt"
    out.parent.mkdir()
    assert main(["export", str(ckpt), str(out), "--int8", "--decoder", "lexicon", "--lm", str(lm),
                 "--alpha", "0.7", "--beta", "1.5"]) == 0
    assert "default decoding: lexicon 32 + m.arpa.gz" in capsys.readouterr().out
    assert (out.parent / "m.arpa.gz").read_bytes() == lm.read_bytes()
    assert read_checkpoint(out)["extra"]["decoding"]["lm_path"] == "m.arpa.gz"  # stored by name

    moved = tmp_path / "elsewhere"
    shutil.copytree(out.parent, moved)  # model + LM move together
    rec = Recognizer.load(moved / "m.pt")
    assert (rec.decoding.method, rec.decoding.alpha, rec.decoding.beta) == ("lexicon", 0.7, 1.5)
    assert rec.decoding.lm_path == str(moved / "m.arpa.gz")
    audio = _batch((1.5,), 4)[0][0].numpy()
    words = set(rec.transcribe(audio, sample_rate=16000).text.split())
    assert words <= set(arpa_unigrams(lm))  # a random model, but only lexicon words come out
    # an explicit decoding wins over the stored one
    greedy = from_dict(DecodingConfig, {"method": "greedy"})
    assert Recognizer.load(moved / "m.pt", decoding=greedy).decoding.method == "greedy"

    import importlib.util as iu

    real_find_spec = iu.find_spec
    monkeypatch.setattr(iu, "find_spec",
                        lambda name, *a: None if name == "flashlight" else real_find_spec(name, *a))
    with caplog.at_level("WARNING"):  # decoder package missing: greedy, and says which
        assert stored_decoding(moved / "m.pt") is None
    assert "needs flashlight" in caplog.text
    monkeypatch.undo()

    (moved / "m.arpa.gz").unlink()  # LM lost: still loads, decodes greedily, says why
    with caplog.at_level("WARNING"):
        assert stored_decoding(moved / "m.pt") is None
    assert "m.arpa.gz beside it, which is missing" in caplog.text
    assert Recognizer.load(moved / "m.pt").decoding.method == "greedy"

    assert main(["export", str(ckpt), str(tmp_path / "m.ts"), "--format", "torchscript",
                 "--lm", str(lm)]) == 2
    assert "needs --format checkpoint" in capsys.readouterr().err
