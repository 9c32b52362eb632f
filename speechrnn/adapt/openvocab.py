"""An adapted model's own open-vocabulary threshold, calibrated on its held-out slice.

Open-vocabulary search (``speechrnn spot --open-vocab``) scores a typed word by the mean CTC
log-posterior of its characters; the right threshold depends on how confident the model is, so
one fixed default does not fit a model adapted to a new domain. Here the held-out slice (audio
the model did not train on, with the teacher's text as truth) serves as a keyword test:

- probe words: the held-out text's words of at least ``min_chars`` letters (most frequent first);
- positives: each (word, utterance whose text holds it), scored by the best match in it;
- false alarms: matches of a word in an utterance whose text lacks it.

The threshold is the lowest score at which false alarms stay within ``fa_per_hour`` per keyword
per hour of audio; the file stores it (``extra["open_vocab_threshold"]``) and
:class:`speechrnn.inference.KeywordSpotter` uses it by default.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

__all__ = ["calibrate_open_vocab", "KEY"]

KEY = "open_vocab_threshold"


def calibrate_open_vocab(log_probs, references, labels: dict, frame_shift_s: float, *,
                         fa_per_hour: float = 2.0, max_words: int = 40, min_chars: int = 4,
                         floor: float = 0.05) -> dict:
    """Threshold for ``fa_per_hour`` false alarms per keyword-hour on held-out utterances.

    Parameters
    ----------
    log_probs : list of (T_i, V) arrays (CTC log-posteriors, valid frames only)
    references : list of str (normalized texts: the teacher's labels)
    labels : the model's tokenizer dict (``model.labels``)
    frame_shift_s : seconds per output frame

    Returns
    -------
    dict: ``threshold``, ``words``, ``positives``, ``recall`` (share of positives found at the
    threshold), ``fa_per_hour`` measured there, ``hours``.
    """
    from ..errors import ConfigError
    from ..kws.openvocab import keyword_token_ids, search_log_probs
    from ..text import tokenizer_from_dict

    tok = tokenizer_from_dict(labels)
    space = tok.encode(" ")[0] if " " in getattr(tok, "symbols", []) else None
    counts = Counter(w for r in references for w in set(r.split()) if len(w) >= min_chars)
    words = [w for w, _ in counts.most_common(max_words)]
    keywords = {}
    for w in words:
        try:
            keywords[w] = keyword_token_ids(tok, w)
        except ConfigError:  # a word the tokenizer cannot spell is no probe
            continue
    hours = sum(lp.shape[0] for lp in log_probs) * frame_shift_s / 3600
    pos, neg = [], []
    for lp, ref in zip(log_probs, references):
        present = set(ref.split())
        dets = search_log_probs(np.asarray(lp), keywords, 1e-9, frame_shift_s, space=space)
        best: dict[str, float] = {}
        for d in dets:
            if d.keyword in present:
                best[d.keyword] = max(best.get(d.keyword, 0.0), d.score)
            else:
                neg.append(d.score)
        pos += [best.get(w, 0.0) for w in keywords if w in present]
    if not keywords or not pos or hours <= 0:
        return {"threshold": None, "words": len(keywords), "positives": len(pos), "hours": hours}
    allowed = int(math.floor(fa_per_hour * hours * len(keywords)))   # false alarms we may keep
    neg_sorted = sorted(neg, reverse=True)
    # lowest threshold with at most `allowed` false alarms strictly above it
    thr = neg_sorted[allowed] + 1e-6 if allowed < len(neg_sorted) else floor
    thr = float(min(1.0, max(floor, thr)))
    found = sum(p >= thr for p in pos)
    fa = sum(s >= thr for s in neg)
    return {"threshold": round(thr, 4), "words": len(keywords), "positives": len(pos),
            "recall": round(found / len(pos), 4), "fa_per_hour": round(fa / (hours * len(keywords)), 3),
            "hours": round(hours, 4), "target_fa_per_hour": fa_per_hour}
