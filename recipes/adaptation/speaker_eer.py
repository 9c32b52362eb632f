"""EER over every pair of a labelled manifest, for speaker models and for the teacher.

    python recipes/adaptation/speaker_eer.py TEST.jsonl OUT.json NAME=MODEL.pt ... [teacher]

Cosine scoring of L2-normalized embeddings, no score normalization; ``teacher`` scores
resemblyzer's embeddings (cached beside OUT.json). Prints and writes ``{name: {eer, seconds}}``;
for a model file also the false rejections and false accepts at the verification threshold it
stores (``extra.speaker_threshold``: what ``speechrnn verify`` decides with).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from speechrnn.adapt.speaker_teacher import embed_segments
from speechrnn.data import read_manifest
from speechrnn.metrics.trials import all_pairs, l2_normalize, pair_scores, verification_report
from speechrnn.models.checkpoint import load_model, read_checkpoint
from speechrnn.speakers.evaluate import embed_utterances


def main() -> None:
    test, out, systems = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    utts = read_manifest(test)
    res = json.loads(out.read_text()) if out.is_file() else {}
    for item in systems:
        t0 = time.time()
        threshold = None
        if item == "teacher":
            emb, failed = embed_segments(utts, out.with_suffix(".teacher_cache.jsonl"))
            name = "teacher"
        else:
            name, _, path = item.partition("=")
            emb, _ = embed_utterances(load_model(path), utts)
            threshold = (read_checkpoint(path).get("extra") or {}).get("speaker_threshold")
        i, j, same = all_pairs([u.speaker for u in utts])
        s = pair_scores(l2_normalize(emb), i, j)
        rep = verification_report(s[same], s[~same])
        res[name] = {"eer": round(float(rep["eer"]), 5), "target_trials": rep["target_trials"],
                     "nontarget_trials": rep["nontarget_trials"], "seconds": round(time.time() - t0, 1)}
        line = f"{name}: EER {100 * rep['eer']:.2f}% ({rep['target_trials']} target / {rep['nontarget_trials']} non-target trials)"
        if threshold is not None:
            frr, far = float((s[same] < threshold).mean()), float((s[~same] >= threshold).mean())
            res[name].update(stored_threshold=round(float(threshold), 4), frr_at_stored=round(frr, 5),
                             far_at_stored=round(far, 5))
            line += f"; at its stored threshold {threshold:.3f}: FRR {100 * frr:.2f}%, FAR {100 * far:.2f}%"
        print(line, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
