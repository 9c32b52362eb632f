"""Compare keyword models on a target domain: FRR at 1 and 10 false alarms per hour, one DET plot.

    python recipes/keyword_spotting/compare_real.py DOMAIN OUT NAME=MODEL [NAME=MODEL ...]

DOMAIN is a folder of recipes/keyword_spotting/make_real_domain.py (test.jsonl, negatives.jsonl).
Each model's keyword test sentences are streamed through the detector (score: peak smoothed
posterior of the keyword, speechrnn.kws.evaluate.positive_scores) and the keyword-free audio back
to back (every event is a candidate false alarm, negative_events). FRR at a rate counts all
keywords' false alarms together; with several keywords in the test (the ten-keyword model) each
keyword is also measured at its own rate (``per_keyword``, and their mean), and a model's stored
per-keyword thresholds (``kws adapt``) are applied per keyword. Writes OUT/compare.json,
OUT/compare.md (the table) and OUT/det.png (every model's DET curve).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from speechrnn.data import read_manifest
from speechrnn.kws.detector import DetectorConfig, WindowClassifier
from speechrnn.kws.evaluate import keyword_free, negative_events, positive_scores
from speechrnn.metrics import frr_at_fa_per_hour, kws_det_curve
from speechrnn.models import load_model, read_checkpoint
from speechrnn.plots import plot_det
from speechrnn.tasks.keywords import KeywordTask


def cached_scores(model_path: str, test, negatives, cache: Path, floor: float = 0.02) -> dict:
    """:func:`score`, kept in ``cache`` (a .json beside the plot) until the model file changes."""
    key = f"{Path(model_path).resolve()}|{Path(model_path).stat().st_mtime_ns}"
    if cache.is_file():
        d = json.loads(cache.read_text())
        if d.get("key") == key:
            d["_det"] = (np.asarray(d.pop("det_fa")), np.asarray(d.pop("det_frr")))
            d.pop("key")
            return d
    r = score(model_path, test, negatives, floor)
    fa, frr = r["_det"]
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({**{k: v for k, v in r.items() if k != "_det"}, "key": key,
                                 "det_fa": [float(x) for x in fa], "det_frr": [float(x) for x in frr]}))
    return r


def score(model_path: str, test, negatives, floor: float = 0.02) -> dict:
    model = load_model(model_path).eval()
    task = KeywordTask.from_labels(model.labels)
    labels, keywords = list(task.cfg.labels), list(task.keywords)
    cfg = DetectorConfig()
    clf = WindowClassifier(model, int(round(cfg.window_s * 16000)), cfg.batch_windows)
    pos_utts = [u for u in test if u.label in keywords]
    t0 = time.perf_counter()
    pos = positive_scores(clf, labels, keywords, cfg, pos_utts)
    neg_utts, _ = keyword_free(negatives, keywords)
    events, hours = negative_events(clf, labels, keywords, cfg, neg_utts, floor)
    neg = np.asarray([e.score for e in events])
    out = {"model": model_path, "keyword_clips": int(pos.size), "negative_hours": round(hours, 4),
           "negative_events": int(neg.size), "seconds": round(time.perf_counter() - t0, 1)}
    for rate in (1.0, 10.0):  # all keywords' false alarms together
        frr, thr = frr_at_fa_per_hour(pos, neg, hours, rate)
        out[f"frr_at_{rate:g}_fa_per_hour"] = round(float(frr), 4)
        out[f"threshold_at_{rate:g}_fa_per_hour"] = round(float(thr), 4)
    present = sorted({u.label for u in pos_utts})
    if len(present) > 1:  # several keywords: each at its own false-alarm rate, then the mean
        per = {}
        for k in present:
            pk = np.asarray([p for p, u in zip(pos, pos_utts) if u.label == k])
            nk = np.asarray([e.score for e in events if e.keyword == k])
            per[k] = {"clips": int(pk.size), **{f"frr_at_{r:g}_fa_per_hour": round(float(frr_at_fa_per_hour(pk, nk, hours, r)[0]), 4)
                                                for r in (1.0, 10.0)}}
        out["per_keyword"] = per
        for r in (1.0, 10.0):
            out[f"mean_frr_at_{r:g}_fa_per_hour_per_keyword"] = round(float(np.mean([v[f"frr_at_{r:g}_fa_per_hour"]
                                                                                    for v in per.values()])), 4)
    extra = read_checkpoint(model_path).get("extra") or {}
    stored = extra.get("kws_threshold")
    if stored is not None:  # the thresholds calibrated on the user's own audio, applied to the test
        per_kw = extra.get("kws_thresholds") or {}
        thr_of = lambda k: float(per_kw.get(k, stored))  # noqa: E731
        out["stored_threshold"] = round(float(stored), 4)
        if per_kw:
            out["stored_thresholds"] = {k: round(float(v), 4) for k, v in per_kw.items()}
        out["frr_at_stored_threshold"] = round(float(np.mean([p < thr_of(u.label) for p, u in zip(pos, pos_utts)])), 4)
        out["fa_per_hour_at_stored_threshold"] = round(sum(e.score >= thr_of(e.keyword) for e in events) / hours, 2)
    fa, frr_curve, _ = kws_det_curve(pos, neg, hours)
    out["_det"] = (fa, frr_curve)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("domain")
    ap.add_argument("out")
    ap.add_argument("models", nargs="+", help="NAME=MODEL")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dom, out = Path(args.domain), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test = read_manifest(dom / "test.jsonl")
    negatives = read_manifest(dom / "negatives.jsonl")
    results, curves = {}, {}
    for item in args.models:
        name, _, path = item.partition("=")
        r = cached_scores(path, test, negatives, out / "scores" / f"{name}.json")
        curves[name] = r.pop("_det")
        results[name] = r
        print(name, json.dumps(r), flush=True)
    (out / "compare.json").write_text(json.dumps(results, indent=2) + "\n")
    multi = any("per_keyword" in r for r in results.values())
    rows = ["| model | FRR @ 1 FA/h | FRR @ 10 FA/h | " + ("mean per-keyword FRR @ 1 / 10 FA/h each | " if multi else "")
            + "stored threshold(s): FRR / FA/h |", "|---|---|---|" + ("---|" if multi else "") + "---|"]
    for name, r in results.items():
        st = (("per keyword" if "stored_thresholds" in r else f"{r['stored_threshold']:.3f}")
              + f": {100 * r['frr_at_stored_threshold']:.1f} % / {r['fa_per_hour_at_stored_threshold']:.1f}"
              if "stored_threshold" in r else "-")
        pk = (f"{100 * r['mean_frr_at_1_fa_per_hour_per_keyword']:.1f} / "
              f"{100 * r['mean_frr_at_10_fa_per_hour_per_keyword']:.1f} % | " if "per_keyword" in r else
              ("- | " if multi else ""))
        rows.append(f"| {name} | {100 * r['frr_at_1_fa_per_hour']:.1f} % | {100 * r['frr_at_10_fa_per_hour']:.1f} % | "
                    + pk + f"{st} |")
    (out / "compare.md").write_text("\n".join(rows) + "\n")
    plot_det(curves, out / "det.png", title=f"{dom.name}: {results[next(iter(results))]['keyword_clips']} keyword "
             f"sentences, {results[next(iter(results))]['negative_hours']:.2f} h negatives")
    print("\n".join(rows))
    print(f"DET plot: {out / 'det.png'}")


if __name__ == "__main__":
    main()
