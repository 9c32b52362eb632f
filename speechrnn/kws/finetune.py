"""Fine-tune a keyword model of several keywords (the bundled ten-keyword ensemble) on the user's
own unlabeled audio, with a teacher's word timestamps as the only labels.

``speechrnn kws adapt INPUTS... --out kws.pt [--model kws-10-bilstm]`` calls
:func:`adapt_keyword_model` with the teacher's words (:func:`speechrnn.kws.mining.listen`):

1. **mine** windows for every keyword of the model at once
   (:func:`~speechrnn.kws.mining.mine_windows` with the keyword list): positives labelled with
   their keyword, negatives that touch no keyword (nor its homophones, ``know`` for ``no``),
   near-misses of any keyword as hard negatives, a share of the segments held out;
2. **replay**: a small synthetic corpus of the same keywords (``synth.build_keywords``) joins the
   mined windows, so the classes the user's audio never holds are not forgotten;
3. **fine-tune** each member of the model (an ensemble's members one after the other) from its
   own weights with the one Trainer (``train.init_from``; the budget split between them, the LR
   schedule following the clock);
4. **calibrate** one threshold per keyword for ``fa_per_hour`` false alarms per hour of that
   keyword on the held-out segments' keyword-free audio (never trained on: training negatives
   score low, and thresholds set on them let more false alarms through later), or on all the
   audio with a warning when the held-out part is too short to measure that rate
   (``extra["kws_thresholds"]``, used by
   ``KeywordSpotter``/``spot`` by default) and report the false rejection rate on the held-out
   occurrences, before (the base model, calibrated the same way) and after.

When the teacher hears none of the keywords, nothing is trained: the base model is written with
thresholds calibrated on the audio, and a warning says so. Everything lives in the work folder:
a rerun asks the teacher nothing (``heard.jsonl``), keeps the replay corpus, reuses the members
whose run finished with the same settings and resumes an interrupted one from its ``last.pt``.

Example
-------
>>> heard = listen(segments, WhisperTeacher(), cache="work/heard.jsonl")      # doctest: +SKIP
>>> r = adapt_keyword_model("kws-10-bilstm.pt", heard, "mine.pt", "work")      # doctest: +SKIP
>>> r["heldout"]["base"]["frr"], r["heldout"]["adapted"]["frr"]                 # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..fileio import write_json
from .mining import MiningConfig

log = logging.getLogger(__name__)

__all__ = ["KeywordAdaptConfig", "adapt_keyword_model"]


@dataclass
class KeywordAdaptConfig:
    """Settings of :func:`adapt_keyword_model`."""

    budget_minutes: float = 8.0
    """Synthesis + fine-tuning of all members (calibration and saving come on top)."""
    replay_clips: int = 200
    """Synthetic keyword clips (all keywords together; unknown words and silence on top)."""
    voices: list[str] | None = None
    """Voice globs / engine names for the replay clips (None: every voice found)."""
    lr: float = 1e-3
    """Peak learning rate of the fine-tuning (the base models were trained at 3e-3)."""
    jobs: int = 2
    """Processes for synthesis and torch threads for training."""
    seed: int = 0
    mining: MiningConfig = field(default_factory=MiningConfig)
    fa_per_hour: float = 1.0
    """False alarms per hour *per keyword* each stored threshold allows, on the user's audio."""

    def validate(self) -> None:
        if self.budget_minutes <= 0 or self.lr <= 0 or self.fa_per_hour <= 0:
            raise ConfigError("kws adapt: budget_minutes, lr and fa_per_hour must be > 0")
        if self.replay_clips < 1:
            raise ConfigError(f"kws adapt: replay_clips must be >= 1, got {self.replay_clips}")
        self.mining.validate()


def _member_run(member_path: Path, member: dict, labels: list[str], data: Path, cfg: KeywordAdaptConfig,
                seed: int, minutes: float) -> dict:
    """Trainer config fine-tuning one member from its own weights (its features and architecture)."""
    return {
        "task": {"name": "keywords", "labels": list(labels), "label_smoothing": 0.05},
        "data": {"train": str(data / "train.jsonl"), "dev": str(data / "dev.jsonl")},
        "features": dict(member["feature_config"]),
        "model": dict(member["model_config"]),
        "train": {"epochs": 100_000, "lr": cfg.lr, "warmup_steps": 10, "schedule": "cosine",
                  "max_seconds": 32.0, "threads": cfg.jobs, "progress": False, "log_every": 10,
                  "seed": seed, "keep_best": 1, "device": "cpu", "init_from": str(member_path.resolve()),
                  "max_minutes": minutes},
    }


def _same_run(a: dict, b: dict) -> bool:
    """Two member runs equal but for the time they were given (a rerun reuses a finished member)."""
    def strip(r):
        r = json.loads(json.dumps(r))
        return {**r, "train": {k: v for k, v in r["train"].items() if k != "max_minutes"}}
    return strip(a) == strip(b)


def _calibrate(ck: dict, negatives: list, mined, cfg: KeywordAdaptConfig) -> dict | None:
    from ..models.checkpoint import build_model_from_checkpoint
    from .mining import calibrate_threshold

    if not negatives:
        return None
    model = build_model_from_checkpoint(ck).eval()
    return calibrate_threshold(model, mined.heldout_positives or None, negatives, cfg.fa_per_hour)


def _summary(cal: dict | None) -> dict | None:
    if cal is None:
        return None
    keep = ("threshold", "thresholds", "negative_hours", "negative_events", "positives", "frr",
            "frr_per_keyword_thresholds", "per_keyword")
    return {k: cal[k] for k in keep if k in cal}


def adapt_keyword_model(base: str | Path, heard: list, out: str | Path, work_dir: str | Path,
                        cfg: KeywordAdaptConfig | None = None) -> dict:
    """Fine-tune ``base`` (a keyword model file, single or ensemble) on the keywords the teacher
    heard in the user's audio; write it to ``out`` with per-keyword calibrated thresholds.

    Parameters
    ----------
    base : path of a keyword model file (e.g. the bundled ``kws-10-bilstm.pt``)
    heard : list of :class:`~speechrnn.kws.mining.HeardSegment` (the teacher's words)
    out : path of the model file to write
    work_dir : path for the replay corpus, the members' runs and the reports
    cfg : KeywordAdaptConfig

    Returns
    -------
    dict: ``model``, ``keywords``, ``from_audio`` (what was mined, per keyword), ``heldout``
    (``base`` and ``adapted`` calibration: per-keyword thresholds, FRR on the held-out
    occurrences), ``test_accuracy`` (synthetic held-out voices, base and adapted), ``seconds``,
    ``warnings``.
    """
    from ..data import read_manifest, write_manifest
    from ..models.checkpoint import atomic_torch_save, ensemble_dict, int8_checkpoint, read_checkpoint
    from ..synth import KeywordConfig, build_keywords
    from ..tasks.keywords import KeywordTask
    from ..train import train
    from .custom import _test_accuracy
    from .mining import mine_windows, negative_audio, stored_calibration, write_mining_report

    cfg = cfg or KeywordAdaptConfig()
    cfg.validate()
    t0 = time.perf_counter()
    base_ck = read_checkpoint(base)
    if base_ck.get("task") != "keywords":
        raise ConfigError(f"{base}: a {base_ck.get('task')!r} model; kws adapt fine-tunes a keyword model "
                          f"(open-vocabulary search adapts with `speechrnn adapt`)")
    labels = list(base_ck["labels"]["labels"])
    keywords = list(KeywordTask.from_labels(base_ck["labels"]).keywords)
    members = list(base_ck["members"]) if "members" in base_ck else [base_ck]
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []

    mined = mine_windows(keywords, heard, cfg.mining)
    write_mining_report(work / "mined.json", mined, cfg.mining)
    note = mined.calibration_note(heard, 1.0 / cfg.fa_per_hour)
    if note:
        log.warning(note)
        warnings.append(note)
    # the keyword-free audio both models are calibrated on (the same for before and after)
    negatives = negative_audio(keywords, mined.calibration_segments(heard, 1.0 / cfg.fa_per_hour),
                               unsure_probability=cfg.mining.unsure_probability,
                               unheard_gap_s=cfg.mining.unheard_gap_s)
    before = _calibrate(base_ck, negatives, mined, cfg)
    seconds = {"calibrate_base": round(time.perf_counter() - t0, 1)}
    unheard = [k for k in keywords if not mined.per_keyword[k]["occurrences"]]
    if mined.occurrences == 0:
        msg = (f"the teacher heard none of the model's keywords in the given audio ({len(heard)} speech "
               f"segments, {sum(s.duration for s in heard) / 60:.1f} min): the model is not fine-tuned; "
               "its thresholds are calibrated on the audio")
        log.warning(msg)
        warnings.append(msg)
        new_ck = dict(base_ck)
        test_acc = None
    else:
        if unheard:
            warnings.append(f"never heard: {', '.join(unheard)} (those keywords learn from the synthetic "
                            "replay clips only)")
        t1 = time.perf_counter()
        data = work / "corpus"
        per_kw = max(2, round(cfg.replay_clips / len(keywords)))
        kcfg = KeywordConfig(keywords=keywords, num=per_kw, unknown_words=20, unknown_fraction=0.5,
                             voices=cfg.voices, jobs=cfg.jobs, seed=cfg.seed, progress=False, noise_seconds=20.0)
        if not (data / "train.jsonl").exists():
            build_keywords(data, kcfg)
        synth_train = [u for u in read_manifest(data / "train.jsonl") if not u.id.startswith("mined_")]
        write_manifest(data / "train.jsonl", synth_train + list(mined.train))
        seconds["synthesis"] = round(time.perf_counter() - t1, 1)
        left = cfg.budget_minutes * 60.0 - (time.perf_counter() - t1)
        per_member = max(left, 10.0 * len(members)) / len(members) / 60.0
        tuned = []
        t2 = time.perf_counter()
        for i, m in enumerate(members):
            src = work / "members" / f"m{i}.pt"
            src.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(m, src)
            exp = work / f"exp_m{i}"
            run = _member_run(src, m, labels, data, cfg, cfg.seed + i, per_member)
            done = exp / "done.json"
            if not (done.is_file() and _same_run(json.loads(done.read_text()), run)):
                train(run, exp, resume=True)   # an interrupted member resumes from its last.pt
                write_json(done, run)
            best = exp / "best.pt" if (exp / "best.pt").exists() else exp / "last.pt"
            ck = read_checkpoint(best)
            ck.pop("training", None)
            ck.pop("extra", None)
            tuned.append(ck)
        seconds["training"] = round(time.perf_counter() - t2, 1)
        new_ck = ensemble_dict(tuned) if len(tuned) > 1 else tuned[0]
        if members[0].get("weights_format") == "int8":  # stored as the base was (the bundled: 2 MB)
            new_ck = int8_checkpoint(new_ck)
        test_acc = {"base": _test_accuracy(base_ck, data / "test.jsonl"),
                    "adapted": _test_accuracy(new_ck, data / "test.jsonl")}
    t3 = time.perf_counter()
    after = _calibrate(new_ck, negatives, mined, cfg) if mined.occurrences else before
    seconds["calibrate"] = round(time.perf_counter() - t3, 1)

    extra = {}   # nothing of the base's own figures (thresholds, test accuracy, member files) holds here
    extra["description"] = (f"{Path(base).name} fine-tuned on the user's audio (teacher-found keywords: "
                            f"{mined.occurrences} occurrences)" if mined.occurrences
                            else f"{Path(base).name}, thresholds calibrated on the user's audio")
    extra["adapted_from"] = str(base)
    if after is not None:
        extra.update(stored_calibration(after, keywords))
    else:
        warnings.append("no keyword-free audio to calibrate the thresholds on; the base model's stay")
    new_ck["extra"] = extra
    out = Path(out)
    atomic_torch_save(new_ck, out)
    seconds["total"] = round(time.perf_counter() - t0, 1)
    report = {"model": str(out), "base": str(base), "keywords": keywords, "members": len(members),
              "from_audio": mined.summary(), "heldout": {"base": _summary(before), "adapted": _summary(after)},
              "test_accuracy_synthetic_voices": test_acc, "seconds": seconds, "warnings": warnings}
    write_json(work / "report.json", report)
    return report
