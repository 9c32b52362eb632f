"""`adapt`: a model for the user's own audio, from that audio alone.

Stages (each resumable; their outputs live in the work folder, ``<out>.work/`` by default):

1. **pseudo-label** the recordings with the teacher (:func:`.pseudolabel.pseudo_label`);
2. **hold out** about a tenth of the kept segments (by a hash of their id: stable when more
   audio is added) to measure and to tune on;
3. **fine-tune** the base model on the rest with the one Trainer (``train.init_from``;
   SpecAugment and VTLP as the base model was trained; dev = the held-out slice against the
   teacher's labels; the LR schedule follows the time budget when one is given);
4. **LM**: a word 3-gram from the labels' text (held-out slice excluded) merged with the base
   LM's text (the WordNet text source the bundled LM was built from), the domain text counted
   ``lm_domain_weight`` times;
5. **tune** decoder and LM weights on the held-out slice (one network pass, a small grid);
6. **export** int8 with the winning decoding as the model's default and the LM beside it;
   report base vs adapted on the held-out slice (against the teacher's labels, the only truth
   there is).

Example
-------
>>> report = adapt(["calls/"], "calls.pt", budget_minutes=15)     # doctest: +SKIP
>>> report["heldout"]["base"]["wer"], report["heldout"]["adapted"]["wer"]  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..data.manifest import read_manifest, write_manifest
from ..errors import ConfigError, SpeechRNNError
from ..fileio import write_json
from .pseudolabel import PseudoLabelConfig, pseudo_label

__all__ = ["AdaptConfig", "adapt", "reserve_for", "split_heldout", "training_epochs", "training_features"]

LOG = logging.getLogger("speechrnn.adapt")
TARGET_AUDIO_HOURS = 8.0   # audio seen in training without a budget (12 min x 40 epochs)
STAGES = ("pseudo_label", "train", "lm", "tune", "export")


@dataclass
class AdaptConfig:
    """Everything :func:`adapt` can be told (typed; unknown keys fail)."""

    base: str | None = None               # model to start from (None: the bundled one)
    budget_minutes: float | None = None   # whole run, labelling included (None: by data size)
    work_dir: str | None = None           # default: <out>.work
    labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    heldout_fraction: float = 0.1
    heldout_min: int = 20                 # segments
    heldout_max: int = 300
    epochs: int | None = None             # None: TARGET_AUDIO_HOURS / hours of labels, in [2, 40]
    lr: float = 3e-3                      # peak LR (dev2 WER 56.0 % at 3e-4, 52.0 at 1e-3, 50.8 at 3e-3;
                                          # recipes/adaptation levers (8), (9))
    warmup_steps: int = 20
    max_seconds: float = 120.0            # padded audio seconds per batch
    refit_cmvn: bool = False              # feature statistics from the user's audio (a new channel)
    augment: bool = False                 # SpecAugment + VTLP as the base was trained (off: dev2 WER
                                          # 56.0 vs 59.1 % at equal training time, recipes/adaptation)
    threads: int = 0                      # torch threads for training / decoding (0 = default)
    lm_order: int = 3
    lm_base_text: str | None = "wordnet"  # text source, file or manifest merged into the LM; None = labels only
    lm_domain_weight: int = 3             # the labels' sentences counted this many times
    tune_beam: int = 128
    alphas: list[float] = field(default_factory=lambda: [0.4, 0.7, 1.0, 1.3])
    betas: list[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0])
    reserve_minutes: float | None = None  # budget kept for the LM, tuning and export (None: from
                                          # the held-out slice's length, see reserve_for)
    open_vocab_fa_per_hour: float = 2.0   # open-vocabulary threshold target, per keyword-hour

    def validate(self) -> None:
        if self.budget_minutes is not None and self.budget_minutes <= 0:
            raise ConfigError(f"budget minutes must be > 0, got {self.budget_minutes}")
        if not 0 < self.heldout_fraction < 0.5:
            raise ConfigError(f"heldout_fraction must be in (0, 0.5), got {self.heldout_fraction}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.reserve_minutes is not None and self.reserve_minutes < 0:
            raise ConfigError(f"reserve_minutes must be >= 0, got {self.reserve_minutes}")
        if self.lm_domain_weight < 1 or self.lm_order < 2:
            raise ConfigError("lm_domain_weight must be >= 1 and lm_order >= 2")


def split_heldout(utts, fraction: float, lo: int, hi: int):
    """``(train, heldout)``: segments whose id hashes below ``fraction`` (clamped to [lo, hi])."""
    def h(u):
        return int(hashlib.sha1(u.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    ranked = sorted(utts, key=h)
    n = min(hi, max(lo, int(round(len(utts) * fraction))), len(utts) // 3)
    held = {u.id for u in ranked[:n]}
    return [u for u in utts if u.id not in held], [u for u in utts if u.id in held]


def reserve_for(heldout_seconds: float, cfg: AdaptConfig) -> float:
    """Minutes of a budget kept after training for the LM, tuning and export.

    Tuning decodes the held-out slice once per grid point (lexicon search, beam 128): measured
    0.28-0.5 s per held-out second on 2 cores, plus about 10 s for the LM; so 0.5 min plus
    0.45 min per held-out minute, unless ``cfg.reserve_minutes`` says otherwise.

    >>> round(reserve_for(156.0, AdaptConfig()), 2)   # 2.6 min held out
    1.67
    """
    if cfg.reserve_minutes is not None:
        return cfg.reserve_minutes
    return 0.5 + 0.45 * heldout_seconds / 60


def training_features(base_features: dict, cfg: AdaptConfig) -> dict:
    """The base model's feature settings for fine-tuning; without ``cfg.augment`` no SpecAugment
    masks and no VTLP (both act in training only, so the adapted model's features stay the base's).

    >>> f = training_features({"vtlp": 0.1, "spec_augment": {"freq_masks": 2, "time_masks": 2}}, AdaptConfig())
    >>> f["vtlp"], f["spec_augment"]["freq_masks"], f["spec_augment"]["time_masks"]
    (0.0, 0, 0)
    >>> training_features({"vtlp": 0.1}, AdaptConfig(augment=True))["vtlp"]
    0.1
    """
    features = dict(base_features)
    if not cfg.augment:
        features.update(spec_augment={**dict(features.get("spec_augment") or {}), "freq_masks": 0, "time_masks": 0},
                        vtlp=0.0)
    return features


def training_epochs(hours: float, cfg: AdaptConfig) -> int:
    """Epochs without a budget: about ``TARGET_AUDIO_HOURS`` of audio seen, within [2, 40]."""
    if cfg.epochs:
        return cfg.epochs
    return int(min(40, max(2, math.ceil(TARGET_AUDIO_HOURS / max(hours, 1e-6)))))


class _Stages:
    """Finished stages, with the fingerprint of what they were made from (``stages.json``)."""

    def __init__(self, work: Path):
        self.path = work / "stages.json"
        self.done = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def get(self, stage: str, key: str):
        d = self.done.get(stage)
        return d["result"] if d and d.get("key") == key else None

    def put(self, stage: str, key: str, result) -> None:
        self.done[stage] = {"key": key, "result": result}
        write_json(self.path, self.done)


def _fingerprint(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def _snapshot(model: Path, folder: Path) -> Path:
    """Copy a model file and its companions (``<stem>.arpa.gz``, ``<stem>-lexicon.txt``) into ``folder``."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for f in model.parent.glob(model.stem + "*"):
        if f.is_file() and (f == model or f.name.startswith((model.stem + ".", model.stem + "-"))):
            shutil.copyfile(f, folder / f.name)
    return folder / model.name


def _evaluate(model, manifest, decoding, threads: int):
    from ..inference.evaluation import evaluate_checkpoint

    rates, _ = evaluate_checkpoint(model, manifest, decoding)
    return {"wer": round(rates.wer, 4), "cer": round(rates.cer, 4)}


def _build_lm(train_manifest: Path, out: Path, cfg: AdaptConfig) -> dict:
    from ..lm import build_arpa
    from ..text import normalize_text

    domain = [u.text for u in read_manifest(train_manifest) if u.text]
    base: list[str] = []
    if cfg.lm_base_text:
        p = Path(cfg.lm_base_text)
        if p.suffix == ".jsonl" and p.is_file():
            base = [normalize_text(u.text) for u in read_manifest(p) if u.text]
        elif p.is_file():
            base = [normalize_text(t) for t in p.read_text(encoding="utf-8").splitlines() if t.strip()]
        else:
            from ..synth.textsource import load_sentences

            try:
                base = [normalize_text(s) for s in load_sentences(cfg.lm_base_text, 1, 1000)]
            except SpeechRNNError as e:  # e.g. WordNet not installed: the labels alone
                LOG.warning("LM base text %r unavailable (%s): LM from the labels only", cfg.lm_base_text, e)
    sents = [s for s in base if s] + domain * cfg.lm_domain_weight
    build_arpa(sents, out, order=cfg.lm_order)
    return {"lm": str(out), "domain_sentences": len(domain), "base_sentences": len(base)}


def _grid(cfg: AdaptConfig, lm: str):
    from ..config import from_dict
    from ..decoding import DecodingConfig

    grid = [DecodingConfig()]
    for a in cfg.alphas:
        for b in cfg.betas:
            grid.append(from_dict(DecodingConfig, {"method": "lexicon", "beam_size": cfg.tune_beam,
                                                   "lm_path": lm, "alpha": a, "beta": b}))
    return grid


def adapt(inputs, out, cfg: AdaptConfig | None = None, *, teacher=None, log=print) -> dict:
    """Adapt a transcription model to the recordings ``inputs`` (files, folders, globs, manifests).

    Parameters
    ----------
    inputs : iterable of str
    out : path of the adapted model file (int8; its LM is written beside it)
    cfg : AdaptConfig
    teacher : WhisperTeacher, optional (else ``cfg.labels.teacher`` is loaded)
    log : callable for progress lines (``print`` by default)

    Returns
    -------
    dict: the report (also ``<work>/report.json``): stage seconds, label summary, held-out
    WER/CER of the base and adapted models against the teacher's labels, chosen decoding.

    Raises
    ------
    TeacherError
        The teacher package or model is missing.
    SpeechRNNError
        Too little usable speech to train on.
    """
    from ..inference.models import default_model_path

    cfg = cfg or AdaptConfig()
    cfg.validate()
    t0 = time.time()
    out = Path(out)
    work = Path(cfg.work_dir) if cfg.work_dir else out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    base = Path(cfg.base) if cfg.base else Path(default_model_path("transcription"))
    if not base.is_file():
        raise SpeechRNNError(f"{base}: base model not found")
    if base.resolve() == out.resolve():   # adapting again: keep the old model while it is read
        base = _snapshot(base, work / "previous")
    stages = _Stages(work)
    times: dict[str, float] = {}

    # 1. pseudo-label (resumes by itself)
    t = time.time()
    summary = pseudo_label(inputs, work / "labels", cfg.labels, teacher=teacher)
    times["pseudo_label"] = round(time.time() - t, 1)
    from .pseudolabel import format_summary

    log(format_summary(summary))
    utts = read_manifest(work / "labels" / "labels.jsonl") if summary["kept_segments"] else []
    if len(utts) < 10:
        raise SpeechRNNError(f"only {len(utts)} usable segments after labelling "
                             f"({summary['kept_hours'] * 60:.1f} min): adapt needs at least 10 "
                             "(a few minutes of speech)")

    # 2. hold out a slice
    train_utts, held = split_heldout(utts, cfg.heldout_fraction, cfg.heldout_min, cfg.heldout_max)
    data = work / "data"
    write_manifest(data / "train.jsonl", train_utts)
    write_manifest(data / "heldout.jsonl", held)
    hours = sum(u.duration for u in train_utts) / 3600
    log(f"adapt: training on {len(train_utts)} segments ({hours * 60:.1f} min), "
        f"held out {len(held)} ({sum(u.duration for u in held) / 60:.1f} min)")

    # 3. fine-tune
    t = time.time()
    key = _fingerprint(_file_hash(data / "train.jsonl"), _file_hash(data / "heldout.jsonl"), str(base.resolve()),
                       dataclasses.asdict(cfg))
    trained = stages.get("train", key)
    if trained is None:
        reserve = reserve_for(sum(u.duration for u in held), cfg)
        trained = _train(base, data, work / f"train-{key}", hours, cfg, t0, reserve, log)
        stages.put("train", key, trained)
    times["train"] = round(time.time() - t, 1)

    # 4. LM
    t = time.time()
    lm = work / f"lm-{key}.arpa.gz"
    lm_info = stages.get("lm", key)
    if lm_info is None or not lm.is_file():
        lm_info = _build_lm(data / "train.jsonl", lm, cfg)
        stages.put("lm", key, lm_info)
    times["lm"] = round(time.time() - t, 1)

    # 5. tune decoding on the held-out slice; base vs adapted there
    t = time.time()
    tuned = stages.get("tune", key)
    if tuned is None:
        tuned = _tune(base, Path(trained["model"]), data / "heldout.jsonl", str(lm), cfg, log)
        stages.put("tune", key, tuned)
    times["tune"] = round(time.time() - t, 1)

    # 6. int8 export with the chosen decoding and its LM beside it
    t = time.time()
    lm_copy = _export(Path(trained["model"]), out, tuned["decoding"], summary, base, tuned.get("open_vocab"))
    times["export"] = round(time.time() - t, 1)
    times["total"] = round(time.time() - t0, 1)
    report = {"out": str(out), "base": str(base), "work_dir": str(work), "labels": summary,
              "train": trained, "lm": lm_info, "heldout": tuned["heldout"], "decoding": tuned["decoding"],
              "open_vocab": tuned.get("open_vocab"),
              "seconds": times}
    write_json(work / "report.json", report)
    b, a = tuned["heldout"]["base"], tuned["heldout"]["adapted"]
    log(f"adapt: held-out slice ({len(held)} segments, against the teacher's labels): "
        f"WER {b['wer']:.1%} -> {a['wer']:.1%}, CER {b['cer']:.1%} -> {a['cer']:.1%}")
    log(f"adapt: wrote {out} (+ {Path(lm_copy).name if lm_copy else 'no LM'}) in "
        f"{times['total'] / 60:.1f} min; report {work / 'report.json'}")
    return report


def _train(base: Path, data: Path, exp: Path, hours: float, cfg: AdaptConfig, t0: float,
           reserve_minutes: float, log) -> dict:
    from ..models.checkpoint import read_checkpoint
    from ..train import train

    ck = read_checkpoint(base)
    if ck.get("task") != "transcription":
        raise SpeechRNNError(f"{base}: adapt needs a transcription model, not a {ck.get('task')!r} model")
    epochs = training_epochs(hours, cfg)
    minutes = 0.0
    if cfg.budget_minutes is not None:
        minutes = cfg.budget_minutes - (time.time() - t0) / 60 - reserve_minutes
        if minutes < 0.5:
            raise SpeechRNNError(f"the {cfg.budget_minutes:g}-minute budget is spent by labelling "
                                 f"({(time.time() - t0) / 60:.1f} min): give more minutes")
        epochs = max(epochs, 100)   # the budget ends the run; the LR schedule follows it
    features = training_features(ck["feature_config"], cfg)
    run = {
        "task": {"name": "transcription", "tokenizer": ck["labels"]},
        "data": {"train": str(data / "train.jsonl"), "dev": str(data / "heldout.jsonl"),
                 "min_duration": 0.3, "max_duration": 30.0},
        "features": features, "model": ck["model_config"],
        "train": {"epochs": epochs, "max_minutes": round(minutes, 2), "lr": cfg.lr,
                  "warmup_steps": cfg.warmup_steps, "max_seconds": cfg.max_seconds,
                  "init_from": str(base), "refit_cmvn": cfg.refit_cmvn, "keep_best": 1, "average_last": 1, "threads": cfg.threads,
                  "save_every_steps": 50, "log_every": 20, "progress": False},
    }
    log(f"adapt: fine-tuning {base.name} for " + (f"{minutes:.1f} min" if minutes else f"{epochs} epochs"))
    result = train(run, exp)
    model = exp / "best.pt"
    if not model.is_file():
        raise SpeechRNNError(f"{exp}: training wrote no best.pt")
    return {"model": str(model), "exp_dir": str(exp), "epochs": result["epochs"], "steps": result["steps"],
            "dev_wer": result["best"], "minutes_budget": round(minutes, 2)}


def _tune(base: Path, model: Path, heldout: Path, lm: str, cfg: AdaptConfig, log) -> dict:
    from ..inference.model_decoding import stored_decoding
    from ..inference.evaluation import compute_posteriors, tune_decoding
    from .openvocab import calibrate_open_vocab

    post = compute_posteriors(model, heldout)   # one network pass: the decoder grid and the keyword probes
    rows = tune_decoding(model, heldout, _grid(cfg, lm), posteriors=post)
    best_cfg, best = rows[0]
    greedy = next(r for d, r in rows if d.method == "greedy")
    base_dec = stored_decoding(base)
    base_rates = _evaluate(base, heldout, base_dec, cfg.threads)
    log(f"adapt: decoding tuned on the held-out slice: {best_cfg.method} alpha {best_cfg.alpha:g} "
        f"beta {best_cfg.beta:g} (WER {best.wer:.1%}; greedy {greedy.wer:.1%})")
    ov = calibrate_open_vocab([lp.numpy() for lp in post.log_probs], post.references, post.task.labels(),
                              post.frame_shift_s, fa_per_hour=cfg.open_vocab_fa_per_hour)
    if ov.get("threshold") is not None:
        log(f"adapt: open-vocabulary threshold {ov['threshold']:.3f} ({ov['fa_per_hour']:g} false alarms "
            f"per keyword-hour, {ov['recall']:.0%} of {ov['positives']} held-out words found)")
    return {"decoding": dataclasses.asdict(best_cfg), "open_vocab": ov,
            "heldout": {"base": base_rates, "adapted": {"wer": round(best.wer, 4), "cer": round(best.cer, 4)},
                        "adapted_greedy": {"wer": round(greedy.wer, 4), "cer": round(greedy.cer, 4)}},
            "grid": [{**{k: getattr(d, k) for k in ("method", "alpha", "beta")}, "wer": round(r.wer, 4)}
                     for d, r in rows]}


def _export(model: Path, out: Path, decoding: dict, summary: dict, base: Path,
            open_vocab: dict | None = None) -> str | None:
    """int8 model at ``out`` describing its origin; the tuned decoding (LM copied beside) its default.
    Returns the path of that LM copy (None for greedy decoding or no LM)."""
    from ..config import from_dict
    from ..decoding import DecodingConfig
    from ..export import export_model
    from ..inference.model_decoding import attach_decoding
    from ..models.checkpoint import atomic_torch_save, read_checkpoint

    export_model(model, out, int8=True)
    ck = read_checkpoint(out)
    ck["extra"] = {**(ck.get("extra") or {}),
                   "description": f"adapted from {base.name} to {summary['kept_hours'] * 60:.0f} min of "
                                  f"the user's audio labelled by {summary['teacher']} (speechrnn adapt)",
                   "adapted": {"teacher": summary["teacher"], "kept_hours": summary["kept_hours"]}}
    ck["extra"].pop("decoding", None)
    if open_vocab and open_vocab.get("threshold") is not None:
        from .openvocab import KEY

        ck["extra"][KEY] = open_vocab["threshold"]
    atomic_torch_save(ck, out)
    if decoding.get("method") == "greedy":
        return None
    return attach_decoding(out, from_dict(DecodingConfig, decoding)).lm_path
