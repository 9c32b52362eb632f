"""Speaker task end to end through the shared Trainer, AAM logits, evaluation report + DET PNG."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.data import Utterance, write_manifest
from speechrnn.errors import ConfigError

SR = 16000


def voice(speaker: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A crude "voice": harmonics of a speaker-specific pitch shaped by a speaker-specific
    formant, with syllable-rate amplitude modulation and a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = (110 + 45 * speaker) * (1 + 0.03 * rng.standard_normal())
    formant = 500 + 350 * ((speaker * 7) % 5)
    x = np.zeros_like(t)
    for h in range(1, 25):
        f = h * f0
        if f > 7000:
            break
        x += np.exp(-(((f - formant) / 400) ** 2)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
    am = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6.3))
    x = x * am
    x = 0.5 * x / (np.abs(x).max() + 1e-9) + 0.01 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def make_speaker_tree(root, speakers=4, per_speaker=6, seed=0, prefix="spk"):
    """``root/<prefix>K/uttN.wav`` and manifests ``train``/``dev`` (closed set) in ``root``.

    Returns ``{"train": [...], "dev": [...]}`` utterances (the last 2 of each speaker go to dev).
    """
    rng = np.random.default_rng(seed)
    splits = {"train": [], "dev": []}
    for k in range(speakers):
        for n in range(per_speaker):
            dur = float(rng.uniform(0.5, 0.8))
            path = root / f"{prefix}{k}" / f"utt{n}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), voice(k + 100 * (prefix != "spk"), dur, rng), SR, subtype="PCM_16")
            split = "dev" if n >= per_speaker - 2 else "train"
            splits[split].append(Utterance(id=f"{prefix}{k}/utt{n}", audio=str(path), duration=dur,
                                           speaker=f"{prefix}{k}"))
    for name, utts in splits.items():
        write_manifest(root / f"{name}.jsonl", utts)
    return splits


def tiny_config(root, **task):
    return {
        "task": {"name": "speakers", "speakers_from": str(root / "train.jsonl"), **task},
        "data": {"train": str(root / "train.jsonl"), "dev": str(root / "dev.jsonl")},
        "features": {"n_mfcc": 13, "n_mels": 23},
        "model": {"encoder": {"subsampling": "stack", "subsampling_factor": 3, "hidden_size": 24,
                              "num_layers": 1, "dropout": 0.0},
                  "head": {"embedding_dim": 16, "attention_dim": 8}},
        "train": {"epochs": 12, "max_seconds": 3.0, "lr": 1e-2, "warmup_steps": 0, "schedule": "constant",
                  "threads": 1, "progress": False, "log_every": 1000, "sortagrad": False},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny AAM speaker model trained through the shared Trainer on 4 tone 'voices'."""
    from speechrnn.train import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("spk")
    make_speaker_tree(root)
    result = train(tiny_config(root, margin=0.1, scale=16.0), root / "exp")
    return root, result


def test_task_trains_through_shared_trainer_and_identifies_dev(trained):
    from speechrnn.speakers.head import load_speaker_model

    root, result = trained
    assert result["best"] >= 0.75  # closed-set dev top-1 (8 dev utterances, 4 speakers)
    model = load_speaker_model(root / "exp" / "best.pt")
    assert model.task == "speakers" and model.cfg.head.kind == "cosine_embedding"
    assert model.labels["labels"] == ["spk0", "spk1", "spk2", "spk3"]
    log = (root / "exp" / "dev_log.csv").read_text()
    assert "top1" in log and "eer" in log


def test_evaluate_writes_report_and_det_png(trained, tmp_path):
    from speechrnn.speakers.evaluate import evaluate_speakers

    root, _ = trained
    unseen = make_speaker_tree(tmp_path / "unseen", speakers=3, per_speaker=3, seed=5, prefix="new")
    verify = unseen["train"] + unseen["dev"]
    write_manifest(tmp_path / "verify.jsonl", verify)
    (tmp_path / "trials.txt").write_text(
        f"1 {verify[0].id} {verify[3].id}\n0 {verify[0].id} {verify[1].id}\n"
        f"1 {verify[1].id} {verify[4].id}\n0 {verify[2].id} {verify[4].id}\n")
    rep = evaluate_speakers(root / "exp" / "best.pt", tmp_path / "report", test=root / "dev.jsonl",
                            verify=tmp_path / "verify.jsonl", trials=tmp_path / "trials.txt",
                            cohort=root / "train.jsonl")
    on_disk = json.loads((tmp_path / "report" / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(rep))
    # the figures, recomputed one utterance at a time (no batching, no padding)
    from speechrnn.audio import load_audio
    from speechrnn.data import read_manifest
    from speechrnn.metrics import eer, min_dcf
    from speechrnn.speakers.head import embed_batch, load_speaker_model

    model = load_speaker_model(root / "exp" / "best.pt")
    classes = model.labels["labels"]

    def alone(u):
        x = torch.from_numpy(load_audio(u.audio))[None]
        with torch.no_grad():
            e = embed_batch(model, x, torch.tensor([x.shape[1]]))[0]  # (E,) unit vector
            enc, n = model.encode(x, torch.tensor([x.shape[1]]))
            logits = model.head.projection(model.head.embed(enc, n))[0]  # (C,)
        return e.numpy(), logits.numpy()

    dev = read_manifest(root / "dev.jsonl")
    ranks = [int((lg > lg[classes.index(u.speaker)]).sum()) for u in dev for lg in [alone(u)[1]]]
    ident = rep["identification"]
    assert ident["method"] == "classifier" and ident["utterances"] == 8
    assert ident["top1"] == pytest.approx(np.mean([r < 1 for r in ranks]))
    assert ident["top5"] == pytest.approx(np.mean([r < 4 for r in ranks])) == 1.0  # 4 classes
    emb = {u.id: alone(u)[0] for u in verify}
    trials = [line.split() for line in (tmp_path / "trials.txt").read_text().splitlines()]
    scores = np.array([float(emb[a] @ emb[b]) for _, a, b in trials])
    same = np.array([t[0] == "1" for t in trials])
    raw = rep["verification"]["raw"]
    assert raw["eer"] == pytest.approx(eer(scores[same], scores[~same])[0], abs=1e-6)
    assert raw["min_dcf"] == pytest.approx(min_dcf(scores[same], scores[~same])[0], abs=1e-6)
    from speechrnn.metrics.trials import snorm_pairs

    ids = [u.id for u in verify]
    cohort = np.stack([alone(u)[0] for u in read_manifest(root / "train.jsonl")])
    i, j = [ids.index(a) for _, a, _ in trials], [ids.index(b) for _, _, b in trials]
    norm = snorm_pairs(np.stack([emb[k] for k in ids]), i, j, cohort)
    assert rep["verification"]["s-norm"]["eer"] == pytest.approx(eer(norm[same], norm[~same])[0], abs=1e-5)
    for system in ("raw", "s-norm"):
        v = rep["verification"][system]
        assert v["target_trials"] == 2 and v["nontarget_trials"] == 2
    assert (tmp_path / "report" / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "identification_closed_set" not in rep  # the test holds every training speaker
    # a test group smaller than the training classes is also scored among its own speakers
    from speechrnn.data import read_manifest

    two = [u for u in read_manifest(root / "dev.jsonl") if u.speaker in ("spk0", "spk1")]
    write_manifest(tmp_path / "two.jsonl", two)
    rep3 = evaluate_speakers(root / "exp" / "best.pt", tmp_path / "r3", test=tmp_path / "two.jsonl")
    wide, narrow = rep3["identification"], rep3["identification_closed_set"]
    assert (wide["classes"], narrow["classes"], narrow["speakers"]) == (4, 2, 2)
    assert narrow["top1"] >= wide["top1"]  # a right argmax among all classes stays right among fewer
    assert narrow["top5"] == 1.0  # top-5 of 2 classes
    # cosine-centroid identification of speakers the model never saw
    write_manifest(tmp_path / "enroll.jsonl", unseen["train"])
    write_manifest(tmp_path / "test.jsonl", unseen["dev"])
    rep2 = evaluate_speakers(root / "exp" / "best.pt", tmp_path / "r2", test=tmp_path / "test.jsonl",
                             enroll=tmp_path / "enroll.jsonl")
    assert rep2["identification"]["method"] == "cosine-centroid"
    assert rep2["identification"]["speakers"] == 3
    assert not (tmp_path / "r2" / "det.png").exists()


def test_softmax_loss_uses_plain_embedding_head(tmp_path):
    from speechrnn.tasks import get_task

    make_speaker_tree(tmp_path, speakers=2, per_speaker=3)
    task = get_task({"name": "speakers", "speakers_from": str(tmp_path / "train.jsonl"), "loss": "softmax"})
    assert task.head_kind == "embedding" and task.num_outputs() == 2
    logits = torch.tensor([[2.0, -1.0]])
    assert torch.allclose(task.logits(logits, torch.tensor([0])), logits)


def test_aam_logits_apply_margin_to_target_only():
    from speechrnn.tasks.speakers import aam_logits

    cos = torch.tensor([[0.8, 0.3, -0.2]])
    out = aam_logits(cos, torch.tensor([0]), margin=0.2, scale=10.0)
    assert out[0, 0] == pytest.approx(10 * math.cos(math.acos(0.8) + 0.2), rel=1e-5)
    assert torch.allclose(out[0, 1:], 10 * cos[0, 1:])
    # past theta + m > pi the target logit keeps decreasing with theta
    low = aam_logits(torch.tensor([[-0.99, 0.0], [-0.999, 0.0]]), torch.tensor([0, 0]), 0.5, 1.0)
    assert low[1, 0] < low[0, 0]


def test_margin_warmup_follows_optimizer_steps_across_a_resume(tmp_path):
    """The AAM margin ramp is a function of the trainer's step: a run stopped after 2 steps and
    resumed to 5 ends with the same weights, bitwise, as one run of 5 steps (the ramp used to
    restart from margin 0 in the resumed process)."""
    from speechrnn.models import read_checkpoint
    from speechrnn.train import train

    torch.set_num_threads(1)
    make_speaker_tree(tmp_path, speakers=3, per_speaker=6)
    cfg = tiny_config(tmp_path, margin=0.3, scale=16.0, margin_warmup_steps=4)
    cfg["train"].update(max_seconds=1.5, accum_steps=2, epochs=50)
    train(cfg, tmp_path / "straight", overrides=["train.max_steps=5"])
    train(cfg, tmp_path / "crashed", overrides=["train.max_steps=2"])
    train(cfg, tmp_path / "crashed", overrides=["train.max_steps=5"])  # resumes from last.pt
    a = read_checkpoint(tmp_path / "straight" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "crashed" / "last.pt")["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_config_errors_and_unknown_speakers_are_dropped(tmp_path, caplog):
    from speechrnn.tasks import get_task

    with pytest.raises(ConfigError, match="speakers_from"):
        get_task({"name": "speakers"})
    with pytest.raises(ConfigError, match="unknown key"):
        get_task({"name": "speakers", "speakers": ["a"], "margn": 0.1})
    with pytest.raises(ConfigError, match="margin"):
        get_task({"name": "speakers", "speakers": ["a"], "margin": 2.0})
    task = get_task({"name": "speakers", "speakers": ["a", "b"]})
    utts = [Utterance(id=str(i), audio="x.wav", speaker=s) for i, s in enumerate(["a", "zed", "b"])]
    with caplog.at_level("WARNING"):
        assert task.prepare(utts, [1.0] * 3, None, "train") == [0, 2]
    assert "zed" in caplog.text


def test_finetune_on_new_group_keeps_embedding_layers(trained, tmp_path):
    """init_from a speaker model with other speakers: pooling and embedding are copied, only the
    output layer (one row per training speaker) starts afresh."""
    from speechrnn.models import AcousticModel, read_checkpoint
    from speechrnn.speakers.head import load_speaker_model
    from speechrnn.tasks import get_task
    from speechrnn.training.transfer import init_from_checkpoint

    root, _ = trained
    src = read_checkpoint(root / "exp" / "last.pt")["state_dict"]
    make_speaker_tree(tmp_path, speakers=2, per_speaker=3, seed=3, prefix="grp")
    model = load_speaker_model(root / "exp" / "last.pt")  # same architecture, then a 2-speaker task
    task = get_task({"name": "speakers", "speakers_from": str(tmp_path / "train.jsonl")})
    fresh = AcousticModel(model.cfg, task.num_outputs(), model.feature_cfg)
    copied = init_from_checkpoint(fresh, root / "exp" / "last.pt", task.labels())
    assert "head.embedding.weight" in copied and any(n.startswith("head.pooling.") for n in copied)
    assert not any(n.startswith("head.projection.") for n in copied)
    own = fresh.state_dict()
    assert own["head.projection.weight"].shape[0] == 2 != src["head.projection.weight"].shape[0]
    assert torch.equal(own["head.embedding.weight"], src["head.embedding.weight"])
