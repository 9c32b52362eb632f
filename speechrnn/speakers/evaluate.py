"""Evaluate a speaker-embedding checkpoint: identification, verification, DET plot, JSON report.

* Closed-set identification (top-1, top-5) of a test manifest: by the model's own classifier
  when the test speakers are its training classes, or by cosine against per-speaker centroids
  of an ``enroll`` manifest (any speakers, e.g. unseen voices).
* Verification: cosine scores of trials (``read_trials`` format) or of every pair of a manifest,
  optionally s-normalized with a cohort of (training) embeddings; EER, minDCF, DET curve PNG.

Example
-------
>>> report = evaluate_speakers("exp/spk/best.pt", "report/", test="data/spk/test.jsonl",
...                            verify="data/spk/verify.jsonl", trials="data/spk/trials.txt",
...                            cohort="data/spk/train.jsonl")           # doctest: +SKIP
>>> report["verification"]["raw"]["eer"]                                # doctest: +SKIP
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import ConfigError
from ..fileio import write_json
from ..metrics.trials import all_pairs, cosine_matrix, l2_normalize, pair_scores, snorm_pairs, verification_report

log = logging.getLogger(__name__)


@torch.no_grad()
def embed_utterances(model, utts: Sequence, *, max_seconds: float = 60.0, device: str = "cpu",
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """Embeddings ``(N, E)`` (unit rows, manifest order) and classifier logits ``(N, C)``.

    Batches are length-bucketed and padded; the model is padding-invariant, so each row equals
    the utterance embedded alone.
    """
    from torch.utils.data import DataLoader

    from ..data import AudioDataset, BucketBatchSampler, collate_audio

    ds = AudioDataset(utts, sample_rate=model.feature_cfg.sample_rate)
    emb = np.zeros((len(utts), model.cfg.head.embedding_dim), dtype=np.float32)
    logits = np.zeros((len(utts), model.num_outputs), dtype=np.float32)
    batches = list(BucketBatchSampler(ds.durations(), max_seconds, shuffle=False))
    for batch in DataLoader(ds, batch_sampler=batches, collate_fn=collate_audio):
        x, n = model.encode(batch["waveforms"].to(device), batch["lengths"].to(device))  # (B,T',D)
        e = model.head.embed(x, n)  # (B,T',D) -> (B,E)
        idx = batch["indices"].numpy()
        logits[idx] = model.head.projection(e).float().cpu().numpy()  # (B,E) -> (B,C)
        emb[idx] = l2_normalize(e.float().cpu().numpy())
    return emb, logits


def _topk(scores: np.ndarray, y: np.ndarray) -> dict:
    from ..metrics import top_k_accuracy

    return {"top1": top_k_accuracy(scores, y, 1), "top5": top_k_accuracy(scores, y, min(5, scores.shape[1])),
            "utterances": int(len(y)), "speakers": int(len(set(y.tolist())))}


def identification(model, test_utts, enroll_utts=None, **kw) -> dict[str, dict]:
    """Closed-set top-1/top-5 of ``test_utts`` (classifier, or centroids of ``enroll_utts``).

    Returns ``{"identification": result}``. With the classifier, when the model has more classes
    than the test has speakers (e.g. generated training-only timbres), the same logits are also
    scored among the test's own speakers only (their columns), under ``"identification_closed_set"``:
    the protocol for a closed group trained beside auxiliary speakers.
    """
    emb, logits = embed_utterances(model, test_utts, **kw)
    if enroll_utts is None:
        classes = list(model.labels["labels"])
        index = {s: i for i, s in enumerate(classes)}
        unknown = sorted({u.speaker for u in test_utts if u.speaker not in index})
        if unknown:
            raise ConfigError(f"test speakers not among the model's classes: {unknown[:5]}; "
                              "pass an enrollment manifest to score them by cosine")
        y = np.array([index[u.speaker] for u in test_utts])
        out = {"identification": {"method": "classifier", "classes": len(classes), **_topk(logits, y)}}
        columns = np.unique(y)  # sorted class indices of the test's speakers
        if len(columns) < len(classes):
            out["identification_closed_set"] = {
                "method": "classifier, test speakers only", "classes": len(columns),
                **_topk(logits[:, columns], np.searchsorted(columns, y))}  # (N, C) -> (N, S)
        return out
    e_emb, _ = embed_utterances(model, enroll_utts, **kw)
    names = sorted({u.speaker for u in enroll_utts})
    index = {s: i for i, s in enumerate(names)}
    spk = np.array([index[u.speaker] for u in enroll_utts])
    centroids = l2_normalize(np.stack([e_emb[spk == k].mean(axis=0) for k in range(len(names))]))  # (S,E)
    keep = [i for i, u in enumerate(test_utts) if u.speaker in index]
    if not keep:
        raise ConfigError("no test utterance belongs to an enrolled speaker")
    y = np.array([index[test_utts[i].speaker] for i in keep])
    return {"identification": {"method": "cosine-centroid", "classes": len(names),
                               **_topk(cosine_matrix(emb[keep], centroids), y)}}


def verification(model, utts, trials=None, cohort_utts=None, *, p_target: float = 0.01,
                 max_cohort: int = 2000, **kw) -> tuple[dict, dict]:
    """EER/minDCF of cosine scoring (raw and, with a cohort, s-norm).

    Returns
    -------
    (report, curves) where curves maps a name to ``(p_fa, p_miss)`` for :func:`speechrnn.plots.plot_det`.
    """
    from ..metrics import det_points

    ids = {u.id: i for i, u in enumerate(utts)}
    emb, _ = embed_utterances(model, utts, **kw)
    if trials:
        missing = sorted({t.enroll for t in trials if t.enroll not in ids} | {t.test for t in trials if t.test not in ids})
        if missing:
            raise ConfigError(f"{len(missing)} trial utterance id(s) are not in the manifest, e.g. {missing[:3]}")
        i = np.array([ids[t.enroll] for t in trials])
        j = np.array([ids[t.test] for t in trials])
        same = np.array([t.label == 1 for t in trials])
    else:
        i, j, same = all_pairs([u.speaker for u in utts])
    systems = {"raw": pair_scores(emb, i, j)}
    if cohort_utts:
        cohort_utts = list(cohort_utts)
        if len(cohort_utts) > max_cohort:
            pick = np.random.default_rng(0).choice(len(cohort_utts), max_cohort, replace=False)
            cohort_utts = [cohort_utts[k] for k in sorted(pick)]
        c_emb, _ = embed_utterances(model, cohort_utts, **kw)
        systems["s-norm"] = snorm_pairs(emb, i, j, c_emb)
    report, curves = {}, {}
    for name, s in systems.items():
        report[name] = verification_report(s[same], s[~same], p_target)
        p_fa, p_miss, _ = det_points(s[same], s[~same])
        curves[f"{name} (EER {100 * report[name]['eer']:.2f}%)"] = (p_fa, p_miss)
    return report, curves


def evaluate_speakers(checkpoint, out_dir, *, test=None, enroll=None, verify=None, trials=None,
                      cohort=None, p_target: float = 0.01, max_seconds: float = 60.0,
                      device: str = "cpu") -> dict:
    """Write ``<out_dir>/report.json`` (and ``det.png`` with verification) and return the report.

    Parameters
    ----------
    checkpoint : path of a speaker-embedding checkpoint
    out_dir : folder for the report
    test : manifest for closed-set identification (optional)
    enroll : manifest whose speakers' centroids identify ``test`` by cosine (optional)
    verify : manifest of the verification utterances (optional)
    trials : trial list over ``verify`` ids (optional; default every pair of ``verify``)
    cohort : manifest of cohort utterances for s-norm, e.g. the training set (optional)
    """
    from ..data import read_manifest, readable_utterances
    from ..data.importers import read_trials
    from ..plots import plot_det
    from .head import load_speaker_model

    if test is None and verify is None:
        raise ConfigError("evaluate: give a test manifest (identification), a verify manifest, or both")
    model = load_speaker_model(checkpoint, device=device)
    kw = {"max_seconds": max_seconds, "device": device}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"checkpoint": str(checkpoint), "unreadable": []}

    def readable(manifest):  # unreadable files are reported and left out, not fatal
        utts, bad = readable_utterances(read_manifest(manifest), str(manifest))
        report["unreadable"] += bad
        return utts

    if test is not None:
        report.update(identification(model, readable(test), readable(enroll) if enroll else None, **kw))
    if verify is not None:
        tr = read_trials(trials) if trials else None
        n_bad = len(report["unreadable"])
        v_utts = readable(verify)
        if tr:  # trials of a left-out file cannot be scored (ids in no manifest still fail below)
            gone = {i for i, _ in report["unreadable"][n_bad:]}
            n = len(tr)
            tr = [t for t in tr if t.enroll not in gone and t.test not in gone]
            if len(tr) < n:
                log.warning("%s: %d of %d trial(s) involve unreadable files and are not scored", trials,
                            n - len(tr), n)
        ver, curves = verification(model, v_utts, tr, readable(cohort) if cohort else None,
                                   p_target=p_target, **kw)
        report["verification"] = ver
        report["det_plot"] = str(plot_det(curves, out / "det.png", xlabel="false alarm probability",
                                          ylabel="miss probability", title="speaker verification DET"))
    write_json(out / "report.json", report)
    return report
