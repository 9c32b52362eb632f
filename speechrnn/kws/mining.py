"""Keyword examples from a user's unlabeled recordings, found by a teacher's word timestamps.

``speechrnn kws train-custom WORD --from-audio INPUTS...`` (:mod:`.custom`) calls, in order:

1. :func:`listen`: every speech segment of the recordings goes to a teacher (a Whisper model
   with word timestamps; anything with ``label(audio, word_timestamps=True) -> .words`` of
   ``(word, start, end, probability)``). The words are normalized (``"Seven,"`` -> ``seven``,
   ``"7"`` -> ``seven``) into :class:`HeardSegment` s; the result is cached as JSON Lines, so a
   second run over the same audio asks the teacher nothing.
2. :func:`mine_windows`: where the keyword was heard (teacher probability >= ``min_probability``),
   windows of ``clip_s`` seconds around it become **positives** (a few shifted copies each);
   windows of the rest become **negatives** (``_unknown_``), and windows centred on the
   words that sound like the keyword (:func:`~speechrnn.kws.nearmiss.near_misses` of the words
   heard) become **hard negatives**. Occurrences heard with a lower probability are neither.
   A share of the segments is **held out**: their keyword occurrences measure the false
   rejection rate after training, never trained on.
3. :func:`negative_audio`: the recordings minus the keyword windows, as slices to stream
   through the detector to calibrate its threshold for a false-alarm rate
   (:func:`calibrate_threshold`).

The teacher and the segmenter are passed in (``speechrnn.adapt`` builds them; this package
sits below it and never imports it).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["HeardSegment", "HeardWord", "MiningConfig", "MinedExamples", "calibrate_threshold",
           "find_keyword", "homophones", "listen", "mine_windows", "negative_audio", "stored_calibration"]

UNKNOWN = "_unknown_"


@dataclass
class HeardWord:
    """One normalized token the teacher heard; times are seconds from the start of the file."""

    word: str
    start: float
    end: float
    probability: float


@dataclass
class HeardSegment:
    """A speech segment ``[offset, offset + duration)`` of ``audio`` and the words heard in it."""

    audio: str
    offset: float
    duration: float
    words: list[HeardWord] = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.offset + self.duration

    def to_json(self) -> str:
        return json.dumps({"audio": self.audio, "offset": self.offset, "duration": self.duration,
                           "words": [[w.word, round(w.start, 3), round(w.end, 3), round(w.probability, 4)]
                                     for w in self.words]})

    @classmethod
    def from_json(cls, line: str) -> "HeardSegment":
        d = json.loads(line)
        return cls(d["audio"], float(d["offset"]), float(d["duration"]),
                   [HeardWord(w, float(s), float(e), float(p)) for w, s, e, p in d["words"]])


def _tokens(words, offset: float) -> list[HeardWord]:
    """Teacher words -> normalized tokens with absolute times (a word that normalizes to several
    tokens, ``"1990s"`` -> ``nineteen nineties``, gives each the word's span)."""
    from ..text import normalize_text

    out = []
    for w in words:
        for tok in normalize_text(w.word).split():
            out.append(HeardWord(tok, offset + float(w.start), offset + float(w.end), float(w.probability)))
    return out


def listen(segments: Iterable[tuple[str, float, float, np.ndarray]], teacher,
           cache: str | Path | None = None) -> list[HeardSegment]:
    """Ask ``teacher`` for the words of every segment (cached in ``cache``, JSON Lines).

    Parameters
    ----------
    segments : iterable of (path, offset_s, duration_s, audio float32 (S,) at 16 kHz)
    teacher : object with ``label(audio, word_timestamps=True)`` returning ``.words``
        (``word``, ``start``, ``end``, ``probability``; times from the segment's start).
    cache : path, optional
        Segments already in it are not labelled again; new ones are appended as they come.
    """
    done: dict[tuple, HeardSegment] = {}
    if cache is not None and Path(cache).is_file():
        for line in Path(cache).read_text().splitlines():
            if line.strip():
                s = HeardSegment.from_json(line)
                done[(s.audio, round(s.offset, 3), round(s.duration, 3))] = s
    out = []
    fh = open(cache, "a") if cache is not None else None  # noqa: SIM115 (appended per segment)
    try:
        for path, offset, duration, audio in segments:
            key = (str(Path(path).resolve()), round(float(offset), 3), round(float(duration), 3))
            if key not in done:
                label = teacher.label(audio, word_timestamps=True)
                done[key] = HeardSegment(key[0], key[1], key[2], _tokens(label.words, key[1]))
                if fh is not None:
                    fh.write(done[key].to_json() + "\n")
                    fh.flush()
            out.append(done[key])
    finally:
        if fh is not None:
            fh.close()
    return out


def find_keyword(keyword: str, seg: HeardSegment) -> list[tuple[float, float, float]]:
    """``(start, end, probability)`` of each occurrence of ``keyword`` (a normalized word or
    phrase: consecutive tokens) in a segment; the probability is the lowest of its words."""
    kt = keyword.split()
    toks = seg.words
    hits = []
    for i in range(len(toks) - len(kt) + 1):
        if all(toks[i + j].word == kt[j] for j in range(len(kt))):
            span = toks[i:i + len(kt)]
            hits.append((span[0].start, span[-1].end, min(w.probability for w in span)))
    return hits


@dataclass
class MiningConfig:
    """How windows are cut from the recordings (seconds unless named otherwise)."""

    clip_s: float = 1.0
    """Window length: the keyword models' clip length."""
    min_probability: float = 0.3
    """Teacher word probability an occurrence needs to become a positive (lower: ignored)."""
    positive_shifts: list[float] = field(default_factory=lambda: [-0.15, 0.0, 0.15])
    """Copies of each positive window, shifted by these offsets from the word's centre."""
    margin_s: float = 0.25
    """Audio this close to a keyword occurrence (or an unsure word) is never a negative."""
    unsure_probability: float = 0.5
    """Audio around words heard with a lower probability is never a negative, in training or
    calibration: missed keywords hide there (tiny.en wrote 'seventh a genetic poo' (0.44) for
    'seven the genetic pool', 'c apn' (0.48) for 'seven cap'n')."""
    unheard_gap_s: float | None = 1.0
    """Stretches of a segment this long where the teacher wrote no word are never negatives
    (None: no such rule): Whisper drops words, and a dropped keyword there becomes a negative."""
    hard_negative_probability: float = 0.7
    """A near-miss word is a hard negative only when heard at least this surely ('seventh' at
    0.67 was a 'seven')."""
    negative_hop_s: float = 0.5
    """Hop between negative windows."""
    negatives_per_positive: float = 4.0
    """Cap on plain negative windows (times the positive windows; hard negatives come on top)."""
    hard_negative_shifts: list[float] = field(default_factory=lambda: [-0.1, 0.0, 0.1])
    holdout_fraction: float = 0.2
    """Share of the segments (with and without the keyword) held out of training."""
    eval_window_s: float = 2.0
    """Held-out positives are slices this long centred on the word."""
    seed: int = 0

    def validate(self) -> None:
        if self.clip_s <= 0 or self.eval_window_s < self.clip_s:
            raise ConfigError("mining: need clip_s > 0 and eval_window_s >= clip_s")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ConfigError(f"mining: holdout_fraction must be in [0, 1), got {self.holdout_fraction}")
        if not 0.0 <= self.min_probability <= 1.0 or self.negatives_per_positive < 0:
            raise ConfigError("mining: min_probability in [0, 1] and negatives_per_positive >= 0")
        if not (0.0 <= self.unsure_probability <= 1.0 and 0.0 <= self.hard_negative_probability <= 1.0):
            raise ConfigError("mining: unsure_probability and hard_negative_probability must be in [0, 1]")


@dataclass
class MinedExamples:
    """What :func:`mine_windows` found (lists of :class:`~speechrnn.data.Utterance`)."""

    keyword: str
    """The keyword (several: joined by ``" | "``, see ``keywords``)."""
    train: list = field(default_factory=list)
    """Positive (label = keyword), negative and hard negative (``_unknown_``) training windows."""
    heldout_positives: list = field(default_factory=list)
    """``eval_window_s`` slices around the held-out occurrences (label = keyword)."""
    occurrences: int = 0
    """Occurrences heard with probability >= ``min_probability``."""
    uncertain: int = 0
    near_misses: list[str] = field(default_factory=list)
    """Words heard that sound like the keyword (their windows are hard negatives)."""
    counts: dict = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)
    per_keyword: dict = field(default_factory=dict)
    """Per keyword: ``occurrences``, ``uncertain``, ``train_positive_windows``, ``heldout_positives``."""
    heldout_segments: list[int] = field(default_factory=list)
    """Indices of the segments held out of training (their audio calibrates the thresholds)."""

    def _heldout_hours(self, segs: list) -> float | None:
        """Hours of the held-out segments (None: nothing trained on the audio, or nothing held out)."""
        if not self.train or not self.heldout_segments:
            return None
        return sum(segs[i].duration for i in self.heldout_segments) / 3600

    def calibration_segments(self, segs: list, min_hours: float = 0.0) -> list:
        """The segments to calibrate a threshold on: the held-out ones, which the detector never
        trained on (its training negatives score low, so a threshold set on them lets more false
        alarms through later), when they hold at least ``min_hours`` of audio (a rate of ``r``
        false alarms per hour cannot be measured on less than ``1 / r`` hours); else all of
        them, held-out or not (more audio, a biased threshold: :meth:`calibration_note` says
        so). All of them too when nothing was mined (nothing trained on them)."""
        held_h = self._heldout_hours(segs)
        if held_h is None or held_h < min_hours:
            return list(segs)
        return [segs[i] for i in self.heldout_segments]

    def calibration_note(self, segs: list, min_hours: float) -> str | None:
        """A warning when :meth:`calibration_segments` had to include the training segments."""
        held_h = self._heldout_hours(segs)
        if held_h is None or held_h >= min_hours:
            return None
        return (f"the held-out audio ({held_h * 60:.1f} min) is too short to measure the false-alarm rate asked "
                f"for (it needs {min_hours * 60:.0f} min); the threshold is set on all the audio, training "
                "windows included, which the detector scores low: expect more false alarms than asked for "
                "(about 3x on the demo domains), or give more audio")

    def summary(self) -> dict:
        out = {"keyword": self.keyword, "occurrences": self.occurrences, "uncertain": self.uncertain,
               "near_misses_heard": self.near_misses, **self.counts}
        if len(self.keywords) > 1:
            out["per_keyword"] = self.per_keyword
        return out


def _overlaps(a: float, b: float, zones: list[tuple[float, float]]) -> bool:
    return any(a < z1 and b > z0 for z0, z1 in zones)


def _window(audio: str, seg: HeardSegment, centre: float, length: float) -> tuple[float, float]:
    """``(offset, duration)`` of a ``length`` window centred at ``centre``, kept inside the file
    part the segment spans when it is long enough."""
    start = centre - length / 2
    if seg.duration >= length:
        start = min(max(start, seg.offset), seg.end - length)
    return round(max(start, 0.0), 3), round(length, 3)


def _unheard(seg: HeardSegment, max_gap: float | None) -> list[tuple[float, float]]:
    """Stretches longer than ``max_gap`` of a segment where the teacher wrote no word (Whisper
    drops words: 'to save a single life is better' for '... than to build a seven story pagoda')."""
    if max_gap is None:
        return []
    edges = [seg.offset, *[t for w in sorted(seg.words, key=lambda w: w.start) for t in (w.start, w.end)], seg.end]
    return [(a, b) for a, b in zip(edges[0::2], edges[1::2]) if b - a > max_gap]


def _as_keywords(keywords) -> list[str]:
    return [keywords] if isinstance(keywords, str) else list(dict.fromkeys(keywords))


def homophones(keyword: str, vocabulary, phonemes: bool = True, phones: dict[str, str] | None = None) -> list[str]:
    """Words of ``vocabulary`` that sound exactly like ``keyword`` (``know`` for ``no``, ``write``
    for ``right``): never negatives, as no detector can tell them apart. ``phones``: the
    keyword's and vocabulary's :func:`~speechrnn.kws.nearmiss.phonemize`, when already made."""
    from .nearmiss import phonemize

    ph = (phones if phones is not None else phonemize([keyword, *vocabulary])) if phonemes else None
    if not ph or keyword not in ph:
        return []
    strip = "".join(c for c in ph[keyword] if c not in "ˈˌ ")
    return [w for w in vocabulary if w != keyword and w in ph and "".join(c for c in ph[w] if c not in "ˈˌ ") == strip]


def _sound_alikes(keywords: list[str], vocab: list[str], phonemes: bool) -> tuple[set[str], set[str]]:
    """``(near-misses, homophones)`` among ``vocab`` of the single-word keywords (a near-miss is
    neither a keyword nor a homophone); espeak-ng phonemizes the words once for all keywords."""
    from .nearmiss import near_misses, phonemize

    single = [k for k in keywords if len(k.split()) == 1]
    phones = phonemize([*single, *vocab]) if phonemes and single else None
    near = set().union(*(near_misses(k, vocab, phonemes=phonemes, phones=phones) for k in single))
    same = set().union(*(homophones(k, vocab, phonemes, phones) for k in single))
    return near - set(keywords) - same, same


def _keyword_zones(keywords, segs: list[HeardSegment], margin: float, unsure: float = 0.0,
                   near: set[str] | None = None, near_sure: float = 0.0, max_gap: float | None = None,
                   avoid: set[str] | None = None):
    """Per segment: occurrences ``(start, end, p, keyword)`` of each keyword and the zones no
    negative may touch (every occurrence, whatever its probability, every word heard with
    probability < ``unsure``, every ``near`` word with probability < ``near_sure`` and every
    ``avoid`` word (homophones), widened by ``margin``; and stretches longer than ``max_gap``
    with no word heard)."""
    near, avoid = near or set(), avoid or set()
    occ = [sorted((a, b, p, k) for k in _as_keywords(keywords) for a, b, p in find_keyword(k, s)) for s in segs]
    zones = [[(a - margin, b + margin) for a, b, *_ in o]
             + [(w.start - margin, w.end + margin) for w in s.words
                if w.probability < unsure or w.word in avoid or (w.word in near and w.probability < near_sure)]
             + _unheard(s, max_gap)
             for o, s in zip(occ, segs)]
    return occ, zones


def mine_windows(keywords, segs: list[HeardSegment], cfg: MiningConfig | None = None,
                 phonemes: bool = True) -> MinedExamples:
    """Training windows and held-out positives for a keyword (normalized), or for several at once
    (a list: a multi-keyword model; every window is labelled with its own keyword, and no negative
    touches any keyword) from the segments.

    Returns
    -------
    MinedExamples; ``occurrences == 0`` when the teacher never heard any keyword (the caller
    falls back to text-only training).
    """
    from ..data import Utterance

    cfg = cfg or MiningConfig()
    cfg.validate()
    kws = _as_keywords(keywords)
    rng = np.random.default_rng(cfg.seed)
    vocab = sorted({w.word for s in segs for w in s.words})
    near, same = _sound_alikes(kws, vocab, phonemes)
    occ, zones = _keyword_zones(kws, segs, cfg.margin_s, cfg.unsure_probability, near,
                                cfg.hard_negative_probability, cfg.unheard_gap_s, same)
    res = MinedExamples(" | ".join(kws), keywords=kws)
    res.occurrences = sum(p >= cfg.min_probability for o in occ for _, _, p, _ in o)
    res.uncertain = sum(p < cfg.min_probability for o in occ for _, _, p, _ in o)
    res.per_keyword = {k: {"occurrences": sum(p >= cfg.min_probability and kk == k for o in occ for _, _, p, kk in o),
                           "uncertain": sum(p < cfg.min_probability and kk == k for o in occ for _, _, p, kk in o),
                           "train_positive_windows": 0, "heldout_positives": 0} for k in kws}
    if res.occurrences == 0:
        return res
    # hold out whole segments: a share of those with a keyword and of those without
    with_kw = [i for i, o in enumerate(occ) if any(p >= cfg.min_probability for _, _, p, _ in o)]
    without = [i for i in range(len(segs)) if i not in set(with_kw)]
    held = set()
    for group in (with_kw, without):
        k = int(round(cfg.holdout_fraction * len(group)))
        if group is with_kw and cfg.holdout_fraction > 0 and len(group) >= 2:
            k = min(max(k, 1), len(group) - 1)  # at least one held out, at least one trained on
        held |= {group[j] for j in rng.permutation(len(group))[:k]}
    res.heldout_segments = sorted(held)

    res.near_misses = [w for w in vocab if w in near]
    pos, neg, hard = [], [], []
    for i, seg in enumerate(segs):
        good = [(a, b, k) for a, b, p, k in occ[i] if p >= cfg.min_probability]
        if i in held:
            for a, b, k in good:
                off, dur = _window(seg.audio, seg, (a + b) / 2, cfg.eval_window_s)
                res.heldout_positives.append(Utterance(
                    id=f"heard_{i:05d}_{a:.2f}", audio=seg.audio, offset=off, duration=dur, label=k,
                    extra={"teacher_span": [round(a, 3), round(b, 3)]}))
                res.per_keyword[k]["heldout_positives"] += 1
            continue
        for a, b, k in good:
            for sh in cfg.positive_shifts:
                off, dur = _window(seg.audio, seg, (a + b) / 2 + sh, cfg.clip_s)
                pos.append(Utterance(id=f"mined_pos_{i:05d}_{a:.2f}_{sh:+.2f}", audio=seg.audio, offset=off,
                                     duration=dur, label=k, speaker="user",
                                     extra={"teacher_span": [round(a, 3), round(b, 3)]}))
                res.per_keyword[k]["train_positive_windows"] += 1
        for w in seg.words:
            if w.word in near and w.probability >= cfg.hard_negative_probability \
                    and not _overlaps(w.start, w.end, zones[i]):
                for sh in cfg.hard_negative_shifts:
                    off, dur = _window(seg.audio, seg, (w.start + w.end) / 2 + sh, cfg.clip_s)
                    if not _overlaps(off, off + dur, zones[i]):
                        hard.append(Utterance(id=f"mined_hard_{i:05d}_{w.start:.2f}_{sh:+.2f}", audio=seg.audio,
                                              offset=off, duration=dur, label=UNKNOWN, speaker="user",
                                              extra={"near_miss": w.word}))
        t = seg.offset + float(rng.uniform(0, cfg.negative_hop_s))
        while t + cfg.clip_s <= seg.end + 1e-6:
            if not _overlaps(t, t + cfg.clip_s, zones[i]):
                neg.append(Utterance(id=f"mined_neg_{i:05d}_{t:.2f}", audio=seg.audio, offset=round(t, 3),
                                     duration=cfg.clip_s, label=UNKNOWN, speaker="user"))
            t += cfg.negative_hop_s
    cap = int(round(cfg.negatives_per_positive * len(pos)))
    if len(neg) > cap:
        neg = [neg[j] for j in sorted(rng.permutation(len(neg))[:cap])]
    if len(hard) > cap:  # many short keywords have many near-misses ('on': one, own, not, ...)
        hard = [hard[j] for j in sorted(rng.permutation(len(hard))[:cap])]
    res.train = pos + hard + neg
    seen: dict[str, int] = {}
    for u in res.train:  # ids unique even where two tokens share a time (one teacher word)
        n = seen.get(u.id, 0)
        seen[u.id] = n + 1
        if n:
            u.id = f"{u.id}_{n}"
    res.counts = {"segments": len(segs), "heldout_segments": len(held),
                  "train_positive_windows": len(pos), "hard_negative_windows": len(hard),
                  "negative_windows": len(neg), "heldout_positives": len(res.heldout_positives)}
    return res


def negative_audio(keywords, segs: list[HeardSegment], margin_s: float = 0.5,
                   min_s: float = 0.5, unsure_probability: float = 0.5,
                   unheard_gap_s: float | None = 1.0, phonemes: bool = True) -> list:
    """The segments minus every occurrence of the keyword(s) (any probability) and their
    homophones, every word heard with
    probability < ``unsure_probability`` (``margin_s`` around each) and every stretch longer
    than ``unheard_gap_s`` with no word heard: utterance slices of at least ``min_s`` (label
    ``_unknown_``), to stream for false alarms."""
    from ..data import Utterance

    kws = _as_keywords(keywords)
    vocab = sorted({w.word for s in segs for w in s.words})
    _, same = _sound_alikes(kws, vocab, phonemes)
    _, zones = _keyword_zones(kws, segs, margin_s, unsure_probability, max_gap=unheard_gap_s, avoid=same)
    out = []
    for i, seg in enumerate(segs):
        cuts = sorted((max(a, seg.offset), min(b, seg.end)) for a, b in zones[i])
        t = seg.offset
        for a, b in [*cuts, (seg.end, seg.end)]:
            if a - t >= min_s:
                out.append(Utterance(id=f"free_{i:05d}_{t:.2f}", audio=seg.audio, offset=round(t, 3),
                                     duration=round(a - t, 3), label=UNKNOWN))
            t = max(t, b)
    return out


def calibrate_threshold(model, keyword_utts_or_none, negatives, fa_per_hour: float = 1.0,
                        floor: float = 0.05, detector=None) -> dict:
    """Detector threshold giving at most ``fa_per_hour`` false alarms per hour on ``negatives``
    (keyword-free utterances), and the false rejection rate there on the positives given; for
    a model of several keywords also one threshold per keyword, each for ``fa_per_hour`` of its
    own false alarms.

    Parameters
    ----------
    model : AcousticModel (keywords), eval mode
    keyword_utts_or_none : list of Utterance or None
        Held-out positives (label = their keyword); FRR is ``None`` without them.
    negatives : list of Utterance
    fa_per_hour : float
    floor : float
        Lowest threshold (and the level negative events are collected at).

    Returns
    -------
    dict: ``threshold`` (all keywords' false alarms together), ``fa_per_hour_target``,
    ``negative_hours``, ``negative_events``, ``frr`` (on the positives), ``positives``,
    ``frr_at_10x`` (threshold for ten times the rate); with several keywords ``thresholds``
    (per keyword), ``frr_per_keyword_thresholds`` and ``per_keyword`` (events, positives, FRR).
    """
    from ..metrics import threshold_for_fa_rate
    from ..tasks.keywords import KeywordTask
    from .detector import DetectorConfig, WindowClassifier
    from .evaluate import negative_events, positive_scores

    if not negatives:
        raise ConfigError("calibration needs keyword-free audio")
    cfg = detector or DetectorConfig()
    task = KeywordTask.from_labels(model.labels)
    classes, keywords = list(task.cfg.labels), task.keywords
    clf = WindowClassifier(model, int(round(cfg.window_s * model.feature_cfg.sample_rate)), cfg.batch_windows)
    events, hours = negative_events(clf, classes, keywords, cfg, negatives, floor)
    neg = np.asarray([e.score for e in events])

    def thr(scores, rate: float) -> float:
        return float(min(max(threshold_for_fa_rate(scores, hours, rate), floor), 1.0))

    # plain floats only: the dict goes into the model file, which loads with weights_only=True
    out = {"threshold": thr(neg, fa_per_hour), "fa_per_hour_target": float(fa_per_hour),
           "negative_hours": round(float(hours), 4), "negative_events": int(neg.size),
           "frr": None, "positives": 0}
    pos_utts = list(keyword_utts_or_none or [])
    pos = positive_scores(clf, classes, keywords, cfg, pos_utts) if pos_utts else np.zeros(0)
    if pos_utts:
        out.update(positives=int(pos.size), frr=float((pos < out["threshold"]).mean()),
                   frr_at_10x=float((pos < thr(neg, 10 * fa_per_hour)).mean()),
                   threshold_10x=thr(neg, 10 * fa_per_hour),
                   positive_scores=[round(float(p), 4) for p in pos])
    if len(keywords) > 1:
        per, thresholds = {}, {}
        for k in keywords:
            nk = np.asarray([e.score for e in events if e.keyword == k])
            pk = np.asarray([p for p, u in zip(pos, pos_utts) if u.label == k])
            thresholds[k] = thr(nk, fa_per_hour)
            per[k] = {"threshold": thresholds[k], "negative_events": int(nk.size), "positives": int(pk.size),
                      "frr": float((pk < thresholds[k]).mean()) if pk.size else None}
        out["thresholds"], out["per_keyword"] = thresholds, per
        if pos_utts:
            out["frr_per_keyword_thresholds"] = float(np.mean([p < thresholds[u.label] for p, u in zip(pos, pos_utts)]))
    return out


def stored_calibration(cal: dict, keywords: list[str]) -> dict:
    """The ``extra`` entries a calibrated model file carries (plain floats, for ``weights_only``
    loading): ``kws_threshold``, ``kws_thresholds`` (per keyword; the one threshold for each
    keyword when it was calibrated for all together) and ``kws_calibration`` (the figures)."""
    per = cal.get("thresholds") or {k: cal["threshold"] for k in keywords}
    return {"kws_threshold": cal["threshold"], "kws_thresholds": dict(per),
            "kws_calibration": {k: v for k, v in cal.items() if k != "positive_scores"}}


def write_mining_report(path: Path, mined: MinedExamples, cfg: MiningConfig) -> None:
    from ..fileio import write_json

    write_json(path, {**mined.summary(), "config": asdict(cfg)})

