"""Live streams: partials arrive within about a second, int16/float/bytes chunks at any rate, and
the final text equals the offline transcript of the same audio (the server relies on it)."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechrnn.audio import resample
from speechrnn.errors import AudioError, InvalidSamplesError
from speechrnn.inference import KeywordSpotter, Recognizer
from speechrnn.inference.recognizer import StreamFinishedError

SAMPLE = Path(__file__).resolve().parent.parent / "speechrnn" / "assets" / "samples" / "sample.wav"


@pytest.fixture(scope="module")
def audio():
    x, sr = sf.read(SAMPLE, dtype="float32")  # "the quick brown fox ...", 2.9 s at 16 kHz
    assert sr == 16000
    return np.concatenate([x, np.zeros(sr // 2, np.float32)])  # a pause after the speech


@pytest.fixture(scope="module")
def rec():
    return Recognizer.load()  # the bundled model and its default decoding (lexicon + LM)


def _int16(x):
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)


def _chunks(x, size):
    return [x[i:i + size] for i in range(0, len(x), size)]


def test_int16_chunks_give_live_partials_and_the_offline_transcript(rec, audio):
    offline = rec.transcribe(audio)
    assert "brown" in offline.text.split()
    stream = rec.stream()
    partials = [stream.feed(c) for c in _chunks(_int16(audio), 1600)]  # 0.1 s int16 chunks
    final = stream.finish()
    first = next(i for i, p in enumerate(partials) if p)
    assert (first + 1) * 0.1 <= 1.0, partials  # speech starts at 0.02 s
    assert len(set(partials)) >= 3  # the partial text grows while the audio comes in
    assert final.text == offline.text
    assert [w.word for w in final.words] == [w.word for w in offline.words]
    assert final.duration == pytest.approx(offline.duration)
    assert stream.partial == final.text


def test_other_rates_and_chunk_types_are_converted(rec, audio):
    x22 = resample(audio, 16000, 22050)
    offline = rec.transcribe(x22, sample_rate=22050)
    for chunks in (_chunks(x22, 2205),                                       # float32
                   _chunks(x22.astype(np.float64), 3001),                    # float64, odd sizes
                   _chunks(_int16(x22)[:, None], 2205),                      # (N, 1) int16 frames
                   _chunks(np.stack([_int16(x22)] * 2, axis=1), 999),        # stereo int16
                   _chunks(_int16(x22).astype("<i2").tobytes(), 4411)):      # PCM bytes, odd splits
        stream = rec.stream(22050)
        for c in chunks:
            stream.feed(c)
        t = stream.finish()
        assert t.text == offline.text
        assert t.duration == pytest.approx(len(audio) / 16000, abs=2e-3)


def test_provisional_partials_hand_over_to_final_windows():
    """With short windows, finalized text and provisional partials interleave; the final text is
    still the offline transcript, whatever the chunking."""
    rec = Recognizer.load(chunk_s=1.0, context_s=0.5)
    x, _ = sf.read(SAMPLE, dtype="float32")
    x = np.tile(x, 3)
    offline = rec.transcribe(x).text
    for size in (800, 1600, 7777):
        stream = rec.stream(partial_s=0.3)
        partials = [stream.feed(c) for c in _chunks(_int16(x), size)]
        assert stream.finish().text == offline
        assert sum(1 for p in partials if p) >= len(partials) * 0.8
    quiet = rec.stream(partial_s=None)  # partials off: only finalized windows show before finish
    assert quiet.feed(_int16(x[:8000])) == ""


def test_bad_stream_input_is_refused_clearly(rec):
    for rate in (0, -16000, 16000.5, "16k"):
        with pytest.raises(AudioError, match="sample_rate"):
            rec.stream(rate)
    with pytest.raises(Exception, match="partial_s"):
        rec.stream(partial_s=0)
    stream = rec.stream()
    with pytest.raises(AudioError, match="shape"):
        stream.feed(np.zeros((2, 2, 2), np.float32))
    with pytest.raises(AudioError, match="sample type"):
        stream.feed(np.array(["a", "b"]))
    with pytest.raises(InvalidSamplesError, match="NaN"):
        stream.feed(np.array([0.0, np.nan], np.float32))
    assert stream.feed(np.zeros(1600, np.int16)) == ""  # the stream is still usable
    stream.finish()
    with pytest.raises(StreamFinishedError):
        stream.feed(np.zeros(10, np.float32))
    with pytest.raises(StreamFinishedError):
        stream.finish()


def test_keyword_stream_takes_int16_chunks_at_any_rate(audio):
    spotter = KeywordSpotter.load(None, keywords=["brown", "lazy dog"], open_vocabulary=True)
    expected = spotter.spot(audio).detections
    assert {d.keyword for d in expected} == {"brown", "lazy dog"}
    for rate, chunk in ((16000, 1600), (44100, 4410)):
        x = audio if rate == 16000 else resample(audio, 16000, rate)
        stream = spotter.stream(rate)
        got = [d for c in _chunks(_int16(x), chunk) for d in stream.feed(c)] + stream.finish()
        assert [d.keyword for d in got] == [d.keyword for d in expected]
        for d, e in zip(got, expected):
            assert abs(d.start - e.start) <= 0.1 and abs(d.end - e.end) <= 0.1  # resampled twice
