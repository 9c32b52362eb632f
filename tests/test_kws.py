"""Keyword spotting: detector logic, open-vocabulary search, the task end to end, CLI."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from torch import nn

from speechrnn.kws import (DetectorConfig, EventDetector, KeywordDetection, OpenVocabularyStream,
                           StreamingDetector, detect_events, smooth_posteriors)

torch.set_num_threads(1)
SR = 16000
CLASSES = ["yes", "no", "_unknown_", "_silence_"]


# --- smoothing and events on constructed posteriors -------------------------------------
def test_smoothing_is_a_causal_moving_average_and_streams_exactly():
    rng = np.random.default_rng(0)
    p = rng.random((20, 3))
    s = smooth_posteriors(p, 4)
    for t in (0, 2, 3, 19):
        np.testing.assert_allclose(s[t], p[max(0, t - 3): t + 1].mean(axis=0))
    # in two pieces with the first piece as history == in one piece
    s2 = np.concatenate([smooth_posteriors(p[:7], 4), smooth_posteriors(p[7:], 4, history=p[:7])])
    np.testing.assert_allclose(s2, s)
    np.testing.assert_array_equal(smooth_posteriors(p, 1), p)


def posteriors_with_bumps(n, bumps, col=0, c=4):
    """(n, c) posteriors: background on _unknown_, ``bumps`` = [(first, last, peak_at, peak)]."""
    p = np.zeros((n, c))
    p[:, 2] = 1.0
    for first, last, at, peak in bumps:
        p[first:last + 1, col] = 0.6
        p[at, col] = peak
        p[first:last + 1, 2] = 1 - p[first:last + 1, col]
    return p


def test_event_reports_the_peak_once_per_run_with_time():
    p = posteriors_with_bumps(40, [(10, 14, 12, 0.9)])
    dets = detect_events(p, CLASSES, ["yes", "no"], 0.5, 1.0, 1.0, 0.1)
    assert dets == [KeywordDetection("yes", 1.2, 2.2, 0.9)]
    assert detect_events(p, CLASSES, ["yes"], 0.95, 1.0, 1.0, 0.1) == []  # never reaches threshold
    assert detect_events(p, CLASSES, ["no"], 0.5, 1.0, 1.0, 0.1) == []  # other keyword only


def test_refractory_period_suppresses_close_events_not_far_ones():
    p = posteriors_with_bumps(60, [(5, 6, 5, 0.8), (9, 10, 10, 0.7), (30, 31, 31, 0.75)])
    dets = detect_events(p, CLASSES, ["yes"], 0.5, 1.0, 1.0, 0.1)
    # the second run peaks 0.5 s after the first: inside the 1 s refractory period
    assert [(d.start, d.score) for d in dets] == [(0.5, 0.8), (3.1, 0.75)]
    no_refractory = detect_events(p, CLASSES, ["yes"], 0.5, 0.0, 1.0, 0.1)
    assert [d.start for d in no_refractory] == [0.5, 1.0, 3.1]


def test_event_detector_fed_hop_by_hop_equals_whole_and_flushes_open_run():
    p = posteriors_with_bumps(30, [(3, 6, 4, 0.9), (25, 29, 27, 0.8)])
    det = EventDetector(CLASSES, ["yes"], 0.5, 1.0, 1.0, 0.1)
    dets = []
    for k in range(30):
        dets += det.update(p[k:k + 1], k)
    assert len(dets) == 1  # the second run is still open at the end of the audio
    dets += det.flush()
    assert dets == detect_events(p, CLASSES, ["yes"], 0.5, 1.0, 1.0, 0.1)
    assert [d.start for d in dets] == [0.4, 2.7]


class EnergyClassifier:
    """Fake window classifier: P(yes) = share of the window's samples that are loud."""

    def __call__(self, windows):  # (N, W) -> (N, 4)
        loud = (np.abs(windows) > 0.25).mean(axis=1)
        p = np.zeros((windows.shape[0], 4))
        p[:, 0] = loud
        p[:, 3] = 1 - loud
        return p


def burst_audio(seconds, bursts):
    x = np.zeros(int(seconds * SR), dtype=np.float32)
    for t0, t1 in bursts:
        x[int(t0 * SR): int(t1 * SR)] = 0.5
    return x


def test_streaming_detector_times_and_chunking_invariance():
    x = burst_audio(8.0, [(2.0, 2.6), (6.0, 6.6)])
    cfg = DetectorConfig(hop_s=0.1, smooth_windows=1, threshold=0.5, refractory_s=1.0)
    whole = StreamingDetector(EnergyClassifier(), CLASSES, ["yes"], cfg)
    dets = whole.feed(x) + whole.finish()
    # a window holds the whole 0.6 s burst from 1.6 s to 2.0 s: peak at the first such window
    assert [(d.keyword, d.start) for d in dets] == [("yes", 1.6), ("yes", 5.6)]
    assert all(d.score == pytest.approx(0.6) for d in dets)
    chunked = StreamingDetector(EnergyClassifier(), CLASSES, ["yes"], cfg)
    got = []
    for i in range(0, x.size, 777):
        got += chunked.feed(x[i:i + 777])
    assert got + chunked.finish() == dets


def test_streaming_detector_short_audio_and_tail_window():
    cfg = DetectorConfig(hop_s=0.25, smooth_windows=1, threshold=0.5)
    short = StreamingDetector(EnergyClassifier(), CLASSES, ["yes"], cfg, keep_posteriors=True)
    dets = short.feed(burst_audio(0.7, [(0.0, 0.7)])) + short.finish()  # zero-padded to 1 s
    assert [(d.start, round(d.score, 3)) for d in dets] == [(0.0, 0.7)]
    tail = StreamingDetector(EnergyClassifier(), CLASSES, ["yes"], cfg, keep_posteriors=True)
    tail.feed(burst_audio(2.1, [(1.45, 2.1)]))  # windows at 0, .25, .5, .75, 1.0 seconds
    assert tail.smoothed_posteriors().shape[0] == 5
    dets = tail.finish()  # the tail window [1.1, 2.1) holds the whole burst
    assert tail.smoothed_posteriors().shape[0] == 6
    assert [round(d.score, 3) for d in dets] == [0.65]


def test_detector_config_rejects_bad_values():
    from speechrnn.config import from_dict
    from speechrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="hop_s"):
        from_dict(DetectorConfig, {"hop_s": 2.0})
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(DetectorConfig, {"hopp": 0.1})


# --- open vocabulary: a constructed CTC "model" -------------------------------------------
class SpellingCTC(nn.Module):
    """Fake CTC model: each 160-sample frame holds a constant ``id / 100``; output is a
    near-one-hot log-posterior of that id (so audio spells text frame by frame)."""

    task = "transcription"

    def __init__(self):
        from types import SimpleNamespace

        from speechrnn.features import FeatureConfig
        from speechrnn.text import CharTokenizer

        super().__init__()
        self.tok = CharTokenizer.english()
        self.labels = self.tok.to_dict()
        self.feature_cfg = FeatureConfig()
        self.frontend = SimpleNamespace(hop_length=160)
        self.encoder = SimpleNamespace(cfg=SimpleNamespace(subsampling="none", subsampling_factor=1))

    def forward(self, w, n):
        t = w.shape[1] // 160
        ids = (w[:, : t * 160].reshape(w.shape[0], t, 160).mean(-1) * 100).round().long()  # (B,T)
        v = self.tok.vocab_size
        lp = torch.full((w.shape[0], t, v), -8.0)
        lp.scatter_(2, ids[..., None].clamp(0, v - 1), -0.01)
        return lp, n // 160


def spell(model, text_frames):
    """Samples for a list of (symbol or None for blank, frames)."""
    parts = []
    for sym, frames in text_frames:
        i = 0 if sym is None else model.tok.encode(sym)[0]
        parts.append(np.full(frames * 160, i / 100, dtype=np.float32))
    return np.concatenate(parts)


def test_open_vocabulary_finds_phrase_at_known_time_and_streams_identically():
    m = SpellingCTC()
    hello = [("h", 3), ("e", 3), ("l", 3), (None, 1), ("l", 3), ("o", 3)]  # CTC: blank between l's
    seq = [(None, 300)] + hello + [(None, 400)] + [(c, 2) for c in "go"] + [(None, 50)]
    x = spell(m, seq)
    stream = OpenVocabularyStream(m, ["hello", "go", "stop"], 0.5, chunk_s=2.0, context_s=0.2)
    whole = stream.feed(x) + stream.finish()
    by_kw = {d.keyword: d for d in whole}
    assert set(by_kw) == {"hello", "go"}  # "stop" is never spelled
    # the match spans the spelled frames: "h" at frames 300-302, "o" at 313-315 (10 ms each)
    assert 3.0 <= by_kw["hello"].start <= 3.03 and 3.13 < by_kw["hello"].end <= 3.16
    go_at = 300 + 16 + 400
    assert go_at * 0.01 <= by_kw["go"].start and by_kw["go"].end <= (go_at + 4) * 0.01
    assert by_kw["hello"].score > 0.95
    s2 = OpenVocabularyStream(m, ["hello", "go", "stop"], 0.5, chunk_s=2.0, context_s=0.2)
    got = []
    for i in range(0, x.size, 3000):
        got += s2.feed(x[i:i + 3000])
    got += s2.finish()
    assert [(d.keyword, round(d.start, 2)) for d in got] == [(d.keyword, round(d.start, 2)) for d in whole]


def test_open_vocabulary_scores_for_frr_at_fa_per_hour(tmp_path):
    """The open-vocabulary harness: each clip's own keyword is found with a high score, running
    speech of other words gives no match, and a keyword spelled *inside* a longer word ("go" in
    "gone") is a false alarm unless only whole words count."""
    import soundfile as sf

    from speechrnn.data import Utterance, write_manifest
    from speechrnn.kws.evaluate import (detection_report, openvocab_negative_scores,
                                        openvocab_positive_scores)

    m = SpellingCTC()

    def clip(name, seq, **kw):
        path = tmp_path / f"{name}.wav"
        x = spell(m, seq)
        sf.write(path, x, SR, subtype="FLOAT")
        return Utterance(id=name, audio=str(path), duration=x.size / SR, **kw)

    word = lambda w: [(None, 30)] + [(c, 3) for c in w] + [(None, 30)]  # noqa: E731
    pos = [clip("go1", word("go"), label="go"), clip("stop1", word("stop"), label="stop"),
           clip("stop2", word("spot"), label="stop")]  # a miss: letters of another word
    scores = openvocab_positive_scores(m, pos)
    assert scores[0] > 0.95 and scores[1] > 0.95 and scores[2] < 0.5
    negs = [clip("n1", word("hello") + word("there"), text="hello there"),
            clip("n2", word("gone"), text="gone"),
            clip("n3", [(None, 30), ("s", 3), ("t", 3), ("a", 1), ("p", 3), (None, 30)], text="stap")]
    write_manifest(tmp_path / "neg.jsonl", negs)
    neg_scores, hours = openvocab_negative_scores(m, ["go", "stop"], negs)  # whole words only
    assert hours == pytest.approx(sum(u.duration for u in negs) / 3600)
    assert neg_scores == pytest.approx([np.exp(-8 / 4)], abs=0.01)  # "stap" (one wrong frame)
    anywhere = lambda us: openvocab_negative_scores(m, ["go", "stop"], us, whole_words=False)  # noqa: E731
    assert sorted(anywhere(negs)[0]) == pytest.approx([np.exp(-8 / 4), 0.99], abs=0.01)  # + "go" in "gone"
    rep = detection_report(pos, "test", ["go", "stop"], lambda us: scores, anywhere, tmp_path,
                           negatives=tmp_path / "neg.jsonl", fa_per_hour=0.5 / hours)
    fa = rep["false_alarms"]  # no false alarm allowed: the threshold is above the "gone" match
    assert fa["frr_per_keyword"] == {"go": 1.0, "stop": 1.0} and fa["frr_at_target"] == 1.0
    rep = detection_report(pos, "test", ["go", "stop"], lambda us: scores, anywhere, tmp_path,
                           negatives=tmp_path / "neg.jsonl", fa_per_hour=1.5 / hours)  # one allowed
    assert rep["false_alarms"]["frr_per_keyword"] == {"go": 0.0, "stop": 0.5}
    assert (tmp_path / "det.png").stat().st_size > 1000


def test_open_vocabulary_rejects_unspellable_keyword_and_classifier_model():
    from speechrnn.errors import SpeechRNNError

    with pytest.raises(SpeechRNNError):
        OpenVocabularyStream(SpellingCTC(), ["!!!"])
    m = SpellingCTC()
    m.task = "keywords"
    with pytest.raises(SpeechRNNError, match="transcription"):
        OpenVocabularyStream(m, ["hello"])


def test_keyword_spotter_open_vocabulary_mode_on_arrays():
    from speechrnn.inference.keywords import KeywordSpotter

    m = SpellingCTC()
    x = spell(m, [(None, 120)] + [(c, 2) for c in "stop"] + [(None, 200)])
    spotter = KeywordSpotter(m, ["stop", "go"], threshold=0.5)
    assert spotter.open_vocabulary
    r = spotter.spot(x)
    assert [d.keyword for d in r.detections] == ["stop"] and r.duration == pytest.approx(3.28)
    assert 1.2 <= r.detections[0].start < r.detections[0].end <= 1.28
    with pytest.raises(Exception, match="needs keywords"):
        KeywordSpotter(m)


@pytest.mark.tts
def test_cli_kws_evaluate_open_vocab_with_the_bundled_transcription_model(tmp_path, capsys):
    import json

    import soundfile as sf

    from speechrnn.audio import resample
    from speechrnn.cli import main
    from speechrnn.data import Utterance, write_manifest
    from speechrnn.inference.models import default_model_path
    from speechrnn.synth.engines import ENGINES

    engine = ENGINES["espeak-ng"]
    if engine.missing():
        pytest.skip(f"espeak-ng unavailable: {engine.missing()}")

    def say(name, words, **kw):
        x, rate = engine.synthesize(words, engine.voice("en-us"), {})
        x = resample(x, rate, SR) if rate != SR else x
        sf.write(tmp_path / f"{name}.wav", x, SR)
        return Utterance(id=name, audio=str(tmp_path / f"{name}.wav"), duration=len(x) / SR, **kw)

    write_manifest(tmp_path / "test.jsonl", [say("k1", "stop", label="stop"), say("k2", "yes", label="yes"),
                                             say("u1", "table", label="_unknown_")])
    sentence = "the window was open all morning"
    write_manifest(tmp_path / "neg.jsonl", [say("n1", sentence, text=sentence),
                                            say("n2", "please stop here", text="please stop here")])  # dropped
    model = str(default_model_path("transcription"))
    args = ["kws", "evaluate", "--open-vocab", model, str(tmp_path / "test.jsonl")]
    assert main(args) != 0 and "give --negatives" in capsys.readouterr().err
    assert main(args + ["--negatives", str(tmp_path / "neg.jsonl"), "--out-dir", str(tmp_path / "r")]) == 0
    r = json.loads((tmp_path / "r" / "report.json").read_text())
    assert r["keywords"] == ["stop", "yes"] and r["whole_words"] is True
    fa = r["false_alarms"]
    assert fa["keyword_clips"] == 2 and fa["utterances"] == 1 and fa["dropped_with_keyword"] == 1
    assert set(fa["frr_per_keyword"]) == {"stop", "yes"} and (tmp_path / "r" / "det.png").exists()
    assert "open-vocabulary search (whole words)" in capsys.readouterr().out


@pytest.mark.tts
def test_bundled_keyword_model_spots_spoken_words_with_its_calibrated_threshold(tmp_path, capsys):
    """`speechrnn spot` right after install: the bundled model (an ensemble) and its stored threshold."""
    import json

    import soundfile as sf

    from speechrnn.audio import resample
    from speechrnn.cli import main
    from speechrnn.inference.keywords import KeywordSpotter
    from speechrnn.synth.engines import ENGINES

    engine = ENGINES["espeak-ng"]
    if engine.missing():
        pytest.skip(f"espeak-ng unavailable: {engine.missing()}")
    parts, starts, t = [np.zeros(SR, np.float32)], [], 1.0
    for word in ("yes", "right"):
        x, rate = engine.synthesize(word, engine.voice("en-us"), {})
        x = (resample(x, rate, SR) if rate != SR else x).astype(np.float32)
        starts.append(t)
        parts += [x, np.zeros(int(1.5 * SR), np.float32)]
        t += len(x) / SR + 1.5
    sf.write(tmp_path / "words.wav", np.concatenate(parts), SR)
    spotter = KeywordSpotter.load()
    assert len(spotter.model.members) >= 2 and 0.5 < spotter.threshold < 1.0
    assert main(["spot", str(tmp_path / "words.wav"), "--format", "json"]) == 0
    dets = json.loads(capsys.readouterr().out)["detections"]
    assert [d["keyword"] for d in dets] == ["yes", "right"]
    for d, at in zip(dets, starts):  # the peak window holds the word's start
        assert d["start"] - 0.1 <= at <= d["end"]
