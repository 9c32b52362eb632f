"""Generated espeak-ng timbres: deterministic files, resolvable ids, distinct speakers, training-only."""
import numpy as np
import pytest

from speechrnn.data.manifest import read_manifest
from speechrnn.errors import ConfigError, SynthesisError
from speechrnn.synth.engines import ENGINES, synthesize
from speechrnn.synth.presets import KeywordConfig, SpeakerConfig, build_keywords, build_speakers
from speechrnn.synth.timbres import (ensure_timbre, is_generated, timbre_gender, timbre_name,
                                     timbre_text)
from speechrnn.synth.voices import generated_voices, list_voices, speaker_identity, voice_by_id


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHRNN_CACHE", str(tmp_path / "cache"))


def _keyvals(text):
    out = {}
    for ln in text.splitlines():
        key, *vals = ln.split()
        if key == "formant":
            key, vals = f"formant{vals[0]}", vals[1:]
        out[key] = vals
    return out


def test_timbre_files_are_deterministic_and_in_range():
    assert timbre_text(3, 7) == timbre_text(3, 7)
    assert len({timbre_text(0, i) for i in range(50)}) == 50 and timbre_text(1, 0) != timbre_text(0, 0)
    genders = set()
    for i in range(50):
        kv = _keyvals(timbre_text(0, i))
        assert kv["name"] == [timbre_name(0, i)] and kv["language"] == ["variant"]
        lo, hi = map(int, kv["pitch"])
        assert 70 <= lo < hi <= 300
        for k in range(9):
            freq, height, width = map(int, kv[f"formant{k}"])
            assert 70 <= freq <= 150 and 40 <= height <= 140 and 60 <= width <= 170
        genders.add(timbre_gender(timbre_name(0, i)))
        assert kv["gender"] == [{"F": "female", "M": "male"}[timbre_gender(timbre_name(0, i))]]
    assert genders == {"F", "M"}
    assert is_generated("gen0x0012") and not is_generated("Alicia") and not is_generated("gen0x12")
    with pytest.raises(SynthesisError, match="not a generated timbre"):
        ensure_timbre("Alicia")
    with pytest.raises(SynthesisError):
        timbre_name(0, 10000)


@pytest.mark.tts
def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    if ENGINES["espeak-ng"].missing():
        pytest.skip("espeak-ng unavailable")
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("SPEECHRNN_CACHE", str(tmp_path / "file"))
    with pytest.raises(SynthesisError, match="SPEECHRNN_CACHE"):
        ensure_timbre(timbre_name(0, 1))


@pytest.mark.tts
def test_generated_voices_resolve_by_id_speak_and_differ(tmp_path):
    if ENGINES["espeak-ng"].missing():
        pytest.skip("espeak-ng unavailable")
    vs = generated_voices(70, 5, list_voices(["espeak-ng"]).voices)
    x, _ = synthesize("one", vs[69])  # the second folder of 64 (espeak-ng lists <= 349 voice files)
    assert len(x) > 0
    vs = vs[:4]
    assert len({speaker_identity(v) for v in vs}) == 4
    assert all(voice_by_id(v.id) == v for v in vs)  # any worker process rebuilds the voice from its id
    a, sr = synthesize("seven green apples", vs[0])
    b, _ = synthesize("seven green apples", vs[1])
    plain, _ = synthesize("seven green apples", voice_by_id(vs[0].id.split("+")[0]))
    assert len(a) > 0.5 * sr and np.abs(a).max() > 0.05
    assert (tmp_path / "cache" / "espeak-ng" / "5-0" / "espeak-ng-data" / "voices" / "!v" / timbre_name(5, 0)).is_file()
    for other in (b, plain):  # another timbre and the base voice's default timbre sound different
        n = min(len(a), len(other))
        assert len(a) != len(other) or not np.allclose(a[:n], other[:n])
    with pytest.raises(SynthesisError, match="unknown voice"):
        voice_by_id("espeak-ng:no-such-accent+gen0x0001")


@pytest.mark.tts
def test_presets_put_generated_timbres_in_training_only(tmp_path):
    for e in ("flite", "espeak-ng"):
        if ENGINES[e].missing():
            pytest.skip(f"{e} unavailable")
    voices = ["flite:slt", "flite:rms", "espeak-ng:en-us", "espeak-ng:en-gb+Alicia", "espeak-ng:en-us+Andy"]
    s = build_speakers(tmp_path / "spk", SpeakerConfig(num_voices=2, utts_per_voice=3, verify_voices=1,
                                                       voices=voices, seed=2, jobs=1, progress=False,
                                                       generated_timbres=2, generated_utts=2))
    m = {k: read_manifest(tmp_path / "spk" / f"{k}.jsonl") for k in ("train", "dev", "test", "verify")}
    gen = {u.speaker for u in m["train"]} - set(s["closed_set_voices"])
    assert len(gen) == 2 and all(is_generated(v.split("+")[-1]) for v in gen)
    assert sum(u.speaker in gen for u in m["train"]) == 2 * 2 and s["generated_timbres"] == 2
    assert not gen & {u.speaker for k in ("dev", "test", "verify") for u in m[k]}
    k = build_keywords(tmp_path / "kws", KeywordConfig(num=6, keywords=["yes"], unknown_words=1, voices=voices,
                                                       held_out_voices=0.34, seed=1, jobs=1, progress=False,
                                                       noise_seconds=3.0, generated_timbres=3))
    by_split = {sp: {u.speaker for u in read_manifest(tmp_path / "kws" / f"{sp}.jsonl") if u.speaker}
                for sp in ("train", "dev", "test", "test_seen")}
    gen_seen = {v for vs in by_split.values() for v in vs if "+gen" in v}
    assert gen_seen and gen_seen <= by_split["train"] and k["generated_timbres"] == 3
    with pytest.raises(ConfigError, match="generated_timbres"):
        build_speakers(tmp_path / "bad", SpeakerConfig(voices=voices, num_voices=1, verify_voices=1,
                                                       progress=False, generated_timbres=-1))
