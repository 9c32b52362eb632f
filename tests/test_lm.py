"""Word n-gram LM estimation: kenlm loads the ARPA, probabilities are normalised and sensible."""
from __future__ import annotations

import math

import pytest

kenlm = pytest.importorskip("kenlm")

from speechrnn.lm import (  # noqa: E402
    LanguageModelError, build_arpa, count_ngrams, discounts, estimate, read_sentences,
)

TEXTS = [
    "the cat sat on the mat", "the cat ran", "a dog sat on a log", "the dog ran to the cat",
    "my cat is here", "the mat is red", "a cat and a dog", "the red dog sat",
]


def vocab(texts) -> list[str]:
    return sorted({w for t in texts for w in t.split()}) + ["</s>", "<unk>"]


def next_word_mass(model, history: list[str], words: list[str]) -> float:
    """Sum over ``words`` of P(w | <s> history) from kenlm's full-state scoring."""
    state = kenlm.State()
    model.BeginSentenceWrite(state)
    for w in history:
        out = kenlm.State()
        model.BaseScore(state, w, out)
        state = out
    return sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in words)


@pytest.mark.parametrize("order", [2, 3, 4])
def test_kenlm_loads_and_distributions_sum_to_one(tmp_path, order):
    path = build_arpa(TEXTS, tmp_path / "lm.arpa", order=order)
    model = kenlm.Model(str(path))
    assert model.order == order
    for history in ([], ["the"], ["the", "cat"], ["a", "dog", "sat"], ["zebra"], ["cat", "zebra"]):
        assert next_word_mass(model, history, vocab(TEXTS)) == pytest.approx(1.0, abs=1e-4)


def test_scores_are_sensible(tmp_path):
    model = kenlm.Model(str(build_arpa(TEXTS, tmp_path / "lm.arpa", order=3)))
    assert model.score("the cat sat on the mat") > model.score("mat the on sat cat the")
    assert model.score("the cat") > model.score("the kat")  # unseen word costs
    assert math.isfinite(model.score("completely unseen words"))


def test_gzipped_arpa_is_reproducible_and_loads_like_plain(tmp_path):
    import gzip

    from speechrnn.decoding import arpa_unigrams

    plain = build_arpa(TEXTS, tmp_path / "lm.arpa", order=3)
    gz = build_arpa(TEXTS, tmp_path / "lm.arpa.gz", order=3)
    assert gzip.decompress(gz.read_bytes()) == plain.read_bytes()
    assert build_arpa(TEXTS, tmp_path / "again.arpa.gz", order=3).read_bytes() == gz.read_bytes()
    assert kenlm.Model(str(gz)).score("the cat sat") == kenlm.Model(str(plain)).score("the cat sat")
    assert arpa_unigrams(gz) == arpa_unigrams(plain)
    assert set(arpa_unigrams(plain)) == {w for t in TEXTS for w in t.split()}


def test_reads_text_file_and_rejects_bad_input(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat\n\nthe dog ran\n", encoding="utf-8")
    assert read_sentences(corpus) == [["the", "cat", "sat"], ["the", "dog", "ran"]]
    model = kenlm.Model(str(build_arpa(corpus, tmp_path / "sub" / "lm.arpa", order=2)))
    assert "cat" in model and "zebra" not in model
    with pytest.raises(LanguageModelError, match="not found"):
        build_arpa(tmp_path / "missing.txt", tmp_path / "x.arpa")
    with pytest.raises(LanguageModelError, match="line 2"):
        read_sentences(["fine", "bad <s> token"])
    with pytest.raises(LanguageModelError, match="order"):
        build_arpa(TEXTS, tmp_path / "x.arpa", order=1)
    with pytest.raises(LanguageModelError, match="no words"):
        build_arpa(["", "  "], tmp_path / "x.arpa")


def test_counts_discounts_and_continuation_probabilities():
    counts = count_ngrams([["a", "b"], ["a", "b"]], order=2)
    assert counts[1][("<s>", "a")] == 2 and counts[0][("</s>",)] == 2
    # counts-of-counts t1..t4 = 4, 2, 1, 1 -> Y = 0.5, D1 = 0.5, D2 = 1.25, D3 = 1
    adj = {("w%d" % i,): c for i, c in enumerate([1, 1, 1, 1, 2, 2, 3, 4])}
    assert discounts(adj) == pytest.approx((0.5, 1.25, 1.0))
    # "york" follows only "new": frequent but low continuation count -> its unigram
    # probability is below that of "the", which follows many different words
    sents = [["new", "york"]] * 5 + [[w, "the"] for w in ("in", "on", "at", "by")]
    probs, _ = estimate(sents, order=2)
    assert probs[0][("york",)] < probs[0][("the",)]
