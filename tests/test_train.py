"""The one Trainer: overfitting, exact resume, transfer learning, config handling, CTC checks."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.data import Utterance, read_manifest, write_manifest
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


@pytest.mark.slow  # trains up to 150 epochs to WER 0
def test_overfit_tiny_model_reaches_wer_zero(tmp_path):
    m = make_corpus(tmp_path, TEXTS)
    cfg = tiny_config(m, m, epochs=150, stop_at=0.0)
    result = train(cfg, tmp_path / "exp")
    assert result["best"] == 0.0, result
    model = load_model(tmp_path / "exp" / "best.pt")
    task = get_task({"name": "transcription"})
    from speechrnn.data import AudioDataset, collate_audio

    ds = AudioDataset(read_manifest(m))
    batch = collate_audio([ds[i] for i in range(len(TEXTS))])
    with torch.no_grad():
        assert task.decode(model(batch["waveforms"], batch["lengths"])) == TEXTS
    assert (tmp_path / "exp" / "config.yaml").exists()
    assert (tmp_path / "exp" / "dev_log.csv").read_text().startswith("epoch,step,train_loss")


def _weights(path):
    return read_checkpoint(path)["state_dict"]


def test_resume_after_crash_is_exact(tmp_path):
    """N steps in one go == k steps, 'crash', resume to N: identical weights, bitwise."""
    m = make_corpus(tmp_path, TEXTS + ["he read", "ace", "a bed", "hr"])
    cfg = tiny_config(m, None, epochs=3, max_seconds=1.2, accum_steps=2, lr=3e-3,
                      warmup_steps=2, schedule="cosine")
    cfg["model"]["encoder"]["dropout"] = 0.3  # RNG use inside steps must be restored too
    cfg["features"]["spec_augment"] = {"time_masks": 1, "time_width": 5, "freq_masks": 1, "freq_width": 3}
    n = 5
    train(cfg, tmp_path / "straight", overrides=[f"train.max_steps={n}"])
    train(cfg, tmp_path / "crashed", overrides=["train.max_steps=2"])  # stops mid-epoch 0
    mid = read_checkpoint(tmp_path / "crashed" / "last.pt")["training"]
    assert mid["step"] == 2 and mid["batch_in_epoch"] == 4 and mid["epoch"] == 0
    out = train(cfg, tmp_path / "crashed", overrides=[f"train.max_steps={n}"])  # resumes
    assert out["steps"] == n and out["epochs"] >= 1  # crossed an epoch boundary
    a, b = _weights(tmp_path / "straight" / "last.pt"), _weights(tmp_path / "crashed" / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa = read_checkpoint(tmp_path / "straight" / "last.pt")["training"]
    sb = read_checkpoint(tmp_path / "crashed" / "last.pt")["training"]
    assert sa["step"] == sb["step"] and sa["batch_in_epoch"] == sb["batch_in_epoch"]
    # --no-resume starts over
    again = train(cfg, tmp_path / "crashed", overrides=["train.max_steps=1"], resume=False)
    assert again["steps"] == 1


def test_transfer_reinitialises_head_and_freezes_layers(tmp_path):
    m = make_corpus(tmp_path, TEXTS)
    base = tiny_config(m, None, max_steps=2)
    train(base, tmp_path / "base")
    src = _weights(tmp_path / "base" / "last.pt")
    # Different label set (a smaller alphabet) -> the head is re-initialised.
    cfg = tiny_config(m, None, max_steps=2, init_from=str(tmp_path / "base" / "last.pt"), freeze_layers=1)
    cfg["task"]["tokenizer"] = {"kind": "char", "symbols": list(" " + ALPHABET), "unknown": "error"}
    cfg["train"]["seed"] = 123
    train(cfg, tmp_path / "ft")
    ft = _weights(tmp_path / "ft" / "last.pt")
    assert ft["head.proj.weight"].shape[0] == len(ALPHABET) + 2 != src["head.proj.weight"].shape[0]
    frozen = [k for k in ft if k.startswith("encoder.layers.0.")]
    assert frozen
    for k in frozen:  # first recurrent layer frozen: unchanged from the source model
        assert torch.equal(ft[k], src[k]), k
    assert not torch.equal(ft["encoder.layers.1.fwd.weight_ih_l0"], src["encoder.layers.1.fwd.weight_ih_l0"])
    # CMVN statistics come from the source model, unless refit on the new data (a new channel)
    assert torch.equal(ft["frontend.cmvn_mean"], src["frontend.cmvn_mean"])
    (tmp_path / "quiet").mkdir()
    other = make_corpus(tmp_path / "quiet", TEXTS, seed=7)
    for u in read_manifest(other):  # the same speech 20 dB quieter: other feature statistics
        x, sr = sf.read(u.audio)
        sf.write(u.audio, 0.1 * x, sr)
    refit = tiny_config(other, None, max_steps=1, init_from=str(tmp_path / "base" / "last.pt"), refit_cmvn=True)
    train(refit, tmp_path / "refit")
    rf = _weights(tmp_path / "refit" / "last.pt")
    assert not torch.equal(rf["frontend.cmvn_mean"], src["frontend.cmvn_mean"])
    # the checkpoints name where they came from, across generations and resumes
    assert read_checkpoint(tmp_path / "base" / "last.pt").get("extra", {}).get("init_from") is None
    assert read_checkpoint(tmp_path / "ft" / "last.pt")["extra"]["init_from"] == ["last.pt"]
    cfg2 = dict(cfg, train=dict(cfg["train"], init_from=str(tmp_path / "ft" / "last.pt"), max_steps=1))
    train(cfg2, tmp_path / "ft2")
    assert read_checkpoint(tmp_path / "ft2" / "last.pt")["extra"]["init_from"] == ["last.pt", "last.pt"]
    cfg2["train"] = dict(cfg2["train"], max_steps=2, init_from=str(tmp_path / "gone.pt"))
    train(cfg2, tmp_path / "ft2")  # resumes from last.pt: the lineage comes from it, not init_from
    assert read_checkpoint(tmp_path / "ft2" / "last.pt")["extra"]["init_from"] == ["last.pt", "last.pt"]


def test_unalignable_utterances_are_dropped_with_warning(tmp_path, caplog):
    m = make_corpus(tmp_path, ["bad", "a"])
    utts = read_manifest(m)
    utts[1].text = "abcdeabcdeabcdeabcde" * 3  # far too long for 0.2 s of audio
    task = get_task("transcription")
    from speechrnn.features import FeatureConfig
    from speechrnn.models import ModelConfig

    model = task.build_model(ModelConfig(), FeatureConfig())
    with caplog.at_level(logging.WARNING):
        keep = task.prepare(utts, [u.duration for u in utts], model, "train")
    assert keep == [0]
    assert "train-1" in caplog.text and "too short" in caplog.text
    assert ctc_min_frames([1, 1, 2, 2, 2]) == 8


def test_config_errors_name_the_key(tmp_path):
    m = make_corpus(tmp_path, TEXTS[:1])
    with pytest.raises(ConfigError, match="lrr"):
        resolve_config(tiny_config(m), ["train.lrr=1"])
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        resolve_config(tiny_config(m), ["task.name=nope"]) and get_task({"name": "nope"})
    with pytest.raises(ConfigError, match="beam_size"):
        get_task({"name": "transcription", "beam_size": 0})
    (tmp_path / "c.yaml").write_text("data: {train: train.jsonl}\ntrain: {epochs: 2}\n")
    cfg, resolved = resolve_config(tmp_path / "c.yaml", ["train.lr=0.5"])
    assert cfg.train.lr == 0.5 and cfg.data.train == str(m)
    assert resolved["train"]["epochs"] == 2


def test_nonfinite_loss_batch_is_skipped(tmp_path, monkeypatch):
    from speechrnn.tasks.transcription import TranscriptionTask

    m = make_corpus(tmp_path, TEXTS)
    real = TranscriptionTask.loss
    calls = {"n": 0}

    def flaky(self, out, batch):
        calls["n"] += 1
        loss = real(self, out, batch)
        return loss * float("nan") if calls["n"] == 1 else loss

    monkeypatch.setattr(TranscriptionTask, "loss", flaky)
    out = train(tiny_config(m, None, epochs=2, max_seconds=4.0), tmp_path / "exp")
    assert out["skipped"] == 1 and out["epochs"] == 2


def test_cli_train_then_evaluate(tmp_path, capsys):
    import yaml

    from speechrnn.cli import main

    m = make_corpus(tmp_path, TEXTS)
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_config("train.jsonl", "train.jsonl", epochs=2)))
    exp = tmp_path / "exp"
    assert main(["train", str(cfg_path), "--exp-dir", str(exp), "train.max_seconds=50"]) == 0
    assert yaml.safe_load((exp / "config.yaml").read_text())["train"]["max_seconds"] == 50
    assert main(["train", str(cfg_path), "--exp-dir", str(exp), "train.epochs=3"]) == 0  # resumes
    assert "3 epoch(s)" in capsys.readouterr().out
    errors = tmp_path / "errors.tsv"
    assert main(["evaluate", str(exp / "best.pt"), str(m), "--errors-file", str(errors)]) == 0
    out = capsys.readouterr().out
    assert "WER" in out and "CER" in out
    lines = errors.read_text().splitlines()
    assert lines[0].startswith("id\twer\tcer") and len(lines) == 1 + len(TEXTS)


@pytest.fixture
def trained_exp(tmp_path):
    """A tiny transcription model trained for 2 epochs: (manifest, exp folder)."""
    m = make_corpus(tmp_path, TEXTS)
    train(tiny_config(m, m, epochs=2), tmp_path / "exp")
    return m, tmp_path / "exp"


def test_cli_lexicon_decoding_and_tune_grid(tmp_path, trained_exp, capsys):
    """Lexicon-constrained evaluation and the tune-decoding grid (needs the 'lm' extra:
    flashlight-text, pyctcdecode, kenlm; skipped, by name, without it)."""
    pytest.importorskip("flashlight.lib.text", reason="lexicon decoding needs flashlight-text (the 'lm' extra)")
    pytest.importorskip("pyctcdecode", reason="beam decoding needs pyctcdecode (the 'lm' extra)")
    from speechrnn.cli import main

    m, exp = trained_exp
    errors = tmp_path / "errors.tsv"
    words = tmp_path / "words.txt"
    words.write_text("\n".join(sorted({w for t in TEXTS for w in t.split()})))
    assert main(["evaluate", str(exp / "best.pt"), str(m), "--decoder", "lexicon", "--lexicon",
                 str(words), "--beam-size", "8", "--errors-file", str(errors)]) == 0
    assert "WER" in capsys.readouterr().out
    hyps = [line.split("\t")[-1] for line in errors.read_text().splitlines()[1:]]
    assert all(set(h.split()) <= set(words.read_text().split()) for h in hyps)
    # a grid of decoders and weights from one pass of the network, best first
    from speechrnn.lm import build_arpa

    lm = build_arpa(TEXTS * 2, tmp_path / "lm.arpa.gz", order=2)
    grid = tmp_path / "grid.tsv"
    assert main(["tune-decoding", str(exp / "best.pt"), str(m), "--lm", str(lm), "--beam-size",
                 "8,16", "--alpha", "0.5,1", "--beta=-1,0", "--out", str(grid)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("best: --decoder ")
    printed = [line.split("\t") for line in out[:-1]]  # stdout: the same table, best first
    rows = [line.split("\t") for line in grid.read_text().splitlines()]
    assert printed == rows
    assert rows[0] == ["decoder", "beam_size", "alpha", "beta", "wer", "cer"] and len(rows) == 9
    assert {(r[0], r[1]) for r in rows[1:]} == {("beam", "8"), ("lexicon", "16")}
    assert [float(r[4]) for r in rows[1:]] == sorted(float(r[4]) for r in rows[1:])


def test_unreadable_files_do_not_stop_training_or_evaluation(tmp_path, capsys, caplog):
    """A file damaged after its manifest was written (duration known, so nothing probes it before
    it is read): training logs it and trains on the next utterance in its place; evaluation
    scores the rest, names it, and exits 1."""
    import yaml

    from speechrnn.cli import main

    m = make_corpus(tmp_path, TEXTS)
    (tmp_path / "train-1.wav").write_bytes(b"RIFF....WAVEfmt garbage, not a wav any more")
    (tmp_path / "train-3.wav").unlink()
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_config("train.jsonl", "train.jsonl", epochs=2)))
    exp = tmp_path / "exp"
    with caplog.at_level(logging.WARNING):
        assert main(["train", str(cfg_path), "--exp-dir", str(exp)]) == 0
    assert "train-1 is unusable: train-2 used in its place" in caplog.text
    assert "train-3 is unusable" in caplog.text and (exp / "best.pt").is_file()
    capsys.readouterr()
    errors = tmp_path / "errors.tsv"
    assert main(["evaluate", str(exp / "best.pt"), str(m), "--errors-file", str(errors)]) == 1
    cap = capsys.readouterr()
    assert " 2 utterances;" in cap.out  # rates over the two readable ones
    assert "not scored train-1" in cap.err and "not scored train-3" in cap.err and "no such file" in cap.err
    assert "2 of 4 utterance(s) could not be read" in cap.err
    assert len(errors.read_text().splitlines()) == 1 + 2
    from speechrnn.decoding import DecodingConfig
    from speechrnn.inference.evaluation import tune_decoding

    [(chosen, rates)] = tune_decoding(exp / "best.pt", m, [DecodingConfig()])  # what tune-decoding reports
    assert chosen.word_timestamps  # scored without times, but the config a user stores keeps them
    assert len(rates.utterances) == 2 and sorted(i for i, _ in rates.skipped) == ["train-1", "train-3"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_amp_training_runs_and_checkpoint_loads_on_cpu(tmp_path):
    m = make_corpus(tmp_path, TEXTS)
    out = train(tiny_config(m, m, epochs=2, device="cuda", amp=True), tmp_path / "exp")
    assert out["steps"] == 2 and out["skipped"] == 0
    model = load_model(tmp_path / "exp" / "last.pt")
    assert next(model.parameters()).device.type == "cpu"


def test_lr_schedule_follows_time_progress():
    from speechrnn.config import from_dict
    from speechrnn.training.config import TrainConfig
    from speechrnn.training.optim import lr_factor

    cfg = from_dict(TrainConfig, {"warmup_steps": 10, "schedule": "linear", "min_lr_ratio": 0.0})
    assert lr_factor(4, 110, cfg) == pytest.approx(0.5)  # warm-up
    assert lr_factor(60, 110, cfg) == pytest.approx(0.5)  # half-way by steps
    assert lr_factor(60, 110, cfg, time_progress=0.9) == pytest.approx(0.1)  # time runs out first
    assert lr_factor(60, 110, cfg, time_progress=0.2) == pytest.approx(0.5)  # steps lead


@pytest.mark.slow  # spends a real 3 s training budget
def test_time_budget_stops_with_evaluated_checkpoint(tmp_path):
    train_m = make_corpus(tmp_path, TEXTS * 4)
    dev_m = make_corpus(tmp_path, TEXTS, name="dev", seed=1)
    cfg = tiny_config(train_m, dev_m, epochs=1000, max_minutes=0.05, max_seconds=5.0,
                      schedule="cosine")
    result = train(cfg, tmp_path / "exp")
    assert result["epochs"] < 1000  # the budget, not the epoch count, ended the run
    assert (tmp_path / "exp" / "best.pt").is_file()
    state = read_checkpoint(tmp_path / "exp" / "last.pt")["training"]
    assert state["elapsed_s"] >= 3.0  # the 0.05-minute budget was spent, and recorded
    assert state["step"] == result["steps"] and len(state["history"]) == result["epochs"]


def test_resume_refuses_other_data_seed_or_batching(tmp_path):
    """last.pt's batch position only means something for the same utterances, seed and batching:
    a changed manifest or seed is refused with the fix named, not resumed silently."""
    texts = TEXTS + ["he read", "ace", "a bed", "hr"]
    m = make_corpus(tmp_path, texts)
    cfg = tiny_config(m, None, epochs=3, max_seconds=1.2)
    exp = tmp_path / "exp"
    train(cfg, exp, overrides=["train.max_steps=2"])  # stops mid-epoch 0
    assert "max_steps" not in cfg["train"]  # overrides leave the caller's dict alone
    with pytest.raises(ConfigError, match=r"seed=0 but this sampler has 1.*--no-resume"):
        train(cfg, exp, overrides=["train.max_steps=4", "train.seed=1"])
    with pytest.raises(ConfigError, match=r"num_batches=.*--no-resume"):
        train(cfg, exp, overrides=["train.max_steps=4", "train.max_seconds=2.5"])
    make_corpus(tmp_path, texts + ["a deer"])  # one utterance more
    with pytest.raises(ConfigError, match="num_items=8 but this sampler has 9"):
        train(cfg, exp, overrides=["train.max_steps=4"])
    make_corpus(tmp_path, texts[::-1])  # same ids and count, other recordings
    with pytest.raises(ConfigError, match="other utterances"):
        train(cfg, exp, overrides=["train.max_steps=4"])
    assert train(cfg, exp, overrides=["train.max_steps=1"], resume=False)["steps"] == 1
    assert train(cfg, exp, overrides=["train.max_steps=2"])["steps"] == 2  # same data: resumes


def test_budget_stop_mid_epoch_leaves_the_rest_of_the_epoch_to_a_continued_run(tmp_path, monkeypatch):
    """The time budget runs out at step 2 of an epoch of 8 batches: best.pt is evaluated and
    written, but the epoch is not marked done; continuing trains the other 6 batches, exactly
    as an uninterrupted run does."""
    from speechrnn.training.loop import Trainer

    texts = TEXTS + ["he read", "ace", "a bed", "hr"]
    m = make_corpus(tmp_path, texts)
    dev = make_corpus(tmp_path, TEXTS, name="dev", seed=1)
    cfg = tiny_config(m, dev, epochs=2, max_seconds=0.5, max_batch_size=1, lr=3e-3)
    train(cfg, tmp_path / "straight")
    with monkeypatch.context() as mp:
        mp.setattr(Trainer, "_out_of_time", lambda self: self.step >= 2)
        out = train(cfg, tmp_path / "budget", overrides=["train.max_minutes=60"])
    assert out["steps"] == 2
    state = read_checkpoint(tmp_path / "budget" / "last.pt")["training"]
    assert (state["epoch"], state["batch_in_epoch"], state["history"]) == (0, 2, [])
    assert (tmp_path / "budget" / "best.pt").is_file()  # evaluated at the stop
    assert not (tmp_path / "budget" / "epoch-0.pt").exists()  # but no checkpoint for a part epoch
    out = train(cfg, tmp_path / "budget")  # continue (budget no longer runs out)
    a = read_checkpoint(tmp_path / "straight" / "last.pt")
    b = read_checkpoint(tmp_path / "budget" / "last.pt")
    assert out["steps"] == a["training"]["step"] == 16 and out["epochs"] == 2
    assert [h["epoch"] for h in b["training"]["history"]] == [0, 1]
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
