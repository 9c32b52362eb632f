"""CLI: enroll / identify / verify / speakers list|remove|calibrate|evaluate on good and bad files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from test_speaker_identifier import tiny_checkpoint
from test_speakers_task import make_speaker_tree

from speechrnn.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cli")
    splits = make_speaker_tree(root, speakers=3, per_speaker=3)
    ckpt = tiny_checkpoint(root / "spk.pt", speakers=("spk0", "spk1", "spk2"))
    bad = root / "notes.wav"
    bad.write_text("this is text, not audio")
    return root, splits, ckpt, bad


def _files(splits, speaker):
    return [u.audio for u in splits["train"] + splits["dev"] if u.speaker == speaker]


def test_enroll_identify_verify_and_list(setup, tmp_path, capsys):
    root, splits, ckpt, _ = setup
    store = str(tmp_path / "team.json")
    common = ["--model", str(ckpt), "--store", store]
    assert main(["enroll", "alice", *_files(splits, "spk0")[:2], *common]) == 0
    assert main(["enroll", "bob", _files(splits, "spk1")[0], *common]) == 0
    assert "enrolled 'bob'" in capsys.readouterr().out
    assert main(["identify", _files(splits, "spk0")[0], "--format", "json", "--threshold", "-1", *common]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["speaker"] == "alice" and rows[0]["accepted"]
    assert main(["identify", _files(splits, "spk2")[0], "--threshold", "1.01", *common]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "unknown"
    a = _files(splits, "spk2")[0]
    assert main(["verify", a, a, "--model", str(ckpt), "--threshold", "0.5"]) == 0
    assert capsys.readouterr().out.startswith("same\t1.0000")
    assert main(["speakers", "list", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "alice\t2" in out and "bob\t1" in out
    assert main(["speakers", "remove", "bob", "--store", store]) == 0
    assert main(["speakers", "remove", "bob", "--store", store]) == 1


def test_bad_files_are_reported_and_the_batch_continues(setup, tmp_path, capsys):
    root, splits, ckpt, bad = setup
    store = str(tmp_path / "s.json")
    common = ["--model", str(ckpt), "--store", store]
    good = _files(splits, "spk0")[0]
    assert main(["enroll", "alice", str(bad), good, str(tmp_path / "gone.wav"), *common]) == 1
    cap = capsys.readouterr()
    assert "enrolled 'alice': 1 recording(s)" in cap.out
    assert "notes.wav" in cap.err and "gone.wav" in cap.err and "2 of 3 file(s) failed" in cap.err
    assert main(["identify", str(bad), good, "--threshold", "-1", *common]) == 1
    cap = capsys.readouterr()
    assert cap.out.strip().endswith("alice\t1.0000") and "skipped" in cap.err and "notes.wav" in cap.err
    assert main(["verify", str(bad), good, "--model", str(ckpt)]) == 1  # a failed input, named
    assert "notes.wav" in capsys.readouterr().err
    assert main(["enroll", "carol", str(bad), *common]) == 1  # nothing usable: nothing enrolled
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    assert main(["enroll", "dave", str(silent), *common]) == 1  # silence is no voiceprint
    assert "silent.wav: silent" in capsys.readouterr().err
    assert main(["speakers", "list", "--store", store]) == 0
    listed = capsys.readouterr().out
    assert "carol" not in listed and "dave" not in listed


def test_calibrate_and_evaluate(setup, tmp_path, capsys):
    root, splits, ckpt, _ = setup
    store = str(tmp_path / "s.json")
    assert main(["speakers", "calibrate", str(root / "dev.jsonl"), "--model", str(ckpt), "--store", store]) == 0
    info = json.loads(capsys.readouterr().out)
    assert json.loads((tmp_path / "s.json").read_text())["threshold"] == pytest.approx(info["threshold"])
    assert main(["speakers", "evaluate", str(ckpt), str(tmp_path / "rep"), "--test", str(root / "dev.jsonl"),
                 "--verify", str(root / "dev.jsonl"), "--cohort", str(root / "train.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "verification raw: EER" in out and "verification s-norm" in out
    assert (tmp_path / "rep" / "det.png").is_file() and (tmp_path / "rep" / "report.json").is_file()
    # an unreadable file is named and left out (with its trials); the rest is scored, exit status 1
    from speechrnn.data import Utterance, read_manifest, write_manifest

    utts = read_manifest(root / "dev.jsonl")
    broken = Utterance(id="broken", audio=str(tmp_path / "broken.wav"), duration=1.0, speaker="spk0")
    write_manifest(tmp_path / "dev_broken.jsonl", utts + [broken])
    trials = tmp_path / "trials.txt"
    trials.write_text(f"1 {utts[0].id} {utts[1].id}\n0 {utts[0].id} {utts[-1].id}\n1 broken {utts[0].id}\n")
    assert main(["speakers", "evaluate", str(ckpt), str(tmp_path / "rep3"), "--test",
                 str(tmp_path / "dev_broken.jsonl"), "--verify", str(tmp_path / "dev_broken.jsonl"),
                 "--trials", str(trials)]) == 1
    cap = capsys.readouterr()
    assert "top-1" in cap.out and "(1 target / 1 non-target trials)" in cap.out
    assert "not scored broken" in cap.err and "no such file" in cap.err
    rep = json.loads((tmp_path / "rep3" / "report.json").read_text())
    assert [i for i, _ in rep["unreadable"]] == ["broken", "broken"]  # from --test and --verify
    assert main(["speakers", "evaluate", str(ckpt), str(tmp_path / "rep2")]) == 2  # nothing to evaluate
