"""Metrics with analytically known answers, and the PNG plots."""
from __future__ import annotations

import math

import numpy as np
import pytest

from speechrnn.metrics import (
    MetricsError, accuracy, confusion_matrix, det_points, eer, error_rates, error_report,
    frr_at_fa_per_hour, kws_det_curve, min_dcf, s_norm, threshold_for_fa_rate, top_k_accuracy,
    z_norm,
)


# --- WER / CER ------------------------------------------------------------------
def test_error_rates_per_utterance_and_corpus():
    refs = ["the cat sat", "a b c d", "hello"]
    hyps = ["the kat sat on", "a c d", "hello"]
    r = error_rates(refs, hyps, ids=["u1", "u2", "u3"])
    u1, u2, u3 = r.utterances
    assert (u1.substitutions, u1.deletions, u1.insertions) == (1, 0, 1)
    assert (u2.substitutions, u2.deletions, u2.insertions) == (0, 1, 0)
    assert u3.word_errors == 0 and u3.cer == 0.0
    assert r.ref_words == 8 and r.wer == pytest.approx(3 / 8)
    assert u1.char_errors == 4  # c->k plus " on"
    assert r.cer == pytest.approx((4 + 2 + 0) / (11 + 7 + 5))
    assert r.sentence_error_rate == pytest.approx(2 / 3)
    assert r.summary()["insertions"] == 1


def test_error_rates_handle_empty_text_and_whitespace():
    r = error_rates(["", "a  b "], ["x", "a b"])
    assert r.utterances[0].insertions == 1 and r.utterances[0].wer == 1.0
    assert r.utterances[1].word_errors == 0 and r.utterances[1].char_errors == 0
    with pytest.raises(MetricsError, match="2 references but 1"):
        error_rates(["a", "b"], ["a"])


def test_error_report_rows_worst_first():
    rows = error_report(["a b", "c d e"], ["a b", "x"], ids=["good", "bad"])
    assert [r["id"] for r in rows] == ["bad", "good"]
    assert rows[0]["errors"] == 3 and rows[0]["substitutions"] + rows[0]["deletions"] == 3


# --- keyword spotting -------------------------------------------------------------
def test_accuracy_and_confusion_matrix():
    t, p = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]
    assert accuracy(t, p) == pytest.approx(4 / 6)
    m = confusion_matrix(t, p, num_classes=4)
    assert m.shape == (4, 4) and m.sum() == 6
    assert m[0, 0] == 1 and m[0, 1] == 1 and m[2, 0] == 1 and m[2, 2] == 2 and m[3].sum() == 0
    assert np.trace(m) / m.sum() == pytest.approx(accuracy(t, p))


def test_frr_at_fa_per_hour_hand_worked():
    neg = [0.9, 0.8, 0.5, 0.2]  # 2 hours of negatives, 1 FA/h allowed -> 2 false alarms
    pos = [0.95, 0.85, 0.6, 0.4, -math.inf]
    thr = threshold_for_fa_rate(neg, neg_hours=2.0, fa_per_hour=1.0)
    assert 0.5 < thr < 0.6
    frr, thr2 = frr_at_fa_per_hour(pos, neg, neg_hours=2.0, fa_per_hour=1.0)
    assert thr2 == thr and frr == pytest.approx(2 / 5)  # 0.4 and the missed keyword
    # more false alarms allowed than negatives: everything detected except the true miss
    frr_all, thr_all = frr_at_fa_per_hour(pos, neg, neg_hours=2.0, fa_per_hour=10.0)
    assert thr_all == -math.inf and frr_all == pytest.approx(1 / 5)
    # zero false alarms allowed: threshold above the best negative
    frr0, thr0 = frr_at_fa_per_hour(pos, neg, neg_hours=2.0, fa_per_hour=0.0)
    assert thr0 > 0.9 and frr0 == pytest.approx(4 / 5)


def test_kws_det_curve_is_monotone_and_consistent():
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 200), rng.normal(-1, 1, 500)
    fa, frr, thr = kws_det_curve(pos, neg, neg_hours=5.0)
    assert np.all(np.diff(fa) <= 0) and np.all(np.diff(frr) >= 0) and np.isinf(thr[-1])
    assert fa[0] == pytest.approx(100.0) and frr[-1] == 1.0
    target, got_thr = frr_at_fa_per_hour(pos, neg, 5.0, 2.0)
    i = np.searchsorted(thr, got_thr)
    assert fa[i] <= 2.0 and frr[i] == pytest.approx(target)


# --- speakers -----------------------------------------------------------------------
def test_top_k_accuracy():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    labels = [0, 1, 2]
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(1.0)
    with pytest.raises(MetricsError):
        top_k_accuracy(scores, labels, 4)


def test_eer_separable_identical_and_overlap():
    assert eer([2.0, 3.0, 4.0], [0.0, 1.0])[0] == 0.0
    rate, thr = eer([2.0, 3.0], [0.0, 1.0])
    assert rate == 0.0 and 1.0 < thr <= 2.0
    same = np.arange(10.0)
    assert eer(same, same)[0] == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    big = rng.normal(size=20000)
    assert eer(big, rng.normal(size=20000))[0] == pytest.approx(0.5, abs=0.02)
    # unit-variance Gaussians 2 apart: EER = Phi(-1) = 0.1587
    tgt, non = rng.normal(1, 1, 20000), rng.normal(-1, 1, 20000)
    rate, thr = eer(tgt, non)
    assert rate == pytest.approx(0.1587, abs=0.01) and abs(thr) < 0.05


def test_min_dcf_hand_worked():
    tgt, non = [0.6, 0.9], [0.1, 0.7]
    # thresholds 0.1/0.6/0.7/0.9/inf -> DCF 0.5/0.25/0.5/0.25/0.5, normaliser 0.5
    value, thr = min_dcf(tgt, non, p_target=0.5)
    assert value == pytest.approx(0.5) and thr == 0.6
    # costly misses: DCF = 5 P_miss + 0.5 P_fa -> 0.5/0.25/2.75/2.5/5, normaliser min(5, 0.5)
    value, thr = min_dcf(tgt, non, p_target=0.5, c_miss=10.0)
    assert value == pytest.approx(0.25 / 0.5) and thr == 0.6
    assert min_dcf([2.0, 3.0], [0.0, 1.0], p_target=0.01)[0] == 0.0
    assert min_dcf(np.arange(5.0), np.arange(5.0), p_target=0.01)[0] == pytest.approx(1.0)


def test_det_points_endpoints():
    p_fa, p_miss, thr = det_points([1.0, 2.0], [0.0, 1.5])
    assert (p_fa[0], p_miss[0]) == (1.0, 0.0) and (p_fa[-1], p_miss[-1]) == (0.0, 1.0)


def test_score_normalisation():
    cohort = np.array([[1.0, 3.0], [0.0, 0.0 + 2.0]])  # means 2 and 1, std 1 and 1
    assert z_norm([4.0, 1.0], cohort) == pytest.approx([2.0, 0.0])
    enroll = np.array([[0.0, 2.0]])  # mean 1 std 1
    test = np.array([[2.0, 4.0]])  # mean 3 std 1
    assert s_norm([3.0], enroll, test) == pytest.approx([0.5 * (2.0 + 0.0)])
    # adaptive: top-2 of [0, 10, 12] -> mean 11, std 1
    assert z_norm([13.0], [[0.0, 10.0, 12.0]], top_k=2) == pytest.approx([2.0])


# --- plots ------------------------------------------------------------------------------
def test_plots_write_png(tmp_path):
    pytest.importorskip("matplotlib")
    from speechrnn.plots import plot_confusion, plot_det

    rng = np.random.default_rng(0)
    fa, frr, _ = kws_det_curve(rng.normal(1, 1, 100), rng.normal(-1, 1, 300), 2.0)
    det = plot_det({"model": (fa, frr), "other": (fa * 2, frr)}, tmp_path / "det" / "det.png")
    conf = plot_confusion(np.array([[5, 1], [2, 7]]), ["yes", "no"], tmp_path / "conf.png")
    for p in (det, conf):
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(MetricsError, match="C, C"):
        plot_confusion(np.ones((2, 3)), ["a", "b"], tmp_path / "bad.png")


def test_det_plot_of_a_perfect_detector_does_not_crash(tmp_path):
    """Nothing positive to put on log axes (EER 0): the plot is still written, linear axes."""
    pytest.importorskip("matplotlib")
    from speechrnn.plots import plot_det

    fa, frr, _ = kws_det_curve(np.array([5.0, 6.0]), np.array([-5.0, -6.0]), 1.0)
    p = plot_det({"perfect": ([0.0, 0.0], [0.0, 0.0])}, tmp_path / "det.png")
    assert p.read_bytes()[:4] == b"\x89PNG"
    p = plot_det({"perfect": (fa, frr)}, tmp_path / "det2.png")
    assert p.read_bytes()[:4] == b"\x89PNG"


def test_snorm_pairs_equals_s_norm_per_trial():
    """Per-embedding cohort statistics (memory O(N K)) give exactly the per-trial s-norm."""
    from speechrnn.metrics.trials import all_pairs, cosine_matrix, pair_scores, snorm_pairs

    rng = np.random.default_rng(0)
    emb, cohort = rng.standard_normal((12, 8)), rng.standard_normal((30, 8))
    i, j, _ = all_pairs([k % 3 for k in range(12)])
    c = cosine_matrix(emb, cohort)
    for top_k in (None, 5):
        ref = s_norm(pair_scores(emb, i, j), c[i], c[j], top_k=top_k)
        assert snorm_pairs(emb, i, j, cohort, top_k=top_k) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def _peak_bytes(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_pair_scores_memory_does_not_grow_with_trials_times_dimensions():
    """All pairs of 600 utterances (179,700 trials, D=256): gathering both sides at once needs
    2 x T x D floats (368 MB); chunked scoring needs a few MB beyond its (T,) output."""
    from speechrnn.metrics.trials import all_pairs, l2_normalize, pair_scores

    rng = np.random.default_rng(0)
    emb = rng.standard_normal((600, 256)).astype(np.float32)
    i, j, _ = all_pairs(np.arange(600) % 40)
    s, peak = _peak_bytes(lambda: pair_scores(emb, i, j))
    t_by_d = len(i) * emb.shape[1] * 4
    assert peak < t_by_d / 4, f"peak {peak / 1e6:.0f} MB for {t_by_d / 1e6:.0f} MB of trials x dims"
    e = l2_normalize(emb)
    pick = rng.choice(len(i), 500, replace=False)
    assert s.shape == (len(i),)
    assert s[pick] == pytest.approx((e[i[pick]] * e[j[pick]]).sum(axis=1), abs=1e-6)


def test_sample_pairs_draws_the_same_pairs_as_listing_them_all_in_small_memory():
    """Sampled dev pairs equal the old 'list every pair, then choose' selection, bit for bit,
    without listing the 8 million pairs of 4,000 utterances (~260 MB)."""
    from speechrnn.metrics.trials import all_pairs, pair_count, pairs_at, sample_pairs

    for n, k in [(300, 5000), (4000, 50000)]:
        labels = np.arange(n) % 37
        got, peak = _peak_bytes(lambda: sample_pairs(labels, k, seed=0))
        i, j, same = all_pairs(labels)
        pick = np.random.default_rng(0).choice(len(i), k, replace=False)
        for a, b in zip(got, (i[pick], j[pick], same[pick])):
            np.testing.assert_array_equal(a, b)
        if n == 4000:
            assert peak < 16e6, f"peak {peak / 1e6:.0f} MB"
    i, j, same = sample_pairs([0, 0, 1], 10)  # fewer pairs than asked: all of them
    assert (i.tolist(), j.tolist(), same.tolist()) == ([0, 0, 1], [1, 2, 2], [True, False, False])
    ii, jj = pairs_at(np.arange(pair_count(7)), 7)
    np.testing.assert_array_equal(np.stack([ii, jj]), np.stack(np.triu_indices(7, k=1)))
