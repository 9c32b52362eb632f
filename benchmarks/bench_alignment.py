"""Word-boundary accuracy of forced alignment (`Recognizer.align`) with the bundled model.

Six words are synthesized one by one with espeak-ng, trimmed to their audible extent and joined
with random 0.3-0.7 s gaps (the construction of ``tests/test_timestamps.py``), so every true
word start and end is known to the sample; four arrangements (two voices, four gap seeds) give
48 boundaries. Prints the mean, median, 90th percentile and largest error.

Usage: ``flock /tmp/speechrnn-cpu.lock .venv/bin/python benchmarks/bench_alignment.py``
"""
from __future__ import annotations

import numpy as np

from speechrnn.audio import resample
from speechrnn.inference import Recognizer
from speechrnn.synth.engines import ENGINES

SR = 16000
WORDS = ["seven", "orange", "window", "table", "morning", "river"]
RUNS = [("en-us", 0), ("en-us", 1), ("en-gb", 2), ("en-us", 3)]  # (voice, gap seed)


def spoken(voice, seed: int):
    """``(audio (S,), [(start_s, end_s)])`` of WORDS with known boundaries."""
    engine = ENGINES["espeak-ng"]
    rng = np.random.default_rng(seed)
    parts, truth, t = [np.zeros(SR // 2, np.float32)], [], 0.5
    for word in WORDS:
        x, rate = engine.synthesize(word, voice, {})
        x = resample(x, rate, SR) if rate != SR else x
        loud = np.flatnonzero(np.abs(x) > 0.05 * np.abs(x).max())
        x = x[loud[0]: loud[-1] + 1]  # audible extent only
        truth.append((t, t + len(x) / SR))
        gap = np.zeros(int(rng.uniform(0.3, 0.7) * SR), np.float32)
        parts += [x, gap]
        t += (len(x) + len(gap)) / SR
    return np.concatenate(parts), truth


def main() -> None:
    rec = Recognizer.load()
    errors = []
    for voice, seed in RUNS:
        audio, truth = spoken(ENGINES["espeak-ng"].voice(voice), seed)
        for (start, end), w in zip(truth, rec.align(audio, " ".join(WORDS))):
            errors += [abs(w.start - start), abs(w.end - end)]
    e = 1000 * np.array(errors)
    print(f"{len(e)} boundaries: mean {e.mean():.0f} ms, median {np.median(e):.0f} ms, "
          f"90th percentile {np.percentile(e, 90):.0f} ms, max {e.max():.0f} ms")


if __name__ == "__main__":
    main()
