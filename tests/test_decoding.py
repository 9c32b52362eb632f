"""Decoding: greedy, beam (+LM, lexicon, hotwords), word alignment, keyword search."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from speechrnn.config import from_dict
from speechrnn.decoding import (
    DecodingConfig, DecodingError, align_words, beam_search, beam_search_batch, decode,
    greedy_decode, ids_to_text, keyword_scores, keyword_search, text_to_ids,
)
from speechrnn.errors import ConfigError
from speechrnn.lm import build_arpa

needs_beam = pytest.mark.skipif(
    importlib.util.find_spec("pyctcdecode") is None or importlib.util.find_spec("kenlm") is None,
    reason="beam search needs the 'lm' extra (pyctcdecode, kenlm)",
)

LABELS = ["<blank>", " ", *"abcdefghijklmnopqrstuvwxyz", "'"]
V = len(LABELS)
IDX = {s: i for i, s in enumerate(LABELS)}


def frames_to_log_probs(frames: list, peak: float = 0.9) -> torch.Tensor:
    """(T, V) log-probs; each frame is a symbol ("_" = blank) or a dict symbol -> prob."""
    out = []
    for f in frames:
        dist = {"_": peak} if f == "_" else ({f: peak} if isinstance(f, str) else f)
        p = np.full(V, 0.0)
        for sym, prob in dist.items():
            p[IDX["<blank>" if sym == "_" else sym]] = prob
        rest = 1.0 - p.sum()
        p[p == 0] = rest / (p == 0).sum()
        out.append(np.log(p))
    return torch.tensor(np.array(out), dtype=torch.float32)


def spell(text: str, hold: int = 1, gap: int = 1) -> list:
    """Frames for ``text``: each symbol held ``hold`` frames, then ``gap`` blanks."""
    frames = ["_"]
    for ch in text:
        frames += [ch] * hold + ["_"] * gap
    return frames


@pytest.fixture(scope="module")
def cat_lm(tmp_path_factory):
    texts = ["the cat sat on the mat", "the cat ran", "a cat and the dog", "the dog sat"] * 3
    return build_arpa(texts, tmp_path_factory.mktemp("lm") / "cat.arpa", order=3)


def ambiguous_the_cat() -> torch.Tensor:
    """"the cat" where the c frame slightly prefers k: greedy says "the kat"."""
    frames = spell("the ") + ["_", {"k": 0.5, "c": 0.45}, "_"] + spell("at")[1:]
    return frames_to_log_probs(frames)


# --- greedy -------------------------------------------------------------------
def test_greedy_collapses_repeats_and_drops_blanks():
    frames = ["_", "c", "c", "_", "a", "t", "t", "_", " ", "a", "l", "_", "l", "_"]
    ids = greedy_decode(frames_to_log_probs(frames).unsqueeze(0))[0]
    assert ids_to_text(ids, LABELS) == "cat all"


def test_greedy_batch_equals_items_with_padding():
    torch.manual_seed(0)
    lengths = [20, 12, 5]
    x = torch.randn(3, 20, V).log_softmax(-1)
    x[1, 12:] = torch.randn(8, V) * 50  # garbage padding must not matter
    x[2, 5:] = 0.0
    batch = greedy_decode(x, torch.tensor(lengths))
    for i, n in enumerate(lengths):
        assert batch[i] == greedy_decode(x[i : i + 1, :n])[0]


def test_greedy_rejects_bad_shapes():
    with pytest.raises(DecodingError, match="shape"):
        greedy_decode(torch.zeros(5, V))
    with pytest.raises(DecodingError, match="lengths"):
        greedy_decode(torch.zeros(1, 5, V), [9])


# --- beam search --------------------------------------------------------------
@needs_beam
def test_beam_without_lm_matches_greedy_on_peaked_posteriors():
    rng = np.random.default_rng(1)
    for _ in range(5):
        words = ["".join(rng.choice(list("abcdefgh"), size=rng.integers(2, 5))) for _ in range(3)]
        lp = frames_to_log_probs(spell(" ".join(words)), peak=0.95)
        greedy = ids_to_text(greedy_decode(lp.unsqueeze(0))[0], LABELS)
        result = beam_search(lp, LABELS, beam_size=16)
        assert result.text == greedy == " ".join(words)
        assert result.tokens == text_to_ids(result.text, LABELS)


@needs_beam
def test_lm_fusion_fixes_spelling_toward_in_lm_word(cat_lm):
    lp = ambiguous_the_cat()
    assert beam_search(lp, LABELS, beam_size=16).text == "the kat"
    assert beam_search(lp, LABELS, beam_size=16, lm=cat_lm, alpha=0.5, beta=1.0).text == "the cat"


@needs_beam
def test_lexicon_without_lm_prefers_known_words():
    lp = ambiguous_the_cat()
    assert beam_search(lp, LABELS, beam_size=16, lexicon=["the", "cat"]).text == "the cat"


@needs_beam
def test_hotword_boost_changes_output():
    lp = ambiguous_the_cat()
    assert beam_search(lp, LABELS, beam_size=16).text == "the kat"
    out = beam_search(lp, LABELS, beam_size=16, hotwords=["cat"], hotword_weight=5.0)
    assert out.text == "the cat"


@needs_beam
def test_beam_nbest_and_batch_with_padding():
    lp = ambiguous_the_cat()
    nbest = beam_search(lp, LABELS, beam_size=16, nbest=3)
    assert [r.text for r in nbest[:2]] == ["the kat", "the cat"]
    assert nbest[0].score >= nbest[1].score
    padded = torch.cat([lp, torch.zeros(7, V)]).unsqueeze(0).repeat(2, 1, 1)  # (2,T+7,V)
    outs = beam_search_batch(padded, [lp.shape[0], lp.shape[0]], LABELS, beam_size=16)
    assert [r.text for r in outs] == ["the kat", "the kat"]


@needs_beam
def test_decoders_are_cached_per_setting(cat_lm):
    from speechrnn.decoding import beam as beam_mod

    beam_mod.clear_caches()
    lp = ambiguous_the_cat()
    for _ in range(3):
        beam_search(lp, LABELS, beam_size=8, lm=cat_lm)
    info = beam_mod._build_decoder.cache_info()
    assert info.misses == 1 and info.hits == 2
    beam_search(lp, LABELS, beam_size=8, lm=cat_lm, alpha=0.9)  # new weights: new decoder
    assert beam_mod._build_decoder.cache_info().misses == 2
    assert beam_mod._load_kenlm.cache_info().misses == 1  # the KenLM model is shared


@needs_beam
def test_beam_rejects_label_mismatch():
    with pytest.raises(DecodingError, match="classes"):
        beam_search(torch.zeros(4, V + 1), LABELS)


# --- alignment ----------------------------------------------------------------
def test_word_timestamps_match_known_frames():
    # frames: 0-1 blank | "the" at 2..7 | 8-9 blank/space | "cat" at 10..19 | blanks
    frames = ["_", "_", "t", "t", "h", "h", "e", "e", " ", "_"]
    frames += ["c"] * 3 + ["_"] + ["a"] * 3 + ["_"] + ["t", "t"] + ["_"] * 4
    lp = frames_to_log_probs(frames, peak=0.8)
    tokens = greedy_decode(lp.unsqueeze(0))[0]
    shift = 0.03
    words = align_words(lp, tokens, LABELS, frame_shift_s=shift)
    assert [w.word for w in words] == ["the", "cat"]
    expected = [(2, 8), (10, 20)]
    for w, (s, e) in zip(words, expected):
        assert abs(w.start - s * shift) <= shift + 1e-9
        assert abs(w.end - e * shift) <= shift + 1e-9
        assert 0.7 < w.confidence <= 0.81


def test_alignment_confidence_lower_for_uncertain_word():
    frames = spell("go ") + [{"u": 0.35}, "_", {"p": 0.35}, "_"]
    lp = frames_to_log_probs(frames)
    words = align_words(lp, text_to_ids("go up", LABELS), LABELS, 0.03)
    assert words[0].confidence > 0.85 > 0.4 > words[1].confidence


def test_alignment_needs_enough_frames():
    lp = frames_to_log_probs(["a", "_"])
    with pytest.raises(DecodingError, match="frames"):
        align_words(lp, text_to_ids("aaa", LABELS), LABELS, 0.03)


# --- lexicon-constrained search (flashlight-text) --------------------------------
needs_flashlight = pytest.mark.skipif(
    importlib.util.find_spec("flashlight") is None or importlib.util.find_spec("kenlm") is None,
    reason="lexicon decoding needs the 'lm' extra (flashlight-text, kenlm)",
)


@needs_flashlight
def test_lexicon_search_outputs_only_lexicon_words(cat_lm):
    from speechrnn.decoding import arpa_unigrams, lexicon_search

    lp = ambiguous_the_cat()
    assert lexicon_search(lp, LABELS, lexicon=["the", "cat", "kit"]).text == "the cat"
    # the LM's unigrams are the default lexicon; every output word is one of them
    words = set(arpa_unigrams(cat_lm))
    assert words == {"the", "cat", "sat", "on", "mat", "ran", "a", "and", "dog"}
    out = lexicon_search(lp, LABELS, cat_lm, alpha=0.5, beta=1.0, nbest=3)
    assert out[0].text == "the cat" and out[0].tokens == text_to_ids("the cat", LABELS)
    assert all(set(r.text.split()) <= words for r in out)
    assert out[0].score >= out[-1].score
    # a clean spelling of a lexicon word passes through; with repeats (blank between l's)
    lp2 = frames_to_log_probs(spell("a ball"), peak=0.95)
    assert lexicon_search(lp2, LABELS, lexicon=["a", "ball", "bal"]).text == "a ball"
    assert lexicon_search(lp2[:0], LABELS, lexicon=["a"]).text == ""


@needs_flashlight
def test_lexicon_search_lexicon_file_and_refusals(tmp_path, cat_lm):
    from speechrnn.decoding import lexicon_search

    lex = tmp_path / "words.txt"
    lex.write_text("the\ncat\nnaïve\n\n")  # "naïve" cannot be spelled with LABELS: skipped
    lp = ambiguous_the_cat()
    assert lexicon_search(lp, LABELS, lexicon=lex).text == "the cat"
    with pytest.raises(DecodingError, match="no lexicon word"):
        lexicon_search(lp, LABELS, lexicon=["naïve"])
    with pytest.raises(DecodingError, match="lexicon"):
        lexicon_search(lp, LABELS)  # neither a lexicon nor an ARPA LM
    with pytest.raises(DecodingError, match="not found"):
        lexicon_search(lp, LABELS, tmp_path / "none.arpa")
    with pytest.raises(DecodingError, match="classes"):
        lexicon_search(torch.zeros(4, V + 1), LABELS, lexicon=["the"])


@needs_flashlight
def test_lexicon_search_with_pronunciations_for_a_phone_model(tmp_path):
    """Labels that are not letters (phones): the lexicon gives each word's spellings in them."""
    from speechrnn.decoding import lexicon_search
    from speechrnn.decoding.lexicon import read_lexicon

    phones = ["<b>", " ", "k", "ae", "t", "aa", "d", "g", "iy", "ay", "dh", "er"]
    ix = {p: i for i, p in enumerate(phones)}

    def frames(seq, peak=0.9):  # each phone one frame then a blank; "|" = word separator
        out = []
        for p in seq:
            for sym in ([" "] if p == "|" else [p]) + ["<b>"]:
                row = np.full(len(phones), (1 - peak) / (len(phones) - 1))
                row[ix[sym]] = peak
                out.append(np.log(row))
        return torch.tensor(np.array(out), dtype=torch.float32)

    lex = tmp_path / "lexicon.txt"
    lex.write_text("cat k ae t\ncot k aa t\ndog d aa g\neither iy dh er\neither ay dh er\n")
    assert read_lexicon(lex)["either"] == [["iy", "dh", "er"], ["ay", "dh", "er"]]
    out = lexicon_search(frames(["k", "aa", "t", "|", "d", "aa", "g"]), phones, lexicon=lex)
    assert out.text == "cot dog"
    assert [phones[i] for i in out.tokens] == ["k", "aa", "t", " ", "d", "aa", "g"]  # the path's
    # both pronunciations of "either" reach the same word; a mapping works like the file
    for first in ("iy", "ay"):
        lp = frames([first, "dh", "er", "|", "k", "ae", "t"])
        assert lexicon_search(lp, phones, lexicon=read_lexicon(lex)).text == "either cat"


# --- config-driven batch decoding ----------------------------------------------
@needs_beam
def test_decode_with_config_gives_text_and_words(cat_lm):
    lp = ambiguous_the_cat()
    batch = torch.stack([lp, lp])  # (2,T,V)
    cfg = from_dict(DecodingConfig, {"method": "beam", "beam_size": 16, "lm_path": str(cat_lm)})
    results = decode(batch, [lp.shape[0]] * 2, LABELS, cfg, frame_shift_s=0.03)
    assert [r.text for r in results] == ["the cat", "the cat"]
    assert [w.word for w in results[0].words] == ["the", "cat"]
    greedy = decode(batch, [lp.shape[0]] * 2, LABELS, frame_shift_s=0.03)
    assert greedy[0].text == "the kat" and greedy[0].score < 0


@needs_flashlight
def test_decode_with_lexicon_method(cat_lm):
    lp = ambiguous_the_cat()
    cfg = from_dict(DecodingConfig, {"method": "lexicon", "lm_path": str(cat_lm), "beta": 1.0})
    results = decode(torch.stack([lp, lp]), [lp.shape[0]] * 2, LABELS, cfg, frame_shift_s=0.03)
    assert [r.text for r in results] == ["the cat", "the cat"]
    assert [w.word for w in results[1].words] == ["the", "cat"]


def test_decoding_config_is_strict(tmp_path):
    with pytest.raises(ConfigError, match="beam_sise"):
        from_dict(DecodingConfig, {"beam_sise": 3})
    with pytest.raises(ConfigError, match="lm_path"):
        from_dict(DecodingConfig, {"method": "beam", "lm_path": str(tmp_path / "none.arpa")})
    with pytest.raises(ConfigError, match="greedy"):
        from_dict(DecodingConfig, {"hotwords": ["x"]})
    with pytest.raises(ConfigError, match="lexicon"):
        from_dict(DecodingConfig, {"method": "lexicon"})  # no words to constrain to
    with pytest.raises(ConfigError, match="hotwords"):
        from_dict(DecodingConfig, {"method": "lexicon", "hotwords": ["x"]})


def test_decoding_config_ranges_are_checked():
    """A huge beam ran for minutes on a 2 s clip; NaN weights silently decoded nonsense."""
    for bad in ({"beam_size": 0}, {"beam_size": 1_000_000}, {"beam_size": 2.5}, {"alpha": -1.0},
                {"alpha": float("nan")}, {"beta": float("inf")}, {"unk_score_offset": 5.0},
                {"method": "beam", "hotword_weight": -1.0}, {"method": "beam", "hotwords": [" "]}):
        key = next(iter(k for k in bad if k != "method"))
        with pytest.raises(ConfigError, match=f"DecodingConfig.{key}"):
            from_dict(DecodingConfig, bad)
    lp = ambiguous_the_cat()
    with pytest.raises(ConfigError, match="beam_size"):  # built directly, checked at decode time
        decode(lp[None], [lp.shape[0]], LABELS, DecodingConfig(method="beam", beam_size=10**6))
    with pytest.raises(ConfigError, match="method"):
        decode(lp[None], [lp.shape[0]], LABELS, DecodingConfig(method="viterbi"))
    assert from_dict(DecodingConfig, {"method": "beam", "beam_size": 4096}).beam_size == 4096


def test_aligned_words_always_spell_the_text_of_the_tokens():
    """Words come from the tokens' symbols split at whitespace, like the text: a separator
    token, or a space inside a subword symbol, starts a new word."""
    labels = ["<b>", " ", "a", "b", " ab", "c"]
    lp = torch.log(torch.full((12, 6), 0.5 / 5))
    for t, tok in enumerate([2, 0, 3, 4, 0, 5, 1, 0, 5, 0, 2, 0]):
        lp[t, tok] = np.log(0.5)
    tokens = [2, 3, 4, 5, 1, 5, 2]  # "ab" + " ab" + "c" + " " + "c" + "a" -> "ab abc ca"
    words = align_words(lp, tokens, labels, 0.1)
    assert " ".join(w.word for w in words) == ids_to_text(tokens, labels) == "ab abc ca"
    assert [(round(w.start, 2), round(w.end, 2)) for w in words] == [(0.0, 0.3), (0.3, 0.6), (0.8, 1.1)]


@needs_flashlight
def test_lexicon_words_emitted_back_to_back_keep_their_boundary(cat_lm):
    """The search may start a word right after the previous one's last letter, with no
    separator frame: its words must still be the text's words ("a" "cat", not "acat")."""
    from speechrnn.decoding import lexicon_search

    packed = frames_to_log_probs(["a", "c", "a", "t"], peak=0.95)  # no room for a separator
    loose = frames_to_log_probs(spell("acat"), peak=0.95)             # blanks between letters
    for lp in (packed, loose):
        r = lexicon_search(lp, LABELS, lexicon=["a", "cat"], beta=1.0)
        assert r.text == "a cat" and r.tokens == text_to_ids("a cat", LABELS)
        cfg = DecodingConfig(method="lexicon", lexicon_path=None, lm_path=str(cat_lm), beta=1.0)
        d = decode(lp[None], [lp.shape[0]], LABELS, cfg, frame_shift_s=0.03)[0]
        assert d.text == "a cat"
        assert " ".join(w.word for w in d.words) == d.text
        assert d.words[0].end <= d.words[1].start and d.words[1].end <= lp.shape[0] * 0.03 + 1e-9


def test_long_alignment_keeps_backpointers_bounded(monkeypatch):
    """An hour of speech is ~120k frames x ~100k states: every backpointer at once was ~12 GB.
    They are kept one block at a time; the words are the same as with all of them."""
    import tracemalloc

    from speechrnn.decoding import align as align_mod

    rng = np.random.default_rng(0)
    text = " ".join(rng.choice(["cat", "dog", "sat", "on", "the", "mat"], size=250))  # ~1000 tokens
    tokens = text_to_ids(text, LABELS)
    lp = frames_to_log_probs(spell(text, hold=2, gap=1), peak=0.6)  # (T, V), T ~ 3000
    full = align_words(lp, tokens, LABELS, 0.03)  # backpointers T x S ~ 6 MB at once
    monkeypatch.setattr(align_mod, "BACKPOINTER_BYTES", 256 * 1024)
    tracemalloc.start()
    try:
        bounded = align_words(lp, tokens, LABELS, 0.03)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert bounded == full and " ".join(w.word for w in full) == text
    assert peak < 2.5 * 2**20, peak  # input copies + one block + block-start scores


# --- keyword search -------------------------------------------------------------
def keyword_fixture() -> tuple[torch.Tensor, int, int]:
    """"hello there my cat is here" with "cat" spelled from frame ``start`` to ``end``."""
    before = spell("hello there my ")
    start = len(before)
    frames = before + spell("cat")[1:] + spell(" is here")[1:]
    end = start + 4  # c _ a _ t -> t at start+4
    return frames_to_log_probs(frames), start, end


def test_keyword_found_at_known_span_and_absent_keyword_scores_lower():
    lp, start, end = keyword_fixture()
    hits = keyword_search(lp, text_to_ids("cat", LABELS), threshold=-1.0)
    assert len(hits) == 1
    assert abs(hits[0].start - start) <= 1 and abs(hits[0].end - end) <= 1
    present = keyword_scores(lp, text_to_ids("cat", LABELS)).scores.max()
    absent = keyword_scores(lp, text_to_ids("dog", LABELS)).scores.max()
    assert present > -0.5 and absent < present - 3.0
    assert keyword_search(lp, text_to_ids("dog", LABELS), threshold=-1.0) == []


def test_keyword_multiword_and_repeated_letters():
    lp = frames_to_log_probs(spell("we all see the ball"))
    ks = keyword_scores(lp, text_to_ids("all", LABELS))
    hits = keyword_search(lp, text_to_ids("all", LABELS), threshold=-1.0)
    assert len(hits) == 2  # "all" and the tail of "ball"
    assert hits[0].start < hits[1].start
    # a, l, blank, l: CTC needs 4 frames (a blank between the repeated l's)
    assert np.isneginf(ks.scores[:3]).all() and np.isfinite(ks.scores[3])
    phrase = keyword_search(lp, text_to_ids("see the", LABELS), threshold=-1.0)
    assert len(phrase) == 1 and phrase[0].times(0.03)[1] > phrase[0].times(0.03)[0]


def test_keyword_rejects_blank_ids():
    with pytest.raises(DecodingError, match="non-blank"):
        keyword_scores(torch.zeros(5, V), [0, 3])


def test_at_word_boundaries_rejects_keywords_inside_words_and_accepts_pauses():
    from speechrnn.decoding import at_word_boundaries

    sp, g, o, a, n, x = 1, 7, 15, 2, 14, 24  # best-path token ids (0 = blank)
    go = [g, o]
    ok = lambda path, s, e, **kw: at_word_boundaries(np.array(path), s, e, go, sp, **kw)  # noqa: E731
    assert ok([x, sp, g, g, o, 0, sp, x], 2, 4)          # "x go x"
    assert ok([x, sp, g, g, o, 0, sp, x], 3, 4)          # match starting inside the run of g
    assert ok([x, sp, g, o, o, sp, x], 2, 3)             # ... or ending inside the run of o
    assert ok([0, g, o, 0], 1, 2)                        # alone in the window
    assert not ok([g, o, n, a], 0, 1)                    # "gone"
    assert not ok([a, g, o], 1, 2)                       # "ago"
    assert not ok([a, 0, 0, 0, g, o], 4, 5)              # no space and no pause rule
    assert ok([a, 0, 0, 0, g, o], 4, 5, pause=3)         # three blank frames = a pause
    assert not ok([a, 0, 0, 0, g, o], 4, 5, pause=4)
    assert ok([g, o, 0, 0, 0, n], 0, 1, pause=3) and not ok([g, o, 0, 0, n], 0, 1, pause=3)
