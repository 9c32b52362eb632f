"""Tiny synthetic corpora of each preset: labels, splits, durations, determinism, resume."""
import json
import os
from pathlib import Path

import pytest
import soundfile as sf

from speechrnn.config import from_dict
from speechrnn.data.manifest import read_manifest
from speechrnn.errors import ConfigError
from speechrnn.synth.engines import ENGINES
from speechrnn.synth.presets import (KeywordConfig, SpeakerConfig, TranscriptionConfig,
                                     build_keywords, build_speakers, build_transcription,
                                     speaker_identity)
from speechrnn.synth.voices import voice_by_id

pytestmark = pytest.mark.tts

# formant/diphone voices: fast and bit-exact deterministic
VOICES = ["flite:slt", "flite:rms", "flite:awb", "flite:kal16", "espeak-ng:en-us", "espeak-ng:en-gb",
          "espeak-ng:en-us+Alicia"]


@pytest.fixture(autouse=True)
def _engines():
    for e in ("flite", "espeak-ng"):
        why = ENGINES[e].missing()
        if why:
            pytest.skip(f"{e} unavailable: {why} (install with scripts/setup.sh)")
    try:
        from speechrnn.synth.textsource import load_sentences
        load_sentences("wordnet")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"wordnet text source unavailable: {e}")


def _small_aug():
    return {"p_speed": 0.5, "p_reverb": 0.5, "p_telephone": 0.2, "p_noise": 0.8, "p_gain": 0.5, "p_silence": 0.5}


def _transcription(out, jobs=1, num=14, seed=7):
    from speechrnn.config import from_dict
    cfg = from_dict(TranscriptionConfig, {"num": num, "voices": VOICES, "held_out_voices": 0.34, "seed": seed,
                                          "jobs": jobs, "progress": False, "augment": _small_aug(),
                                          "dev_fraction": 0.15, "test_fraction": 0.3})
    return build_transcription(out, cfg)


def test_transcription_splits_labels_and_summary(tmp_path):
    s = _transcription(tmp_path)
    m = {k: read_manifest(tmp_path / f"{k}.jsonl") for k in ("train", "dev", "test_seen", "test_unseen")}
    assert all(m.values()) and s["failed"] == 0
    train_text = {u.text for u in m["train"]}
    train_spk = {u.speaker for u in m["train"]}
    assert train_text.isdisjoint({u.text for u in m["dev"] + m["test_seen"] + m["test_unseen"]})
    assert {u.text for u in m["test_seen"]} == {u.text for u in m["test_unseen"]}
    held = set(s["held_out_voices"])
    assert held and {u.speaker for u in m["test_unseen"]} <= held
    assert train_spk.isdisjoint(held) and {u.speaker for u in m["test_seen"] + m["dev"]}.isdisjoint(held)
    for u in m["train"] + m["test_unseen"]:
        info = sf.info(u.audio)
        assert info.samplerate == 16000 and abs(info.duration - u.duration) < 1e-3
        assert 0.3 < u.duration < 20 and u.text == u.text.lower() and u.text.strip()
        assert isinstance(u.extra["augment"], list) and u.extra["params"]
    assert any(u.extra["augment"] for u in m["train"])        # augmentation happened and was recorded
    assert all(u.extra["augment"] == [] for u in m["test_seen"])  # eval stays clean by default
    assert s["utterances"] == sum(len(v) for v in m.values())
    assert s["vocabulary_size"] > 10 and "WordNet" in s["text_source"]["license"]
    assert json.loads((tmp_path / "summary.json").read_text())["hours"] == s["hours"] > 0


def test_relative_output_folder_gives_portable_manifests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _transcription("corpus", num=6)
    os.rename(tmp_path / "corpus", tmp_path / "moved")  # manifests must not depend on the cwd
    for u in read_manifest(tmp_path / "moved" / "train.jsonl"):
        assert os.path.isfile(u.audio) and "/moved/wavs/" in u.audio


def test_transcription_deterministic_parallel_and_resumable(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _transcription(a, jobs=1, num=8)
    _transcription(b, jobs=2, num=8)
    for name in ("train.jsonl", "dev.jsonl", "test_seen.jsonl", "test_unseen.jsonl"):
        assert (a / name).read_text() == (b / name).read_text()
    wavs = sorted(p.relative_to(a) for p in (a / "wavs").rglob("*.wav"))
    assert wavs and all((a / w).read_bytes() == (b / w).read_bytes() for w in wavs)
    # resume: delete two files, rebuild -> same bytes back, others untouched
    gone = [a / wavs[0], a / wavs[-1]]
    before = {w: os.stat(a / w).st_mtime_ns for w in wavs[1:-1]}
    original = {p: (b / p.relative_to(a)).read_bytes() for p in gone}
    for p in gone:
        p.unlink()
    _transcription(a, jobs=1, num=8)
    assert all(p.read_bytes() == original[p] for p in gone)
    assert all(os.stat(a / w).st_mtime_ns == t for w, t in before.items())
    assert (a / "train.jsonl").read_text() == (b / "train.jsonl").read_text()


def test_rerun_with_a_changed_plan_rerenders_stale_files(tmp_path):
    """Same path, different job (another seed picks other sentences/voices): the old WAV must not
    be kept under the new label."""
    _transcription(tmp_path, jobs=1, num=6)
    first = {u.id: u for u in read_manifest(tmp_path / "train.jsonl")}
    _transcription(tmp_path, jobs=1, num=6, seed=5)
    fresh = tmp_path / "fresh"
    _transcription(fresh, jobs=1, num=6, seed=5)
    again = read_manifest(tmp_path / "train.jsonl")
    assert any(u.text != first[u.id].text for u in again if u.id in first)
    for u in again:                                  # audio = what a clean build with seed 5 makes
        assert Path(u.audio).read_bytes() == (fresh / Path(u.audio).relative_to(tmp_path)).read_bytes()


def test_transcription_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of hours or num"):
        TranscriptionConfig(voices=VOICES).validate()
    with pytest.raises(ConfigError, match="exactly one"):
        TranscriptionConfig(hours=1.0, num=3).validate()


def test_keywords_speech_commands_layout(tmp_path):
    cfg = KeywordConfig(num=3, keywords=["yes", "stop"], unknown_words=2, voices=VOICES, held_out_voices=0.34,
                        seed=1, jobs=1, progress=False, noise_seconds=5.0)
    s = build_keywords(tmp_path, cfg)
    assert (tmp_path / "yes").is_dir() and (tmp_path / "stop").is_dir()
    assert sorted(p.name for p in (tmp_path / "_background_noise_").glob("*.wav")) == [
        "babble.wav", "brown_noise.wav", "pink_noise.wav", "white_noise.wav"]
    testing = (tmp_path / "testing_list.txt").read_text().split()
    validation = (tmp_path / "validation_list.txt").read_text().split()
    assert testing and set(testing).isdisjoint(validation)
    held_slugs = {v.lower().replace(":", "-").replace("+", "-").replace("_", "-") for v in s["held_out_voices"]}
    assert {t.split("/")[1].split("_nohash_")[0] for t in testing} <= held_slugs
    for wav in (tmp_path / "yes").glob("*.wav"):
        info = sf.info(wav)
        assert info.samplerate == 16000 and info.frames == 16000
    train = read_manifest(tmp_path / "train.jsonl")
    labels = {u.label for u in train}
    assert {"yes", "stop", "_unknown_", "_silence_"} <= labels
    assert all(u.extra["augment"][0]["step"] == "fit" for u in train if u.label != "_silence_")
    test_spk = {u.speaker for u in read_manifest(tmp_path / "test.jsonl") if u.speaker}
    assert test_spk <= set(s["held_out_voices"])
    # validation holds out whole speakers too: no timbre/human of dev is heard in training
    who = lambda us: {speaker_identity(voice_by_id(u.speaker)) for u in us if u.speaker}  # noqa: E731
    dev = read_manifest(tmp_path / "dev.jsonl")
    assert who(dev) and who(dev).isdisjoint(who(train))
    from speechrnn.data.importers import prepare_speech_commands
    # seen-voice test clips: training voices, clips in no other list, never imported as training
    seen = (tmp_path / "testing_seen_list.txt").read_text().split()
    test_seen = read_manifest(tmp_path / "test_seen.jsonl")
    assert seen and len(test_seen) == len(seen) and set(seen).isdisjoint(testing + validation)
    assert {u.speaker for u in test_seen} <= {u.speaker for u in train if u.speaker}
    assert "_silence_" not in {u.label for u in test_seen}
    imported = prepare_speech_commands(tmp_path)
    assert len(imported["test"]) == len(testing)
    assert len(imported["test_seen"]) == len(seen)
    imported_train = {u.id for u in imported["train"]}
    assert not imported_train & {p[:-4] for p in seen}


def test_speakers_closed_set_and_verification(tmp_path):
    cfg = SpeakerConfig(num_voices=3, utts_per_voice=4, verify_voices=2, voices=VOICES, seed=2, jobs=1,
                        progress=False)
    s = build_speakers(tmp_path, cfg)
    m = {k: read_manifest(tmp_path / f"{k}.jsonl") for k in ("train", "dev", "test", "verify")}
    closed = set(s["closed_set_voices"])
    assert {u.speaker for u in m["train"]} == closed == {u.speaker for u in m["test"]}
    assert {u.speaker for u in m["verify"]} == set(s["held_out_voices"])
    assert closed.isdisjoint(s["held_out_voices"])
    ids = [u.id for us in m.values() for u in us]
    assert len(ids) == len(set(ids)) == 3 * 4 + 2 * 4
    assert len({u.text for us in m.values() for u in us}) == len(ids)  # every utterance a new sentence
    verify_ids = {u.id: u.speaker for u in m["verify"]}
    trials = [line.split() for line in (tmp_path / "trials.txt").read_text().splitlines()]
    assert {t[0] for t in trials} == {"0", "1"}
    for label, a, b in trials:
        assert (verify_ids[a] == verify_ids[b]) == (label == "1")
    # a speaker keeps their prosody: every number within +-6 % of the voice's first utterance
    by_voice = {}
    for u in m["train"] + m["dev"] + m["test"] + m["verify"]:
        by_voice.setdefault(u.speaker, []).append(u.extra["params"])
    for params in by_voice.values():
        for p in params[1:]:
            for k, v in p.items():
                assert abs(v - params[0][k]) <= 0.13 * abs(params[0][k]) + 1, (k, v, params[0][k])
    assert len({speaker_identity(voice_by_id(v)) for v in closed | set(s["held_out_voices"])}) == 5
    with pytest.raises(ConfigError, match="only"):
        build_speakers(tmp_path / "x", SpeakerConfig(num_voices=len(VOICES), verify_voices=1, voices=VOICES,
                                                     progress=False))


def test_speaker_identity_ignores_espeak_accent():
    ids = [speaker_identity(voice_by_id(v)) for v in
           ("espeak-ng:en-gb+Alicia", "espeak-ng:en-us+Alicia", "espeak-ng:en-us", "flite:slt")]
    assert ids[0] == ids[1] and len(set(ids)) == 3


def test_all_failures_raise(tmp_path, monkeypatch):
    from speechrnn.errors import SynthesisError
    from speechrnn.synth import build

    def boom(job, aug, bank=None):
        raise SynthesisError("engine exploded")
    monkeypatch.setattr(build, "render", boom)
    with pytest.raises(SynthesisError, match="every synthesis failed.*exploded"):
        _transcription(tmp_path, num=4)


def test_other_language_humans_join_training_only_and_leave_the_tests_unchanged(tmp_path, monkeypatch):
    from speechrnn.errors import SynthesisError
    from speechrnn.synth.engines import Voice

    flite = ENGINES["flite"]
    voices = [v for v in VOICES if v != "flite:awb"]
    cfg = dict(num_voices=3, utts_per_voice=3, verify_voices=2, voices=voices, seed=2, jobs=1, progress=False)
    base = build_speakers(tmp_path / "base", from_dict(SpeakerConfig, cfg))
    # flite's awb stands in for a recorded human of another language; kal is a person the
    # corpus already has (flite:kal16), and "broken" a voice that cannot read the text
    others = [Voice("flite", "awb", None, "awb", "scots"), Voice("flite", "kal", None, "kal", "xx"),
              Voice("flite", "broken", None, "broken", "xx")]
    for e in ENGINES.values():  # whatever other-language voices this machine has installed
        monkeypatch.setattr(e, "_other", [])
    with pytest.raises(ConfigError, match="no voice of another language"):
        build_speakers(tmp_path / "none", from_dict(SpeakerConfig, {**cfg, "other_language_voices": True}))
    monkeypatch.setattr(flite, "_other", others)
    real = flite._synthesize

    def synthesize(text, voice, params):
        if voice.name == "broken":
            raise SynthesisError("flite voice broken: cannot read Latin script")
        return real(text, voice, params)

    monkeypatch.setattr(flite, "_synthesize", synthesize)
    s = build_speakers(tmp_path / "ol", from_dict(SpeakerConfig, {**cfg, "other_language_voices": True}))
    assert s["other_language_voices"] == ["flite:awb"]
    assert list(s["other_language_voices_skipped"]) == ["flite:broken"]
    for split in ("dev", "test", "verify"):  # the extra speakers change no test: same clips, same order
        a, b = (read_manifest(tmp_path / d / f"{split}.jsonl") for d in ("base", "ol"))
        assert [(u.id, u.text, u.extra["params"]) for u in a] == [(u.id, u.text, u.extra["params"]) for u in b]
    assert (tmp_path / "base" / "trials.txt").read_text() == (tmp_path / "ol" / "trials.txt").read_text()
    train_a, train_b = (read_manifest(tmp_path / d / "train.jsonl") for d in ("base", "ol"))
    added = [u for u in train_b if u.speaker == "flite:awb"]
    assert len(added) == 3 and len(train_b) == len(train_a) + 3
    assert [u.id for u in train_b if u.speaker != "flite:awb"] == [u.id for u in train_a]
    assert s["closed_set_voices"] == base["closed_set_voices"]

