"""Streaming keyword detector speed: real-time factor on ONE CPU thread.

    python benchmarks/bench_kws.py [--model kws.pt] [--seconds 60] [--hop 0.1] [--file audio.wav]

Without ``--model`` a randomly initialised model with the recipe's architecture
(``recipes/keyword_spotting/synthetic.yaml``) is timed: speed does not depend on the weights.
RTF = processing seconds / audio seconds (target <= 0.05). Run on an idle machine; with other
processes on the cores the numbers are meaningless.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "keyword_spotting" / "synthetic.yaml"


def recipe_model():
    from speechrnn.tasks import get_task
    from speechrnn.training import resolve_config

    cfg, _ = resolve_config(RECIPE)
    task = get_task(cfg.task)
    model = task.build_model(cfg.model, cfg.features).eval()
    model.task, model.labels = "keywords", task.labels()
    return model


def main(argv=None) -> int:
    from speechrnn.inference.keywords import KeywordSpotter
    from speechrnn.kws import DetectorConfig

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="keywords model file (default: random recipe model)")
    ap.add_argument("--file", help="audio file to spot in (default: seeded noise)")
    ap.add_argument("--seconds", type=float, default=60.0, help="audio length without --file")
    ap.add_argument("--hop", type=float, default=0.1)
    ap.add_argument("--chunk", type=float, default=0.5, help="stream chunk seconds")
    ap.add_argument("--quantize", action="store_true", help="int8 dynamic quantization")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    det = DetectorConfig(hop_s=args.hop)
    if args.model:
        spotter = KeywordSpotter.load(args.model, detector=det)
    else:
        spotter = KeywordSpotter(recipe_model(), detector=det)
    # counted before int8: dynamic quantization packs weights where .parameters() does not see them
    params = sum(p.numel() for p in spotter.model.parameters())
    if args.quantize:
        from speechrnn.models import quantize_dynamic

        spotter = KeywordSpotter(quantize_dynamic(spotter.model), detector=det, threshold=spotter.threshold)
    if args.file:
        from speechrnn.audio import load_audio

        x = load_audio(args.file)
    else:
        x = (0.05 * np.random.default_rng(0).standard_normal(int(args.seconds * 16000))).astype(np.float32)
    spotter.spot(x[:32000])  # warm-up
    chunk = int(args.chunk * 16000)
    t0 = time.perf_counter()
    stream = spotter.stream()
    n = 0
    for i in range(0, x.size, chunk):
        n += len(stream.feed(x[i:i + chunk]))
    n += len(stream.finish())
    dt = time.perf_counter() - t0
    print(f"audio {x.size / 16000:.1f} s, hop {args.hop} s, chunks {args.chunk} s, 1 thread, "
          f"{params / 1e6:.2f} M params{' (int8)' if args.quantize else ''}: {dt:.2f} s, "
          f"RTF {dt / (x.size / 16000):.4f} ({n} detections)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
