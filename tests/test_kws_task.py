"""Keyword task end to end: look-alike Speech Commands tree -> importer -> shared Trainer ->
KeywordSpotter on long audio -> `speechrnn spot` (good + bad file) -> `speechrnn kws evaluate`."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.errors import ConfigError

torch.set_num_threads(1)
SR = 16000
PITCH = {"yes": 400.0, "no": 1500.0, "cat": 800.0, "dog": 2500.0}  # fake "words": tones
LABELS = ["yes", "no", "_unknown_", "_silence_"]


def word_clip(word, rng, seconds=1.0):
    """A 0.5 s tone (the word's pitch, jittered) at a random place in ``seconds`` of faint noise."""
    x = 0.005 * rng.standard_normal(int(seconds * SR))
    t = np.arange(int(0.5 * SR)) / SR
    f = PITCH[word] * rng.uniform(0.95, 1.05)
    at = int(rng.integers(0, x.size - t.size + 1))
    x[at: at + t.size] += 0.4 * np.sin(2 * np.pi * f * t) * np.hanning(t.size)
    return x.astype(np.float32)


def make_tree(root, per_word=8):
    """Speech Commands layout: 4 word folders, lists (speaker 'dv' -> dev, 'ts' -> test), noise."""
    rng = np.random.default_rng(0)
    dev, test = [], []
    for word in PITCH:
        (root / word).mkdir(parents=True)
        for i in range(per_word):
            spk = "dv" if i == 0 else "ts" if i == 1 else f"s{i}"
            name = f"{word}/{spk}{i:02d}_nohash_0.wav"
            sf.write(root / name, word_clip(word, rng), SR)
            (dev if spk == "dv" else test if spk == "ts" else []).append(name)
    (root / "validation_list.txt").write_text("\n".join(dev) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    (root / "_background_noise_").mkdir()
    sf.write(root / "_background_noise_" / "white.wav",
             (0.005 * rng.standard_normal(20 * SR)).astype(np.float32), SR)
    return root


def run_config(data):
    return {
        "task": {"name": "keywords", "labels": LABELS},
        "data": {"train": str(data / "train.jsonl"), "dev": str(data / "train.jsonl")},
        "features": {"n_mfcc": 13, "n_mels": 23, "cmvn": "global"},
        "model": {"encoder": {"subsampling": "stack", "subsampling_factor": 3, "hidden_size": 24,
                              "num_layers": 1, "dropout": 0.0}, "head": {"attention_dim": 16}},
        "train": {"epochs": 40, "lr": 1e-2, "warmup_steps": 0, "schedule": "constant", "max_seconds": 8.0,
                  "progress": False, "log_every": 5, "seed": 0, "keep_best": 1, "stop_at": 1.0},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Import the tree (12-class protocol), train through the shared Trainer, return paths."""
    from speechrnn.data.importers import prepare_speech_commands
    from speechrnn.train import train

    tmp = tmp_path_factory.mktemp("kws")
    tree = make_tree(tmp / "sc")
    splits = prepare_speech_commands(tree, tmp / "data", protocol="12class", silence_fraction=0.25)
    assert {u.label for u in splits["train"]} == {"yes", "no", "_unknown_", "_silence_"}
    result = train(run_config(tmp / "data"), tmp / "exp")
    return {"tmp": tmp, "data": tmp / "data", "model": tmp / "exp" / "best.pt", "result": result}


def test_trainer_learns_the_classes_and_checkpoint_describes_the_task(trained):
    from speechrnn.models import load_model

    assert trained["result"]["best"] >= 0.9, trained["result"]
    model = load_model(trained["model"])
    assert model.task == "keywords" and model.labels == {"labels": LABELS}
    assert model.num_outputs == 4


def test_spotter_finds_words_at_their_times_in_long_audio(trained):
    from speechrnn.inference.keywords import KeywordSpotter

    rng = np.random.default_rng(5)
    x = 0.005 * rng.standard_normal(10 * SR).astype(np.float32)
    t = np.arange(int(0.5 * SR)) / SR
    for word, at in (("yes", 2.0), ("no", 6.0)):
        x[int(at * SR): int(at * SR) + t.size] += 0.4 * np.sin(2 * np.pi * PITCH[word] * t) * np.hanning(t.size)
    spotter = KeywordSpotter.load(trained["model"], threshold=0.6)
    dets = spotter.spot(x).detections
    assert [d.keyword for d in dets] == ["yes", "no"]
    for d, at in zip(dets, (2.0, 6.0)):  # the peak window contains the word
        assert d.start - 0.1 <= at and at + 0.5 <= d.end + 0.1
    # chunk-by-chunk stream gives the same detections (up to float rounding of the scores)
    stream = spotter.stream()
    got = [d for i in range(0, x.size, 4000) for d in stream.feed(x[i:i + 4000])] + stream.finish()
    assert [(d.keyword, d.start) for d in got] == [(d.keyword, d.start) for d in dets]
    # a subset of keywords; a word the model does not know is refused
    assert [d.keyword for d in KeywordSpotter.load(trained["model"], ["no"], threshold=0.6).spot(x).detections] == ["no"]
    with pytest.raises(ConfigError, match="not classes"):
        KeywordSpotter.load(trained["model"], ["marvin"])


def test_cli_spot_good_and_bad_file(trained, capsys):
    from speechrnn.cli import main

    good = trained["tmp"] / "good.wav"
    sf.write(good, np.concatenate([np.zeros(SR, np.float32), word_clip("yes", np.random.default_rng(1)),
                                   np.zeros(SR, np.float32)]), SR)
    bad = trained["tmp"] / "bad.wav"
    bad.write_text("not audio")
    rc = main(["spot", str(good), str(bad), "--model", str(trained["model"]), "--format", "json",
               "--threshold", "0.6"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "bad.wav" in err and "1 of 2 file(s) failed" in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1 and rows[0]["path"] == str(good)
    assert [d["keyword"] for d in rows[0]["detections"]] == ["yes"]


def test_kws_evaluate_writes_report_and_plots(trained, capsys):
    from speechrnn.cli import main
    from speechrnn.data import Utterance, read_manifest, write_manifest

    rng = np.random.default_rng(9)
    negs = []
    for i in range(3):  # "negative speech": unknown-word tones in 6 s of noise
        x = 0.005 * rng.standard_normal(6 * SR).astype(np.float32)
        x[2 * SR: 3 * SR] += word_clip("dog", rng)
        p = trained["tmp"] / f"neg{i}.wav"
        sf.write(p, x, SR)
        negs.append(Utterance(id=f"neg{i}", audio=str(p), duration=6.0, text="dog"))
    negs.append(Utterance(id="has-kw", audio=str(p), duration=6.0, text="say yes now"))  # dropped
    write_manifest(trained["tmp"] / "neg.jsonl", negs)
    # an unreadable test clip is named, left out, and makes the exit status 1
    test_utts = read_manifest(trained["data"] / "test.jsonl")
    (trained["tmp"] / "broken.wav").write_text("not audio")
    test_utts.append(Utterance(id="broken", audio=str(trained["tmp"] / "broken.wav"), duration=1.0, label="yes"))
    write_manifest(trained["tmp"] / "test_broken.jsonl", test_utts)
    out = trained["tmp"] / "report"
    rc = main(["kws", "evaluate", str(trained["model"]), str(trained["tmp"] / "test_broken.jsonl"),
               "--negatives", str(trained["tmp"] / "neg.jsonl"), "--dev-negatives",
               str(trained["tmp"] / "neg.jsonl"), "--out-dir", str(out), "--fa-per-hour", "100"])
    assert rc == 1
    cap = capsys.readouterr()
    assert "not scored broken" in cap.err and "accuracy" in cap.out
    r = json.loads((out / "report.json").read_text())
    assert r["test_utterances"] == len(test_utts) - 1 and r["unreadable"][0][0] == "broken"
    assert r["labels"] == LABELS and np.array(r["confusion_matrix"]).sum() == r["test_utterances"]
    fa = r["false_alarms"]
    assert fa["utterances"] == 3 and fa["dropped_with_keyword"] == 1
    assert fa["hours"] == pytest.approx(18 / 3600, abs=1e-4)
    # overall FRR = the keyword clips' FRRs at the same threshold, weighted by clip counts
    counts = {k: sum(u.label == k for u in test_utts if u.id != "broken") for k in fa["frr_per_keyword"]}
    assert fa["keyword_clips"] == sum(counts.values()) > 0
    assert fa["frr_at_target"] == pytest.approx(
        sum(fa["frr_per_keyword"][k] * n for k, n in counts.items()) / fa["keyword_clips"])
    assert r["calibration"]["test_fa_per_hour"] <= 100
    assert (out / "confusion.png").stat().st_size > 1000 and (out / "det.png").stat().st_size > 1000
    groups = r["per_engine_accuracy"]
    assert sum(g["clips"] for g in groups.values()) == r["test_utterances"]
    assert sum(g["accuracy"] * g["clips"] for g in groups.values()) == pytest.approx(
        r["accuracy"] * r["test_utterances"])


def test_accuracy_by_engine_groups_by_speaker_prefix():
    from speechrnn.data import Utterance
    from speechrnn.kws.evaluate import accuracy_by_engine

    utts = [Utterance(id="a", audio="a.wav", speaker="espeak-ng:en-us"),
            Utterance(id="b", audio="b.wav", speaker="espeak-ng:en-gb+m1"),
            Utterance(id="c", audio="c.wav", speaker="flite:slt"), Utterance(id="d", audio="d.wav")]
    r = accuracy_by_engine(utts, ["a", "b", "c", "d"], [0, 1, 2, 3], [0, 0, 2, 3])
    assert r == {"espeak-ng": {"accuracy": 0.5, "clips": 2}, "flite": {"accuracy": 1.0, "clips": 1},
                 "none": {"accuracy": 1.0, "clips": 1}}


def test_task_config_and_labels_errors():
    from speechrnn.data import Utterance
    from speechrnn.tasks import get_task

    with pytest.raises(ConfigError, match="unknown key"):
        get_task({"name": "keywords", "lables": ["a"]})
    with pytest.raises(ConfigError, match="_unknown_"):
        get_task({"name": "keywords", "labels": ["a", "b"]})  # map_unknown needs _unknown_
    task = get_task({"name": "keywords", "labels": ["a", "b"], "map_unknown": False})
    with pytest.raises(ConfigError, match="'zz'"):
        task.prepare([Utterance(id="u1", audio="x.wav", label="zz")], [1.0], None, "train")
    t12 = get_task("keywords")
    assert t12.num_outputs() == 12 and len(t12.keywords) == 10
    u = Utterance(id="u2", audio="x.wav", label="marvin")
    assert t12.cfg.labels[t12.class_id(u)] == "_unknown_"


def test_distillation_loss_mixes_cross_entropy_and_teacher_kl():
    import torch.nn.functional as F

    from speechrnn.data import Utterance
    from speechrnn.tasks import get_task
    from speechrnn.tasks.keywords import TEACHER_KEY, TEACHER_LABELS_KEY

    g = torch.Generator().manual_seed(0)
    logits, teacher = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g).log_softmax(-1)
    targets = torch.tensor([0, 1, 2, 3, 0])
    task = get_task({"name": "keywords", "labels": LABELS, "distill_weight": 0.25, "distill_temperature": 2.0})
    utts = [Utterance(id=f"u{i}", audio="x.wav", label=LABELS[int(t)],
                      extra={TEACHER_KEY: teacher[i].tolist(), TEACHER_LABELS_KEY: ",".join(LABELS)})
            for i, t in enumerate(targets)]
    batch = task.targets({"utts": utts})
    assert torch.equal(batch["targets"], targets) and torch.allclose(batch["teacher"], teacher)
    p_t, log_p_s = torch.softmax(teacher / 2, -1), torch.log_softmax(logits / 2, -1)
    kl = (p_t * (p_t.log() - log_p_s)).sum(-1).mean()
    want = 0.75 * F.cross_entropy(logits, targets) + 0.25 * 4 * kl
    assert float(task.loss((logits, None), batch)) == pytest.approx(float(want), rel=1e-5)
    # the teacher's own distribution costs nothing in the distillation term
    only_kl = get_task({"name": "keywords", "labels": LABELS, "distill_weight": 1.0, "distill_temperature": 1.0})
    assert float(only_kl.loss((teacher, None), batch)) == pytest.approx(0.0, abs=1e-6)
    # training utterances without teacher posteriors, or over other classes, are refused up front
    task.prepare(utts, [1.0] * 5, None, "train")
    bare = [Utterance(id="b1", audio="x.wav", label="yes")]
    with pytest.raises(ConfigError, match="lack it.*b1"):
        task.prepare(bare, [1.0], None, "train")
    task.prepare(bare, [1.0], None, "dev")  # dev clips need none
    other = [Utterance(id="o1", audio="x.wav", label="yes",
                       extra={TEACHER_KEY: [0.0] * 4, TEACHER_LABELS_KEY: "a,b,c,d"})]
    with pytest.raises(ConfigError, match="other classes.*o1"):
        task.prepare(other, [1.0], None, "train")
    with pytest.raises(ConfigError, match="distill_weight"):
        get_task({"name": "keywords", "labels": LABELS, "distill_weight": 1.5})


def test_soft_labels_then_distilled_training(trained, capsys):
    """`kws soft-labels` with the trained model as teacher, then a student trained on them."""
    from speechrnn.cli import main
    from speechrnn.data import read_manifest
    from speechrnn.kws.distill import teacher_log_posteriors
    from speechrnn.models import load_model
    from speechrnn.tasks.keywords import TEACHER_KEY
    from speechrnn.train import train

    data = trained["data"]
    assert main(["kws", "soft-labels", str(trained["model"]), str(data / "train.jsonl"),
                 "--out", str(data / "train_soft.jsonl")]) == 0
    assert "with the teacher's posteriors" in capsys.readouterr().out
    utts = read_manifest(data / "train_soft.jsonl")
    assert [u.id for u in utts] == [u.id for u in read_manifest(data / "train.jsonl")]
    got = np.array([u.extra[TEACHER_KEY] for u in utts])
    want = teacher_log_posteriors(load_model(trained["model"]), read_manifest(data / "train.jsonl"))
    assert got.shape == (len(utts), 4) and np.allclose(got, want, atol=1e-3)
    cfg = run_config(data)
    cfg["data"]["train"] = str(data / "train_soft.jsonl")
    cfg["task"]["distill_weight"] = 0.5
    result = train(cfg, trained["tmp"] / "student")
    assert result["best"] >= 0.9, result
