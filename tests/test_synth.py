"""TTS engines, voice discovery and augmentation (units; corpora are in test_synth_presets.py)."""
import subprocess

import numpy as np
import pytest

from speechrnn.config import from_dict
from speechrnn.errors import ConfigError, CorpusError, SynthesisError
from speechrnn.synth.augment import (AugmentConfig, NoiseBank, add_noise, augment, colored_noise,
                                     reverb, telephone)
from speechrnn.synth.build import check_out_dir
from speechrnn.synth.engines import ENGINES, FliteEngine, Voice, synthesize
from speechrnn.synth.textsource import load_sentences, vocabulary
from speechrnn.synth.voices import list_voices, select_voices, split_voices, voice_by_id

SR = 16000


def _need(engine):
    why = ENGINES[engine].missing()
    if why:
        pytest.skip(f"{engine} unavailable: {why} (install with scripts/setup.sh)")
    return ENGINES[engine]


# --------------------------------------------------------------------------- engines
@pytest.mark.tts
@pytest.mark.parametrize("engine", ["espeak-ng", "flite", "festival", "piper"])
def test_engine_synthesizes_english(engine):
    e = _need(engine)
    voices = e.voices()
    assert voices and all(v.engine == engine and v.id.startswith(engine + ":") for v in voices)
    v = voices[0]
    params = e.sample_params(v, np.random.default_rng(0))
    x, sr = e.synthesize("hello world", v, params)
    assert x.dtype == np.float32 and x.ndim == 1 and sr >= 8000
    assert 0.3 < len(x) / sr < 5 and np.abs(x).max() > 0.05


@pytest.mark.tts
def test_espeak_variants_are_distinct_voices_and_params_matter():
    e = _need("espeak-ng")
    names = {v.name for v in e.voices()}
    assert {"en-us", "en-gb"} <= names and any(n.startswith("en-us+") for n in names)
    v = e.voice("en-us")
    slow, _ = e.synthesize("one two three", v, {"speed": 120})
    fast, _ = e.synthesize("one two three", v, {"speed": 220})
    assert len(slow) > 1.3 * len(fast)
    again, _ = e.synthesize("one two three", v, {"speed": 120})
    assert np.array_equal(slow, again)                       # deterministic engine


@pytest.mark.tts
def test_flite_lists_every_general_voice_but_not_limited_domain_ones():
    e = _need("flite")
    names = {v.name for v in e.voices()}
    assert {"slt", "kal"} <= names
    assert not any(n.endswith("_time") for n in names)   # awb_time only speaks clock times


@pytest.mark.tts
def test_limited_domain_voice_output_is_rejected_as_not_speaking_the_text():
    e = _need("flite")
    if "awb_time" not in subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout:
        pytest.skip("this flite has no awb_time voice")
    with pytest.raises(SynthesisError, match="did not speak the text"):
        e.synthesize("the audience remained seated", Voice("flite", "awb_time", arg="awb_time"))


@pytest.mark.tts
def test_bad_inputs_raise_synthesis_error():
    e = _need("espeak-ng")
    v = e.voice("en-us")
    with pytest.raises(SynthesisError, match="empty text"):
        e.synthesize("   ", v)
    with pytest.raises(SynthesisError, match="no audio"):
        e.synthesize("...", v)                               # nothing speakable
    with pytest.raises(SynthesisError, match="unknown voice 'no-such-voice'"):
        e.voice("no-such-voice")
    with pytest.raises(SynthesisError, match="unknown engine"):
        voice_by_id("klingon:tlh")
    with pytest.raises(SynthesisError, match="unknown engine"):
        synthesize("hi", Voice("klingon", "x"))


def test_missing_engine_is_reported_not_dropped(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))                # no programs at all
    monkeypatch.setitem(ENGINES, "flite", FliteEngine())
    report = list_voices(["flite"])
    assert report.voices == [] and "flite" in report.missing and "not found" in report.missing["flite"]
    assert "MISSING" in report.format()
    with pytest.raises(SynthesisError, match="unavailable"):
        ENGINES["flite"].synthesize("hello", Voice("flite", "slt", arg="slt"))
    with pytest.raises(SynthesisError, match="no voices available"):
        select_voices(report.voices, None)


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SynthesisError, match="not writable"):
        check_out_dir(blocker / "corpus")


def test_select_and_split_voices():
    voices = [Voice("a", f"v{i}") for i in range(10)] + [Voice("b", "w0"), Voice("b", "w1"), Voice("c", "solo")]
    assert len(select_voices(voices, ["a"])) == 10
    assert [v.id for v in select_voices(voices, ["b:*", "c:solo"])] == ["b:w0", "b:w1", "c:solo"]
    with pytest.raises(SynthesisError, match="'z:\\*' matches none"):
        select_voices(voices, ["z:*"])
    train, held = split_voices(voices, 0.2, seed=3)
    assert {v.id for v in train}.isdisjoint({v.id for v in held})
    assert len(train) + len(held) == len(voices)
    assert sum(v.engine == "a" for v in held) == 2 and sum(v.engine == "b" for v in held) == 1
    assert all(v.engine != "c" for v in held)                # a lone voice stays in training
    assert split_voices(voices, 0.2, seed=3) == (train, held)
    _, held3 = split_voices(voices, 0.2, seed=3, min_speakers=3)  # engine b (2 speakers) stays whole
    assert {v.engine for v in held3} == {"a"} and len(held3) == 2


def test_split_voices_holds_out_whole_speakers():
    """One speaker is never on both sides: every accent of an espeak-ng variant and every engine
    that recorded the same human go together."""
    from speechrnn.synth.voices import speaker_identity

    accents = ["en-us", "en-gb", "en-029"]
    voices = [Voice("espeak-ng", f"{a}+v{i}", None, f"gmw/{a}+nosuchvariant{i}") for a in accents for i in range(8)]
    voices += [Voice("flite", "kal"), Voice("flite", "kal16"), Voice("festival", "kal_diphone"),
               Voice("flite", "slt"), Voice("festival", "cmu_us_slt_arctic_hts"), Voice("festival", "ked_diphone"),
               Voice("flite", "awb")]
    for seed in range(5):
        train, held = split_voices(voices, 0.25, seed=seed)
        assert len(train) + len(held) == len(voices)
        who_train = {speaker_identity(v) for v in train}
        who_held = {speaker_identity(v) for v in held}
        assert who_train.isdisjoint(who_held)
        assert held and all(sum(speaker_identity(v) == w for v in held) in (1, 2, 3) for w in who_held)
    assert len({speaker_identity(v) for v in voices}) == 8 + 4  # kal, slt, ked, awb


def test_speaker_identity_merges_one_human_and_one_timbre():
    from speechrnn.synth.voices import speaker_identity

    same = [("flite", "kal", "kal"), ("flite", "kal16", "kal16"), ("festival", "kal_diphone", "kal_diphone")]
    assert len({speaker_identity(Voice(e, n, None, a)) for e, n, a in same}) == 1
    assert speaker_identity(Voice("festival", "cmu_us_slt_arctic_hts")) == speaker_identity(Voice("flite", "slt"))
    assert speaker_identity(Voice("festival", "ked_diphone")) != speaker_identity(Voice("flite", "kal"))
    assert speaker_identity(Voice("piper", "en_US-joe-medium")) == "human:joe"
    assert speaker_identity(Voice("piper", "en_US-libritts-high#12")) == "human:libritts#12"
    # espeak-ng base voices share the default timbre whatever the accent
    assert speaker_identity(Voice("espeak-ng", "en-us", None, "gmw/en-US")) == \
        speaker_identity(Voice("espeak-ng", "en-gb", None, "gmw/en"))


def test_speaker_identity_reads_espeak_variant_timbre():
    from speechrnn.synth.timbres import espeak_data_dir
    from speechrnn.synth.voices import speaker_identity

    data = espeak_data_dir()
    if data is None or not (data / "voices" / "!v" / "RicishayMax2").is_file():
        pytest.skip("espeak-ng variant files not installed (scripts/setup.sh)")
    # RicishayMax2 and RicishayMax3 differ in echo/intonation only: one timbre; Alicia differs
    ids = {n: speaker_identity(Voice("espeak-ng", f"en-us+{n}", None, f"gmw/en-US+{n}"))
           for n in ("RicishayMax2", "RicishayMax3", "Alicia")}
    assert ids["RicishayMax2"] == ids["RicishayMax3"] != ids["Alicia"]


# --------------------------------------------------------------------------- augmentation
def _tone(seconds=1.0, f=440.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_colored_noise_spectral_slopes():
    rng = np.random.default_rng(0)
    def low_high_ratio(x):
        p = np.abs(np.fft.rfft(x)) ** 2
        return p[10:200].mean() / p[-2000:].mean()
    w, p, b = (colored_noise(SR * 2, k, rng) for k in ("white", "pink", "brown"))
    assert low_high_ratio(w) < 3 < low_high_ratio(p) < low_high_ratio(b)
    assert abs(np.sqrt(np.mean(p ** 2)) - 1) < 1e-3


def test_add_noise_hits_requested_snr():
    x = _tone()
    n = colored_noise(len(x), "white", np.random.default_rng(1))
    y = add_noise(x, n, 10.0)
    snr = 10 * np.log10(np.mean(x ** 2) / np.mean((y - x) ** 2))
    assert abs(snr - 10.0) < 0.01


def test_telephone_band_limits():
    x = _tone(f=100) + _tone(f=1000) + _tone(f=6000)
    y = telephone(x, SR)
    spec = np.abs(np.fft.rfft(y)) / len(y)                   # 1 Hz bins for a 1 s signal
    assert len(y) == len(x)
    assert spec[1000] > 10 * spec[100] and spec[1000] > 100 * spec[6000]


def test_reverb_keeps_length_and_level():
    x = _tone()
    y = reverb(x, SR, 0.5, np.random.default_rng(0))
    assert y.shape == x.shape and abs(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2)) - 1) < 0.01


def test_augment_records_each_step_and_is_seeded(tmp_path):
    import soundfile as sf
    sf.write(tmp_path / "hum.wav", _tone(2.0, 50.0), SR)
    cfg = AugmentConfig(p_speed=1, p_reverb=1, p_telephone=1, p_noise=1, p_gain=1, p_silence=1,
                        noise_kinds=["file"])
    bank = NoiseBank([_tone(0.5, 300)], noise_dir=tmp_path)
    x = _tone()
    y1, r1 = augment(x, SR, np.random.default_rng(5), cfg, bank)
    y2, r2 = augment(x, SR, np.random.default_rng(5), cfg, bank)
    assert r1 == r2 and np.array_equal(y1, y2)
    steps = [r["step"] for r in r1]
    assert steps == ["speed", "reverb", "telephone", "noise", "gain", "silence"]
    sil, spd = r1[-1], r1[0]
    expected = len(x) / spd["factor"] + int(sil["lead_s"] * SR) + int(sil["trail_s"] * SR)
    assert abs(len(y1) - expected) <= 2
    assert r1[3]["file"] == "hum.wav" and np.abs(y1).max() <= 0.99 + 1e-6
    y3, r3 = augment(x, SR, np.random.default_rng(5), AugmentConfig.off())
    assert r3 == [] and np.array_equal(y3, x)


def test_augment_config_is_strict():
    with pytest.raises(ConfigError, match="unknown key 'p_noize'"):
        from_dict(AugmentConfig, {"p_noize": 0.5})
    with pytest.raises(ConfigError, match="p_noise"):
        from_dict(AugmentConfig, {"p_noise": 1.5})
    with pytest.raises(ConfigError, match="noise_kinds"):
        from_dict(AugmentConfig, {"noise_kinds": ["thunder"]})
    with pytest.raises(ConfigError, match="does not exist"):
        NoiseBank(noise_dir="/no/such/folder")


# --------------------------------------------------------------------------- text sources
def test_wordnet_source_is_large_and_normalized():
    try:
        sents, info = load_sentences("wordnet", 3, 20, with_info=True)
    except CorpusError as e:
        pytest.skip(str(e))
    assert len(sents) > 10000 and len(vocabulary(sents)) >= 5000
    assert "WordNet" in info["license"]
    assert all(3 <= len(s.split()) <= 20 for s in sents[:: 97])
    assert len(set(sents)) == len(sents) and sents == sorted(sents)


def test_file_source_and_errors(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("The 2 cats sat.\nToo short\nThe 2 cats sat.\nA <weird> line with markup here\n")
    assert load_sentences(f"file:{f}") == ["the two cats sat"]
    with pytest.raises(CorpusError, match="unknown text source"):
        load_sentences("shakespeare")
    with pytest.raises(CorpusError, match="does not exist"):
        load_sentences(f"file:{tmp_path / 'nope.txt'}")


def test_jitter_params_stays_close_keeps_types_and_is_seeded():
    from speechrnn.synth.engines import jitter_params

    base = {"pitch": 60, "length_scale": 1.1, "name": "x", "flag": True}
    a = jitter_params(base, np.random.default_rng(0))
    assert a == jitter_params(base, np.random.default_rng(0))
    assert isinstance(a["pitch"], int) and isinstance(a["length_scale"], float)
    assert a["name"] == "x" and a["flag"] is True
    assert abs(a["pitch"] - 60) <= 4 and abs(a["length_scale"] - 1.1) <= 0.07


def test_festival_lists_english_voices_and_keeps_other_languages_apart(tmp_path, monkeypatch):
    from speechrnn.synth.engines import FestivalEngine

    for d in ("english/kal_diphone/festvox", "us/cmu_us_slt_arctic_hts/festvox", "czech/czech_dita/festvox",
              "italian/pc_diphone/festvox", "finnish/suopuhe.common"):
        (tmp_path / d).mkdir(parents=True)
    eng = FestivalEngine()
    monkeypatch.setattr(eng, "roots", (str(tmp_path),))
    monkeypatch.setattr(eng, "missing", lambda: None)
    assert [(v.name, v.gender, v.language) for v in eng.voices()] == [
        ("kal_diphone", "M", "en"), ("cmu_us_slt_arctic_hts", "F", "en")]
    assert [(v.name, v.gender, v.language) for v in eng.other_language_voices()] == [
        ("czech_dita", None, "czech"), ("pc_diphone", None, "italian")]  # suopuhe.common: no voice
    assert eng.voice("czech_dita").language == "czech"
