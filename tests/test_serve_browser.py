"""A real browser against a real server: headless Debian Chromium plays a WAV file as its
microphone; the page at `/` streams it (AudioWorklet -> 16 kHz PCM -> WebSocket) and shows the
live partial and the final transcript; the page's file upload shows the offline transcript.

Screenshots are kept as artefacts: their paths are printed (``pytest -s``), in
``$SPEECHRNN_ARTEFACTS`` when set, else in the test's tmp dir.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
webdriver = pytest.importorskip("selenium.webdriver")

from speechrnn.serve.process import ServerProcess  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "speechrnn" / "assets" / "samples" / "sample.wav"
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
                       reason="Debian chromium + chromium-driver not installed (scripts/setup.sh)"),
]


def _artefact_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("SPEECHRNN_ARTEFACTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def _browser(fake_mic: Path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-audio-capture={fake_mic}", "--autoplay-policy=no-user-gesture-required",
              "--window-size=1000,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def _wait(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_browser_microphone_and_upload(tmp_path):
    from jiwer import cer

    from speechrnn.inference import Recognizer

    offline = Recognizer.load().transcribe(SAMPLE).text
    # fake microphone: the sample, then silence (Chromium loops the file)
    x, sr = sf.read(str(SAMPLE), dtype="float32")
    mic = tmp_path / "mic.wav"
    sf.write(str(mic), np.concatenate([np.zeros(sr // 2, np.float32), x, np.zeros(4 * sr, np.float32)]),
             sr, subtype="PCM_16")
    out = _artefact_dir(tmp_path)
    with ServerProcess(["--workers", "2"]) as srv:
        driver = _browser(mic)
        by = webdriver.common.by.By
        try:
            driver.get(srv.url + "/")
            _wait(lambda: driver.find_element(by.ID, "ready").text == "ready", 30, "server ready on the page")
            driver.find_element(by.ID, "start").click()
            partial = _wait(lambda: driver.find_element(by.ID, "partial").text.strip(), 20, "a live partial")
            time.sleep(3.6)  # the rest of the sample plays
            driver.save_screenshot(str(out / "serve-page-live.png"))
            driver.find_element(by.ID, "stop").click()
            final = _wait(lambda: driver.find_element(by.ID, "final").text.strip(), 20, "the final text")
            _wait(lambda: "closed (1000" in driver.find_element(by.ID, "status").text, 10, "stream closed")
            rows = driver.find_elements(by.CSS_SELECTOR, "#words tbody tr")
            shot = out / "serve-page-final.png"
            driver.save_screenshot(str(shot))
            print(f"\nbrowser screenshots: {out / 'serve-page-live.png'} {shot}")
            print(f"partial: {partial!r}\nfinal: {final!r}\noffline: {offline!r}")
            # the page shows the transcript. Chromium's capture and 16 kHz resampling path is not
            # bit-exact and the bundled model is fragile (59 % WER on unseen voices): measured here,
            # 'the quick drone fax jumps over the lay dog' (CER 0.14) for the offline
            # 'the quick brown face jumps over the lazy dog'; compare characters, not bytes
            assert cer(offline, final) <= 0.25 and abs(len(final.split()) - len(offline.split())) <= 1, \
                (final, offline)
            assert len(rows) == len(final.split()) and all(r.text.count(" ") >= 3 for r in rows)

            # file upload through the page: exactly the offline transcript
            driver.find_element(by.ID, "file").send_keys(str(SAMPLE))
            driver.find_element(by.ID, "send").click()
            text = _wait(lambda: driver.find_element(by.ID, "upload-text").text.strip(), 20, "upload result")
            driver.save_screenshot(str(out / "serve-page-upload.png"))
            assert text == offline
            assert len(driver.find_elements(by.CSS_SELECTOR, "#upload-words tbody tr")) == len(offline.split())
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not errors, errors
        finally:
            driver.quit()
        assert srv.alive()
