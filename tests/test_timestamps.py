"""Word timestamps of the bundled English model against known word positions.

Words are synthesized one by one (espeak-ng), trimmed to their audible extent and joined with
known random gaps, so every word's true start and end is known to the sample.
"""
import numpy as np
import pytest

from speechrnn.audio import resample
from speechrnn.inference import Recognizer
from speechrnn.synth.engines import ENGINES

SR = 16000
WORDS = ["seven", "orange", "window", "table", "morning", "river"]
TOLERANCE_S = 0.1


@pytest.fixture(scope="module")
def spoken():
    """``(audio, [(word, start_s, end_s)])`` with silence gaps of 0.3-0.7 s between words."""
    engine = ENGINES["espeak-ng"]
    why = engine.missing()
    if why:
        pytest.skip(f"espeak-ng unavailable: {why} (install with scripts/setup.sh)")
    voice = engine.voice("en-us")
    rng = np.random.default_rng(0)
    parts, truth, t = [np.zeros(SR // 2, np.float32)], [], 0.5
    for word in WORDS:
        x, rate = engine.synthesize(word, voice, {})
        x = resample(x, rate, SR) if rate != SR else x
        loud = np.flatnonzero(np.abs(x) > 0.05 * np.abs(x).max())
        x = x[loud[0]: loud[-1] + 1]                      # audible extent only
        truth.append((word, t, t + len(x) / SR))
        gap = np.zeros(int(rng.uniform(0.3, 0.7) * SR), np.float32)
        parts += [x, gap]
        t += (len(x) + len(gap)) / SR
    return np.concatenate(parts), truth


@pytest.fixture(scope="module")
def rec():
    return Recognizer.load()  # the bundled model


@pytest.mark.tts
def test_forced_alignment_of_known_text_is_within_100_ms(rec, spoken):
    audio, truth = spoken
    words = rec.align(audio, " ".join(WORDS))
    assert [w.word for w in words] == WORDS
    errors = []
    for (word, start, end), w in zip(truth, words):
        assert abs(w.start - start) <= TOLERANCE_S, (word, w.start, start)
        assert abs(w.end - end) <= TOLERANCE_S, (word, w.end, end)
        assert 0.0 <= w.confidence <= 1.0
        errors += [abs(w.start - start), abs(w.end - end)]
    assert np.mean(errors) <= 0.03, errors  # the README's figure: 15 ms on average over 48 boundaries


@pytest.mark.tts
@pytest.mark.parametrize("method", ["greedy", "default"])
def test_transcribed_words_lie_on_the_spoken_words(rec, spoken, method):
    """Recognized words never spill into the silences: every start and end lies on spoken audio
    (within 100 ms of a true word). A word may be misspelt, run together with the next one, or
    split in two (``window`` -> ``win do``), so boundaries inside a true word are allowed; the
    exact boundaries are checked by the forced-alignment test above. With the model's default
    decoding (lexicon search + LM) a word may also come out as a shorter lexicon word lying
    inside it (``orange`` -> ``ring``): then it must still overlap the true word."""
    from speechrnn.decoding import DecodingConfig

    audio, truth = spoken
    decoding = DecodingConfig() if method == "greedy" else None
    got = rec.transcribe(audio, decoding=decoding).words
    assert got

    def off_speech(t):  # distance from t to the nearest spoken word (0 inside one)
        return min(max(s - t, 0.0, t - e) for _, s, e in truth)

    for w in got:
        assert w.start < w.end
        assert off_speech(w.start) <= TOLERANCE_S and off_speech(w.end) <= TOLERANCE_S, (w, truth)
    for _, s, e in truth:
        if method == "greedy":  # a recognized word starts at its onset or runs over it
            assert any(abs(w.start - s) <= TOLERANCE_S or w.start < s < w.end for w in got), (s, got)
        else:  # a recognized word overlaps it
            assert any(w.start < e and w.end > s for w in got), (s, e, got)


@pytest.mark.tts
def test_alignment_rejects_text_longer_than_the_audio(rec):
    from speechrnn.decoding import DecodingError

    with pytest.raises(DecodingError, match="cannot align"):
        rec.align(np.zeros(SR // 10, np.float32), "a much longer sentence than a tenth of a second")
    with pytest.raises(DecodingError, match="cannot align .* 5 ms"):  # no output frame at all
        rec.align(np.zeros(SR // 200, np.float32), "hello")
    assert rec.align(np.zeros(SR // 200, np.float32), "") == []


@pytest.mark.parametrize("method", ["greedy", "beam", "beam+lm", "default"])
def test_words_joined_equal_the_text_for_every_decoder(rec, method):
    """The word list (tsv/srt/vtt/json words) must be the text's words: the default lexicon
    search used to glue words it emitted back to back ("dumps over" -> "dumpsover")."""
    from pathlib import Path

    import soundfile as sf

    from speechrnn.decoding import DecodingConfig

    sample = Path(__file__).resolve().parent.parent / "speechrnn" / "assets" / "samples" / "sample.wav"
    x, _ = sf.read(sample, dtype="float32")
    decoding = {"greedy": DecodingConfig(), "beam": DecodingConfig(method="beam", beam_size=16),
                "beam+lm": DecodingConfig(method="beam", beam_size=16, lm_path=rec.decoding.lm_path),
                "default": None}[method]
    for clip in (x, 0.1 * x, resample(x, SR, 12800), np.tile(x, 3)):
        t = rec.transcribe(clip, decoding=decoding)
        assert t.text and " ".join(w.word for w in t.words) == t.text, (method, t.text, t.words)
