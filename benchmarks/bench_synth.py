"""Synthesis speed: x real time per engine, and a small transcription-corpus build.

Usage
-----
python benchmarks/bench_synth.py [--sentences 20] [--corpus-num 0] [--jobs 2]

For each engine, synthesizes ``--sentences`` WordNet sentences with its voices (round robin,
random prosody), single process, and reports audio seconds / wall seconds (x RT per core).
With ``--corpus-num N`` it also builds an N-utterance transcription corpus with ``--jobs``
processes (augmentation on) and reports corpus x RT and the projected time for 2 hours.
Targets: espeak-ng >= 50x RT; a 2-hour transcription corpus in <= 10 minutes on 2 cores
(>= 12x RT overall).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np


def bench_engines(n: int) -> dict:
    from speechrnn.synth.engines import ENGINES
    from speechrnn.synth.textsource import load_sentences

    sents = load_sentences("wordnet")
    rng = np.random.default_rng(0)
    picks = [sents[int(i)] for i in rng.integers(0, len(sents), size=n)]
    out = {}
    for name, eng in ENGINES.items():
        why = eng.missing()
        if why:
            out[name] = {"missing": why}
            continue
        voices = eng.voices()
        eng.synthesize("warm up", voices[0])  # load models / caches
        audio = 0.0
        t0 = time.perf_counter()
        for i, s in enumerate(picks):
            v = voices[(i * 7919) % len(voices)]
            x, sr = eng.synthesize(s, v, eng.sample_params(v, rng))
            audio += len(x) / sr
        wall = time.perf_counter() - t0
        out[name] = {"audio_s": round(audio, 1), "wall_s": round(wall, 2), "x_realtime": round(audio / wall, 1)}
    return out


def bench_corpus(num: int, jobs: int) -> dict:
    from speechrnn.synth.presets import TranscriptionConfig, build_transcription

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        s = build_transcription(d, TranscriptionConfig(num=num, jobs=jobs, progress=False))
        wall = time.perf_counter() - t0
    xrt = s["hours"] * 3600 / wall
    return {"utterances": s["utterances"], "hours": s["hours"], "wall_s": round(wall, 1),
            "x_realtime": round(xrt, 1), "projected_minutes_for_2h": round(7200 / xrt / 60, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=20)
    ap.add_argument("--corpus-num", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    result = {"engines": bench_engines(args.sentences)}
    if args.corpus_num:
        result["corpus"] = bench_corpus(args.corpus_num, args.jobs)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
