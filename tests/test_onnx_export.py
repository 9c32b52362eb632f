"""ONNX export (speechrnn.export_onnx): front-end parity, every model kind and encoder variant,
dynamic batch/length with padding invariance, metadata, int8, the CLI and clear errors.

Parity is measured on real speech (the bundled sample and cuts of it), against the torch model
the graph was exported from. Tolerances: front-end features 2e-3 x their scale; model outputs
(CTC log-probabilities, class log-posteriors, unit embeddings) 2e-3 (export_onnx.TOLERANCE).
"""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from speechrnn.audio import load_audio
from speechrnn.cli import main
from speechrnn.errors import CheckpointError
from speechrnn.export import ExportError, export_model
from speechrnn.export_onnx import METADATA_KEY, SAMPLE, TOLERANCE, _Frontend, export_onnx
from speechrnn.features import FeatureConfig, MFCCFrontend
from speechrnn.inference.models import default_model_path
from speechrnn.models import AcousticModel, ModelConfig, load_model
from speechrnn.models.checkpoint import save_checkpoint
from speechrnn.models.encoder import EncoderConfig
from speechrnn.models.heads import HeadConfig
from speechrnn.runtime.model import METADATA_KEY as RUNTIME_KEY
from speechrnn.runtime.model import OnnxModel

SR = 16000


@pytest.fixture(scope="module")
def speech():
    """The bundled sample (2.9 s of espeak-ng speech) and cuts of it: a padded batch."""
    x = load_audio(SAMPLE)
    lengths = np.array([len(x), 20000, 7000, 401], dtype=np.int64)
    batch = np.zeros((len(lengths), len(x)), np.float32)
    for i, n in enumerate(lengths):
        batch[i, :n] = x[:n]
    return batch, lengths


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------- front-end
FRONTENDS = {
    "kaldi-mfcc-global": dict(),
    "kaldi-fbank-deltas1": dict(kind="fbank", n_mels=24, deltas=1, cmvn="none"),
    "librosa-mfcc-deltas2-utt": dict(style="librosa", n_mfcc=13, n_mels=40, deltas=2, cmvn="utterance"),
    "librosa-fbank-topdb": dict(style="librosa", kind="fbank", n_mels=32, top_db=60.0, cmvn="none"),
    "kaldi-nopreemph-n_fft": dict(preemphasis=0.0, n_fft=1024, win_ms=30.0, hop_ms=15.0),
}


@pytest.mark.parametrize("name", sorted(FRONTENDS))
def test_frontend_matches_mfccfrontend_on_speech(name, speech):
    fe = MFCCFrontend(FeatureConfig(**FRONTENDS[name])).eval()
    if fe.cmvn == "global":
        fe.set_global_cmvn(torch.linspace(-5, 5, fe.output_dim), torch.linspace(0.5, 3, fe.output_dim))
    w, n = torch.from_numpy(speech[0]), torch.from_numpy(speech[1])
    with torch.no_grad():
        ref, ref_n = fe(w, n)
        got, got_n = _Frontend(fe).eval()(w, n)
    assert torch.equal(ref_n, got_n)
    scale = float(ref.abs().max())
    assert float((ref - got).abs().max()) <= 2e-3 * max(scale, 1.0), name


# --------------------------------------------------------------------------- model kinds
def _tiny(tmp_path, task, head, encoder=None, features=None, labels=None, num_outputs=5):
    cfg = ModelConfig(encoder=EncoderConfig(hidden_size=16, num_layers=2, **(encoder or {})),
                      head=HeadConfig(kind=head, attention_dim=8, embedding_dim=12))
    torch.manual_seed(0)
    model = AcousticModel(cfg, num_outputs, FeatureConfig(**(features or {"cmvn": "utterance"})))
    path = tmp_path / f"{task}-{head}.pt"
    if labels is None:
        labels = ({"kind": "char", "symbols": list(" abc"), "unknown": "error"} if task == "transcription"
                  else {"labels": [f"c{i}" for i in range(num_outputs)]})
    save_checkpoint(path, model, task=task, labels=labels)
    return path


def _torch_outputs(path, w, n):
    """The torch model's outputs as the ONNX graph gives them."""
    from speechrnn.export_onnx import OnnxGraph

    model = load_model(path)
    with torch.no_grad():
        out = OnnxGraph(model).eval()(torch.from_numpy(w), torch.from_numpy(n))
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


VARIANTS = {
    "ctc-stack-lstm": ("transcription", "ctc", {}, None),
    "ctc-conv2d-gru-norm-proj": ("transcription", "ctc", dict(subsampling="conv2d", subsampling_factor=4,
                                 rnn_type="gru", layer_norm=True, projection_size=10), None),
    "ctc-none-rnn-unidirectional": ("transcription", "ctc", dict(subsampling="none", rnn_type="rnn",
                                    bidirectional=False), dict(style="librosa", deltas=1, cmvn="none")),
    "keywords-classifier": ("keywords", "classifier", {}, None),
    "speakers-cosine": ("speakers", "cosine_embedding", {}, None),
    "speakers-embedding": ("speakers", "embedding", {}, None),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_kind_exports_with_dynamic_batch_and_length(name, tmp_path, speech):
    task, head, enc, feats = VARIANTS[name]
    src = _tiny(tmp_path, task, head, enc, feats, num_outputs=5 if task != "transcription" else 5)
    dst = export_onnx(src, tmp_path / "m.onnx")
    sess = _session(dst)
    w, n = speech
    for rows in ([0, 1, 2, 3], [2], [1, 3]):  # other batch sizes and padded lengths than traced
        ww, nn_ = w[rows, : int(n[rows].max())], n[rows]
        got = sess.run(None, {"waveforms": ww, "lengths": nn_})
        ref = _torch_outputs(src, ww, nn_)
        if task == "transcription":
            assert np.array_equal(got[1], ref[1])
            mask = np.arange(ref[0].shape[1])[None, :] < ref[1][:, None]
            assert np.abs(got[0] - ref[0])[mask].max() <= TOLERANCE
        else:
            assert got[0].shape == ref[0].shape
            assert np.abs(got[0] - ref[0]).max() <= TOLERANCE
    # padding invariance inside the graph: an item alone equals the same item in the batch
    alone = sess.run(None, {"waveforms": w[2:3, : n[2]], "lengths": n[2:3]})
    batch = sess.run(None, {"waveforms": w, "lengths": n})
    if task == "transcription":
        t = int(alone[1][0])
        np.testing.assert_allclose(alone[0][0, :t], batch[0][2, :t], atol=1e-4)
    else:
        np.testing.assert_allclose(alone[0][0], batch[0][2], atol=1e-5)


# --------------------------------------------------------------------------- bundled models
@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The three bundled models exported (float and int8) once for this module."""
    out = tmp_path_factory.mktemp("onnx")
    paths = {}
    for task, name in (("transcription", "en"), ("keywords", "kws"), ("speakers", "spk")):
        for int8 in (False, True):
            paths[task, int8] = export_onnx(default_model_path(task),
                                            out / f"{name}{'-int8' if int8 else ''}.onnx", int8=int8)
    return paths


@pytest.mark.parametrize("task", ["transcription", "keywords", "speakers"])
def test_bundled_models_match_torch_on_speech(bundled, speech, task):
    """Max |ONNX - torch| over the valid outputs of real speech (batch of 4 padded cuts)."""
    w, n = speech
    got = _session(bundled[task, False]).run(None, {"waveforms": w, "lengths": n})
    ref = _torch_outputs(default_model_path(task), w, n)
    if task == "transcription":
        assert np.array_equal(got[1], ref[1])
        mask = np.arange(ref[0].shape[1])[None, :] < ref[1][:, None]
        diff = np.abs(got[0] - ref[0])[mask].max()
        assert (got[0].argmax(-1) == ref[0].argmax(-1))[mask].all()
    else:
        diff = np.abs(got[0] - ref[0]).max()
    assert diff <= TOLERANCE, diff


def test_metadata_describes_the_model(bundled):
    assert METADATA_KEY == RUNTIME_KEY
    en = OnnxModel(bundled["transcription", False]).meta
    assert en["task"] == "transcription" and en["sample_rate"] == SR
    assert en["output_labels"][:3] == ["<blank>", " ", "a"] and en["frame_shift_s"] == pytest.approx(0.03)
    assert en["unit_samples"] == 480 and en["min_samples"] == 400
    assert en["features"][0]["cmvn"]["kind"] == "global" and len(en["features"][0]["cmvn"]["mean"]) == 40
    assert en["decoding"]["method"] == "lexicon" and en["decoding"]["lm_path"] == "en.arpa.gz"
    assert (bundled["transcription", False].parent / "en.arpa.gz").is_file()  # LM copied beside
    assert en["description"] and en["weights"] == "float" and en["max_abs_diff_vs_torch"] <= TOLERANCE
    kws = OnnxModel(bundled["keywords", False]).meta
    assert kws["ensemble_size"] == 3 and len(kws["features"]) == 3
    assert kws["labels"]["labels"][:2] == ["yes", "no"] and 0 < kws["extra"]["kws_threshold"] < 1
    spk = OnnxModel(bundled["speakers", False]).meta
    from speechrnn.speakers.head import load_speaker_model

    assert spk["fingerprint"] == load_speaker_model(default_model_path("speakers")).fingerprint
    assert spk["embedding_dim"] == 192 and spk["features"][0]["cmvn"] == {"kind": "utterance", "variance": True}
    assert 0 < spk["extra"]["speaker_threshold"] < 1


def test_int8_export_is_smaller_and_quantized(bundled):
    import onnx

    for task in ("transcription", "keywords", "speakers"):
        f, q = bundled[task, False], bundled[task, True]
        assert q.stat().st_size < 0.4 * f.stat().st_size
        ops = {node.op_type for node in onnx.load(str(q)).graph.node}
        assert "DynamicQuantizeLSTM" in ops, ops
        assert json.loads(onnx.load(str(q)).metadata_props[0].value)["weights"] == "int8"
        # the front-end stays float: its DFT convolution and mel matrix are not quantized
        assert "Conv" in ops and "ConvInteger" not in ops


def test_cli_exports_onnx(tmp_path, capsys):
    src = _tiny(tmp_path, "keywords", "classifier")
    assert main(["export", str(src), str(tmp_path / "k.onnx"), "--format", "onnx", "--int8"]) == 0
    assert "[onnx (int8)]" in capsys.readouterr().out
    assert OnnxModel(tmp_path / "k.onnx").task == "keywords"


def test_bad_inputs_give_clear_errors(tmp_path):
    (tmp_path / "bad.pt").write_text("not a model")
    with pytest.raises(CheckpointError, match="not a speechrnn checkpoint"):
        export_model(tmp_path / "bad.pt", tmp_path / "o.onnx", format="onnx")
    assert not (tmp_path / "o.onnx").exists()
    with pytest.raises(CheckpointError, match="model file not found"):
        OnnxModel(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk")
    with pytest.raises(CheckpointError, match="junk.onnx: not an ONNX model"):
        OnnxModel(tmp_path / "junk.onnx")
    # an ONNX model that speechrnn did not write
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g), str(tmp_path / "other.onnx"))
    with pytest.raises(CheckpointError, match="without speechrnn metadata"):
        OnnxModel(tmp_path / "other.onnx")
    with pytest.raises(ExportError, match="overwrite the input"):
        export_model(tmp_path / "bad.pt", tmp_path / "bad.pt", format="onnx")
