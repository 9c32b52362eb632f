"""Build a keyword target domain: running speech that holds KEYWORD(s), and a disjoint test set.

    python recipes/keyword_spotting/make_real_domain.py OUT --keyword seven [--seed 0]
    python recipes/keyword_spotting/make_real_domain.py OUT --keyword yes no up down left right on off stop go \
        --unlabeled-keyword 15 --test-keyword 15      # the bundled model's ten (`kws adapt`)

Same voices and channel as the adaptation demo (recipes/adaptation/make_domain.py): festival's
ked, flite's rms and Piper's joe through a telephone line with 20-35 dB noise; fortunes text.
The keyword occurs in running sentences: the fortunes sentences that contain it (and no other
keyword given), and others with the keyword inserted at a random word boundary. Sentences with the keyword's near-misses
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


def plan_sentences(keywords: list[str], n_kw: int, n_near: int, n_other: int, rng, exclude: set[str]):
    """(keyword sentences, near-miss sentences, other sentences, near-miss words), all distinct and
    not in ``exclude``. Each keyword gets ``n_kw`` sentences that hold it and no other keyword:
    natural ones first, then keyword-free carriers with the keyword inserted."""
    sents = [s for s in load_sentences("fortunes", 4, 14) if s not in exclude]
    sents = [sents[i] for i in rng.permutation(len(sents))]
    vocab = sorted({w for s in sents[:4000] for w in s.split()})
    near = set().union(*(near_misses(k, vocab) for k in keywords)) - set(keywords)
    free = [s for s in sents if not has_word(s, keywords)]
    near_s = [s for s in free if has_word(s, near)][:n_near]
    others = [s for s in free if s not in set(near_s)]
    carriers = iter(others[n_other:])
    kw = []
    for k in keywords:
        rest = [o for o in keywords if o != k]
        mine = [s for s in sents if has_word(s, [k]) and not has_word(s, rest)][:n_kw]
        for s in [next(carriers) for _ in range(n_kw - len(mine))]:
            w = s.split()
            i = int(rng.integers(0, len(w) + 1))
            mine.append(" ".join(w[:i] + [k] + w[i:]))
        kw += mine
    return kw, near_s, others[:n_other], sorted(near)


def synthesize(out: Path, sentences: list[str], seed: int, jobs: int, chan: str = "telephone") -> list[Utterance]:
    """Every sentence once, by one of the domain voices through the domain channel."""
    out.mkdir(parents=True, exist_ok=True)
    text = out / "sentences.txt"
    text.write_text("\n".join(sentences) + "\n")
    cfg = TranscriptionConfig(voices=VOICES, held_out_voices=0.0, seed=seed, jobs=jobs,
                              text_source=f"file:{text}", num=len(sentences), min_words=1,
                              max_words=40, dev_fraction=0.01, test_fraction=0.002,
                              augment=channel(chan), augment_eval=True, progress=False)
    summary = build_transcription(out / "corpus", cfg)
    if summary["failed"]:
        print(f"warning: {summary['failed']} clips failed to synthesize", flush=True)
    return [u for split in ("train", "dev", "test_seen")
            for u in read_manifest(out / "corpus" / f"{split}.jsonl")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--keyword", nargs="+", default=["seven"],
                    help="one keyword, or several (e.g. the bundled model's ten: yes no up down ...)")
    ap.add_argument("--unlabeled-keyword", type=int, default=60, help="sentences per keyword in the unlabeled audio")
    ap.add_argument("--unlabeled-other", type=int, default=150, help="other sentences in it (a third near-misses)")
    ap.add_argument("--test-keyword", type=int, default=60, help="test sentences per keyword")
    ap.add_argument("--test-other", type=int, default=340, help="keyword-free test sentences (a quarter near-misses)")
    ap.add_argument("--extra-negatives", nargs="*", default=[],
                    help="more manifests of the domain with text (keyword-free lines join negatives.jsonl)")
    ap.add_argument("--channel", choices=["telephone", "room"], default="telephone",
                    help="the adaptation demo's channels (make_domain.py --channel)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    out = Path(args.out)
    kws = [normalize_text(k) for k in args.keyword]
    rng = np.random.default_rng(args.seed)
    extra = []
    for i, m in enumerate(args.extra_negatives):  # ids made unique across the manifests
        for u in read_manifest(m):
            u.id = f"x{i}_{u.id}"
            extra.append(u)
    used = {normalize_text(u.text) for u in extra if u.text}

    # unlabeled part first, then the test part from sentences it did not use
    ukw, unear, uother, near = plan_sentences(kws, args.unlabeled_keyword, args.unlabeled_other // 3,
                                              args.unlabeled_other - args.unlabeled_other // 3, rng, used)
    used |= set(ukw) | set(unear) | set(uother)
    # the inserted keyword sentences were made from carriers: keep their originals out of the test
    used |= {" ".join(w for w in s.split() if w not in kws) for s in ukw}
    tkw, tnear, tother, _ = plan_sentences(kws, args.test_keyword, args.test_other // 4,
                                           args.test_other - args.test_other // 4, rng, used)

    unl = synthesize(out / "work_unlabeled", ukw + unear + uother, args.seed, args.jobs, args.channel)
    rng_order = np.random.default_rng(args.seed + 1)
    unl = [unl[i] for i in rng_order.permutation(len(unl))]  # keyword sentences spread out
    made = join_recordings(unl, out / "unlabeled", args.seed)
    write_manifest(out / "unlabeled_truth.jsonl", unl)

    test = synthesize(out / "work_test", tkw + tnear + tother, args.seed + 7, args.jobs, args.channel)
    for u in test:  # a keyword sentence holds exactly one keyword
        u.label = next((k for k in kws if has_word(u.text, [k])), "_unknown_")
    write_manifest(out / "test.jsonl", test)
    negatives, dropped = keyword_free([u for u in test if u.label == "_unknown_"] + extra, kws)
    write_manifest(out / "negatives.jsonl", negatives)
    info = {
        "keyword": " ".join(kws), "keywords": kws, "near_misses": near, "voices": VOICES,
        "unlabeled_recordings": len(made), "unlabeled_minutes": round(sum(m["seconds"] for m in made) / 60, 2),
        "unlabeled_keyword_sentences": sum(has_word(u.text, kws) for u in unl),
        "unlabeled_near_miss_sentences": sum(has_word(u.text, near) for u in unl),
        "test_keyword_clips": sum(u.label in kws for u in test),
        "test_other_clips": sum(u.label not in kws for u in test),
        "test_near_miss_clips": sum(u.label not in kws and has_word(u.text, near) for u in test),
        "negatives_utterances": len(negatives), "negatives_dropped_with_keyword": dropped,
        "negatives_hours": round(sum(u.duration or 0 for u in negatives) / 3600, 3),
    }
    (out / "domain.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
