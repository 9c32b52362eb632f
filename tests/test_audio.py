"""Tests for speechrnn.audio: decoding, resampling, validation and the errors users see."""
from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn import audio
from speechrnn.audio import (
    SAMPLE_RATE,
    audio_info,
    load_audio,
    prepare_waveform,
    resample,
    write_audio,
)
from speechrnn.errors import (
    AudioError,
    AudioFileNotFoundError,
    AudioTooLongError,
    CorruptAudioError,
    EmptyAudioError,
    InvalidSamplesError,
    NotAudioError,
    UnsupportedFormatError,
)


def tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * rate / len(x))


# --------------------------------------------------------------------------- loading
@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"),
                                         ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_load_formats_to_mono_16k(tmp_path, fmt, subtype):
    x = tone(0.5, 44100, 1000.0)
    stereo = np.stack([x, x], axis=1)  # (S, 2)
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, stereo, 44100, format=fmt, subtype=subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 8000) <= 1
    assert abs(dominant_freq(y, SAMPLE_RATE) - 1000.0) < 5.0
    assert 0.3 < np.abs(y).max() < 0.6


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile without MP3")
def test_load_mp3(tmp_path):
    path = tmp_path / "a.mp3"
    sf.write(path, tone(0.5, 16000, 500.0), 16000)
    y = load_audio(path)
    assert abs(len(y) - 8000) <= audio._MP3_SLACK
    assert abs(dominant_freq(y, SAMPLE_RATE) - 500.0) < 5.0


def test_multichannel_is_averaged(tmp_path):
    left, right = tone(0.2, 16000, 300.0), np.zeros(3200, np.float32)
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([left, right], 1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), left / 2, atol=1e-7)


def test_offset_and_duration_read_the_right_frames(tmp_path):
    ramp = (np.arange(16000) / 16000).astype(np.float32)  # value encodes the position
    path = tmp_path / "ramp.wav"
    sf.write(path, ramp, 16000, subtype="FLOAT")
    y = load_audio(path, offset=0.25, duration=0.5)
    np.testing.assert_array_equal(y, ramp[4000:12000])
    assert len(load_audio(path, offset=0.75)) == 4000
    with pytest.raises(EmptyAudioError, match="past the end"):
        load_audio(path, offset=2.0)


def test_offset_reads_only_needed_frames(tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    sf.write(path, tone(2.0, 16000), 16000)
    asked = []
    real_read = sf.SoundFile.read

    def spy(self, frames=-1, *a, **k):
        asked.append(frames)
        return real_read(self, frames, *a, **k)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    load_audio(path, offset=1.0, duration=0.1)
    assert asked == [1600]


def test_max_duration_checked_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(path, tone(3.0, 8000), 8000)

    def boom(*a, **k):
        raise AssertionError("decoded although the header already says it is too long")

    monkeypatch.setattr(sf.SoundFile, "read", boom)
    with pytest.raises(AudioTooLongError) as ei:
        load_audio(path, max_duration=2.0)
    assert str(path) in str(ei.value) and "3.00 s" in str(ei.value)


def test_max_duration_applies_to_requested_segment(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, tone(3.0, 16000), 16000)
    assert len(load_audio(path, duration=1.0, max_duration=2.0)) == 16000


# --------------------------------------------------------------------------- errors
def test_missing_file_and_directory(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="no such file") as ei:
        load_audio(tmp_path / "nope.wav")
    assert "nope.wav" in str(ei.value)
    assert isinstance(ei.value, FileNotFoundError)
    with pytest.raises(AudioFileNotFoundError, match="directory"):
        load_audio(tmp_path)


def test_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(NotAudioError, match="text") as ei:
        load_audio(path)
    assert str(path) in str(ei.value)


def test_png_is_not_audio(tmp_path):
    path = tmp_path / "pic.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(NotAudioError, match="PNG"):
        load_audio(path)


def test_m4a_is_unsupported(tmp_path):
    path = tmp_path / "a.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    with pytest.raises(UnsupportedFormatError, match="MP4"):
        load_audio(path)


def _wav_bytes(x: np.ndarray, rate: int = 16000) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_truncated_wav_is_corrupt(tmp_path):
    data = _wav_bytes(tone(1.0, 16000))
    path = tmp_path / "cut.wav"
    path.write_bytes(data[:44 + 10])  # header promises 16000 frames, 5 are present
    with pytest.raises(CorruptAudioError, match="truncated") as ei:
        load_audio(path)
    assert str(path) in str(ei.value)
    header_only = tmp_path / "hdr.wav"
    header_only.write_bytes(data[:44])
    with pytest.raises(CorruptAudioError):
        load_audio(header_only)


def test_riff_header_with_random_bytes_is_corrupt(tmp_path):
    rng = np.random.default_rng(0)
    for i, head in enumerate([b"RIFF", b"RIFF\x00\x10\x00\x00WAVE"]):
        path = tmp_path / f"junk{i}.wav"
        path.write_bytes(head + rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
        with pytest.raises(CorruptAudioError):
            load_audio(path)


def test_truncated_flac_is_corrupt(tmp_path):
    full = tmp_path / "a.flac"
    sf.write(full, tone(1.0, 16000) + 0.01 * np.random.default_rng(0).standard_normal(16000)
             .astype(np.float32), 16000)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CorruptAudioError):
        load_audio(cut)


def test_empty_file_and_zero_sample_wav(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="0 bytes"):
        load_audio(empty)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), 16000)
    with pytest.raises(EmptyAudioError):
        load_audio(zero)


def test_nan_samples_in_file(tmp_path):
    x = tone(0.1, 16000)
    x[100] = np.nan
    x[200] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(InvalidSamplesError, match="2 NaN/infinite sample.*first at sample 100") as ei:
        load_audio(path)
    assert str(path) in str(ei.value)


def test_all_audio_errors_share_the_base_class(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello")
    with pytest.raises(AudioError):
        load_audio(path)


# --------------------------------------------------------------------------- info
def test_audio_info_reads_header(tmp_path):
    path = tmp_path / "i.flac"
    sf.write(path, np.zeros((22050, 2), np.float32), 22050, format="FLAC")
    info = audio_info(path)
    assert (info.sample_rate, info.channels, info.frames, info.format) == (22050, 2, 22050, "FLAC")
    assert info.duration == pytest.approx(1.0)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(NotAudioError):
        audio_info(tmp_path / "x.txt")


# --------------------------------------------------------------------------- arrays
@pytest.mark.parametrize("layout", ["S", "SC", "CS", "torch"])
def test_prepare_waveform_layouts(layout):
    x = tone(0.25, 8000, 300.0)
    arr = {"S": x, "SC": np.stack([x, x], 1), "CS": np.stack([x, x, x]), "torch": torch.from_numpy(x)}[layout]
    y = prepare_waveform(arr, 8000)
    assert y.dtype == np.float32 and y.shape == (4000,)
    assert abs(dominant_freq(y, 16000) - 300.0) < 10.0


def test_prepare_waveform_int16_scaled():
    y = prepare_waveform(np.array([0, 16384, -32768], np.int16), 16000)
    np.testing.assert_allclose(y, [0.0, 0.5, -1.0])


def test_prepare_waveform_errors():
    with pytest.raises(EmptyAudioError, match="<array>"):
        prepare_waveform(np.zeros(0, np.float32), 16000)
    with pytest.raises(InvalidSamplesError):
        prepare_waveform(np.array([0.0, np.nan], np.float32), 16000, path="clip.wav")
    with pytest.raises(AudioTooLongError, match="clip.wav"):
        prepare_waveform(np.zeros(32000, np.float32), 16000, max_duration=1.0, path="clip.wav")
    with pytest.raises(AudioError, match="shape"):
        prepare_waveform(np.zeros((2, 3, 4), np.float32), 16000)
    with pytest.raises(AudioError, match="channels"):
        prepare_waveform(np.zeros((100, 200), np.float32), 16000)


def test_resample_preserves_tone_and_length():
    x = tone(1.0, 44100, 2000.0)
    y = resample(x, 44100, 16000)
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 1
    assert abs(dominant_freq(y, 16000) - 2000.0) < 3.0
    np.testing.assert_allclose(np.sqrt(np.mean(y[1000:-1000] ** 2)), 0.5 / np.sqrt(2), rtol=0.01)
    assert resample(x, 16000, 16000) is not None and len(resample(x, 16000, 16000)) == len(x)


# --------------------------------------------------------------------------- writing
def test_write_audio_roundtrip_and_atomic(tmp_path):
    x = tone(0.3, 16000)
    path = tmp_path / "sub" / "out.wav"
    write_audio(path, x)
    info = audio_info(path)
    assert (info.subtype, info.sample_rate, info.frames) == ("PCM_16", 16000, len(x))
    np.testing.assert_allclose(load_audio(path), x, atol=1 / 32768 + 1e-6)
    assert os.listdir(path.parent) == ["out.wav"]  # no temp file left behind


def test_write_audio_failure_leaves_no_file(tmp_path):
    path = tmp_path / "bad.wav"
    with pytest.raises(InvalidSamplesError):
        write_audio(path, np.array([np.nan], np.float32))
    assert os.listdir(tmp_path) == []


def test_write_audio_clips(tmp_path):
    path = tmp_path / "c.wav"
    write_audio(path, torch.tensor([2.0, -2.0, 0.0]))
    y = load_audio(path)
    assert y.max() <= 1.0 and y.min() >= -1.0 and y[0] > 0.99


def test_wav_header_parser_skips_chunks(tmp_path):
    data = _wav_bytes(np.zeros(100, np.float32))
    # insert a LIST chunk between fmt and data
    fmt_end = 12 + 8 + struct.unpack("<I", data[16:20])[0]
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde\x00"
    path = tmp_path / "list.wav"
    path.write_bytes(data[:fmt_end] + extra + data[fmt_end:])
    assert audio._wav_declared_frames(path) == 100
    assert len(load_audio(path)) == 100


def test_bundled_sample_loads():
    from importlib.resources import files

    sample = files("speechrnn") / "assets" / "samples" / "sample.wav"
    y = load_audio(str(sample))
    assert 1.0 < len(y) / SAMPLE_RATE < 10.0 and np.abs(y).max() > 0.05


def test_peak_dbfs():
    from speechrnn.audio import peak_dbfs

    assert peak_dbfs(np.zeros(10, np.float32)) == float("-inf")
    assert peak_dbfs(np.zeros(0, np.float32)) == float("-inf")
    assert peak_dbfs(np.array([0.1, -0.5], np.float32), np.array([0.25], np.float32)) == pytest.approx(-6.02, abs=0.01)
