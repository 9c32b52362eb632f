"""Load test of `speechrnn serve` on this machine: concurrent live streams, HTTP throughput,
memory over many requests, and faults during load.

A real server process (``speechrnn serve`` on a loopback port, ``--workers``/``--threads``) and
real clients (``websockets``, ``httpx``) in this process, one asyncio loop for all of them.
The audio is a 5.0 s clip made from the bundled sample (sample, 0.4 s silence, sample, cut
at 5 s); its offline transcript (``Recognizer.transcribe`` in this process) is the reference
every completed stream and request must match exactly.

Parts (``--part``, run separately so each stays short):

``streams``  N concurrent streams at real-time pace (0.2 s frames on a clock, starts spread over
             ``--spread`` s, default one frame so all N end together: the worst case for finals;
             a reader task takes the replies, as a microphone app would), for each N in
             ``--streams``: final-result latency after the end of audio (eof sent -> final
             received), p50/p95/max, frame-reply lag p95, text == offline. Stops after the first N
             whose p95 > ``--target`` s. Reports the most streams with p95 <= target.
``http``     requests/s for the 5 s file with ``--http-concurrency`` clients over ``--http-seconds``.
``memory``   server RSS after warm-up and after every 250 of ``--requests`` HTTP requests
             (plus one stream per 10 requests).
``faults``   ``--fault-streams`` good real-time streams while, at the same time, clients vanish
             mid-stream (transport aborted), send garbage text / oversized frames, and stall
             (send 1 s then nothing until the idle timeout); good streams' latency vs a run of the
             same streams without faults; every good text == offline; server alive after.

Usage::

    flock /tmp/speechrnn-cpu.lock python benchmarks/bench_serve.py --part streams --streams 1,2,4,8,12,16
    flock /tmp/speechrnn-cpu.lock python benchmarks/bench_serve.py --part http
    flock /tmp/speechrnn-cpu.lock python benchmarks/bench_serve.py --part memory --requests 1000
    flock /tmp/speechrnn-cpu.lock python benchmarks/bench_serve.py --part faults --fault-streams 4

Prints a Markdown table per part (and ``--json`` writes the figures).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speechrnn.serve.process import ServerProcess  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "speechrnn" / "assets" / "samples" / "sample.wav"
SR = 16000
FRAME_S = 0.2


def make_clip(out: Path, seconds: float = 5.0) -> Path:
    x, sr = sf.read(str(SAMPLE), dtype="float32")
    assert sr == SR
    clip = np.concatenate([x, np.zeros(int(0.4 * SR), np.float32), x])[: int(seconds * SR)]
    sf.write(str(out), clip, SR, subtype="PCM_16")
    return out


def pct(xs, q):
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if len(xs) else float("nan")


# ---------------------------------------------------------------------- stream client
async def rt_stream(url: str, pcm: np.ndarray, start_delay: float = 0.0) -> dict:
    """One real-time stream; returns latency figures and the final text."""
    import websockets

    await asyncio.sleep(start_delay)
    loop = asyncio.get_running_loop()
    step = int(SR * FRAME_S)
    frames = [pcm[i:i + step].tobytes() for i in range(0, len(pcm), step)]
    sent: list[float] = []
    lags: list[float] = []
    final: dict = {}
    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        await ws.send(json.dumps({"config": {"sample_rate": SR}}))

        async def reader():
            n = 0
            async for msg in ws:
                r = json.loads(msg)
                now = loop.time()
                if "partial" in r:
                    lags.append(now - sent[n])
                    n += 1
                elif "text" in r:
                    final.update(r, t=now)

        rd = asyncio.ensure_future(reader())
        t0 = loop.time()
        for k, f in enumerate(frames):
            await asyncio.sleep(max(0.0, t0 + k * FRAME_S - loop.time()))
            sent.append(loop.time())
            await ws.send(f)
        await asyncio.sleep(max(0.0, t0 + len(frames) * FRAME_S - loop.time()))  # the audio's end
        t_eof = loop.time()
        await ws.send('{"eof": 1}')
        await asyncio.wait_for(rd, 120)
    return {"latency": final["t"] - t_eof, "lag_p95": pct(lags, 95), "text": final.get("text")}


async def many_streams(url: str, pcm: np.ndarray, n: int, seed: int = 0, spread: float = FRAME_S) -> list[dict]:
    """``n`` real-time streams starting at random times within ``spread`` seconds."""
    rng = random.Random(seed)
    return await asyncio.gather(*[rt_stream(url, pcm, rng.uniform(0, spread)) for _ in range(n)])


def summarize(results: list[dict], ref: str) -> dict:
    lat = [r["latency"] for r in results]
    return {"streams": len(results), "p50": pct(lat, 50), "p95": pct(lat, 95), "max": max(lat),
            "lag_p95": pct([r["lag_p95"] for r in results], 95),
            "exact": sum(r["text"] == ref for r in results)}


# ---------------------------------------------------------------------- parts
def part_streams(srv, pcm, ref, args) -> dict:
    rows = []
    for n in [int(s) for s in args.streams.split(",")]:
        s = summarize(asyncio.run(many_streams(srv.ws_url, pcm, n, spread=args.spread)), ref)
        rows.append(s)
        print(f"| {n} | {s['p50']:.2f} | {s['p95']:.2f} | {s['max']:.2f} | {s['lag_p95']:.2f} | "
              f"{s['exact']}/{n} |", flush=True)
        if s["p95"] > args.target:
            break
    ok = [r["streams"] for r in rows if r["p95"] <= args.target and r["exact"] == r["streams"]]
    best = max(ok) if ok else 0
    print(f"\nmost streams with final p95 <= {args.target:g} s (all texts exact): {best}")
    return {"rows": rows, "max_streams_within_target": best}


async def http_load(url: str, clip: bytes, concurrency: int, seconds: float | None, total: int | None,
                    ref: str, on_count=None) -> dict:
    import httpx

    lat, bad, done = [], 0, 0
    stop = time.monotonic() + seconds if seconds else None
    lock = asyncio.Lock()

    async def worker(client):
        nonlocal bad, done
        while True:
            async with lock:
                if (stop and time.monotonic() >= stop) or (total and done >= total):
                    return
                done += 1
                k = done
            t0 = time.monotonic()
            r = await client.post(url + "/v1/audio/transcriptions", files={"file": ("clip.wav", clip)},
                                  data={"model": "whisper-1"}, timeout=120)
            lat.append(time.monotonic() - t0)
            if r.status_code != 200 or r.json()["text"] != ref:
                bad += 1
            if on_count:
                await on_count(k)

    t0 = time.monotonic()
    async with httpx.AsyncClient() as client:
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
    wall = time.monotonic() - t0
    return {"requests": len(lat), "rps": len(lat) / wall, "p50": pct(lat, 50), "p95": pct(lat, 95),
            "wrong": bad}


def part_http(srv, clip_path, ref, args) -> dict:
    clip = clip_path.read_bytes()
    asyncio.run(http_load(srv.url, clip, 2, None, 10, ref))  # warm-up
    rows = []
    for c in [int(x) for x in args.http_concurrency.split(",")]:
        r = asyncio.run(http_load(srv.url, clip, c, args.http_seconds, None, ref))
        r["concurrency"] = c
        rows.append(r)
        print(f"| {c} | {r['requests']} | {r['rps']:.1f} | {r['rps'] * 5.0:.0f} | {r['p50']:.3f} | "
              f"{r['p95']:.3f} | {r['wrong']} |", flush=True)
    return {"rows": rows}


def part_memory(srv, clip_path, pcm, ref, args) -> dict:
    clip = clip_path.read_bytes()
    asyncio.run(http_load(srv.url, clip, 2, None, 20, ref))  # warm-up
    points = [(0, srv.rss_mb())]
    print(f"| 0 (after 20 warm-up) | {points[0][1]:.0f} |", flush=True)

    async def run():
        streams = []

        async def on_count(k):
            if k % 10 == 0:
                streams.append(asyncio.ensure_future(rt_stream(srv.ws_url, pcm[: SR])))
            if k % 250 == 0:
                await asyncio.gather(*streams)
                streams.clear()
                points.append((k, srv.rss_mb()))
                print(f"| {k} | {points[-1][1]:.0f} |", flush=True)

        return await http_load(srv.url, clip, 4, None, args.requests, ref, on_count)

    r = asyncio.run(run())
    growth = points[-1][1] - points[1][1] if len(points) > 2 else float("nan")
    print(f"\n{r['requests']} requests (+{r['requests'] // 10} one-second streams), {r['wrong']} wrong; "
          f"RSS {points[0][1]:.0f} MB after warm-up, {points[-1][1]:.0f} MB at the end "
          f"({growth:+.0f} MB from request 250 to the end)")
    return {"points": points, "wrong": r["wrong"], "growth_mb_after_250": growth}


async def faulty_clients(url: str, pcm: np.ndarray, duration: float) -> dict:
    """Misbehaving clients during ``duration`` seconds; returns how each was closed."""
    import websockets

    outcomes: dict[str, list] = {"vanish": [], "garbage": [], "oversized": [], "stall": []}
    end = asyncio.get_running_loop().time() + duration
    cfg = json.dumps({"config": {"sample_rate": SR}})

    async def closed_code(ws):
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 60)
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None

    async def vanish():
        ws = await websockets.connect(url)
        await ws.send(cfg)
        for i in range(0, SR, int(SR * FRAME_S)):
            await ws.send(pcm[i:i + int(SR * FRAME_S)].tobytes())
            await asyncio.sleep(FRAME_S)
        ws.transport.abort()
        outcomes["vanish"].append("aborted")

    async def garbage():
        async with websockets.connect(url) as ws:
            await ws.send(cfg)
            await ws.send(os.urandom(3201))      # random bytes are (noisy) audio: must not crash
            await ws.recv()
            await ws.send("{not json")
            outcomes["garbage"].append(await closed_code(ws))

    async def oversized():
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send(cfg)
            await ws.send(b"\0" * (300 * 1024))
            outcomes["oversized"].append(await closed_code(ws))

    async def stall():
        async with websockets.connect(url) as ws:
            await ws.send(cfg)
            await ws.send(pcm[:SR].tobytes())
            await ws.recv()
            outcomes["stall"].append(await closed_code(ws))  # idle timeout -> final + 1001

    kinds = [vanish, garbage, oversized, stall]
    tasks = []
    k = 0
    while asyncio.get_running_loop().time() < end:
        tasks.append(asyncio.ensure_future(kinds[k % 4]()))
        k += 1
        await asyncio.sleep(0.25)
    await asyncio.gather(*tasks, return_exceptions=True)
    return {kk: (len(v), sorted(set(v), key=str)) for kk, v in outcomes.items()}


def part_faults(srv, pcm, ref, args) -> dict:
    n = args.fault_streams
    base = summarize(asyncio.run(many_streams(srv.ws_url, pcm, n, seed=1)), ref)

    async def both():
        good = asyncio.ensure_future(many_streams(srv.ws_url, pcm, n, seed=2))
        bad = asyncio.ensure_future(faulty_clients(srv.ws_url, pcm, duration=len(pcm) / SR))
        return await good, await bad

    good, bad = asyncio.run(both())
    faulted = summarize(good, ref)
    for name, s in (("without faults", base), ("with faults", faulted)):
        print(f"| {name} | {n} | {s['p50']:.2f} | {s['p95']:.2f} | {s['max']:.2f} | {s['exact']}/{n} |")
    print(f"\nmisbehaving clients (count, close codes): {bad}; server alive: {srv.alive()}")
    return {"base": base, "faults": faulted, "faulty_clients": bad, "alive": srv.alive()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["streams", "http", "memory", "faults"], required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--streams", default="1,2,4,6,8,10,12,16,20,24")
    ap.add_argument("--spread", type=float, default=FRAME_S,
                    help="streams start at random times within this many seconds (default one frame: "
                         "all streams end together, the worst case for final latency; the clip "
                         "length, 5, staggers their ends)")
    ap.add_argument("--target", type=float, default=1.0, help="final-latency p95 target, seconds")
    ap.add_argument("--http-concurrency", default="1,2,4")
    ap.add_argument("--http-seconds", type=float, default=15.0)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--fault-streams", type=int, default=4)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    from speechrnn.inference import Recognizer

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    clip = make_clip(tmp / "clip5s.wav")
    ref = Recognizer.load().transcribe(clip).text
    pcm, _ = sf.read(str(clip), dtype="int16")
    print(f"clip: 5.0 s, offline transcript: {ref!r}; server --workers {args.workers} --threads "
          f"{args.threads}; {os.cpu_count()} CPUs")
    server_args = ["--workers", str(args.workers), "--threads", str(args.threads), "--max-streams", "256",
                   "--max-pending", "1024", "--idle-timeout-s", "3", "--kws-model", "none",
                   "--speaker-model", "none"]
    with ServerProcess(server_args) as srv:
        if args.part == "streams":
            print("\n| streams | final p50 (s) | final p95 (s) | final max (s) | frame-reply lag p95 (s) | "
                  "text == offline |\n|---|---|---|---|---|---|")
            out = part_streams(srv, pcm, ref, args)
        elif args.part == "http":
            print("\n| clients | requests | requests/s | audio s/s | p50 (s) | p95 (s) | wrong |\n"
                  "|---|---|---|---|---|---|---|")
            out = part_http(srv, clip, ref, args)
        elif args.part == "memory":
            print("\n| requests | server RSS (MB) |\n|---|---|")
            out = part_memory(srv, clip, pcm, ref, args)
        else:
            print("\n| run | good streams | final p50 (s) | final p95 (s) | final max (s) | text == offline |\n"
                  "|---|---|---|---|---|---|")
            out = part_faults(srv, pcm, ref, args)
        alive = srv.alive()
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), **out}, indent=1, default=str))
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
