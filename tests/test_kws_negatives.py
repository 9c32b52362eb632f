"""Hard negatives: keyword-free speech windows appended to a keyword training manifest."""
import pytest

from speechrnn.cli import main
from speechrnn.data import AudioDataset, read_manifest, write_manifest
from speechrnn.data.manifest import Utterance
from speechrnn.errors import ConfigError
from speechrnn.kws.negatives import speech_windows

from helpers import write_noise


@pytest.fixture
def speech(tmp_path):
    wav = write_noise(tmp_path / "a.wav", seconds=3.5)
    utts = [Utterance("s1", str(wav), 0.0, 3.5, text="we went up the hill"),       # has "up"
            Utterance("s2", str(wav), 0.0, 3.5, text="Upper rooms, going west", speaker="v1"),
            Utterance("s3", str(wav), 0.5, 0.6, text="short"),                      # < 1 s
            Utterance("s4", str(wav), 1.0, 2.5, text="a calm sea")]
    write_manifest(tmp_path / "speech.jsonl", utts)
    return utts


def test_windows_skip_keyword_sentences_and_short_ones_and_stay_inside(speech):
    w = speech_windows(speech, ["up", "go"], per_utterance=3, seed=1)
    assert {x.extra["negative_of"] for x in w} == {"s2", "s4"}   # "upper"/"going" are not keywords
    assert sum(x.extra["negative_of"] == "s2" for x in w) == 3
    assert sum(x.extra["negative_of"] == "s4" for x in w) == 2   # 2.5 s holds at most 2 windows
    src = {u.id: u for u in speech}
    for x in w:
        u = src[x.extra["negative_of"]]
        assert x.label == "_unknown_" and x.duration == 1.0 and x.speaker == u.speaker
        assert u.offset <= x.offset and x.offset + x.duration <= u.offset + u.duration + 1e-6
    assert w == speech_windows(speech, ["up", "go"], per_utterance=3, seed=1)   # deterministic


def test_windows_reject_bad_arguments(speech):
    with pytest.raises(ConfigError):
        speech_windows(speech, ["up"], per_utterance=0)
    with pytest.raises(ConfigError, match="durations"):
        speech_windows([Utterance("x", "a.wav", text="hello")], ["up"])


def test_cli_appends_windows_that_load_as_one_second_clips(speech, tmp_path, capsys):
    write_manifest(tmp_path / "train.jsonl", [Utterance("k1", speech[0].audio, 0.0, 1.0, label="up")])
    out = tmp_path / "sub" / "train_neg.jsonl"
    assert main(["kws", "negatives", str(tmp_path / "train.jsonl"), str(tmp_path / "speech.jsonl"),
                 "--keywords", "up", "--out", str(out)]) == 0
    utts = read_manifest(out)
    assert [u.label for u in utts].count("_unknown_") == len(utts) - 1 and utts[0].id == "k1"
    ds = AudioDataset(utts)
    assert all(ds[i]["waveform"].shape[-1] == 16000 for i in range(len(utts)))
    assert "keyword-free speech windows" in capsys.readouterr().out


def test_cli_keywords_default_to_the_training_labels(speech, tmp_path):
    """Without --keywords, TRAIN's labels (not _unknown_/_silence_) decide which sentences are cut."""
    write_manifest(tmp_path / "train.jsonl", [Utterance("k1", speech[0].audio, 0.0, 1.0, label="up"),
                                              Utterance("k2", speech[0].audio, 0.0, 1.0, label="_unknown_")])
    out = tmp_path / "train_neg.jsonl"
    assert main(["kws", "negatives", str(tmp_path / "train.jsonl"), str(tmp_path / "speech.jsonl"),
                 "--out", str(out)]) == 0
    assert {u.extra["negative_of"] for u in read_manifest(out)[2:]} == {"s2", "s4"}   # s1 says "up"
    write_manifest(tmp_path / "none.jsonl", [Utterance("k3", speech[0].audio, 0.0, 1.0, label="_silence_")])
    assert main(["kws", "negatives", str(tmp_path / "none.jsonl"), str(tmp_path / "speech.jsonl"),
                 "--out", str(out)]) != 0
