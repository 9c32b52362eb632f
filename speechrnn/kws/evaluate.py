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

:func:`evaluate_open_vocabulary` makes the same FRR/FA measurement (:func:`detection_report`)
for open-vocabulary CTC search with a transcription model, on the same clips and negatives
(``speechrnn kws evaluate --open-vocab``), so the two designs compare side by side.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..fileio import write_json
from .detector import DetectorConfig, StreamingDetector, WindowClassifier, detect_events

log = logging.getLogger(__name__)


def manifest_loader(model, task, utts, max_seconds: float = 60.0):
    """Whole clips of ``utts`` in duration-bucketed padded batches of at most ``max_seconds``,
    collated by ``task`` (``waveforms`` ``(B, S)``, ``lengths``, ``ids``, ``targets``), unshuffled."""
    from torch.utils.data import DataLoader

    from ..data import AudioDataset, BucketBatchSampler

    ds = AudioDataset(utts, sample_rate=model.feature_cfg.sample_rate)
    batches = list(BucketBatchSampler(ds.durations(), max_seconds, shuffle=False))
    return DataLoader(ds, batch_sampler=batches, collate_fn=task.collate)


def classify_manifest(model, task, utts, max_seconds: float = 60.0) -> tuple[list, list, list]:
    """``(ids, y_true, y_pred)`` of every utterance, classified whole (padded batches)."""
    task.evaluate(model, manifest_loader(model, task, utts, max_seconds))
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


def negative_events(clf, classes, keywords, cfg: DetectorConfig, utts, floor: float = 0.05,
                    sample_rate: int = 16000) -> tuple[list, float]:
    """Every detector event at ``floor`` on the utterances joined (:class:`KeywordDetection` s,
    each with its keyword and peak score), and the hours of audio."""
    from ..data import AudioDataset

    ds = AudioDataset(utts, sample_rate=sample_rate)
    audios = (ds[i]["waveform"].numpy() for i in range(len(utts)))
    post = _stream_posteriors(clf, classes, keywords, cfg, audios)
    hours = sum(ds.durations()) / 3600.0
    window = int(round(cfg.window_s * sample_rate)) / sample_rate
    hop = int(round(cfg.hop_s * sample_rate)) / sample_rate
    return detect_events(post, classes, keywords, floor, cfg.refractory_s, window, hop), hours


def negative_scores(clf, classes, keywords, cfg: DetectorConfig, utts, floor: float = 0.05,
                    sample_rate: int = 16000) -> tuple[np.ndarray, float]:
    """Peak scores of every detector event at ``floor`` on the utterances joined, and the hours."""
    events, hours = negative_events(clf, classes, keywords, cfg, utts, floor, sample_rate)
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


def load_negatives(path, keywords, max_hours: float | None = None) -> tuple[list, dict]:
    """Keyword-free utterances of a manifest (at most ``max_hours``, manifest order) and a
    summary of what was kept."""
    from ..data import read_manifest, readable_utterances

    utts, unreadable = readable_utterances(read_manifest(path), str(path))
    utts, dropped = keyword_free(utts, keywords)
    if max_hours is not None:
        total, kept = 0.0, []
        for u in utts:
            if total >= max_hours * 3600:
                break
            kept.append(u)
            total += u.duration or 0.0
        utts = kept
    if not utts:
        raise ConfigError(f"{path}: no keyword-free utterances")
    return utts, {"manifest": str(path), "utterances": len(utts), "dropped_with_keyword": dropped,
                  "unreadable": unreadable}


def detection_report(utts, manifest, keywords, score_positives, score_negatives, out: Path, *, negatives,
                     dev_negatives=None, fa_per_hour: float = 1.0, floor: float = 0.05,
                     max_negative_hours: float | None = None) -> dict:
    """``false_alarms`` (+ ``calibration``) sections of a report, and ``det.png`` in ``out``.

    Parameters
    ----------
    utts : list of Utterance
        The test clips (of ``manifest``); those labelled with one of ``keywords`` are scored.
    score_positives : callable
        ``clips -> (P,)`` score of each keyword clip for its own keyword.
    score_negatives : callable
        ``utts -> (event peak scores (N,), hours)`` of the utterances streamed back to back.
    """
    from ..metrics import frr_at_fa_per_hour, kws_det_curve, threshold_for_fa_rate
    from ..plots import plot_det

    pos_utts = [u for u in utts if u.label in keywords]
    if not pos_utts:
        raise ConfigError(f"{manifest}: no keyword clips to measure false rejections on")
    pos = np.asarray(score_positives(pos_utts))
    pos_labels = [u.label for u in pos_utts]

    def scored(path):
        utts, info = load_negatives(path, keywords, max_negative_hours)
        scores, hours = score_negatives(utts)
        return scores, hours, {**info, "hours": round(hours, 4)}

    neg, hours, info = scored(negatives)
    frr, thr = frr_at_fa_per_hour(pos, neg, hours, fa_per_hour)
    fa, frr_curve, _ = kws_det_curve(pos, neg, hours)
    rep = {"false_alarms": {
        **info, "fa_per_hour_target": fa_per_hour, "frr_at_target": frr, "threshold_at_target": thr,
        "keyword_clips": len(pos), "candidate_events": int(neg.size), "floor": floor,
        "frr_per_keyword": {k: float(np.mean([p < thr for p, lb in zip(pos, pos_labels) if lb == k]))
                            for k in sorted(set(pos_labels))},
        "det": {"fa_per_hour": _downsample(fa), "frr": _downsample(frr_curve)},
    }}
    if dev_negatives:
        dneg, dhours, dinfo = scored(dev_negatives)
        cal = min(max(threshold_for_fa_rate(dneg, dhours, fa_per_hour), floor), 1.0)
        rep["calibration"] = {**dinfo, "threshold": cal, "test_frr": float((pos < cal).mean()),
                              "test_fa_per_hour": float((neg >= cal).sum() / hours)}
    # log axes need points with both coordinates > 0 (plot_det fails otherwise)
    log_axes = bool(((fa > 0) & (frr_curve > 0)).any())
    plot_det({"test": (fa, frr_curve)}, out / "det.png", title=f"FRR {frr:.3f} at {fa_per_hour:g} FA/h",
             log_x=log_axes, log_y=log_axes)
    return rep


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
    from ..data import read_manifest, readable_utterances
    from ..metrics import accuracy, confusion_matrix
    from ..models import load_model
    from ..plots import plot_confusion
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
    utts, unreadable = readable_utterances(read_manifest(test_manifest), str(test_manifest))
    ids, y_true, y_pred = classify_manifest(model, task, utts)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    per_class = {c: (float(cm[i, i] / cm[i].sum()) if cm[i].sum() else None) for i, c in enumerate(classes)}
    report = {
        "model": str(model_path), "test_manifest": str(test_manifest), "labels": classes,
        "test_utterances": len(ids), "unreadable": unreadable, "accuracy": accuracy(y_true, y_pred),
        "per_class_accuracy": per_class, "per_engine_accuracy": accuracy_by_engine(utts, ids, y_true, y_pred),
        "confusion_matrix": cm.tolist(), "detector": asdict(cfg),
    }
    plot_confusion(cm, classes, out / "confusion.png", title=f"accuracy {report['accuracy']:.3f}")
    if negatives:
        clf = WindowClassifier(model, int(round(cfg.window_s * model.feature_cfg.sample_rate)),
                               cfg.batch_windows)
        report.update(detection_report(
            utts, test_manifest, keywords, lambda us: positive_scores(clf, classes, keywords, cfg, us),
            lambda us: negative_scores(clf, classes, keywords, cfg, us, floor), out,
            negatives=negatives, dev_negatives=dev_negatives, fa_per_hour=fa_per_hour, floor=floor,
            max_negative_hours=max_negative_hours))
    write_json(out / "report.json", report)
    return report


def openvocab_positive_scores(model, utts, pad_s: float = 0.5, sample_rate: int = 16000,
                              whole_words: bool = True) -> np.ndarray:
    """Best open-vocabulary score of each clip's own keyword (its ``label``), ``(P,)``, each clip
    padded with ``pad_s`` of silence on both sides as for the classifier."""
    from ..data import AudioDataset
    from .openvocab import OpenVocabularyStream

    ds = AudioDataset(utts, sample_rate=sample_rate)
    pad = np.zeros(int(round(pad_s * sample_rate)), dtype=np.float32)
    scores = []
    for i, u in enumerate(utts):
        stream = OpenVocabularyStream(model, [u.label], threshold=1e-12, whole_words=whole_words)
        dets = [d for x in (pad, ds[i]["waveform"].numpy(), pad) for d in stream.feed(x)] + stream.finish()
        scores.append(max((d.score for d in dets), default=0.0))
    return np.asarray(scores)


def openvocab_negative_scores(model, keywords, utts, floor: float = 0.05, sample_rate: int = 16000,
                              whole_words: bool = True) -> tuple[np.ndarray, float]:
    """Scores of every open-vocabulary match at ``floor`` on the utterances joined, and the hours."""
    from ..data import AudioDataset
    from .openvocab import OpenVocabularyStream

    ds = AudioDataset(utts, sample_rate=sample_rate)
    stream = OpenVocabularyStream(model, keywords, threshold=floor, whole_words=whole_words)
    dets = [d for i in range(len(utts)) for d in stream.feed(ds[i]["waveform"].numpy())] + stream.finish()
    return np.asarray([d.score for d in dets]), sum(ds.durations()) / 3600.0


def evaluate_open_vocabulary(model_path, test_manifest, out_dir, *, negatives, keywords=None,
                             dev_negatives=None, fa_per_hour: float = 1.0, floor: float = 0.05,
                             max_negative_hours: float | None = None, whole_words: bool = True) -> dict:
    """FRR at a false-alarm rate of open-vocabulary CTC keyword search, on the same clips and
    negatives as :func:`evaluate_keywords`, so the two approaches compare side by side.

    Parameters
    ----------
    model_path : path
        A ``transcription`` (CTC) checkpoint; nothing is trained per keyword.
    test_manifest : path
        Labelled keyword clips; only clips whose label is one of ``keywords`` are scored.
    keywords : list of str, optional
        Default: every label of the test manifest except ``_unknown_`` and ``_silence_``.
    whole_words : bool
        Count only whole-word matches (:class:`~speechrnn.kws.OpenVocabularyStream`).
    Other parameters as :func:`evaluate_keywords`. Scores are ``exp`` of the mean token
    log-posterior (:mod:`speechrnn.kws.openvocab`), so thresholds are not the classifier's.

    Returns
    -------
    dict, the report (``report.json`` and ``det.png`` in ``out_dir``).
    """
    from ..data import read_manifest, readable_utterances
    from ..models import load_model

    model = load_model(model_path)
    if model.task != "transcription":
        raise ConfigError(f"{model_path}: a {model.task!r} model; open-vocabulary search needs a "
                          "transcription (CTC) model")
    utts, unreadable = readable_utterances(read_manifest(test_manifest), str(test_manifest))
    keywords = sorted(keywords or {u.label for u in utts if u.label and not u.label.startswith("_")})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sr = model.feature_cfg.sample_rate
    report = {"model": str(model_path), "method": "open-vocabulary CTC keyword search",
              "whole_words": whole_words, "test_manifest": str(test_manifest), "keywords": keywords,
              "unreadable": unreadable}
    report.update(detection_report(
        utts, test_manifest, keywords,
        lambda us: openvocab_positive_scores(model, us, sample_rate=sr, whole_words=whole_words),
        lambda us: openvocab_negative_scores(model, keywords, us, floor, sr, whole_words), out,
        negatives=negatives, dev_negatives=dev_negatives, fa_per_hour=fa_per_hour, floor=floor,
        max_negative_hours=max_negative_hours))
    write_json(out / "report.json", report)
    return report
