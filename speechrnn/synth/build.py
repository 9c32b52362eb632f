"""Parallel, resumable, deterministic rendering of synthesis jobs into WAV files.

A preset plans a list of :class:`Job` in the main process from one seed (text, voice,
prosody params, augmentation seed, output path); :func:`run_jobs` renders the missing ones on
a process pool. Every WAV is written atomically; each finished job is appended to
``<out>/.synth_log.jsonl`` (path, duration, augmentation record) by the main process, so a
rerun skips files that exist *and* are logged, and re-renders the rest (deleted or
half-finished). Manifests are then built in plan order, so the same seed gives identical
manifests and (for the deterministic engines) identical audio.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SynthesisError
from .augment import AugmentConfig, NoiseBank, add_noise, augment

__all__ = ["Job", "JobResult", "run_jobs", "render", "check_out_dir", "LOG_NAME"]

SAMPLE_RATE = 16000
LOG_NAME = ".synth_log.jsonl"


@dataclass
class Job:
    """One WAV to render.

    Attributes
    ----------
    path : str
        Output path relative to the corpus folder.
    text : str
        What to say.
    voice : str
        Voice id ``engine:name``.
    params : dict
        Engine prosody params (from ``Engine.sample_params``).
    seed : list of int
        Seed of this job's augmentation generator.
    augment : bool
        Apply the corpus' :class:`AugmentConfig`.
    clip_s : float or None
        Fit the trimmed speech into a clip of exactly this length at a random offset
        (keyword clips); None keeps the natural length.
    """

    path: str
    text: str
    voice: str
    params: dict = field(default_factory=dict)
    seed: list = field(default_factory=list)
    augment: bool = False
    clip_s: float | None = None


@dataclass
class JobResult:
    """Outcome of one job: its duration and augmentation record, or an error message."""

    path: str
    duration: float = 0.0
    augment: list = field(default_factory=list)
    error: str | None = None
    key: str = ""  # job_key() of the job that produced it: a changed plan re-renders the file


def check_out_dir(out_dir) -> Path:
    """Create ``out_dir`` if needed; :class:`SynthesisError` when it cannot be written."""
    out = Path(out_dir).resolve()  # absolute: manifests then store paths relative to it
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SynthesisError(f"output folder {out} is not writable: {e.strerror or e}") from None
    return out


# --------------------------------------------------------------------------- worker side
_STATE: dict = {}


def _init_worker(out_dir: str, aug: dict, babble: list[str], noise_dir: str | None) -> None:
    from ..audio import load_audio

    _STATE["out"] = Path(out_dir)
    _STATE["aug"] = AugmentConfig(**aug)
    clips = [load_audio(p, SAMPLE_RATE) for p in babble if Path(p).is_file()]
    _STATE["bank"] = NoiseBank(clips, noise_dir)


def _fit_clip(x: np.ndarray, clip_s: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Trim silence, squeeze if too long, and place into a clip of ``clip_s`` seconds."""
    import librosa

    from ..audio import resample

    y, _ = librosa.effects.trim(x, top_db=35)
    n = int(round(clip_s * SAMPLE_RATE))
    rec = {"step": "fit", "clip_s": clip_s}
    limit = int(0.95 * n)
    if len(y) > limit:
        factor = len(y) / limit
        y = resample(y, int(round(SAMPLE_RATE * factor)), SAMPLE_RATE)[:limit]
        rec["speed"] = round(float(factor), 3)
    start = int(rng.integers(0, n - len(y) + 1))
    out = np.zeros(n, np.float32)
    out[start:start + len(y)] = y
    rec["start_s"] = round(start / SAMPLE_RATE, 3)
    return out, rec


def render(job: Job, aug: AugmentConfig, bank: NoiseBank | None = None) -> tuple[np.ndarray, list]:
    """Synthesize, resample to 16 kHz and augment one job (no file I/O).

    Returns
    -------
    samples : np.ndarray
        float32 ``(S,)`` at 16 kHz.
    record : list of dict
        Augmentation steps applied (empty when ``job.augment`` is False and no clip fit).
    """
    from ..audio import resample
    from .engines import synthesize
    from .voices import voice_by_id

    x, sr = synthesize(job.text, voice_by_id(job.voice), job.params)
    x = resample(x, sr, SAMPLE_RATE)
    rng = np.random.default_rng(job.seed)
    record: list = []
    if job.clip_s:
        x, fit = _fit_clip(x, job.clip_s, rng)
        record.append(fit)
        if job.augment:  # keep the clip length: no speed change or added silence
            cfg = AugmentConfig(**{**asdict(aug), "p_speed": 0.0, "p_silence": 0.0})
            x, steps = augment(x, SAMPLE_RATE, rng, cfg, bank)
            record += steps
    elif job.augment:
        x, record = augment(x, SAMPLE_RATE, rng, aug, bank)
    else:
        peak = float(np.max(np.abs(x)))
        x = x * (0.99 / peak) if peak > 0.99 else x
    return x.astype(np.float32), record


def _do_job(job: Job) -> JobResult:
    from ..audio import write_audio

    try:
        x, rec = render(job, _STATE["aug"], _STATE["bank"])
        write_audio(_STATE["out"] / job.path, x, SAMPLE_RATE)
        return JobResult(job.path, round(len(x) / SAMPLE_RATE, 4), rec)
    except SynthesisError as e:
        return JobResult(job.path, error=str(e))


# --------------------------------------------------------------------------- main side
def job_key(job: Job, aug_settings: dict) -> str:
    """Fingerprint of everything that decides a job's audio (text, voice, prosody, seeds, and
    ``aug_settings`` = ``asdict(AugmentConfig)``) - not its path, which is only where it goes."""
    import hashlib

    spec = {k: v for k, v in asdict(job).items() if k != "path"}
    blob = json.dumps([spec, aug_settings], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def _read_log(out: Path) -> dict[str, JobResult]:
    done = {}
    log = out / LOG_NAME
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                r = JobResult(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a torn last line after a crash
            done[r.path] = r
    return done


def run_jobs(out_dir, jobs: list[Job], *, aug: AugmentConfig | None = None, workers: int = 0,
             babble: list[str] | None = None, noise_dir=None, progress: bool = True,
             desc: str = "synth") -> dict[str, JobResult]:
    """Render every job whose WAV is missing, not logged, or logged for a different job (same
    path, another text/voice/seed: the plan changed, e.g. a voice list without a voice), and
    return all results by path.

    Parameters
    ----------
    workers : int
        Processes; 0 means every core, 1 renders in this process.
    babble : list of str
        WAV paths used as babble noise by the augmentation.
    """
    from ..progress import progress_bar

    out = check_out_dir(out_dir)
    aug = aug or AugmentConfig.off()
    aug_settings = asdict(aug)
    keys = {j.path: job_key(j, aug_settings) for j in jobs}
    logged = _read_log(out)
    results = {p: r for p, r in logged.items()
               if r.error is None and r.key == keys.get(p) and (out / p).is_file()}
    todo = [j for j in jobs if j.path not in results]
    workers = workers or os.cpu_count() or 1
    init = (str(out), aug_settings, list(babble or []), None if noise_dir is None else str(noise_dir))
    with open(out / LOG_NAME, "a", encoding="utf-8") as log, \
            progress_bar(total=len(todo), desc=desc, unit="utt",
                         enabled=progress and bool(todo)) as bar:
        def record(r: JobResult) -> None:
            r.key = keys[r.path]
            results[r.path] = r
            log.write(json.dumps(asdict(r)) + "\n")
            log.flush()
            bar.update(1)

        if workers == 1 or len(todo) <= 1:
            _init_worker(*init)
            for j in todo:
                record(_do_job(j))
        else:
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=init) as pool:
                for r in pool.map(_do_job, todo, chunksize=max(1, min(16, len(todo) // (4 * workers)))):
                    record(r)
    return results


def colored_noise_file(path: Path, kind: str, seconds: float, seed: int) -> None:
    """Write a noise WAV (``_background_noise_`` style) unless it exists."""
    from ..audio import write_audio
    from .augment import colored_noise

    if path.is_file():
        return
    x = colored_noise(int(seconds * SAMPLE_RATE), kind, np.random.default_rng(seed)) * 0.1
    write_audio(path, x, SAMPLE_RATE)


def mix_babble_file(path: Path, sources: list[Path], seconds: float, seed: int) -> None:
    """Write a babble WAV summing the ``sources`` clips at random offsets."""
    from ..audio import load_audio, write_audio

    if path.is_file() or not sources:
        return
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    y = np.zeros(n, np.float32)
    for _ in range(4):
        track = np.concatenate([load_audio(sources[int(i)], SAMPLE_RATE)
                                for i in rng.integers(0, len(sources), size=len(sources))])
        track = np.tile(track, int(np.ceil(n / len(track))))[:n]
        y = add_noise(y, track, 0.0) if np.any(y) else track.copy()
    write_audio(path, y * (0.3 / (np.max(np.abs(y)) + 1e-9)), SAMPLE_RATE)
