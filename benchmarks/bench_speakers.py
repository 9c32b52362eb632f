"""Speaker-embedding throughput: audio seconds embedded per wall-clock second.

    .venv/bin/python benchmarks/bench_speakers.py                       # bundled model, if installed
    .venv/bin/python benchmarks/bench_speakers.py --model exp/spk/final.pt --seconds 3 --batch 16
    .venv/bin/python benchmarks/bench_speakers.py --random              # untrained recipe-sized model

Measures, on synthetic audio, (1) ``SpeakerIdentifier.embed`` one file-length input at a time
(the enroll/identify path) and (2) padded batches through the model (the evaluation path), float
and int8-dynamic-quantized. Run it on an idle machine: shared cores distort the numbers.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def recipe_sized_model(num_speakers: int = 300):
    """An untrained model with the dimensions of recipes/speaker_id/bilstm.yaml."""
    from speechrnn.training import resolve_config
    from speechrnn.tasks import get_task

    cfg, _ = resolve_config("recipes/speaker_id/bilstm.yaml")
    task = get_task({"name": "speakers", "speakers": [f"s{i}" for i in range(num_speakers)]})
    model = task.build_model(cfg.model, cfg.features).eval()
    model.task, model.labels = "speakers", task.labels()
    return model


def _time(fn, seconds_of_audio: float, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return seconds_of_audio * repeats / (time.perf_counter() - t0)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="speaker checkpoint (default: bundled spk-bilstm.pt)")
    ap.add_argument("--random", action="store_true", help="untrained model of the recipe's size")
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each utterance")
    ap.add_argument("--batch", type=int, default=16, help="utterances per padded batch")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from speechrnn.inference.speakers import SpeakerIdentifier
    from speechrnn.models import quantize_dynamic
    from speechrnn.speakers.head import embed_batch, load_speaker_model

    if args.random:
        model = recipe_sized_model()
    else:
        from speechrnn.inference.models import default_model_path

        model = load_speaker_model(args.model or default_model_path("speakers"))
    rng = np.random.default_rng(0)
    n = int(args.seconds * 16000)
    x = (0.1 * rng.standard_normal(n)).astype(np.float32)
    batch = torch.from_numpy((0.1 * rng.standard_normal((args.batch, n))).astype(np.float32))  # (B,S)
    lengths = torch.full((args.batch,), n, dtype=torch.int64)  # (B,)
    results = {"threads": args.threads, "utterance_s": args.seconds, "batch": args.batch,
               "parameters": sum(p.numel() for p in model.parameters())}
    for name, m in (("float", model), ("int8", quantize_dynamic(model))):
        sid = SpeakerIdentifier(m)
        with torch.no_grad():
            results[f"{name}_single_x_realtime"] = round(_time(lambda: sid.embed(x), args.seconds, args.repeats), 1)
            results[f"{name}_batch_x_realtime"] = round(
                _time(lambda: embed_batch(m, batch, lengths), args.seconds * args.batch, args.repeats), 1)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
