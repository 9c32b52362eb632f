"""Speaker adaptation without labels: a teacher trained on real speech distils into the encoder.

    adapt_speakers(["meetings/"], "spk.pt", budget_minutes=10)
    speechrnn speakers adapt meetings/ --out spk.pt --budget-minutes 10

Stages (each cached under ``work_dir``; a rerun resumes where the last one stopped):

1. **segments**: every input (files, folders, globs, manifests) is cut at pauses into voiced
   segments of ``min_s``-``max_s`` seconds (:mod:`speechrnn.adapt.segment`), recorded as manifest
   ``offset``/``duration`` (no audio copies). Unreadable files are named and skipped.
2. **teacher**: resemblyzer's GE2E encoder embeds each segment (:mod:`speechrnn.adapt.speaker_teacher`;
   an append-only cache).
3. **replay**: a small synthetic labelled corpus of the base model's own training speakers
   (``speechrnn synth speakers`` with the bundled recipe's seed; cached in ``replay_dir``), so the
   encoder keeps what it knew.
4. **train**: the one Trainer runs the ``speakers_distill`` task from the base model: the AAM loss
   on the replay corpus + the student's cosine-similarity matrix pulled towards the teacher's on
   the user's segments (no speaker labels). A slice of the segments is the dev set; the output is
   the checkpoint whose similarities agree best with the teacher's there.

The result is an ordinary speaker model file (``SpeakerIdentifier.load(path)``, ``speechrnn
identify --model``, ``speakers evaluate``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.manifest import Utterance, read_manifest, write_manifest
from ..errors import ConfigError, SpeechRNNError
from ..fileio import write_json
from .pseudolabel import Source, expand_sources
from .segment import SegmentConfig, speech_segments

__all__ = ["SpeakerAdaptConfig", "adapt_speakers", "segment_recordings", "default_base_model"]

log = logging.getLogger(__name__)


@dataclass
class SpeakerAdaptConfig:
    """Settings of :func:`adapt_speakers` (defaults measured in recipes/adaptation/README.md)."""

    min_s: float = 1.5                # shortest voiced segment kept (s)
    max_s: float = 6.0                # longest segment (s): short enough to hold one speaker
    max_gap_s: float = 0.5            # a longer pause ends a segment (speaker turns hide in pauses)
    budget_minutes: float = 10.0      # training wall-clock budget
    dev_fraction: float = 0.1         # share of the segments held out to pick the checkpoint
    max_dev: int = 300                # at most this many dev segments
    distill_weight: float = 1.0       # distillation loss weight against the replay AAM loss
    distill_loss: str = "pearson"     # pearson | mse | relation (speechrnn.tasks.speaker_distill)
    lr: float = 3e-4                  # peak learning rate of the fine-tuning
    warmup_steps: int = 20
    max_seconds: float = 120.0        # padded audio seconds per batch
    replay_voices: int = 70           # the bundled recipe's closed-set voices (its classes)
    replay_utts: int = 8              # utterances per replay voice
    replay_generated: int = 300       # the bundled recipe's generated timbres (its classes)
    replay_generated_utts: int = 2
    replay_dir: str | None = None     # cache of the replay corpus (default: work_dir/replay)
    seed: int = 0
    threads: int = 0                  # torch CPU threads (0: torch's default)
    progress: bool = False

    def validate(self) -> None:
        if not 0 < self.min_s < self.max_s <= 30:
            raise ConfigError(f"segments need 0 < min_s < max_s <= 30 s, got {self.min_s}, {self.max_s}")
        if self.budget_minutes <= 0 or not 0 < self.dev_fraction < 0.5:
            raise ConfigError("budget_minutes must be > 0 and dev_fraction in (0, 0.5)")
        if self.replay_utts < 3:
            raise ConfigError("replay_utts must be >= 3")


def default_base_model() -> str:
    """The bundled speaker encoder's path."""
    from ..inference.models import resolve_model

    return str(resolve_model(None, "speakers"))


# --------------------------------------------------------------------------- 1. segments
def _seg_id(src: Source, offset: float) -> str:
    h = hashlib.sha1(os.path.abspath(src.audio).encode()).hexdigest()[:8]
    return f"{Path(src.audio).stem}-{h}-{int(round(offset * 1000)):09d}"


def segment_recordings(inputs, cfg: SpeakerAdaptConfig | None = None,
                       ) -> tuple[list[Utterance], list[tuple[str, str]]]:
    """Voiced segments of every input, as manifest slices (no audio copies).

    Returns
    -------
    (segments, problems): ``problems`` lists ``(name, reason)`` for inputs that match nothing or
    cannot be read (skipped; the rest go on).
    """
    cfg = cfg or SpeakerAdaptConfig()
    scfg = SegmentConfig(min_s=cfg.min_s, max_s=cfg.max_s, max_gap_s=cfg.max_gap_s, pad_s=0.1,
                         window_s=max(300.0, 2 * cfg.max_s))
    sources, problems = expand_sources(inputs)
    segs: list[Utterance] = []
    for src in sources:
        try:
            for off, dur, _ in speech_segments(src.audio, scfg, offset=src.offset, duration=src.duration):
                segs.append(Utterance(id=_seg_id(src, off), audio=os.path.abspath(src.audio), offset=off,
                                      duration=dur))
        except SpeechRNNError as e:
            problems.append((src.audio, str(e)))
            log.warning("skipped %s: %s", src.audio, e)
    return segs, problems


def _sources_key(inputs, cfg: SpeakerAdaptConfig) -> str:
    sources, _ = expand_sources(inputs)
    parts = []
    for s in sources:
        try:
            parts.append(s.key())
        except OSError:
            parts.append(f"{s.audio}|missing")
    parts.append(f"{cfg.min_s}|{cfg.max_s}|{cfg.max_gap_s}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


# --------------------------------------------------------------------------- 3. replay corpus
def build_replay(out_dir, cfg: SpeakerAdaptConfig) -> tuple[list[Utterance], list[Utterance]]:
    """The replay corpus' labelled ``(train, held-out)`` utterances (built once, resumable; the
    bundled recipe's seed, voices and generated timbres, so its speakers are the bundled
    encoder's classes; the held-out ones are each closed-set voice's last utterance)."""
    from ..synth.presets import SpeakerConfig, build_speakers

    out = Path(out_dir)
    if not (out / "summary.json").is_file():
        build_speakers(out, SpeakerConfig(num_voices=cfg.replay_voices, utts_per_voice=cfg.replay_utts,
                                          verify_voices=0, generated_timbres=cfg.replay_generated,
                                          generated_utts=cfg.replay_generated_utts, seed=0,
                                          progress=cfg.progress, jobs=0))
    return (read_manifest(out / "train.jsonl") + read_manifest(out / "dev.jsonl"),
            read_manifest(out / "test.jsonl"))


# --------------------------------------------------------------------------- pipeline
def _stage(summary: dict, name: str, t0: float) -> None:
    summary.setdefault("stage_seconds", {})[name] = round(time.time() - t0, 1)
    log.info("stage %s: %.1f s", name, time.time() - t0)


def adapt_speakers(inputs, out, *, base: str | None = None, work_dir=None,
                   cfg: SpeakerAdaptConfig | None = None, teacher=None) -> dict:
    """Adapt a speaker encoder to unlabeled recordings; write the adapted model to ``out``.

    Parameters
    ----------
    inputs : list of str
        Audio files, folders, globs or manifests (any ``speaker`` field is ignored).
    out : path
        The adapted model file (``.pt``).
    base : path, optional
        Speaker model to start from (default: the bundled ``spk-bilstm.pt``).
    work_dir : path, optional
        Caches and the training run (default: ``<out>.work``); a rerun resumes from it.
    cfg : SpeakerAdaptConfig, optional
    teacher : SpeakerTeacher, optional
        A loaded teacher (default: resemblyzer's, loaded when a segment needs embedding).

    Returns
    -------
    dict summary: segments, skipped inputs, teacher failures, stage seconds, training result,
    the output path (also written to ``work_dir/summary.json``).

    Raises
    ------
    ConfigError
        No usable segment in the inputs, or too few to train on.
    TeacherError
        resemblyzer is not installed (the message names ``pip install 'speechrnn[teacher]'``).
    """
    from ..models.checkpoint import atomic_torch_save, read_checkpoint
    from ..train import Trainer, resolve_config
    from .speaker_teacher import embed_segments

    cfg = cfg or SpeakerAdaptConfig()
    cfg.validate()
    base = str(base or default_base_model())
    out = Path(out)
    work = Path(work_dir) if work_dir else out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    summary: dict = {"base": base, "config": asdict(cfg)}

    # 1. segments (cached for the same inputs and settings)
    t0 = time.time()
    key = _sources_key(inputs, cfg)
    seg_path, key_path = work / "segments.jsonl", work / "segments.key"
    if seg_path.is_file() and key_path.is_file() and key_path.read_text() == key:
        segs, problems = read_manifest(seg_path), json.loads((work / "segments.problems.json").read_text())
    else:
        segs, problems = segment_recordings(inputs, cfg)
        write_manifest(seg_path, segs)
        write_json(work / "segments.problems.json", problems)
        key_path.write_text(key)
    summary.update(segments=len(segs), segment_minutes=round(sum(u.duration for u in segs) / 60, 2),
                   skipped_inputs=[list(p) for p in problems])
    _stage(summary, "segment", t0)
    if not segs:
        raise ConfigError("no voiced segment of at least %.1f s in the inputs%s" % (
            cfg.min_s, "; skipped: " + "; ".join(f"{n} ({r})" for n, r in problems[:5]) if problems else ""))

    # 2. teacher embeddings
    t0 = time.time()
    emb, failed = embed_segments(segs, work / "teacher_cache.jsonl", teacher, progress=cfg.progress)
    good = [i for i in range(len(segs)) if i not in set(failed)]
    if len(good) < 20:
        raise ConfigError(f"only {len(good)} usable segment(s): speaker adaptation needs at least 20 "
                          "(a few minutes of speech)")
    segs = [segs[i] for i in good]
    np.savez(work / "teacher.npz", ids=np.array([u.id for u in segs]), embeddings=emb[good])
    summary["teacher_failed"] = len(failed)
    _stage(summary, "teacher", t0)

    # 3. replay corpus
    t0 = time.time()
    replay_train, replay_dev = build_replay(cfg.replay_dir or work / "replay", cfg)
    _stage(summary, "replay", t0)

    # 4. train: replay + segments, dev = a slice of the segments + the replay's test clips
    t0 = time.time()
    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(segs))
    n_dev = int(min(cfg.max_dev, max(10, round(cfg.dev_fraction * len(segs)))))
    dev_idx = set(order[:n_dev].tolist())
    write_manifest(work / "train.jsonl", replay_train + [segs[i] for i in range(len(segs)) if i not in dev_idx])
    write_manifest(work / "dev.jsonl", replay_dev + [segs[i] for i in sorted(dev_idx)])
    ck = read_checkpoint(base)
    labels = list(ck["labels"]["labels"])
    run = {
        "task": {"name": "speakers_distill", "speakers": labels, "teacher_embeddings": str(work / "teacher.npz"),
                 "distill_weight": cfg.distill_weight, "distill_loss": cfg.distill_loss,
                 "metric": "teacher_corr", "margin_warmup_steps": 0},
        "data": {"train": str(work / "train.jsonl"), "dev": str(work / "dev.jsonl")},
        "features": ck["feature_config"],
        "model": ck["model_config"],
        "train": {"init_from": str(Path(base).resolve()), "lr": cfg.lr, "warmup_steps": cfg.warmup_steps,
                  "epochs": 1000, "max_minutes": cfg.budget_minutes, "max_seconds": cfg.max_seconds,
                  "threads": cfg.threads, "seed": cfg.seed, "progress": cfg.progress, "keep_best": 1,
                  "log_every": 10, "save_every_steps": 25, "sortagrad": False},
    }
    rc, resolved = resolve_config(run)
    result = Trainer(rc, work / "train", resume=True, resolved=resolved).fit()
    summary["training"] = result
    _stage(summary, "train", t0)

    # the checkpoint that agrees best with the teacher on the held-out segments
    best = work / "train" / "best.pt"
    src = best if best.exists() else work / "train" / "last.pt"
    ckpt = read_checkpoint(src)
    ckpt.pop("training", None)
    extra = dict(ckpt.get("extra") or {})
    base_extra = ck.get("extra") or {}
    for k in ("speaker_threshold", "speaker_calibration"):  # the replay loss keeps the score scale
        if k in base_extra:
            extra[k] = base_extra[k]
    extra["description"] = (f"speaker encoder adapted by distillation from resemblyzer on "
                            f"{summary['segment_minutes']} min of unlabeled audio; base: {Path(base).name}")
    extra["speaker_adaptation"] = {"segments": len(segs), "minutes": summary["segment_minutes"],
                                   "dev_teacher_corr": result.get("best")}
    ckpt["extra"] = extra
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(ckpt, out)
    summary["out"] = str(out)
    write_json(work / "summary.json", summary)
    return summary
