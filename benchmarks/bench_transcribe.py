"""Transcription speed, accuracy and memory: speechrnn against pocketsphinx, in one run.

On the utterances of a manifest (``--manifest``; ``--limit N`` keeps the first N with text),
all decoded from memory so file reading is not timed, it measures side by side:

* speechrnn :class:`~speechrnn.inference.Recognizer` (features + model + decoding, one utterance
  at a time) with 2 and 1 threads (``--threads``), float weights and runtime dynamic int8
  (``load_model(quantize=True)``), greedy decoding, the model file's stored default decoding
  (the bundled model's: lexicon search + its LM) and, with ``--lm``, prefix beam search + LM
  (``--beam-size``, ``--alpha``, ``--beta``);
* pocketsphinx (PyPI ``pocketsphinx`` with its bundled US English model, single-threaded) on the
  same audio, when installed;

each timed as the fastest of ``--repeats`` passes over the set (after one warm-up call), and
reports real-time factor (compute seconds / audio seconds; <1 is faster than real time), times
real time, WER (jiwer, both sides through :func:`speechrnn.text.normalize_text`), and
ratios against pocketsphinx. Then it builds a ``--hours`` long WAV (default 1 h) by looping the
utterances, transcribes it with ``Recognizer.transcribe(path)`` in a fresh subprocess (and a short
file the same way, as the baseline) and reports each child's peak RSS (``ru_maxrss`` of that child
alone, via ``os.wait4``) and RTF.

Usage::

    python benchmarks/bench_transcribe.py --manifest data/transcription/test_unseen.jsonl \\
        --limit 200 [--model model.pt] [--lm words.arpa --beam-size 32] [--hours 1]

The default model is the bundled one (``default_model_path("transcription")``). Quote ratios from
one run on an idle machine: other processes on the cores skew absolute numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 16000


@dataclass
class Row:
    """One measured system: what ran, how fast and how accurately."""

    system: str
    weights: str
    decoding: str
    threads: int
    rtf: float
    wer: float


# ----------------------------------------------------------------------------- data
def load_set(manifest: str, limit: int | None) -> tuple[list[str], list[np.ndarray]]:
    """References and float32 16 kHz waveforms ``(S,)`` of the manifest's utterances with text."""
    from speechrnn.audio import load_audio
    from speechrnn.data import read_manifest

    utts = [u for u in read_manifest(manifest) if u.text and u.text.strip()]
    if limit:
        utts = utts[:limit]
    if not utts:
        sys.exit(f"{manifest}: no utterances with text")
    audio = [load_audio(u.audio, SR, offset=u.offset, duration=u.duration) for u in utts]
    return [u.text for u in utts], audio


def word_error_rate(refs: list[str], hyps: list[str]) -> float:
    """Corpus WER (jiwer) after ``normalize_text`` on both sides."""
    import jiwer

    from speechrnn.text import normalize_text

    return jiwer.wer([normalize_text(r) for r in refs], [normalize_text(h) for h in hyps])


# ----------------------------------------------------------------------------- systems
def time_speechrnn(model, audio, decoding, threads: int,
                   repeats: int = 1) -> tuple[float, list[str]]:
    """Compute seconds to transcribe ``audio`` one utterance at a time (fastest of ``repeats``
    passes), and the hypotheses."""
    import torch

    from speechrnn.inference import Recognizer

    torch.set_num_threads(threads)
    rec = Recognizer(model, decoding)
    rec.transcribe(audio[0])  # warm-up: allocator, decoder caches, LM loading
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        hyps = [rec.transcribe(x).text for x in audio]
        best = min(best, time.perf_counter() - start)
    return best, hyps


def time_pocketsphinx(audio, repeats: int = 1) -> tuple[float, list[str]] | None:
    """Same for pocketsphinx's default English model; None when it is not installed."""
    try:
        from pocketsphinx import Decoder
    except ImportError:
        print("pocketsphinx is not installed (pip install pocketsphinx): skipped", file=sys.stderr)
        return None
    decoder = Decoder(samprate=SR, loglevel="FATAL")
    pcm = [(np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes() for x in audio]  # 16-bit PCM
    best = float("inf")
    for _ in range(repeats):
        hyps = []
        start = time.perf_counter()
        for raw in pcm:
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            hyps.append(hyp.hypstr if hyp is not None else "")
        best = min(best, time.perf_counter() - start)
    return best, hyps


def decodings(args, model_path: str) -> dict[str, object]:
    """Name -> DecodingConfig: greedy; the model file's stored default decoding, if any; and
    prefix beam search + ``--lm`` (``--beam-size``, ``--alpha``, ``--beta``) when given."""
    from speechrnn.config import from_dict
    from speechrnn.decoding import DecodingConfig
    from speechrnn.inference.model_decoding import describe, stored_decoding

    out = {"greedy": from_dict(DecodingConfig, {"method": "greedy"}, "decoding")}
    default = stored_decoding(model_path)
    if default is not None:
        out[f"model default: {describe(default)}"] = default
    if args.lm:
        cfg = from_dict(DecodingConfig, {"method": "beam", "beam_size": args.beam_size,
                                         "lm_path": args.lm, "alpha": args.alpha,
                                         "beta": args.beta}, "decoding")
        out[describe(cfg)] = cfg
    return out


def run_accuracy_speed(args, model_path: str, refs: list[str],
                       audio: list[np.ndarray]) -> list[Row]:
    """Measure every speechrnn configuration and pocketsphinx on the same utterances."""
    from speechrnn.models import load_model

    seconds = sum(x.size for x in audio) / SR
    print(f"{len(audio)} utterances, {seconds:.1f} s of audio", file=sys.stderr)
    models = {"float": load_model(model_path),
              "int8-dynamic": load_model(model_path, quantize=True)}
    rows = []
    for threads in args.threads:
        for weights, model in models.items():
            for name, cfg in decodings(args, model_path).items():
                compute, hyps = time_speechrnn(model, audio, cfg, threads, args.repeats)
                rows.append(Row("speechrnn", weights, name, threads, compute / seconds,
                                word_error_rate(refs, hyps)))
                r = rows[-1]
                print(f"  {r.weights} {r.decoding} {r.threads} thread(s): RTF {r.rtf:.4f}, "
                      f"WER {r.wer:.1%}", file=sys.stderr)
    if not args.no_pocketsphinx:
        ps = time_pocketsphinx(audio, args.repeats)
        if ps is not None:
            rows.append(Row("pocketsphinx", "en-us (bundled)", "default LM", 1, ps[0] / seconds,
                            word_error_rate(refs, ps[1])))
    return rows


def markdown_table(rows: list[Row]) -> str:
    """Rows as a markdown table with speed and WER ratios against pocketsphinx (if measured)."""
    ps = next((r for r in rows if r.system == "pocketsphinx"), None)
    head = "| system | weights | decoding | threads | RTF | x real time | WER |"
    sep = "|---|---|---|---:|---:|---:|---:|"
    if ps:
        head += " speed / pocketsphinx (>1 faster) | WER / pocketsphinx WER |"
        sep += "---:|---:|"
    lines = [head, sep]
    for r in rows:
        line = (f"| {r.system} | {r.weights} | {r.decoding} | {r.threads} | {r.rtf:.4f} | "
                f"{1 / r.rtf:.1f} | {r.wer:.1%} |")
        if ps:
            wer_ratio = f"{r.wer / ps.wer:.2f}x" if ps.wer > 0 else "-"
            line += f" {ps.rtf / r.rtf:.2f}x | {wer_ratio} |"
        lines.append(line)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- long file
def write_looped_wav(path: Path, audio: list[np.ndarray], hours: float) -> float:
    """Concatenate ``audio`` in a loop into a 16-bit WAV of ``hours``; returns its seconds.

    Written block by block, so this process never holds the whole file.
    """
    import soundfile as sf

    target = int(hours * 3600 * SR)
    written = 0
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        while written < target:
            for x in audio:
                x = x[: target - written]
                f.write(x)
                written += x.size
                if written >= target:
                    break
    return written / SR


def child_transcribe(args) -> int:
    """Subprocess body: load, transcribe ``--child`` once, print JSON (duration, compute)."""
    import torch

    from speechrnn.inference import Recognizer

    torch.set_num_threads(args.threads[0])
    rec = Recognizer.load(args.model, quantize=args.child_quantize)
    start = time.perf_counter()
    t = rec.transcribe(args.child)
    compute = time.perf_counter() - start
    print(json.dumps({"duration": t.duration, "compute": compute, "words": len(t.words)}))
    return 0


def measure_child(model_path: str, wav: Path, threads: int, quantize: bool) -> dict:
    """Run :func:`child_transcribe` in a fresh interpreter; its result plus peak RSS in MB."""
    cmd = [sys.executable, __file__, "--child", str(wav), "--model", model_path,
           "--threads", str(threads)] + (["--child-quantize"] if quantize else [])
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max over all children)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"transcription subprocess failed ({proc.returncode}): {' '.join(cmd)}")
    res = json.loads(out.decode().strip().splitlines()[-1])
    res["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: kilobytes
    res["rtf"] = res["compute"] / res["duration"]
    return res


def run_long_file(args, model_path: str, audio: list[np.ndarray]) -> str:
    """Peak RSS and RTF transcribing a short file and a ``--hours`` looped file, as markdown."""
    lines = ["| input | weights | threads | audio | RTF | x real time | peak RSS |",
             "|---|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        short, long = Path(tmp) / "short.wav", Path(tmp) / "long.wav"
        write_looped_wav(short, audio, min(args.hours, 30 / 3600))
        seconds = write_looped_wav(long, audio, args.hours)
        size_mb = long.stat().st_size / 1e6
        print(f"long file: {seconds / 3600:.3f} h, {size_mb:.0f} MB", file=sys.stderr)
        for name, wav in (("short (<=30 s)", short), (f"looped {args.hours:g} h", long)):
            for quantize in ([False, True] if args.long_int8 else [False]):
                r = measure_child(model_path, wav, args.threads[0], quantize)
                lines.append(f"| {name} | {'int8-dynamic' if quantize else 'float'} | "
                             f"{args.threads[0]} | {r['duration']:.0f} s | {r['rtf']:.4f} | "
                             f"{1 / r['rtf']:.1f} | {r['peak_rss_mb']:.0f} MB |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="speechrnn model file (default: the bundled model)")
    p.add_argument("--manifest", help="JSONL manifest of test utterances with text")
    p.add_argument("--limit", type=int, help="use the first N utterances with text")
    p.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")], default=[2, 1],
                   help="comma-separated thread counts (default 2,1; the first is used for the "
                        "long-file runs)")
    p.add_argument("--lm", help="KenLM word n-gram: also measure prefix beam search + LM")
    p.add_argument("--beam-size", type=int, default=32)
    p.add_argument("--alpha", type=float, default=0.5, help="LM weight (tune it on dev data)")
    p.add_argument("--beta", type=float, default=1.0, help="word bonus (tune it on dev data)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed passes over the set per system; the fastest counts (default 3)")
    p.add_argument("--hours", type=float, default=1.0, help="length of the looped long file")
    p.add_argument("--long-int8", action="store_true", help="also run the long file with int8")
    p.add_argument("--skip-long", action="store_true", help="skip the long-file memory test")
    p.add_argument("--no-pocketsphinx", action="store_true")
    p.add_argument("--tmpdir", help="where to write the long WAV (default: system temp)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-quantize", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.child and not args.manifest:
        p.error("--manifest is required")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_transcribe(args)
    from speechrnn.errors import SpeechRNNError
    from speechrnn.inference import default_model_path

    try:
        model_path = str(args.model or default_model_path("transcription"))
        refs, audio = load_set(args.manifest, args.limit)
        rows = run_accuracy_speed(args, model_path, refs, audio)
        print(f"\n## Accuracy and speed ({model_path}, {args.manifest})\n")
        print(markdown_table(rows))
        if not args.skip_long:
            print("\n## Memory on a long file (Recognizer.transcribe(path), fresh process)\n")
            print(run_long_file(args, model_path, audio))
    except SpeechRNNError as e:
        print(f"bench_transcribe: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
