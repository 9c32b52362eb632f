"""One Recognizer serving several threads: the default decoding (lexicon search + KenLM through
flashlight) and beam search give the serial results, and nothing process-wide is disturbed:
stderr, logger levels, the umask and torch's thread count."""
import logging
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.audio import resample
from speechrnn.decoding import DecodingConfig, clear_caches
from speechrnn.inference import Recognizer

SAMPLE = Path(__file__).resolve().parent.parent / "speechrnn" / "assets" / "samples" / "sample.wav"


@pytest.fixture(scope="module")
def rec():
    return Recognizer.load()  # bundled model; default decoding: lexicon search + LM (flashlight)


@pytest.fixture(scope="module")
def clips():
    x, _ = sf.read(SAMPLE, dtype="float32")
    rng = np.random.default_rng(0)
    half = len(x) // 2
    return [x, 0.1 * x, resample(x, 16000, 12800), np.concatenate([x[half:], x[:half]]),
            x + rng.standard_normal(len(x)).astype(np.float32) * 0.02, np.tile(x, 2)]


def _result(t):
    return t.text, [(w.word, round(w.start, 3), round(w.end, 3)) for w in t.words]


def _run_threads(fn, n):
    errors, threads = [], []

    def guard(i):
        try:
            fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=guard, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)


def _fd_identity(fd):
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


@pytest.mark.parametrize("method", ["default", "beam"])
def test_concurrent_decoding_equals_serial_from_a_cold_cache(rec, clips, method):
    decoding = None
    if method == "beam":
        decoding = DecodingConfig(method="beam", beam_size=32, lm_path=rec.decoding.lm_path,
                                  alpha=rec.decoding.alpha, hotwords=["brown fox"])
    serial = [_result(rec.transcribe(x, decoding=decoding)) for x in clips]
    assert serial[0][0].split()[:3] == ["the", "quick", "brown"]
    assert all(t == " ".join(w for w, _, _ in ws) for t, ws in serial)
    stderr_before = _fd_identity(2)
    clear_caches()  # every thread now asks for the decoder (and its KenLM) at once
    got = [[None] * len(clips) for _ in range(4)]

    def work(i):
        for k in range(len(clips)):
            j = (i + k) % len(clips)
            got[i][j] = _result(rec.transcribe(clips[j], decoding=decoding))

    _run_threads(work, 4)
    assert all(row == serial for row in got)
    assert _fd_identity(2) == stderr_before


def test_concurrent_streams_share_one_recognizer(rec, clips):
    pcms = [np.clip(x * 32768, -32768, 32767).astype(np.int16) for x in clips[:3]]
    offline = [rec.transcribe(pcm).text for pcm in pcms]
    got = [None] * 3

    def work(i):
        s = rec.stream()
        pcm = pcms[i]
        for k in range(0, len(pcm), 1600):
            s.feed(pcm[k:k + 1600])
        got[i] = s.finish().text

    _run_threads(work, 3)
    assert got == offline


def test_stderr_silencing_in_overlapping_threads_restores_stderr_and_loses_nothing(capfd):
    """fd 2 is process-wide: two overlapping blocks must not leave it pointing at their capture,
    and what other code writes meanwhile must still reach stderr."""
    from speechrnn.fileio import native_stderr_silenced

    before = _fd_identity(2)
    a_inside, b_waiting = threading.Event(), threading.Event()

    def a(_):
        with native_stderr_silenced():
            a_inside.set()
            b_waiting.wait(timeout=2)
            os.write(2, b"written while silenced\n")
            os.write(2, b"Reading /x.arpa\n----5---10---15---20--100\n*******\n")

    def b(_):
        a_inside.wait(timeout=2)
        b_waiting.set()
        with native_stderr_silenced():
            os.write(2, b"second block\n")

    _run_threads(lambda i: (a, b)[i](i), 2)
    assert _fd_identity(2) == before
    err = capfd.readouterr().err
    assert "written while silenced" in err and "second block" in err
    assert "Reading /x.arpa" not in err and "*****" not in err


def test_decoder_builds_leave_logger_levels_alone(caplog):
    """Quieting pyctcdecode while building a decoder must not change logger levels (a race
    between threads used to leave them at ERROR for good) nor drop other threads' records."""
    from speechrnn.decoding.beam import _quiet_pyctcdecode

    names = ["pyctcdecode.language_model", "pyctcdecode.decoder", "pyctcdecode.alphabet"]
    levels = [logging.getLogger(n).level for n in names]
    inside, other_done = threading.Event(), threading.Event()

    def builder(_):
        with _quiet_pyctcdecode():
            logging.getLogger("pyctcdecode.decoder").warning("hidden: small vocabulary")
            inside.set()
            other_done.wait(timeout=2)

    def other(_):
        inside.wait(timeout=2)
        logging.getLogger("pyctcdecode.decoder").warning("visible: from another thread")
        other_done.set()

    with caplog.at_level(logging.WARNING):
        _run_threads(lambda i: (builder, other)[i](i), 2)
    assert [logging.getLogger(n).level for n in names] == levels
    messages = [r.getMessage() for r in caplog.records]
    assert "visible: from another thread" in messages
    assert "hidden: small vocabulary" not in messages


def test_atomic_writes_follow_the_current_umask(tmp_path):
    """The file mode comes from the umask at write time (applied by the kernel), not from one
    read at import by setting the umask to 0 for a moment (which other threads could see)."""
    from speechrnn.fileio import atomic_write

    old = os.umask(0o077)
    try:
        with atomic_write(tmp_path / "private.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600
    with atomic_write(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~old


def test_loading_leaves_torch_threads_alone_unless_asked(tmp_path):
    from speechrnn.inference import set_threads

    n = torch.get_num_threads()
    Recognizer.load()
    assert torch.get_num_threads() == n
    with pytest.warns(DeprecationWarning, match="set_threads"):
        Recognizer.load(threads=n)
    with pytest.raises(Exception, match="threads"):
        set_threads(0)
    set_threads(n)
    assert torch.get_num_threads() == n
