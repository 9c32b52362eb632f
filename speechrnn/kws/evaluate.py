"""Evaluation harness for keyword classifiers: a JSON report plus confusion and DET PNGs.

Measured (``speechrnn kws evaluate MODEL TEST_MANIFEST --negatives NEG_MANIFEST``):

* **accuracy** and the **confusion matrix** of the classifier on the test clips;
* **FRR at a false-alarm rate**: every keyword test clip is run through the streaming detector
  (padded with ``pad_s`` of silence on both sides); its score is the peak smoothed posterior of
  its own keyword. False alarms come from *long negative audio*: the negative manifest's
  utterances streamed back to back (utterances whose ``text`` contains a keyword are dropped),
  every detector event found at the low ``floor`` threshold is a candidate false alarm with its
  peak score. At threshold ``t`` a clip is rejected if its score is below ``t`` and a candidate
  fires if its peak is ``>= t`` (events are found once at ``floor``; an event at a higher
  threshold is a sub-run of a floor event, so this slightly under-counts false alarms only
  where the posterior dips below ``t`` and recovers inside one floor event, beyond the
  refractory period).
* **threshold calibration**: with ``dev_negatives`` the threshold for ``fa_per_hour`` is chosen on
  them and the report also gives the test FRR and FA/h at that threshold.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .detector import DetectorConfig, StreamingDetector, WindowClassifier, detect_events

log = logging.getLogger(__name__)


def classify_manifest(model, task, utts, max_seconds: float = 60.0) -> tuple[list, list, list]:
    """``(ids, y_true, y_pred)`` of every utterance, classified whole (padded batches)."""
    from torch.utils.data import DataLoader

    from ..data import AudioDataset, BucketBatchSampler

    ds = AudioDataset(utts, sample_rate=model.feature_cfg.sample_rate)
    batches = list(BucketBatchSampler(ds.durations(), max_seconds, shuffle=False))
    task.evaluate(model, DataLoader(ds, batch_sampler=batches, collate_fn=task.collate))
    r = task.last_report
    return r["ids"], r["y_true"], r["y_pred"]


def _stream_posteriors(clf, classes, keywords, cfg: DetectorConfig, audios) -> np.ndarray:
    """Smoothed posteriors ``(N, C)`` of the audios streamed back to back."""
    det = StreamingDetector(clf, classes, keywords, cfg, keep_posteriors=True)
    for x in audios:
        det.feed(x)
    det.finish()
    return det.smoothed_posteriors()


def positive_scores(clf, classes, keywords, cfg: DetectorConfig, utts, pad_s: float = 0.5,
                    sample_rate: int = 16000) -> np.ndarray:
    """Peak smoothed posterior of each utterance's own keyword, ``(P,)``."""
    from ..data import AudioDataset

    ds = AudioDataset(utts, sample_rate=sample_rate)
    pad = np.zeros(int(round(pad_s * sample_rate)), dtype=np.float32)
    scores = []
    for i, u in enumerate(utts):
        x = ds[i]["waveform"].numpy()
        post = _stream_posteriors(clf, classes, keywords, cfg, [pad, x, pad])  # (N, C)
        scores.append(float(post[:, classes.index(u.label)].max()) if post.size else -np.inf)
    return np.asarray(scores)


def keyword_free(utts, keywords) -> tuple[list, int]:
    """Utterances whose ``text`` (if any) contains none of ``keywords`` as a word; and the count
    dropped."""
    from ..text import normalize_text

    pats = [re.compile(rf"(^| ){re.escape(normalize_text(k))}( |$)") for k in keywords]
    keep = [u for u in utts if not u.text or not any(p.search(normalize_text(u.text)) for p in pats)]
    return keep, len(utts) - len(keep)


def negative_scores(clf, classes, keywords, cfg: DetectorConfig, utts, floor: float = 0.05,
                    sample_rate: int = 16000) -> tuple[np.ndarray, float]:
    """Peak scores of every detector event at ``floor`` on the utterances joined, and the hours."""
    from ..data import AudioDataset

    ds = AudioDataset(utts, sample_rate=sample_rate)
    audios = (ds[i]["waveform"].numpy() for i in range(len(utts)))
    post = _stream_posteriors(clf, classes, keywords, cfg, audios)
    hours = sum(ds.durations()) / 3600.0
    window = int(round(cfg.window_s * sample_rate)) / sample_rate
    hop = int(round(cfg.hop_s * sample_rate)) / sample_rate
    events = detect_events(post, classes, keywords, floor, cfg.refractory_s, window, hop)
    return np.asarray([e.score for e in events]), hours


def accuracy_by_engine(utts, ids, y_true, y_pred) -> dict[str, dict]:
    """Accuracy and clip count per TTS engine / corpus of the speaker id (``"espeak-ng:en-us"``
    -> ``"espeak-ng"``; clips without a speaker, e.g. ``_silence_``, under ``"none"``)."""
    by_id = {u.id: u for u in utts}
    groups: dict[str, list[bool]] = {}
    for i, t, p in zip(ids, y_true, y_pred, strict=True):
        spk = by_id[i].speaker
        groups.setdefault(spk.split(":", 1)[0] if spk else "none", []).append(t == p)
    return {g: {"accuracy": float(np.mean(v)), "clips": len(v)} for g, v in sorted(groups.items())}


def _downsample(x: np.ndarray, n: int = 200) -> list[float]:
    if x.size <= n:
        return [float(v) for v in x]
    return [float(v) for v in x[np.linspace(0, x.size - 1, n).round().astype(int)]]


def evaluate_keywords(model_path, test_manifest, out_dir, *, negatives=None, dev_negatives=None,
                      fa_per_hour: float = 1.0, detector: DetectorConfig | None = None,
                      floor: float = 0.05, max_negative_hours: float | None = None) -> dict:
    """Evaluate a keyword classifier; write ``report.json``, ``confusion.png``, ``det.png``.

    Parameters
    ----------
    model_path : path
        A ``keywords`` checkpoint.
    test_manifest : path
        Labelled clips (keywords, ``_unknown_``, ``_silence_``).
    out_dir : path
    negatives, dev_negatives : path, optional
        Manifests of long keyword-free audio for FA/h (test) and threshold calibration (dev).
    fa_per_hour : float
        Operating point for FRR and calibration.
    detector : DetectorConfig, optional
    floor : float
        Lowest threshold at which negative events are collected.
    max_negative_hours : float, optional
        Use at most this much negative audio (utterances in manifest order).

    Returns
    -------
    dict, the report.
    """
    from ..data import read_manifest
    from ..metrics import accuracy, confusion_matrix, frr_at_fa_per_hour, kws_det_curve
    from ..metrics import threshold_for_fa_rate
    from ..models import load_model
    from ..plots import plot_confusion, plot_det
    from ..tasks.keywords import KeywordTask

    model = load_model(model_path)
    if model.task != "keywords":
        raise ConfigError(f"{model_path}: a {model.task!r} model; kws evaluate needs a keywords model")
    task = KeywordTask.from_labels(model.labels)
    classes, keywords = list(task.cfg.labels), task.keywords
    cfg = detector or DetectorConfig()
    cfg.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    utts = read_manifest(test_manifest)
    ids, y_true, y_pred = classify_manifest(model, task, utts)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    per_class = {c: (float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None) for i, c in enumerate(classes)}
    report = {
        "model": str(model_path), "test_manifest": str(test_manifest), "labels": classes,
        "test_utterances": len(ids), "accuracy": accuracy(y_true, y_pred),
        "per_class_accuracy": per_class, "per_engine_accuracy": accuracy_by_engine(utts, ids, y_true, y_pred),
        "confusion_matrix": cm.tolist(), "detector": asdict(cfg),
    }
    plot_confusion(cm, classes, out / "confusion.png", title=f"accuracy {report['accuracy']:.3f}")
    if negatives:
        clf = WindowClassifier(model, int(round(cfg.window_s * model.feature_cfg.sample_rate)),
                               cfg.batch_windows)
        pos_utts = [u for u in utts if u.label in keywords]
        if not pos_utts:
            raise ConfigError(f"{test_manifest}: no keyword clips to measure false rejections on")
        pos = positive_scores(clf, classes, keywords, cfg, pos_utts)

        def load_negatives(path):
            neg_utts, dropped = keyword_free(read_manifest(path), keywords)
            if max_negative_hours is not None:
                total, kept = 0.0, []
                for u in neg_utts:
                    if total >= max_negative_hours * 3600:
                        break
                    kept.append(u)
                    total += u.duration or 0.0
                neg_utts = kept
            if not neg_utts:
                raise ConfigError(f"{path}: no keyword-free utterances")
            scores, hours = negative_scores(clf, classes, keywords, cfg, neg_utts, floor)
            return scores, hours, {"manifest": str(path), "utterances": len(neg_utts),
                                   "dropped_with_keyword": dropped, "hours": round(hours, 4)}

        neg, hours, info = load_negatives(negatives)
        frr, thr = frr_at_fa_per_hour(pos, neg, hours, fa_per_hour)
        fa, frr_curve, _ = kws_det_curve(pos, neg, hours)
        report["false_alarms"] = {
            **info, "fa_per_hour_target": fa_per_hour, "frr_at_target": frr, "threshold_at_target": thr,
            "keyword_clips": len(pos), "candidate_events": int(neg.size), "floor": floor,
            "det": {"fa_per_hour": _downsample(fa), "frr": _downsample(frr_curve)},
        }
        curves = {"test": (fa, frr_curve)}
        if dev_negatives:
            dneg, dhours, dinfo = load_negatives(dev_negatives)
            cal = min(max(threshold_for_fa_rate(dneg, dhours, fa_per_hour), floor), 1.0)
            report["calibration"] = {
                **dinfo, "threshold": cal,
                "test_frr": float((pos < cal).mean()),
                "test_fa_per_hour": float((neg >= cal).sum() / hours),
            }
        # log axes need points with both coordinates > 0 (plot_det fails otherwise)
        log_axes = bool(((fa > 0) & (frr_curve > 0)).any())
        plot_det(curves, out / "det.png", title=f"FRR {frr:.3f} at {fa_per_hour:g} FA/h",
                 log_x=log_axes, log_y=log_axes)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
