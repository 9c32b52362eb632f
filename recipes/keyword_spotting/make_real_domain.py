"""Build a keyword target domain: running speech that holds KEYWORD, and a disjoint test set.

    python recipes/keyword_spotting/make_real_domain.py OUT --keyword seven [--seed 0]

Same voices and channel as the adaptation demo (recipes/adaptation/make_domain.py): festival's
ked, flite's rms and Piper's joe through a telephone line with 20-35 dB noise; fortunes text.
The keyword occurs in running sentences: the fortunes sentences that contain it, and others with
the keyword inserted at a random word boundary. Sentences with the keyword's near-misses
(speechrnn.kws.nearmiss: ``heaven``, ``eleven``, ``seventy`` for ``seven``) are over-sampled
in both parts, as real speech has them.

OUT/
  unlabeled/<voice>/recording-NN.wav  the user's unlabeled audio (~3-minute recordings with
                       pauses): what `kws train-custom --from-audio` mines; texts thrown away
  unlabeled_truth.jsonl  what was said in them (for checking the teacher only; never trained on)
  test.jsonl           labelled test sentences, none of them in the unlabeled audio: label
                       KEYWORD when the keyword is said, ``_unknown_`` otherwise (text kept)
  negatives.jsonl      the keyword-free test sentences (+ --extra-negatives manifests' ones):
                       the false-alarm audio of `kws evaluate --negatives`
  domain.json          counts and minutes
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "adaptation"))
from make_domain import VOICES, channel, join_recordings  # noqa: E402

from speechrnn.data.manifest import Utterance, read_manifest, write_manifest  # noqa: E402
from speechrnn.kws.evaluate import keyword_free  # noqa: E402
from speechrnn.kws.nearmiss import near_misses  # noqa: E402
from speechrnn.synth.presets import TranscriptionConfig, build_transcription  # noqa: E402
from speechrnn.synth.textsource import load_sentences  # noqa: E402
from speechrnn.text import normalize_text  # noqa: E402


def has_word(sentence: str, words) -> bool:
    return any(re.search(rf"(^| ){re.escape(w)}( |$)", sentence) for w in words)


def plan_sentences(keyword: str, n_kw: int, n_near: int, n_other: int, rng, exclude: set[str]):
    """(keyword sentences, near-miss sentences, other sentences), all distinct and not in
    ``exclude``; keyword sentences are natural ones first, then others with the keyword inserted."""
    sents = [s for s in load_sentences("fortunes", 4, 14) if s not in exclude]
    sents = [sents[i] for i in rng.permutation(len(sents))]
    vocab = sorted({w for s in sents[:4000] for w in s.split()})
    near = set(near_misses(keyword, vocab))
    natural = [s for s in sents if has_word(s, [keyword])]
    free = [s for s in sents if not has_word(s, [keyword])]
    near_s = [s for s in free if has_word(s, near)][:n_near]
    others = [s for s in free if s not in set(near_s)]
    kw = natural[:n_kw]
    carriers = others[n_other:]
    for s in carriers[: max(0, n_kw - len(kw))]:
        w = s.split()
        k = int(rng.integers(0, len(w) + 1))
        kw.append(" ".join(w[:k] + [keyword] + w[k:]))
    return kw, near_s, others[:n_other], sorted(near)


def synthesize(out: Path, sentences: list[str], seed: int, jobs: int) -> list[Utterance]:
    """Every sentence once, by one of the domain voices through the domain channel."""
    out.mkdir(parents=True, exist_ok=True)
    text = out / "sentences.txt"
    text.write_text("\n".join(sentences) + "\n")
    cfg = TranscriptionConfig(voices=VOICES, held_out_voices=0.0, seed=seed, jobs=jobs,
                              text_source=f"file:{text}", num=len(sentences), min_words=1,
                              max_words=40, dev_fraction=0.01, test_fraction=0.002,
                              augment=channel(), augment_eval=True, progress=False)
    summary = build_transcription(out / "corpus", cfg)
    if summary["failed"]:
        print(f"warning: {summary['failed']} clips failed to synthesize", flush=True)
    return [u for split in ("train", "dev", "test_seen")
            for u in read_manifest(out / "corpus" / f"{split}.jsonl")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--keyword", default="seven")
    ap.add_argument("--unlabeled-keyword", type=int, default=60, help="keyword sentences in the unlabeled audio")
    ap.add_argument("--unlabeled-other", type=int, default=150, help="other sentences in it (a third near-misses)")
    ap.add_argument("--test-keyword", type=int, default=60)
    ap.add_argument("--test-other", type=int, default=340, help="keyword-free test sentences (a quarter near-misses)")
    ap.add_argument("--extra-negatives", nargs="*", default=[],
                    help="more manifests of the domain with text (keyword-free lines join negatives.jsonl)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    kw = normalize_text(args.keyword)
    rng = np.random.default_rng(args.seed)
    extra = []
    for i, m in enumerate(args.extra_negatives):  # ids made unique across the manifests
        for u in read_manifest(m):
            u.id = f"x{i}_{u.id}"
            extra.append(u)
    used = {normalize_text(u.text) for u in extra if u.text}

    # unlabeled part first, then the test part from sentences it did not use
    ukw, unear, uother, near = plan_sentences(kw, args.unlabeled_keyword, args.unlabeled_other // 3,
                                              args.unlabeled_other - args.unlabeled_other // 3, rng, used)
    used |= set(ukw) | set(unear) | set(uother)
    # the inserted keyword sentences were made from carriers: keep their originals out of the test
    used |= {" ".join(w for w in s.split() if w != kw) for s in ukw}
    tkw, tnear, tother, _ = plan_sentences(kw, args.test_keyword, args.test_other // 4,
                                           args.test_other - args.test_other // 4, rng, used)

    unl = synthesize(out / "work_unlabeled", ukw + unear + uother, args.seed, args.jobs)
    rng_order = np.random.default_rng(args.seed + 1)
    unl = [unl[i] for i in rng_order.permutation(len(unl))]  # keyword sentences spread out
    made = join_recordings(unl, out / "unlabeled", args.seed)
    write_manifest(out / "unlabeled_truth.jsonl", unl)

    test = synthesize(out / "work_test", tkw + tnear + tother, args.seed + 7, args.jobs)
    for u in test:
        u.label = kw if has_word(u.text, [kw]) else "_unknown_"
    write_manifest(out / "test.jsonl", test)
    negatives, dropped = keyword_free([u for u in test if u.label == "_unknown_"] + extra, [kw])
    write_manifest(out / "negatives.jsonl", negatives)
    info = {
        "keyword": kw, "near_misses": near, "voices": VOICES,
        "unlabeled_recordings": len(made), "unlabeled_minutes": round(sum(m["seconds"] for m in made) / 60, 2),
        "unlabeled_keyword_sentences": sum(has_word(u.text, [kw]) for u in unl),
        "unlabeled_near_miss_sentences": sum(has_word(u.text, near) for u in unl),
        "test_keyword_clips": sum(u.label == kw for u in test),
        "test_other_clips": sum(u.label != kw for u in test),
        "test_near_miss_clips": sum(u.label != kw and has_word(u.text, near) for u in test),
        "negatives_utterances": len(negatives), "negatives_dropped_with_keyword": dropped,
        "negatives_hours": round(sum(u.duration or 0 for u in negatives) / 3600, 3),
    }
    (out / "domain.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
