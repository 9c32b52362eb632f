"""Keyword model ensembles: the posterior mean, the one-file format, refusals, int8, CLI."""
from __future__ import annotations

import pytest
import torch

from speechrnn.errors import CheckpointError
from speechrnn.features import FeatureConfig
from speechrnn.models import AcousticModel, EncoderConfig, HeadConfig, ModelConfig, load_model, save_checkpoint
from speechrnn.models.checkpoint import export_int8, read_checkpoint
from speechrnn.models.checkpoint import write_ensemble
from speechrnn.models.ensemble import EnsembleModel
import speechrnn.tasks.keywords  # noqa: F401  (registers the classifier head)

torch.set_num_threads(1)
LABELS = {"labels": ["yes", "no", "_unknown_", "_silence_"]}


def classifier(seed, n_mfcc=13, labels=LABELS, task="keywords", tmp=None, name=None):
    """A small random keyword classifier, saved to ``tmp/name`` if given."""
    torch.manual_seed(seed)
    cfg = ModelConfig(encoder=EncoderConfig(hidden_size=12, num_layers=1, subsampling="stack",
                                            subsampling_factor=3),
                      head=HeadConfig(kind="classifier", attention_dim=8))
    m = AcousticModel(cfg, len(labels["labels"]), FeatureConfig(n_mfcc=n_mfcc, n_mels=23, cmvn="utterance")).eval()
    m.task, m.labels = task, labels
    if tmp is not None:
        return save_checkpoint(tmp / name, m, task=task, labels=labels, extra={"epoch": 3})
    return m


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(3, 8000, generator=g) * 0.1, torch.tensor([8000, 6000, 4000])


def test_output_is_the_log_of_the_mean_member_posterior(batch):
    a, b = classifier(0), classifier(1, n_mfcc=20)  # members may differ in front-end
    ens = EnsembleModel([a, b]).eval()
    with torch.no_grad():
        out, n = ens(*batch)  # (B, C)
        pa, pb = (torch.softmax(m(*batch)[0], -1) for m in (a, b))
    assert out.shape == (3, 4) and n.tolist() == [8000, 6000, 4000]
    assert torch.allclose(out.exp(), (pa + pb) / 2, atol=1e-6)
    assert torch.allclose(out.exp().sum(-1), torch.ones(3), atol=1e-6)
    assert ens.task == "keywords" and ens.labels == LABELS and ens.num_outputs == 4


def test_one_file_round_trip_loads_safely_and_flattens(tmp_path, batch):
    pa, pb, pc = (classifier(s, tmp=tmp_path, name=f"{s}.pt") for s in (0, 1, 2))
    out = write_ensemble([pa, pb], tmp_path / "ens.pt", description="two")
    ck = torch.load(out, weights_only=True)  # plain containers and tensors only
    assert len(ck["members"]) == 2 and "extra" not in ck["members"][0]
    assert ck["extra"]["description"] == "two" and ck["extra"]["members"] == [str(pa), str(pb)]
    model = load_model(out)
    with torch.no_grad():
        want = (torch.softmax(load_model(pa)(*batch)[0], -1) + torch.softmax(load_model(pb)(*batch)[0], -1)) / 2
        assert torch.allclose(model(*batch)[0].exp(), want, atol=1e-6)
    three = write_ensemble([out, pc], tmp_path / "ens3.pt")  # an ensemble member is flattened
    assert len(load_model(three).members) == 3
    # int8: every member's weights stored as int8, the ensemble still agrees with the float one
    q = export_int8(out, tmp_path / "ens8.pt")
    assert q.stat().st_size < 0.7 * out.stat().st_size  # (tiny model: file overhead dominates)
    assert all(m["weights_format"] == "int8" for m in read_checkpoint(q)["members"])
    with torch.no_grad():
        assert torch.allclose(load_model(q)(*batch)[0].exp(), want, atol=0.02)


def test_refuses_mismatched_members_and_single_model_uses(tmp_path):
    from speechrnn.export import export_model
    from speechrnn.inference.recognizer import Recognizer
    from speechrnn.speakers.head import load_speaker_model
    from speechrnn.training.transfer import init_from_checkpoint

    pa = classifier(0, tmp=tmp_path, name="a.pt")
    other = classifier(1, labels={"labels": ["up", "down", "_unknown_", "_silence_"]}, tmp=tmp_path, name="b.pt")
    with pytest.raises(CheckpointError, match="b.pt: a 'keywords' model with other labels than"):
        write_ensemble([pa, other], tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="labels differ"):  # the model-level check
        EnsembleModel([load_model(pa), load_model(other)])
    assert not (tmp_path / "bad.pt").exists()  # nothing written
    with pytest.raises(CheckpointError, match="at least 2"):
        write_ensemble([pa], tmp_path / "bad.pt")
    ctc = classifier(2, task="transcription", tmp=tmp_path, name="c.pt")
    with pytest.raises(CheckpointError, match="classifier tasks"):
        write_ensemble([ctc, ctc], tmp_path / "bad.pt")
    ens = write_ensemble([pa, pa], tmp_path / "ens.pt")
    with pytest.raises(CheckpointError, match="single model"):
        init_from_checkpoint(classifier(3), ens, LABELS)
    with pytest.raises(CheckpointError, match="single model"):
        export_model(ens, tmp_path / "ens.ts", format="torchscript")
    with pytest.raises(CheckpointError, match="single model"):
        load_speaker_model(ens)
    with pytest.raises(CheckpointError, match="needs a transcription model"):
        Recognizer.load(ens)
    # a damaged member is named
    ck = torch.load(ens, weights_only=True)
    del ck["members"][1]["state_dict"]
    torch.save(ck, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="ensemble member 1 is missing key"):
        load_model(tmp_path / "broken.pt")


def test_cli_ensemble_then_evaluate_and_spot(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from speechrnn.cli import main
    from speechrnn.data import Utterance, write_manifest
    from speechrnn.inference.keywords import KeywordSpotter

    pa, pb = (classifier(s, tmp=tmp_path, name=f"{s}.pt") for s in (0, 1))
    assert main(["kws", "ensemble", str(pa), str(pb), "--out", str(tmp_path / "ens.pt")]) == 0
    assert "ensemble of 2 models" in capsys.readouterr().out
    rng = np.random.default_rng(0)
    utts = []
    for i, word in enumerate(["yes", "no", "_silence_"]):
        sf.write(tmp_path / f"{i}.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
        utts.append(Utterance(id=f"u{i}", audio=str(tmp_path / f"{i}.wav"), duration=1.0, label=word))
    write_manifest(tmp_path / "test.jsonl", utts)
    assert main(["kws", "evaluate", str(tmp_path / "ens.pt"), str(tmp_path / "test.jsonl"),
                 "--out-dir", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.json").is_file()
    spotter = KeywordSpotter.load(tmp_path / "ens.pt", threshold=0.3)
    post = spotter.classify(tmp_path / "0.wav")
    assert set(post) == set(LABELS["labels"]) and sum(post.values()) == pytest.approx(1.0, abs=1e-5)
    spotter.spot(tmp_path / "0.wav")  # the streaming path runs on an ensemble
