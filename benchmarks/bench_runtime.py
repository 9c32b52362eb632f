"""speechrnn.runtime (ONNX, no torch) vs the torch path: install footprint, cold start, speed, memory.

Measured in one run (quote ratios from one run on an idle machine):

1. **Install footprint**: size on disk of the site-packages of a runtime-only virtualenv
   (``--build-venv`` makes one at ``--runtime-venv``: ``python -m venv`` + ``pip install`` of the
   runtime packages, the lm decoders and speechrnn itself with ``--no-deps``) vs this (full)
   virtualenv, and the share of the torch stack (torch, torchaudio, nvidia-*, triton) in it.
2. **Cold start**: a fresh process imports speechrnn, loads the bundled transcription model and
   transcribes the bundled 2.9 s sample with the model's default decoding (lexicon + LM); the
   median of ``--repeats`` processes, wall time of the whole process (interpreter start included)
   and its split. Runtime rows run in the runtime-only venv when it exists (else here, with
   torch blocked from import).
3. **RTF** (seconds of compute per second of audio) of ``transcribe(array)`` on ``--seconds`` of
   espeak-ng speech, 1 and 2 threads, greedy and default decoding: torch float, torch dynamic int8,
   ONNX float, ONNX int8, in this process after a warm-up, best of ``--repeats``.
4. **Peak RSS** (the child's ``ru_maxrss``) and RTF of ``transcribe(path)`` on a ``--hours`` long
   WAV (speech tiled with pauses; bounded windows), ONNX int8 runtime vs the torch path.

Run from the repository root::

    python benchmarks/bench_runtime.py --build-venv --runtime-venv /tmp/speechrnn-rt --hours 1
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SR = 16000
RUNTIME_PACKAGES = ["numpy", "soundfile", "soxr", "num2words", "onnxruntime",
                    "pyctcdecode", "kenlm", "flashlight-text"]
TORCH_DISTS = ("torch", "torchaudio", "triton")
BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, sys
    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchaudio"):
                raise ImportError(name)
    sys.meta_path.insert(0, _NoTorch())
""")
TEXT = ("the weather was cold and the river froze over night. please send the report to my office "
        "before noon. a small boat drifted slowly toward the island. she opened the window and "
        "looked at the garden. we will meet again at the station tomorrow morning. the children "
        "played football in the park while their parents talked about the news.")


# --------------------------------------------------------------------------- footprint
def dir_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total / 1e6


def site_packages(python: str) -> Path:
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def torch_stack_mb() -> float:
    """Disk size of the torch stack's distributions in this environment."""
    from importlib import metadata

    total = 0
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name in TORCH_DISTS or name.startswith("nvidia-"):
            for f in dist.files or []:
                p = Path(dist.locate_file(f))
                if p.is_file():
                    total += p.stat().st_size
    return total / 1e6


def build_runtime_venv(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + RUNTIME_PACKAGES, check=True)
    subprocess.run(pip + ["--no-deps", str(ROOT)], check=True)


def footprint(runtime_venv: Path | None) -> dict:
    full = site_packages(sys.executable)
    out = {"full_venv_mb": dir_mb(full), "torch_stack_mb": torch_stack_mb()}
    if runtime_venv is not None and (runtime_venv / "bin" / "python").exists():
        rt = site_packages(str(runtime_venv / "bin" / "python"))
        out["runtime_venv_mb"] = dir_mb(rt)
        torch_there = subprocess.run([str(runtime_venv / "bin" / "python"), "-c", "import torch"],
                                     capture_output=True).returncode == 0
        out["runtime_venv_has_torch"] = torch_there
    return out


# --------------------------------------------------------------------------- cold start
COLD = textwrap.dedent("""
    import time, json, sys
    t0 = time.perf_counter()
    kind, model, sample = sys.argv[1:4]
    if kind == "torch":
        from speechrnn import Recognizer
        t1 = time.perf_counter(); rec = Recognizer.load(model if model != "-" else None, threads=2)
    else:
        from speechrnn.runtime import Recognizer
        t1 = time.perf_counter(); rec = Recognizer.load(model, threads=2)
    t2 = time.perf_counter(); text = rec.transcribe(sample).text; t3 = time.perf_counter()
    print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first": t3 - t2, "text": text,
                      "torch": any(m.split(".")[0] == "torch" for m in sys.modules)}))
""")


def cold_start(python: str, kind: str, model: str, sample: str, repeats: int, block: bool) -> dict:
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run([python, "-c", (BLOCK_TORCH if block else "") + COLD, kind, model, sample],
                           capture_output=True, text=True, cwd="/")
        wall = time.perf_counter() - t
        if r.returncode:
            raise RuntimeError(r.stderr[-2000:])
        d = json.loads(r.stdout.strip().splitlines()[-1])
        d["wall"] = wall
        runs.append(d)
    med = {k: statistics.median(r[k] for r in runs) for k in ("import", "load", "first", "wall")}
    return {**med, "text": runs[0]["text"], "torch": runs[0]["torch"]}


# --------------------------------------------------------------------------- RTF
def speech(seconds: float) -> np.ndarray:
    """espeak-ng speech of TEXT (two voices), tiled with 0.4 s pauses to ``seconds``."""
    from speechrnn.audio import resample
    from speechrnn.synth.engines import ENGINES

    engine = ENGINES["espeak-ng"]
    parts = []
    for voice in ("en-us", "en-gb+Alicia"):
        x, rate = engine.synthesize(TEXT, engine.voice(voice), {})
        parts += [resample(x, rate, SR) if rate != SR else x, np.zeros(int(0.4 * SR), np.float32)]
    one = np.concatenate(parts).astype(np.float32)
    reps = int(np.ceil(seconds * SR / len(one)))
    return np.tile(one, reps)[: int(seconds * SR)]


def rtf_table(models: dict, audio: np.ndarray, repeats: int) -> list[dict]:
    import torch

    from speechrnn.decoding import DecodingConfig
    from speechrnn.inference import Recognizer as TorchRecognizer
    from speechrnn.runtime import Recognizer

    rows = []
    dur = len(audio) / SR
    for threads in (1, 2):
        torch.set_num_threads(threads)
        systems = {
            "torch float": TorchRecognizer.load(),
            "torch int8 (dynamic)": TorchRecognizer.load(quantize=True),
            "onnx float (runtime)": Recognizer.load(models["float"], threads=threads),
            "onnx int8 (runtime)": Recognizer.load(models["int8"], threads=threads),
        }
        for decoding in ("greedy", "default"):
            for name, rec in systems.items():
                cfg = DecodingConfig() if decoding == "greedy" else None
                rec.transcribe(audio[: 2 * SR], decoding=cfg)  # warm-up
                best, text = float("inf"), ""
                for _ in range(repeats):
                    t = time.perf_counter()
                    text = rec.transcribe(audio, decoding=cfg).text
                    best = min(best, time.perf_counter() - t)
                rows.append({"system": name, "threads": threads, "decoding": decoding,
                             "rtf": best / dur, "words": len(text.split())})
                print(f"  {name:22s} threads={threads} {decoding:7s} RTF {best / dur:.4f}", flush=True)
    return rows


# --------------------------------------------------------------------------- long file
LONG = textwrap.dedent("""
    import time, json, sys
    kind, model, path = sys.argv[1:4]
    if kind == "torch":
        from speechrnn import Recognizer
        rec = Recognizer.load(None if model == "-" else model, threads=2)
    else:
        from speechrnn.runtime import Recognizer
        rec = Recognizer.load(model, threads=2)
    t = time.perf_counter(); r = rec.transcribe(path); el = time.perf_counter() - t
    print(json.dumps({"seconds": el, "duration": r.duration, "words": len(r.words)}))
""")


LAUNCH = textwrap.dedent("""
    import json, os, sys
    out = sys.argv[1]
    pid = os.fork()
    if pid == 0:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.execv(sys.argv[2], sys.argv[2:])
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps({"status": status, "maxrss_kib": usage.ru_maxrss}))
""")


def long_file_rss(python: str, kind: str, model: str, path: str, block: bool) -> dict:
    """Run :data:`LONG` in a child and read its own peak RSS (``ru_maxrss`` from ``os.wait4``).

    The child is forked by a small launcher process, not by this one: Linux carries the
    parent's peak RSS into a forked child's ``ru_maxrss`` across ``exec``, and this process
    holds torch and four models.
    """
    out = path + f".{kind}.json"
    r = subprocess.run([sys.executable, "-S", "-c", LAUNCH, out, python, "-c",
                        (BLOCK_TORCH if block else "") + LONG, kind, model, path],
                       capture_output=True, text=True, cwd="/")
    launch = json.loads(r.stdout.strip().splitlines()[-1])
    if launch["status"]:
        raise RuntimeError(f"{kind} long-file run failed (status {launch['status']}): {r.stderr[-2000:]}")
    d = json.loads(Path(out).read_text().strip().splitlines()[-1])
    d["peak_rss_mb"] = launch["maxrss_kib"] / 1024
    return d


def write_long(path: Path, audio: np.ndarray, hours: float) -> float:
    import soundfile as sf

    total = int(hours * 3600 * SR)
    with sf.SoundFile(str(path), "w", SR, 1, subtype="PCM_16") as f:
        written = 0
        while written < total:
            piece = audio[: total - written]
            f.write(piece)
            written += len(piece)
    return total / SR


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runtime-venv", type=Path, default=Path("/tmp/speechrnn-rt"))
    ap.add_argument("--build-venv", action="store_true", help="(re)build the runtime-only venv first")
    ap.add_argument("--seconds", type=float, default=60.0, help="audio length for the RTF table")
    ap.add_argument("--hours", type=float, default=1.0, help="long-file length (0 skips it)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tmpdir", default=tempfile.gettempdir())
    ap.add_argument("--json", type=Path, help="also write all results here")
    ap.add_argument("--parts", default="footprint,cold,rtf,long",
                    help="comma-separated subset of footprint,cold,rtf,long (each is a few minutes "
                         "on 2 cores; run them as separate commands on a shared machine)")
    args = ap.parse_args()

    from speechrnn.export_onnx import SAMPLE, export_onnx
    from speechrnn.inference.models import default_model_path

    results: dict = {}
    parts = set(args.parts.split(","))
    work = Path(tempfile.mkdtemp(dir=args.tmpdir, prefix="bench-runtime-"))
    try:
        src = default_model_path("transcription")
        models = {"float": str(export_onnx(src, work / "en.onnx")),
                  "int8": str(export_onnx(src, work / "en-int8.onnx", int8=True))}
        results["onnx_mb"] = {k: Path(v).stat().st_size / 1e6 for k, v in models.items()}
        results["checkpoint_mb"] = Path(src).stat().st_size / 1e6
        if args.build_venv:
            print(f"building the runtime-only venv at {args.runtime_venv} ...", flush=True)
            build_runtime_venv(args.runtime_venv)
        rt_python = args.runtime_venv / "bin" / "python"
        in_venv = rt_python.exists()
        rt_py, block = (str(rt_python), False) if in_venv else (sys.executable, True)
        if "footprint" in parts:
            results["footprint"] = footprint(args.runtime_venv)
            print("footprint (MB):", json.dumps(results["footprint"]), flush=True)
        if "cold" in parts:
            results["cold_start_where"] = "runtime-only venv" if in_venv else "this venv, torch blocked"
            results["cold_start"] = {
                "torch (bundled .pt)": cold_start(sys.executable, "torch", "-", str(SAMPLE),
                                                  args.repeats, False),
                "runtime onnx float": cold_start(rt_py, "runtime", models["float"], str(SAMPLE),
                                                 args.repeats, block),
                "runtime onnx int8": cold_start(rt_py, "runtime", models["int8"], str(SAMPLE),
                                                args.repeats, block),
            }
            for k, v in results["cold_start"].items():
                print(f"cold start {k:22s} wall {v['wall']:.2f} s (import {v['import']:.2f}, load "
                      f"{v['load']:.2f}, first transcript {v['first']:.2f}) torch={v['torch']} "
                      f"{v['text']!r}", flush=True)
        if parts & {"rtf", "long"}:
            audio = speech(args.seconds if "rtf" in parts else 60.0)
        if "rtf" in parts:
            print(f"RTF on {len(audio) / SR:.0f} s of speech:", flush=True)
            results["rtf"] = rtf_table(models, audio, args.repeats)
        if "long" in parts and args.hours > 0:
            long_path = work / "long.wav"
            results["long_duration_s"] = write_long(long_path, audio, args.hours)
            results["long"] = {
                "runtime onnx int8": long_file_rss(rt_py, "runtime", models["int8"], str(long_path), block),
                "torch (bundled .pt)": long_file_rss(sys.executable, "torch", "-", str(long_path), False),
            }
            for k, v in results["long"].items():
                print(f"{args.hours:g} h file {k:22s} peak RSS {v['peak_rss_mb']:.0f} MB, "
                      f"RTF {v['seconds'] / v['duration']:.4f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
