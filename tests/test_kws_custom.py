"""`speechrnn kws train-custom` on a tiny budget: synthesis -> Trainer -> a loadable detector."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

torch.set_num_threads(1)
pytestmark = [pytest.mark.tts,
              pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")]


@pytest.mark.slow  # a whole synthesis + training run: about 20 s on 2 cores
def test_train_custom_tiny_budget_with_user_recording(tmp_path):
    from speechrnn.inference.keywords import KeywordSpotter
    from speechrnn.kws.custom import CustomKeywordConfig, train_custom_keyword
    from speechrnn.models import read_checkpoint

    rec = tmp_path / "me.wav"
    t = np.arange(12000) / 16000
    sf.write(rec, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16000)
    cfg = CustomKeywordConfig(budget_minutes=0.25, min_clips=4, max_clips=4, unknown_words=3,
                              voices=["espeak-ng:en-us*", "espeak-ng:en-gb*"], jobs=1,
                              recordings=[str(rec)], recording_repeats=2, hidden_size=16, num_layers=1)
    r = train_custom_keyword("Marvin", tmp_path / "marvin.pt", tmp_path / "work", cfg)
    assert r["keyword"] == "marvin" and r["recordings"] == 1 and r["steps"] >= 1  # epochs: complete ones
    import yaml

    run = yaml.safe_load((tmp_path / "work" / "exp" / "config.yaml").read_text())["train"]
    assert 0 < run["max_minutes"] <= 0.5  # the budget reaches the trainer (at least 30 s of training)
    assert set(r["seconds"]) == {"synthesis", "training", "total"}
    ck = read_checkpoint(tmp_path / "marvin.pt")
    assert "training" not in ck and ck["task"] == "keywords"
    assert ck["labels"] == {"labels": ["marvin", "_unknown_", "_silence_"]}
    assert ck["extra"]["keyword"] == "marvin"
    train_ids = (tmp_path / "work" / "corpus" / "train.jsonl").read_text()
    assert train_ids.count('"user__') == 2
    spotter = KeywordSpotter.load(tmp_path / "marvin.pt")
    assert spotter.keywords == ["marvin"]
    assert spotter.spot(np.zeros(16000 * 2, np.float32)).duration == 2.0


def test_train_custom_rejects_bad_budget_and_recordings_before_synthesis(tmp_path):
    from speechrnn.config import from_dict
    from speechrnn.errors import ConfigError
    from speechrnn.kws.custom import CustomKeywordConfig, train_custom_keyword

    with pytest.raises(ConfigError, match="budget"):
        from_dict(CustomKeywordConfig, {"budget_minutes": 0})
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    good = tmp_path / "good.wav"
    sf.write(good, (0.3 * np.sin(np.arange(16000) / 8)).astype(np.float32), 16000)
    cfg = CustomKeywordConfig(recordings=[str(good), str(bad), str(silent), str(tmp_path / "gone.wav")])
    with pytest.raises(ConfigError, match="3 of 4 recording") as e:
        train_custom_keyword("marvin", tmp_path / "m.pt", tmp_path / "work", cfg)
    msg = str(e.value)
    assert "bad.wav: not an audio file" in msg and "silent.wav: silent" in msg and "gone.wav" in msg
    assert "good.wav" not in msg
    assert not (tmp_path / "work").exists()  # failed before any synthesis
