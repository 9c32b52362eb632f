"""Train a detector for a user-given word in one command, within a time budget.

``speechrnn kws train-custom WORD --out word.pt [--recordings my/*.wav] [--budget-minutes 10]``

Steps (all in ``work_dir``):

1. **Synthesize** (``speechrnn.synth.build_keywords``, the keywords preset in the Speech
   Commands layout): ``WORD`` spoken by many voices with augmentation (speed, reverb, noise,
   gain, telephone, padding), other words as ``_unknown_`` negatives and noise slices as
   ``_silence_``; held-out voices form the test list. Clip counts scale with the budget.
2. **Add the user's recordings** (if any) to the training set, labelled ``WORD``, each repeated
   ``recording_repeats`` times (SpecAugment varies the copies).
3. **Train** with the shared :class:`~speechrnn.training.Trainer` (task ``keywords``, labels
   ``[WORD, _unknown_, _silence_]``) for the time left (``train.max_minutes``: the Trainer
   stops, evaluates and checkpoints when it runs out; its LR schedule follows the clock).
4. **Save** ``best.pt`` (dev accuracy) to ``out`` without the optimizer state, with the test
   accuracy on held-out voices in its ``extra``.

Two options build on a user's own audio and models:

* **Shared encoder** (``encoder``: a transcription model file, e.g. the bundled
  ``en-char-bilstm``, or one adapted to the user's audio). The keyword model takes that model's
  front-end (with its global CMVN statistics), subsampling and BiLSTM stack, copied by the
  Trainer's ``train.init_from``, frozen (``freeze_layers``: all recurrent layers by default, or
  the first K), and trains only an attention-pooling head (and the unfrozen layers) on the
  clips. The encoder's weights are copied into the keyword model, so its file stays
  self-contained.
* **Examples from unlabeled audio** (``heard``: the teacher's words in the user's recordings,
  :func:`speechrnn.kws.mining.listen`). Windows where the teacher heard the word join the
  training set as positives, windows elsewhere as negatives, windows on words that sound alike
  as hard negatives (:func:`~speechrnn.kws.mining.mine_windows`); a share of the recordings'
  segments is held out. After training, the detector threshold is calibrated for
  ``fa_per_hour`` false alarms per hour on the held-out segments minus the keyword windows
  (audio the detector never trained on: its training negatives score low; on all of the
  audio, with a warning, when the held-out part is shorter than ``1 / fa_per_hour`` hours) and stored
  in the model file (``extra["kws_threshold"]``, used by ``KeywordSpotter`` and ``spot``), with
  the false rejection rate on the held-out occurrences at that threshold. When the teacher
  never heard the word, a warning says so and training uses the synthetic clips only (the
  threshold is still calibrated on the audio, all of it keyword-free).
"""
from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path


from ..errors import ConfigError
from ..fileio import atomic_path, write_json
from .mining import MiningConfig

log = logging.getLogger(__name__)


@dataclass
class CustomKeywordConfig:
    """Settings of :func:`train_custom_keyword`."""

    budget_minutes: float = 10.0
    """Wall-clock budget for synthesis + training (evaluation and saving come on top: seconds)."""
    clips_per_minute: float = 30.0
    """Keyword clips synthesized per budget minute (capped by ``max_clips``)."""
    min_clips: int = 6
    max_clips: int = 400
    unknown_words: int = 20
    """Distinct negative words."""
    recordings: list[str] = field(default_factory=list)
    """The user's own recordings of the word (added to training)."""
    recording_repeats: int = 5
    voices: list[str] | None = None
    """Voice globs / engine names for synthesis (None: every voice found)."""
    jobs: int = 2
    """Processes for synthesis and torch threads for training."""
    seed: int = 0
    hidden_size: int = 64
    num_layers: int = 2
    synth_share: float = 0.4
    """Largest share of the budget synthesis may take (clips are planned from a rate estimate)."""
    encoder: str | None = None
    """Model file whose front-end and encoder the keyword model starts from (None: from scratch)."""
    freeze_layers: int | None = None
    """With ``encoder``: recurrent layers kept frozen (None: all of them; the head alone trains)."""
    lr: float | None = None
    """Peak learning rate (None: 3e-3)."""
    mining: MiningConfig = field(default_factory=MiningConfig)
    """How examples are cut from the user's audio (``heard``)."""
    fa_per_hour: float = 1.0
    """False alarms per hour the stored threshold is calibrated for (on the user's audio)."""

    def validate(self) -> None:
        if self.budget_minutes <= 0 or self.clips_per_minute <= 0:
            raise ConfigError("train-custom: budget_minutes and clips_per_minute must be > 0")
        if not 1 <= self.min_clips <= self.max_clips:
            raise ConfigError("train-custom: need 1 <= min_clips <= max_clips")
        if self.freeze_layers is not None and self.freeze_layers < 0:
            raise ConfigError(f"train-custom: freeze_layers must be >= 0, got {self.freeze_layers}")
        if self.encoder is None and self.freeze_layers is not None:
            raise ConfigError("train-custom: freeze_layers needs an encoder to freeze")
        if self.fa_per_hour <= 0 or (self.lr is not None and self.lr <= 0):
            raise ConfigError("train-custom: fa_per_hour and lr must be > 0")
        self.mining.validate()


def _encoder_config(path: str, cfg: CustomKeywordConfig) -> tuple[dict, dict, int]:
    """``(features, model, freeze_layers)`` sections for a keyword model on ``path``'s encoder.

    The front-end settings must equal the encoder's (its weights were trained on those
    features); only SpecAugment's time masks shrink to suit 1 s clips.
    """
    from ..models.checkpoint import read_checkpoint

    ck = read_checkpoint(path)
    if "members" in ck or "model_config" not in ck:
        raise ConfigError(f"{path}: an ensemble; pick one model file as the shared encoder")
    enc = dict(ck["model_config"]["encoder"])
    feats = dict(ck["feature_config"])
    if feats.get("cmvn") != "global":
        log.warning("%s: cmvn=%s; the keyword clips are normalized as the encoder's were", path, feats.get("cmvn"))
    sa = dict(feats.get("spec_augment") or {})
    sa.update({"time_width": min(int(sa.get("time_width", 10)), 10), "time_masks": min(int(sa.get("time_masks", 2)), 2)})
    feats["spec_augment"] = sa
    layers = int(enc["num_layers"])
    k = layers if cfg.freeze_layers is None else cfg.freeze_layers
    if k > layers:
        raise ConfigError(f"train-custom: freeze_layers={k} but {path} has {layers} recurrent layers")
    return feats, {"encoder": enc, "head": {"attention_dim": 64}}, k


def _run_config(word: str, data: Path, cfg: CustomKeywordConfig) -> dict:
    run = _scratch_config(word, data, cfg)
    if cfg.lr is not None:
        run["train"]["lr"] = cfg.lr
    if cfg.encoder:
        feats, model, k = _encoder_config(cfg.encoder, cfg)
        run["features"], run["model"] = feats, model
        run["train"].update(init_from=str(Path(cfg.encoder).resolve()), freeze_layers=k)
    return run


def _scratch_config(word: str, data: Path, cfg: CustomKeywordConfig) -> dict:
    return {
        "task": {"name": "keywords", "labels": [word, "_unknown_", "_silence_"], "label_smoothing": 0.05},
        "data": {"train": str(data / "train.jsonl"), "dev": str(data / "dev.jsonl")},
        "features": {"n_mfcc": 40, "n_mels": 40, "cmvn": "global", "vtlp": 0.1,
                     "spec_augment": {"freq_masks": 2, "freq_width": 8, "time_masks": 2, "time_width": 10}},
        "model": {"encoder": {"subsampling": "stack", "subsampling_factor": 3,
                              "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers, "dropout": 0.1},
                  "head": {"attention_dim": 64}},
        "train": {"epochs": 1, "lr": 3e-3, "warmup_steps": 10, "schedule": "cosine", "max_seconds": 32.0,
                  "threads": cfg.jobs, "progress": False, "log_every": 10, "seed": cfg.seed,
                  "keep_best": 1, "device": "cpu"},
    }


def check_recordings(paths: list[str]) -> list[float]:
    """Durations (s) of the user's recordings, checked before any synthesis is spent.

    Every unusable recording (missing, not audio, corrupt, empty, silent, over 60 s) is named with its
    reason in one :class:`ConfigError`, so nothing is synthesized for a run that would fail.
    """
    from ..audio import SAMPLE_RATE, SILENCE_DBFS, load_audio, peak_dbfs
    from ..errors import AudioError

    durations, bad = [], []
    for rec in paths:
        try:
            x = load_audio(rec, max_duration=60.0)  # a keyword recording is seconds, not a talk
        except AudioError as e:
            bad.append(str(e))
            continue
        if peak_dbfs(x) < SILENCE_DBFS:
            bad.append(f"{rec}: silent (peak below {SILENCE_DBFS:.0f} dBFS): no word to learn")
            continue
        durations.append(x.size / SAMPLE_RATE)
        if durations[-1] > 3.0:
            log.warning("%s: %.1f s long; a keyword recording should hold the word alone "
                        "(the detector listens in 1 s windows)", rec, durations[-1])
    if bad:
        raise ConfigError(f"train-custom: {len(bad)} of {len(paths)} recording(s) unusable:\n  "
                          + "\n  ".join(bad))
    return durations


def _add_recordings(train_manifest: Path, word: str, cfg: CustomKeywordConfig,
                    durations: list[float]) -> int:
    from ..data import Utterance, read_manifest, write_manifest

    if not cfg.recordings:
        return 0
    utts = read_manifest(train_manifest)
    for i, (rec, dur) in enumerate(zip(cfg.recordings, durations)):
        for k in range(cfg.recording_repeats):
            utts.append(Utterance(id=f"user__{i:04d}_{k}", audio=str(Path(rec).resolve()), duration=dur,
                                  label=word, speaker="user", extra={"recording": str(rec)}))
    write_manifest(train_manifest, utts)
    return len(cfg.recordings)


def _add_mined(train_manifest: Path, utts: list) -> None:
    from ..data import read_manifest, write_manifest

    write_manifest(train_manifest, read_manifest(train_manifest) + list(utts))


def train_custom_keyword(word: str, out: str | Path, work_dir: str | Path,
                         cfg: CustomKeywordConfig | None = None, *, heard: list | None = None) -> dict:
    """Synthesize data for ``word``, train a 3-class detector, save it to ``out``.

    Parameters
    ----------
    word : str
    out : path of the model file to write
    work_dir : path for the corpus and the experiment
    cfg : CustomKeywordConfig
    heard : list of :class:`~speechrnn.kws.mining.HeardSegment`, optional
        The teacher's words in the user's unlabeled recordings (:func:`~speechrnn.kws.mining.listen`):
        examples are mined from them and the threshold is calibrated on them.

    Returns
    -------
    dict: ``model`` path, ``clips``, ``epochs``, ``steps``, ``dev_accuracy``, ``test_accuracy``,
    ``seconds`` (synthesis, training, total); with ``heard`` also ``from_audio`` (what was
    mined) and ``calibration`` (threshold, FRR on the held-out occurrences); ``warnings``.
    """
    from ..data import BucketBatchSampler, read_manifest
    from ..models.checkpoint import atomic_torch_save, build_model_from_checkpoint, read_checkpoint
    from ..synth import KeywordConfig, build_keywords
    from ..text import normalize_text
    from ..train import train
    from .mining import calibrate_threshold, mine_windows, negative_audio, stored_calibration, write_mining_report

    cfg = cfg or CustomKeywordConfig()
    cfg.validate()
    word_n = normalize_text(word)
    if not word_n or word_n.startswith("_"):
        raise ConfigError(f"train-custom: {word!r} is not a usable keyword")
    rec_durations = check_recordings(cfg.recordings)
    if cfg.encoder:
        _encoder_config(cfg.encoder, cfg)  # a bad encoder fails before any synthesis
    t0 = time.perf_counter()
    budget = cfg.budget_minutes * 60.0
    work = Path(work_dir)
    data = work / "corpus"
    warnings: list[str] = []
    mined = None
    if heard is not None:
        mined = mine_windows(word_n, heard, cfg.mining)
        work.mkdir(parents=True, exist_ok=True)
        write_mining_report(work / "mined.json", mined, cfg.mining)
        if mined.occurrences == 0:
            minutes = sum(s.duration for s in heard) / 60
            msg = (f"the teacher never heard {word_n!r} in the given audio ({len(heard)} speech segments, "
                   f"{minutes:.1f} min"
                   + (f"; {mined.uncertain} occurrence(s) below probability {cfg.mining.min_probability}"
                      if mined.uncertain else "")
                   + "): training on synthetic speech only; the threshold is still calibrated on the audio")
            log.warning(msg)
            warnings.append(msg)
    clips = int(min(cfg.max_clips, max(cfg.min_clips, round(cfg.clips_per_minute * cfg.budget_minutes))))
    kcfg = KeywordConfig(keywords=[word_n], num=clips, unknown_words=cfg.unknown_words,
                         unknown_fraction=1.0, voices=cfg.voices, jobs=cfg.jobs, seed=cfg.seed,
                         progress=False, noise_seconds=20.0)
    summary = build_keywords(data, kcfg)
    n_rec = _add_recordings(data / "train.jsonl", word_n, cfg, rec_durations)
    if mined is not None and mined.train:
        _add_mined(data / "train.jsonl", mined.train)
    t_synth = time.perf_counter() - t0
    if t_synth > cfg.synth_share * budget * 1.5:
        log.warning("synthesis took %.0f s of the %.0f s budget", t_synth, budget)

    run_cfg = _run_config(word_n, data, cfg)
    durs = [u.duration or 1.0 for u in read_manifest(data / "train.jsonl")]
    steps_per_epoch = max(1, len(BucketBatchSampler(durs, run_cfg["train"]["max_seconds"], shuffle=False)))
    left = budget - (time.perf_counter() - t0)
    # the Trainer's wall-clock budget ends training (its LR schedule follows the elapsed time);
    # the epoch count is only an upper bound. A probe timing one step misjudged a big frozen
    # encoder by 4x (1 epoch of 30 planned in 200 s), so nothing is planned from it any more.
    run_cfg["train"]["epochs"] = 100_000
    run_cfg["train"]["warmup_steps"] = 10
    run_cfg["train"]["max_minutes"] = max(left, 5.0) / 60.0
    log.info("train-custom %r: %d clips, %d steps/epoch, %.0f s of training left",
             word_n, clips, steps_per_epoch, left)
    exp = work / "exp"
    result = train(run_cfg, exp, resume=False)
    t_train = time.perf_counter() - t0 - t_synth

    src = exp / "best.pt" if (exp / "best.pt").exists() else exp / "last.pt"
    ck = read_checkpoint(src)
    ck.pop("training", None)
    test_acc = _test_accuracy(ck, data / "test.jsonl")
    sources = " + ".join(["synthetic voices"] + (["user recordings"] if n_rec else [])
                         + (["teacher-found examples"] if mined is not None and mined.train else []))
    extra = dict(ck.get("extra") or {})
    extra.update({"description": f"custom keyword {word_n!r} ({sources}"
                                 + (f", encoder of {Path(cfg.encoder).name}" if cfg.encoder else "") + ")",
                  "keyword": word_n, "test_accuracy_unseen_voices": test_acc})
    calibration = None
    if heard is not None:
        note = mined.calibration_note(heard, 1.0 / cfg.fa_per_hour) if mined else None
        if note:
            log.warning(note)
            warnings.append(note)
        negatives = negative_audio(word_n, mined.calibration_segments(heard, 1.0 / cfg.fa_per_hour) if mined else heard,
                                   unsure_probability=cfg.mining.unsure_probability,
                                   unheard_gap_s=cfg.mining.unheard_gap_s)
        if negatives:
            model = build_model_from_checkpoint(ck).eval()
            calibration = calibrate_threshold(model, mined.heldout_positives if mined else None, negatives,
                                              cfg.fa_per_hour)
            extra.update(stored_calibration(calibration, [word_n]))
        else:
            warnings.append("no keyword-free audio to calibrate the threshold on; the default stays")
    ck["extra"] = extra
    out = Path(out)
    atomic_torch_save(ck, out)
    report = {"model": str(out), "keyword": word_n, "clips": clips, "recordings": n_rec,
              "encoder": cfg.encoder, "freeze_layers": run_cfg["train"].get("freeze_layers", 0),
              "synth_failed": summary.get("failed", 0), "epochs": result["epochs"], "steps": result["steps"],
              "dev_accuracy": result["best"], "test_accuracy": test_acc,
              "seconds": {"synthesis": round(t_synth, 1), "training": round(t_train, 1),
                          "total": round(time.perf_counter() - t0, 1)}}
    if mined is not None:
        report["from_audio"] = mined.summary()
    if calibration is not None:
        report["calibration"] = {k: v for k, v in calibration.items() if k != "positive_scores"}
        write_json(work / "calibration.json", calibration)
    report["warnings"] = warnings
    with atomic_path(out.with_suffix(".config.yaml")) as tmp:
        shutil.copyfile(exp / "config.yaml", tmp)
    return report


def _test_accuracy(ck: dict, manifest: Path) -> float | None:
    from ..data import read_manifest
    from ..models.checkpoint import build_model_from_checkpoint
    from ..tasks.keywords import KeywordTask
    from .evaluate import classify_manifest

    if not manifest.exists():
        return None
    utts = read_manifest(manifest)
    if not utts:
        return None
    model = build_model_from_checkpoint(ck).eval()
    task = KeywordTask.from_labels(ck["labels"])
    _, y_true, y_pred = classify_manifest(model, task, utts)
    return float(sum(a == b for a, b in zip(y_true, y_pred)) / len(y_true))
