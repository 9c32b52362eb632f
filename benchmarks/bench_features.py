"""Speed of speechrnn's MFCC front-end against peers, in one run.

Settings shared by every extractor: 16 kHz, 40 coefficients, 40 mel filters, 25 ms
window, 10 ms hop, 512-point FFT. Extractors:

* speechrnn ``MFCCFrontend`` (Kaldi and librosa styles), MFCC alone and
  MFCC + deltas + delta-deltas + utterance CMVN,
* ``torchaudio.transforms.MFCC``, ``torchaudio.compliance.kaldi.mfcc``,
* ``librosa.feature.mfcc``, ``python_speech_features.mfcc``.

Each is timed (repeats interleaved round-robin) on one long utterance (``--seconds``) with 1 and 2 threads, then on a
batch (``--batch`` x ``--batch-seconds``) where the torch extractors run batched
and the others item by item. Prints a markdown table: time (median of
``--repeats``), times real time, and speed relative to librosa and to
``torchaudio.transforms.MFCC`` at the same thread count (>1 = faster).

Usage::

    python benchmarks/bench_features.py --seconds 60 --repeats 5

Quote ratios from one run on an idle machine: other processes on the cores skew
absolute numbers.
"""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext
from typing import Callable

import numpy as np
import torch

SR, N_MFCC, N_MELS, WIN, HOP, N_FFT = 16000, 40, 40, 400, 160, 512


def make_audio(seconds: float) -> np.ndarray:
    """The bundled speech sample tiled to ``seconds``, with a little noise: (S,) float32."""
    from importlib.resources import files

    from speechrnn.audio import load_audio

    speech = load_audio(str(files("speechrnn") / "assets" / "samples" / "sample.wav"))
    n = int(seconds * SR)
    x = np.tile(speech, n // len(speech) + 1)[:n]
    return (x + 1e-3 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)


def extractors(batched: bool) -> dict[str, Callable[[np.ndarray], object]]:
    """name -> fn(audio) for audio (S,) or, when ``batched``, (B, S) equal-length items."""
    import librosa
    import python_speech_features as psf
    import torchaudio

    from speechrnn.features import FeatureConfig, MFCCFrontend

    def ours(**kw):
        fe = MFCCFrontend(FeatureConfig(n_mfcc=N_MFCC, n_mels=N_MELS, **kw)).eval()

        def fn(x):
            w = torch.from_numpy(x if x.ndim == 2 else x[None])  # (B, S)
            return fe(w, torch.full((w.shape[0],), w.shape[1], dtype=torch.long))

        return fn

    ta_mfcc = torchaudio.transforms.MFCC(
        SR, n_mfcc=N_MFCC,
        melkwargs=dict(n_fft=N_FFT, win_length=WIN, hop_length=HOP, n_mels=N_MELS),
    )

    def per_item(fn):
        return (lambda x: [fn(row) for row in x]) if batched else fn

    return {
        "speechrnn kaldi MFCC+Δ+ΔΔ+CMVN": ours(style="kaldi", deltas=2, cmvn="utterance"),
        "speechrnn kaldi MFCC": ours(style="kaldi", cmvn="none"),
        "speechrnn librosa MFCC+Δ+ΔΔ+CMVN": ours(style="librosa", deltas=2, cmvn="utterance",
                                                 f_min=0.0, preemphasis=0.0),
        "speechrnn librosa MFCC": ours(style="librosa", cmvn="none", f_min=0.0, preemphasis=0.0),
        "torchaudio.transforms.MFCC": lambda x: ta_mfcc(torch.from_numpy(x)),
        "torchaudio.compliance.kaldi.mfcc": per_item(
            lambda x: torchaudio.compliance.kaldi.mfcc(
                torch.from_numpy(x)[None], num_ceps=N_MFCC, num_mel_bins=N_MELS)),
        "librosa.feature.mfcc": lambda x: librosa.feature.mfcc(
            y=x, sr=SR, n_mfcc=N_MFCC, n_fft=N_FFT, win_length=WIN, hop_length=HOP,
            n_mels=N_MELS),
        "python_speech_features.mfcc": per_item(
            lambda x: psf.mfcc(x, SR, winlen=WIN / SR, winstep=HOP / SR, numcep=N_MFCC,
                               nfilt=N_MELS, nfft=N_FFT)),
    }


def time_all(fns: dict[str, Callable], x: np.ndarray, repeats: int) -> dict[str, float]:
    """Median seconds per extractor. Repeats are interleaved round-robin, so a burst of
    load from other processes hits every extractor alike instead of one of them."""
    runs: dict[str, list[float]] = {name: [] for name in fns}
    with torch.inference_mode():
        for fn in fns.values():  # warm-up
            fn(x)
        for _ in range(repeats):
            for name, fn in fns.items():
                t = time.perf_counter()
                fn(x)
                runs[name].append(time.perf_counter() - t)
    return {name: statistics.median(r) for name, r in runs.items()}


def thread_limit(n: int):
    """Limit torch and the BLAS/OpenMP pools numpy uses to ``n`` threads."""
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n)
    except ImportError:  # pragma: no cover
        return nullcontext()


def run_suite(title: str, audio: np.ndarray, seconds: float, threads: list[int],
              repeats: int, batched: bool) -> list[str]:
    rows = []
    fns = extractors(batched)
    for n in threads:
        with thread_limit(n):
            times = time_all(fns, audio, repeats)
        ref_lib, ref_ta = times["librosa.feature.mfcc"], times["torchaudio.transforms.MFCC"]
        for name, t in times.items():
            rows.append(
                f"| {title} | {name} | {n} | {t * 1000:.1f} | {seconds / t:,.0f}× | "
                f"{ref_lib / t:.2f} | {ref_ta / t:.2f} |"
            )
        ours = times["speechrnn kaldi MFCC+Δ+ΔΔ+CMVN"]
        ours_lib = times["speechrnn librosa MFCC+Δ+ΔΔ+CMVN"]
        print(f"{title}, {n} thread(s): speechrnn MFCC+Δ+ΔΔ+CMVN takes {ours / ref_ta:.2f}× "
              f"(kaldi style) / {ours_lib / ref_ta:.2f}× (librosa style) the time of "
              f"torchaudio.transforms.MFCC alone (target <= 1.10)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="single-utterance length")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per extractor")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--batch", type=int, default=16, help="items in the batched run (0 = skip)")
    ap.add_argument("--batch-seconds", type=float, default=10.0, help="length of each item")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]

    rows = run_suite(f"1 × {args.seconds:g} s", make_audio(args.seconds), args.seconds,
                     threads, args.repeats, batched=False)
    if args.batch > 0:
        items = make_audio(args.batch * args.batch_seconds).reshape(args.batch, -1)  # (B, S)
        rows += run_suite(f"{args.batch} × {args.batch_seconds:g} s", items,
                          args.batch * args.batch_seconds, threads, args.repeats, batched=True)
    print()
    print("| audio | extractor | threads | time (ms) | × real time | speed vs librosa "
          "| speed vs torchaudio MFCC |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\n{torch.__version__=}, 16 kHz, {N_MFCC} coefficients, {N_MELS} mel filters, "
          f"{WIN / SR * 1000:g} ms / {HOP / SR * 1000:g} ms, n_fft={N_FFT}; "
          f"median of {args.repeats}; speed ratios > 1 mean faster than the reference.")


if __name__ == "__main__":
    main()
