"""End-to-end tests of `speechrnn serve`: a real server process on loopback, real clients.

One server (API key, small limits) serves the module; nothing is mocked. Offline references
come from the same models loaded in the test process.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
websockets = pytest.importorskip("websockets")

from speechrnn.serve.process import ServerProcess  # noqa: E402

from helpers import write_tone  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "speechrnn" / "assets" / "samples" / "sample.wav"
KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMITS = ["--api-key", KEY, "--max-streams", "3", "--max-upload-s", "20", "--max-upload-bytes", "2000000",
          "--max-frame-bytes", "65536", "--idle-timeout-s", "4", "--workers", "2"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("store") / "speakers.json"


@pytest.fixture(scope="module")
def server(store):
    with ServerProcess([*LIMITS, "--store", str(store)]) as srv:
        yield srv
        assert srv.alive(), srv.output()


@pytest.fixture(scope="module")
def recognizer():
    from speechrnn.inference import Recognizer

    return Recognizer.load()


@pytest.fixture(scope="module")
def offline(recognizer):
    return recognizer.transcribe(SAMPLE)


def post(server, path, files, data=None, headers=AUTH, timeout=60):
    return httpx.post(server.url + path, files=files, data=data or {}, headers=headers, timeout=timeout)


def sample_files(name="file", path=SAMPLE):
    return [(name, (path.name, path.read_bytes(), "audio/wav"))]


# ---------------------------------------------------------------------- Vosk-protocol client
async def _stream(url, pcm: np.ndarray, rate: int, *, chunk_s=0.2, pace=False, config=None, end="eof",
                  extra_headers=None):
    """Stream int16 ``pcm`` like Vosk's sample clients; returns (replies, close code, reason)."""
    replies, step = [], max(1, int(rate * chunk_s))
    async with websockets.connect(url, additional_headers=extra_headers or AUTH, max_size=None) as ws:
        await ws.send(json.dumps({"config": {"sample_rate": rate, **(config or {})}}))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for k, i in enumerate(range(0, len(pcm), step)):
            await ws.send(pcm[i:i + step].tobytes())
            replies.append(json.loads(await ws.recv()))
            if pace:
                await asyncio.sleep(max(0.0, t0 + (k + 1) * chunk_s - loop.time()))
        if end:
            await ws.send('{"eof" : 1}')
        try:
            while True:
                replies.append(json.loads(await ws.recv()))
        except websockets.ConnectionClosed as e:
            return replies, e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else None


def stream(url, pcm, rate, **kw):
    return asyncio.run(_stream(url, pcm, rate, **kw))


async def _raw(url, messages, headers=AUTH, wait_close=True):
    """Send messages (bytes or str) and collect replies until the server closes."""
    replies = []
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        try:
            for m in messages:
                await ws.send(m)
            while True:
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        except websockets.ConnectionClosed as e:
            return replies, e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else ""


def raw(url, messages, **kw):
    return asyncio.run(_raw(url, messages, **kw))


def read_pcm(path=SAMPLE):
    x, sr = sf.read(str(path), dtype="int16")
    return x, sr


def words_of(t):
    return [(w.word, round(w.start, 3), round(w.end, 3)) for w in t.words]


# ---------------------------------------------------------------------- HTTP: OpenAI-compatible
def test_http_transcription_equals_recognizer(server, offline):
    r = post(server, "/v1/audio/transcriptions", sample_files(), {"model": "whisper-1"})
    assert r.status_code == 200, r.text
    assert r.json()["text"] == offline.text and offline.text

    r = post(server, "/v1/audio/transcriptions", sample_files(), {"response_format": "text"})
    assert r.status_code == 200 and r.text.strip() == offline.text

    r = post(server, "/v1/audio/transcriptions", sample_files(),
             {"response_format": "verbose_json", "timestamp_granularities[]": "word", "language": "en"})
    body = r.json()
    assert body["text"] == offline.text and body["duration"] == pytest.approx(offline.duration, abs=1e-3)
    assert [(w["word"], w["start"], w["end"]) for w in body["words"]] == words_of(offline)
    assert " ".join(s["text"] for s in body["segments"]) == offline.text


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_http_subtitles_equal_writers(server, offline, fmt):
    import io

    from speechrnn.writers import get_writer

    buf = io.StringIO()
    get_writer(fmt).write(offline, buf)
    r = post(server, "/v1/audio/transcriptions", sample_files(), {"response_format": fmt})
    assert r.status_code == 200 and r.text == buf.getvalue()


def test_openai_client_gets_same_text(server, offline):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=KEY)
    with SAMPLE.open("rb") as f:
        t = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert t.text == offline.text
    with SAMPLE.open("rb") as f:
        v = client.audio.transcriptions.create(model="whisper-1", file=f, response_format="verbose_json",
                                               timestamp_granularities=["word"])
    assert v.text == offline.text and [w.word for w in v.words] == [w.word for w in offline.words]
    assert [m.id for m in client.models.list()][0] == "en-char-bilstm"
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong")
    with pytest.raises(openai.AuthenticationError, match="API key"):
        with SAMPLE.open("rb") as f:
            bad.audio.transcriptions.create(model="whisper-1", file=f)


def test_health_ready_metrics(server):
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(server.url + "/ready").json()
    assert ready["status"] == "ready" and {m["task"] for m in ready["models"]} == {
        "transcription", "keywords", "speakers"}
    post(server, "/v1/audio/transcriptions", sample_files())
    text = httpx.get(server.url + "/metrics").text
    for name in ("speechrnn_requests_total", "speechrnn_request_seconds_bucket", "speechrnn_active_streams",
                 "speechrnn_audio_seconds_total", "speechrnn_rtf_bucket", "speechrnn_inference_seconds_total"):
        assert name in text, name
    line = next(ln for ln in text.splitlines() if ln.startswith('speechrnn_audio_seconds_total{kind="http"}'))
    assert float(line.split()[-1]) >= 2.9
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "audioWorklet" in httpx.get(server.url + "/static/app.js").text


# ---------------------------------------------------------------------- HTTP: bad requests
def _error(r, status, *words):
    assert r.status_code == status, (r.status_code, r.text)
    msg = r.json()["error"]["message"]
    for w in words:
        assert w in msg, (w, msg)
    return msg


def test_http_bad_requests_get_4xx_json(server, tmp_path):
    url = "/v1/audio/transcriptions"
    text_file = tmp_path / "notes.wav"
    text_file.write_text("this is not audio\n" * 20)
    _error(post(server, url, sample_files(path=text_file)), 415, "not audio")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _error(post(server, url, sample_files(path=empty)), 400, "empty")
    no_samples = tmp_path / "zero.wav"
    sf.write(str(no_samples), np.zeros(0, np.float32), 16000)
    _error(post(server, url, sample_files(path=no_samples)), 400, "empty")
    long = write_tone(tmp_path / "long.wav", seconds=25.0, amplitude=0.1)  # 800 kB < byte limit
    _error(post(server, url, sample_files(path=long)), 413, "too long", "20")
    big = tmp_path / "big.wav"
    sf.write(str(big), np.zeros(16000 * 70, np.float32), 16000)  # 2.2 MB > max_upload_bytes
    _error(post(server, url, sample_files(path=big)), 413, "max_upload_bytes")
    _error(post(server, url, [], {"model": "x"}), 400, "'file'")
    _error(post(server, url, sample_files(), {"response_format": "docx"}), 400, "response_format")
    _error(post(server, url, sample_files(), {"language": "de"}), 400, "language")
    _error(httpx.post(server.url + url, json={"file": "x"}, headers=AUTH), 400, "multipart")
    _error(post(server, url, sample_files(), headers={}), 401, "API key")
    _error(post(server, url, sample_files(), headers={"Authorization": "Bearer nope"}), 401, "API key")
    _error(httpx.get(server.url + "/v1/nothing", headers=AUTH), 404, "/v1/nothing")
    _error(httpx.get(server.url + url, headers=AUTH), 405, "GET")
    # the server survived all of it
    assert post(server, url, sample_files()).status_code == 200


# ---------------------------------------------------------------------- keywords and speakers
def test_keywords_http_equal_spotter(server, recognizer):
    from speechrnn.inference import KeywordSpotter

    words = ["quick", "lazy dog", "jumps"]
    ref = KeywordSpotter(recognizer.model, words).spot(SAMPLE)
    assert ref.detections
    r = post(server, "/v1/keywords", sample_files(), {"keywords": ",".join(words)})
    body = r.json()
    assert r.status_code == 200 and body["mode"] == "open_vocabulary"
    assert body["detections"] == [d.to_dict() for d in ref.detections]
    clf = KeywordSpotter.load()
    r = post(server, "/v1/keywords", sample_files())
    assert r.json()["mode"] == "classifier" and r.json()["keywords"] == clf.keywords
    assert r.json()["detections"] == [d.to_dict() for d in clf.spot(SAMPLE).detections]
    _error(post(server, "/v1/keywords", sample_files(), {"threshold": "2"}), 400, "threshold")


def test_speakers_on_the_cli_store(server, store, tmp_path, capsys):
    from speechrnn.cli import main

    spk = "/v1/speakers"
    _error(post(server, spk + "/identify", sample_files()), 409, "no speakers enrolled")
    r = post(server, spk + "/enroll", sample_files() + sample_files(), {"name": "alice"})
    assert r.status_code == 200 and r.json() == {"name": "alice", "added": 2, "recordings": 2}
    assert main(["speakers", "list", "--store", str(store)]) == 0  # the CLI reads the same store
    assert "alice" in capsys.readouterr().out
    listing = httpx.get(server.url + spk, headers=AUTH).json()
    assert listing["speakers"] == [{"name": "alice", "recordings": 2}]
    m = post(server, spk + "/identify", sample_files()).json()
    assert m["speaker"] == "alice" and m["accepted"] and m["score"] > 0.99
    v = post(server, spk + "/verify", sample_files(), {"speaker": "alice"}).json()
    assert v["same"] and v["score"] > 0.99
    v2 = post(server, spk + "/verify", sample_files() + sample_files("file2")).json()
    assert v2["same"] and v2["score"] == pytest.approx(1.0, abs=1e-3)
    _error(post(server, spk + "/verify", sample_files(), {"speaker": "bob"}), 404, "unknown speaker 'bob'")
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(16000, np.float32), 16000)
    _error(post(server, spk + "/enroll", sample_files() + sample_files(path=silent), {"name": "carol"}),
           422, "silent")
    assert httpx.get(server.url + spk, headers=AUTH).json()["speakers"] == [{"name": "alice", "recordings": 2}]
    _error(post(server, spk + "/enroll", sample_files()), 400, "'name'")
    _error(httpx.delete(server.url + spk + "/bob", headers=AUTH), 404, "unknown speaker 'bob'")
    assert httpx.delete(server.url + spk + "/alice", headers=AUTH).json()["deleted"]
    assert httpx.get(server.url + spk, headers=AUTH).json()["speakers"] == []


# ---------------------------------------------------------------------- WebSocket (Vosk protocol)
def test_vosk_stream_partials_and_final_equal_offline(server, offline):
    pcm, sr = read_pcm()
    replies, code, reason = stream(server.ws_url, pcm, sr, pace=True)
    partials = [r["partial"] for r in replies if "partial" in r]
    assert len(partials) == -(-len(pcm) // int(sr * 0.2))  # one reply per frame
    assert any(p.strip() for p in partials[:-1]), partials  # live partials before the end
    final = replies[-1]
    assert final["text"] == offline.text
    assert [(w["word"], w["start"], w["end"]) for w in final["result"]] == words_of(offline)
    assert all(set(w) == {"word", "start", "end", "conf"} for w in final["result"])
    assert (code, reason) == (1000, "eof")


def test_stream_other_rate_and_reset(server, tmp_path, recognizer):
    from speechrnn.audio import load_audio

    x = load_audio(SAMPLE, 8000)
    path8 = tmp_path / "s8.wav"
    sf.write(str(path8), x, 8000, subtype="PCM_16")
    pcm, sr = read_pcm(path8)
    ref = recognizer.transcribe(path8)
    replies, code, _ = stream(server.ws_url, pcm, sr, chunk_s=0.25)
    assert replies[-1]["text"] == ref.text and code == 1000

    # reset: the final of the first part, the stream continues; times keep counting
    pcm16, sr16 = read_pcm()
    half = len(pcm16) // 2

    async def go():
        async with websockets.connect(server.ws_url, additional_headers=AUTH) as ws:
            await ws.send(json.dumps({"config": {"sample_rate": sr16}}))
            await ws.send(pcm16[:half].tobytes())
            await ws.recv()
            await ws.send('{"reset" : 1}')
            first = json.loads(await ws.recv())
            await ws.send(pcm16[half:].tobytes())
            await ws.recv()
            await ws.send('{"eof" : 1}')
            return first, json.loads(await ws.recv())

    first, second = asyncio.run(go())
    assert first["text"] == recognizer.transcribe(pcm16[:half].astype(np.float32) / 32768).text
    assert second["text"] == recognizer.transcribe(pcm16[half:].astype(np.float32) / 32768).text
    assert all(w["start"] >= half / sr16 - 1e-6 for w in second["result"])


def test_stream_vosk_options(server, offline):
    pcm, sr = read_pcm()
    replies, code, _ = stream(server.ws_url, pcm, sr, config={"words": False})
    assert replies[-1] == {"text": offline.text} and code == 1000
    replies, code, _ = stream(server.ws_url, pcm, sr, config={"max_alternatives": 1, "words": True})
    (alt,) = replies[-1]["alternatives"]
    assert alt["text"] == offline.text and [w["word"] for w in alt["result"]] == offline.text.split()
    assert 0 < alt["confidence"] <= 1


def test_stream_keyword_events_equal_spotter(server, recognizer):
    from speechrnn.inference import KeywordSpotter

    words = ["quick", "lazy dog"]
    ref = [d.to_dict() for d in KeywordSpotter(recognizer.model, words).spot(SAMPLE).detections]
    assert ref
    pcm, sr = read_pcm()
    replies, code, _ = stream(server.ws_url, pcm, sr, config={"keywords": words})
    events = [k for r in replies for k in r.get("keywords", [])]
    assert events == ref and code == 1000


@pytest.mark.tts
def test_stream_classifier_keywords(server, tmp_path):
    from speechrnn.inference import KeywordSpotter

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    wav = tmp_path / "kw.wav"
    subprocess.run(["espeak-ng", "-s", "120", "-w", str(wav), "yes. . . stop. . . go."], check=True)
    ref = [d.to_dict() for d in KeywordSpotter.load().spot(wav).detections]
    assert ref  # espeak-ng says "yes" and "go" clearly enough for the bundled classifier
    pcm, sr = read_pcm(wav)
    replies, code, _ = stream(server.ws_url, pcm, sr, config={"keywords": True})
    assert [k for r in replies for k in r.get("keywords", [])] == ref and code == 1000


def test_stream_bad_inputs_get_clear_close_codes(server, offline, recognizer):
    pcm, sr = read_pcm()
    config = json.dumps({"config": {"sample_rate": sr}})
    # malformed JSON after some audio: the error reply still carries the final result of that audio
    head = pcm[: 2 * sr]
    replies, code, reason = raw(server.ws_url, [config, head[:sr].tobytes(), head[sr:].tobytes(), "{eof: 1"])
    assert code == 1007 and "malformed JSON" in reason
    assert replies[-1]["error"].startswith("malformed JSON")
    assert replies[-1]["text"] == recognizer.transcribe(head.astype(np.float32) / 32768).text
    _, code, reason = raw(server.ws_url, [config, b"\0" * 70000])
    assert code == 1009 and "max_frame_bytes=65536" in reason
    _, code, reason = raw(server.ws_url, [json.dumps({"config": {"sample_rate": 3}})])
    assert code == 1003 and "sample_rate" in reason
    _, code, reason = raw(server.ws_url, [json.dumps({"config": {"grammar": []}})])
    assert code == 1003 and "'grammar'" in reason
    _, code, reason = raw(server.ws_url, ['{"hello": 1}'])
    assert code == 1003 and "'hello'" in reason
    _, code, reason = raw(server.ws_url, ['[1, 2]'])
    assert code == 1003 and "JSON object" in reason
    _, code, reason = raw(server.ws_url, [config], headers={"Authorization": "Bearer wrong"})
    assert code == 1008 and "API key" in reason
    _, code, reason = raw(server.ws_url + "?api_key=" + KEY, [config, '{"eof": 1}'], headers={})
    assert code == 1000
    # odd-length frames and garbage bytes are audio too: no crash, a final result
    replies, code, _ = raw(server.ws_url, [config, b"\x01\x02\x03", bytes(range(256)) * 11, '{"eof": 1}'])
    assert code == 1000 and "text" in replies[-1]
    # the server survived: a normal stream still gives the offline text
    assert stream(server.ws_url, pcm, sr)[0][-1]["text"] == offline.text


def test_stream_limits_idle_and_busy(server, offline):
    pcm, sr = read_pcm()

    async def go():
        hold = [await websockets.connect(server.ws_url, additional_headers=AUTH) for _ in range(3)]
        try:
            refused = await websockets.connect(server.ws_url, additional_headers=AUTH)
            try:
                await refused.recv()
            except websockets.ConnectionClosed as e:
                busy = (e.rcvd.code, e.rcvd.reason)
            # idle: audio, then silence -> final result and 1001 after idle_timeout_s (4 s)
            ws = hold[0]
            await ws.send(json.dumps({"config": {"sample_rate": sr}}))
            for i in range(0, len(pcm), sr):
                await ws.send(pcm[i:i + sr].tobytes())
                await ws.recv()
            final = json.loads(await asyncio.wait_for(ws.recv(), 15))
            try:
                await ws.recv()
            except websockets.ConnectionClosed as e:
                idle = (e.rcvd.code, e.rcvd.reason)
            return busy, final, idle
        finally:
            for h in hold:
                await h.close()

    busy, final, idle = asyncio.run(go())
    assert busy[0] == 1013 and "max_streams=3" in busy[1]
    assert final["text"] == offline.text
    assert idle[0] == 1001 and "idle" in idle[1]


def test_client_vanishing_mid_stream(server, offline):
    pcm, sr = read_pcm()

    async def vanish():
        ws = await websockets.connect(server.ws_url, additional_headers=AUTH)
        await ws.send(json.dumps({"config": {"sample_rate": sr}}))
        await ws.send(pcm[: sr].tobytes())
        ws.transport.abort()  # no close handshake

    def metric(name):
        text = httpx.get(server.url + "/metrics").text
        return next((float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith(name)), 0.0)

    gone0 = metric('speechrnn_streams_total{outcome="client_gone"}')
    for _ in range(3):  # as many as max_streams: their slots must come back
        asyncio.run(vanish())
    deadline = time.monotonic() + 10
    while metric("speechrnn_active_streams") > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metric("speechrnn_active_streams") == 0
    assert metric('speechrnn_streams_total{outcome="client_gone"}') - gone0 == 3
    assert stream(server.ws_url, pcm, sr)[0][-1]["text"] == offline.text


# ---------------------------------------------------------------------- SIGTERM, CLI
def test_sigterm_finishes_open_streams(tmp_path, recognizer):
    pcm, sr = read_pcm()
    ref = recognizer.transcribe(pcm[: 2 * sr].astype(np.float32) / 32768)
    srv = ServerProcess(["--speaker-model", "none", "--kws-model", "none"]).start()
    try:
        async def go():
            async with websockets.connect(srv.ws_url) as ws:
                await ws.send(json.dumps({"config": {"sample_rate": sr}}))
                for i in range(0, 2 * sr, sr // 5):
                    await ws.send(pcm[i:i + sr // 5].tobytes())
                    await ws.recv()
                srv.proc.send_signal(signal.SIGTERM)
                final = json.loads(await asyncio.wait_for(ws.recv(), 20))
                try:
                    await ws.recv()
                except websockets.ConnectionClosed as e:
                    return final, e.rcvd.code, e.rcvd.reason

        final, code, reason = asyncio.run(go())
        assert final["text"] == ref.text and final["text"]
        assert code == 1001 and "shutting down" in reason
        assert srv.proc.wait(30) == 0
    finally:
        srv.stop()
    assert "finishing 1 open stream" in srv.output()


def test_cli_refuses_bad_settings(capsys):
    from speechrnn.cli import main

    assert main(["serve", "--workers", "0"]) == 2
    assert "workers must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--api-key" in capsys.readouterr().out


def test_create_app_python_api():
    from speechrnn.config import from_dict
    from speechrnn.errors import ConfigError
    from speechrnn.serve import ServeConfig, create_app

    app = create_app({"port": 9999, "kws_model": "none"})
    assert app.state.config.port == 9999 and app.state.config.host == "127.0.0.1"
    with pytest.raises(ConfigError, match="unknown key 'prot'"):
        create_app({"prot": 1})
    with pytest.raises(ConfigError, match="max_sample_rate"):
        from_dict(ServeConfig, {"min_sample_rate": 50000})
