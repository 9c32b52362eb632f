"""Tests for speechrnn.features, split by property (torchaudio style):

* parity with the reference implementations (Kaldi via torchaudio.compliance, librosa),
* frame-count arithmetic, batch consistency (padding never changes a result),
* CMVN / deltas / SpecAugment / dither behaviour, TorchScript consistency,
* config validation, and the ``speechrnn features`` command.
"""
from __future__ import annotations

import io

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio

from speechrnn.config import from_dict
from speechrnn.errors import ConfigError
from speechrnn.features import FeatureConfig, MFCCFrontend, SpecAugmentConfig, compute_global_cmvn

torch.set_num_threads(1)

# Parity tolerance: float32 pipelines agree to ~1e-5 relative; we allow
# |ours - ref| <= PARITY_ATOL + PARITY_RTOL * |ref| elementwise.
PARITY_ATOL, PARITY_RTOL = 2e-3, 1e-4
# Batch consistency: a padded batch equals items processed alone to BATCH_TOL relative
# to the item's feature scale (max |value|). Same-length batches are bit-identical; with
# padding, matmul/FFT blocking over a different number of frames reorders float32 sums.
BATCH_TOL = 2e-5


def speechlike(seconds: float = 1.0, rate: int = 16000, seed: int = 0) -> torch.Tensor:
    """Harmonics with a moving pitch, an amplitude envelope, noise and a DC offset: (S,)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    f0 = 120 + 40 * torch.sin(2 * torch.pi * 1.3 * t)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / rate
    x = sum(torch.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 + 0.5 * torch.sin(2 * torch.pi * 3.0 * t + seed) ** 2
    x = 0.2 * env * x + 0.01 * torch.randn(len(t), generator=g, dtype=torch.float64) + 0.02
    return x.float()


def run(cfg: FeatureConfig, x: torch.Tensor) -> torch.Tensor:
    fe = MFCCFrontend(cfg).eval()
    feats, n = fe(x[None], torch.tensor([x.shape[0]]))
    return feats[0, : int(n[0])]


def assert_parity(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref.float(), atol=PARITY_ATOL, rtol=PARITY_RTOL)


# --------------------------------------------------------------------------- parity
@pytest.mark.parametrize(
    "kw",
    [
        dict(n_mfcc=13, n_mels=23),  # torchaudio.compliance.kaldi.mfcc defaults
        dict(n_mfcc=40, n_mels=40, lifter=0.0, preemphasis=0.0),
        dict(n_mfcc=20, n_mels=30, f_min=64.0, f_max=7000.0, win_ms=20.0, hop_ms=12.5),
    ],
)
def test_kaldi_mfcc_matches_torchaudio_compliance(kw):
    x = speechlike(1.0)
    cfg = FeatureConfig(style="kaldi", cmvn="none", **kw)
    ref = torchaudio.compliance.kaldi.mfcc(
        x[None], num_ceps=cfg.n_mfcc, num_mel_bins=cfg.n_mels, cepstral_lifter=cfg.lifter,
        preemphasis_coefficient=cfg.preemphasis, low_freq=cfg.f_min,
        high_freq=cfg.f_max or 0.0, frame_length=cfg.win_ms, frame_shift=cfg.hop_ms, dither=0.0,
    )
    assert_parity(run(cfg, x), ref)


def test_kaldi_fbank_matches_torchaudio_compliance():
    x = speechlike(0.7, seed=3)
    cfg = FeatureConfig(style="kaldi", kind="fbank", n_mels=40, cmvn="none")
    ref = torchaudio.compliance.kaldi.fbank(x[None], num_mel_bins=40, dither=0.0)
    assert_parity(run(cfg, x), ref)


def test_kaldi_parity_at_8khz():
    x = speechlike(0.5, rate=8000, seed=1)
    cfg = FeatureConfig(sample_rate=8000, n_mfcc=13, n_mels=15, cmvn="none")
    ref = torchaudio.compliance.kaldi.mfcc(
        x[None], num_ceps=13, num_mel_bins=15, sample_frequency=8000.0, dither=0.0
    )
    assert_parity(run(cfg, x), ref)


@pytest.mark.parametrize(
    "kw",
    [
        dict(n_mfcc=20, n_mels=40),
        dict(n_mfcc=13, n_mels=64, lifter=22.0, f_min=50.0, f_max=7600.0),
        dict(n_mfcc=40, n_mels=40, top_db=None),
    ],
)
def test_librosa_mfcc_matches_librosa(kw):
    x = speechlike(1.0, seed=2)
    cfg = FeatureConfig(style="librosa", cmvn="none", preemphasis=0.0, f_min=0.0, lifter=0.0)
    cfg = FeatureConfig(**{**cfg.__dict__, **kw})
    stft = dict(n_fft=cfg.fft_size, win_length=cfg.win_length, hop_length=cfg.hop_length,
                n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max)
    if cfg.top_db == 80.0:  # librosa.feature.mfcc's own default path
        ref = librosa.feature.mfcc(y=x.numpy(), sr=16000, n_mfcc=cfg.n_mfcc, lifter=cfg.lifter,
                                   **stft)  # (n_mfcc, T)
    else:
        mel = librosa.feature.melspectrogram(y=x.numpy(), sr=16000, **stft)
        ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=cfg.top_db), sr=16000,
                                   n_mfcc=cfg.n_mfcc, lifter=cfg.lifter)
    assert_parity(run(cfg, x), torch.from_numpy(ref.T))


def test_librosa_fbank_matches_power_to_db():
    x = speechlike(0.6, seed=4)
    cfg = FeatureConfig(style="librosa", kind="fbank", n_mels=40, cmvn="none",
                        preemphasis=0.0, f_min=0.0)
    mel = librosa.feature.melspectrogram(y=x.numpy(), sr=16000, n_fft=512, win_length=400,
                                         hop_length=160, n_mels=40)
    assert_parity(run(cfg, x), torch.from_numpy(librosa.power_to_db(mel).T))


def test_deltas_match_torchaudio_compute_deltas():
    x = speechlike(0.5)
    base = run(FeatureConfig(n_mfcc=13, n_mels=23, cmvn="none"), x)  # (T, 13)
    full = run(FeatureConfig(n_mfcc=13, n_mels=23, cmvn="none", deltas=2), x)  # (T, 39)
    d1 = torchaudio.functional.compute_deltas(base.T, win_length=5).T
    d2 = torchaudio.functional.compute_deltas(d1.T, win_length=5).T
    torch.testing.assert_close(full, torch.cat([base, d1, d2], 1), atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- lengths
LENGTHS = [0, 1, 159, 160, 161, 399, 400, 401, 559, 560, 561, 1000, 4001, 16000, 16159]


@pytest.mark.parametrize("style", ["kaldi", "librosa"])
def test_num_frames_matches_output_exactly(style):
    fe = MFCCFrontend(FeatureConfig(style=style, cmvn="none")).eval()
    for n in LENGTHS:
        lengths = torch.tensor([n])
        feats, out_len = fe(torch.randn(1, n), lengths)
        expected = int(fe.num_frames(lengths)[0])
        assert feats.shape[1] == expected == int(out_len[0]), (style, n)
        if style == "kaldi":
            assert expected == (0 if n < 400 else 1 + (n - 400) // 160)
            if n >= 400:  # and torchaudio's Kaldi agrees on the count
                assert expected == torchaudio.compliance.kaldi.mfcc(
                    torch.randn(1, n), num_ceps=13).shape[0]
        else:
            assert expected == 1 + n // 160


# --------------------------------------------------------------------------- batches
BATCH_CASES = [
    dict(style="kaldi", cmvn="none"),
    dict(style="kaldi", cmvn="utterance", deltas=2),
    dict(style="kaldi", kind="fbank", cmvn="utterance", deltas=1),
    dict(style="librosa", cmvn="none"),
    dict(style="librosa", cmvn="utterance", deltas=2),
    dict(style="librosa", kind="fbank", cmvn="global", deltas=2),
]


@pytest.mark.parametrize("kw", BATCH_CASES, ids=lambda kw: "-".join(map(str, kw.values())))
def test_padded_batch_equals_items_alone(kw):
    fe = MFCCFrontend(FeatureConfig(**kw)).eval()
    if fe.cmvn == "global":
        fe.set_global_cmvn(torch.linspace(-3, 3, fe.output_dim), torch.linspace(0.5, 2, fe.output_dim))
    lengths = [16000, 9123, 4000, 401, 300]
    items = [speechlike(n / 16000, seed=i) for i, n in enumerate(lengths)]
    batch = torch.randn(len(items), 16500) * 5.0  # garbage padding must not leak in
    for i, x in enumerate(items):
        batch[i, : len(x)] = x
    feats, n = fe(batch, torch.tensor(lengths))
    assert n.tolist() == fe.num_frames(torch.tensor(lengths)).tolist()
    for i, x in enumerate(items):
        alone, m = fe(x[None], torch.tensor([len(x)]))
        k = int(m[0])
        assert int(n[i]) == k
        scale = max(1.0, float(alone.abs().max())) if k else 1.0
        torch.testing.assert_close(feats[i, :k], alone[0, :k], atol=BATCH_TOL * scale, rtol=BATCH_TOL)
        assert torch.all(feats[i, k:] == 0), "padded frames must be zero"


def test_utterance_cmvn_uses_valid_frames_only():
    fe = MFCCFrontend(FeatureConfig(cmvn="utterance", deltas=1)).eval()
    x = torch.zeros(2, 16000)
    x[0] = speechlike(1.0)
    x[1, :8000] = speechlike(0.5, seed=5)
    feats, n = fe(x, torch.tensor([16000, 8000]))
    for i in range(2):
        valid = feats[i, : int(n[i])]
        torch.testing.assert_close(valid.mean(0), torch.zeros(fe.output_dim), atol=1e-4, rtol=0)
        torch.testing.assert_close(valid.std(0, unbiased=False), torch.ones(fe.output_dim),
                                   atol=1e-3, rtol=0)


def test_global_cmvn_stats_and_state_dict():
    cfg = FeatureConfig(cmvn="global", deltas=1, n_mfcc=13, n_mels=23)
    fe = MFCCFrontend(cfg)
    wavs = [speechlike(s, seed=i) for i, s in enumerate([0.5, 0.8, 0.3])]
    batches = [(torch.stack([wavs[0], wavs[0]]), torch.tensor([8000, 6000])),
               (torch.nn.utils.rnn.pad_sequence(wavs[1:], batch_first=True),
                torch.tensor([len(w) for w in wavs[1:]]))]
    mean, std = compute_global_cmvn(fe, batches)
    assert fe.training, "compute_global_cmvn must restore the module's mode"
    # reference: concatenate the valid frames of every item
    plain = MFCCFrontend(FeatureConfig(**{**cfg.__dict__, "cmvn": "none"})).eval()
    frames = []
    for w, lens in batches:
        f, n = plain(w, lens)
        frames += [f[i, : int(n[i])] for i in range(len(n))]
    allf = torch.cat(frames).double()
    torch.testing.assert_close(mean.double(), allf.mean(0), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(std.double(), allf.std(0, unbiased=False), atol=1e-4, rtol=1e-4)

    fe.set_global_cmvn(mean, std)
    fe.eval()
    out, n = fe(batches[1][0], batches[1][1])
    valid = torch.cat([out[i, : int(n[i])] for i in range(2)])
    assert valid.mean(0).abs().max() < 0.6  # normalized by the (shared) statistics
    fresh = MFCCFrontend(cfg)
    fresh.load_state_dict(fe.state_dict())
    torch.testing.assert_close(fresh.cmvn_mean, mean)
    with pytest.raises(ValueError, match="shape"):
        fe.set_global_cmvn(torch.zeros(3), torch.ones(3))


# --------------------------------------------------------------------------- training-only
def test_spec_augment_only_in_training_and_within_lengths():
    sa = SpecAugmentConfig(freq_masks=2, freq_width=5, time_masks=3, time_width=30, time_ratio=0.2)
    fe = MFCCFrontend(FeatureConfig(cmvn="utterance", deltas=1, spec_augment=sa))
    x = torch.zeros(2, 32000)
    x[0] = speechlike(2.0)
    x[1, :4000] = speechlike(0.25, seed=1)
    lengths = torch.tensor([32000, 4000])
    fe.eval()
    clean, n = fe(x, lengths)
    torch.manual_seed(0)
    fe.train()
    masked_any = False
    for _ in range(10):
        aug, n2 = fe(x, lengths)
        assert torch.equal(n, n2)
        for i in range(2):
            k = int(n[i])
            zeroed = (aug[i, :k] == 0) & (clean[i, :k] != 0)
            kept = ~zeroed
            torch.testing.assert_close(aug[i, :k][kept], clean[i, :k][kept])
            assert torch.all(aug[i, k:] == 0)
            masked_any |= bool(zeroed.any())
            # time masks: whole frames, at most 3 spans of at most min(30, 0.2 * k) frames
            full_frames = zeroed.all(dim=1).sum()
            assert full_frames <= 3 * min(30, int(0.2 * k))
            # frequency masks: same band in the static and delta blocks, width <= 5 each
            cols = zeroed[:, :40].all(0)
            assert torch.equal(cols, zeroed[:, 40:].all(0))
            assert cols.sum() <= 2 * 5
    assert masked_any
    fe.eval()
    assert torch.equal(fe(x, lengths)[0], clean)


def test_dither_only_in_training():
    fe = MFCCFrontend(FeatureConfig(dither=1e-3, cmvn="none"))
    x = speechlike(0.3)[None]
    lengths = torch.tensor([x.shape[1]])
    fe.eval()
    a, b = fe(x, lengths)[0], fe(x, lengths)[0]
    assert torch.equal(a, b)
    fe.train()
    assert not torch.equal(fe(x, lengths)[0], a)


@pytest.mark.parametrize("style", ["kaldi", "librosa"])
def test_vtlp_moves_a_tone_and_only_in_training(style):
    from speechrnn.features import vtlp_warp_factors

    cfg = FeatureConfig(style=style, kind="fbank", n_mels=40, cmvn="none", vtlp=0.2, vtlp_steps=5)
    assert vtlp_warp_factors(cfg).tolist() == pytest.approx([0.8, 0.9, 1.0, 1.1, 1.2])
    fe = MFCCFrontend(cfg)
    plain = MFCCFrontend(FeatureConfig(style=style, kind="fbank", n_mels=40, cmvn="none")).eval()
    assert fe.vtlp_fb.shape == (5, fe.mel_fb.shape[0], 40)
    torch.testing.assert_close(fe.vtlp_fb[2], fe.mel_fb)  # factor 1.0 is the plain bank
    t = torch.arange(8000) / 16000
    tone = torch.sin(2 * torch.pi * 1000 * t)[None].float()
    n = torch.tensor([8000])
    fe.eval()  # no warping at inference: identical to a front-end without VTLP
    assert torch.equal(fe(tone, n)[0], plain(tone, n)[0])
    peak = {}
    for k in (0, 4):  # factor 0.8 and 1.2, forced
        power = fe._power_spectrum(tone)
        peak[k] = int(torch.matmul(power, fe.vtlp_fb[k]).mean(1).argmax())
    base = int(plain(tone, n)[0].mean(1).argmax())
    assert peak[0] < base < peak[4]  # a > 1 moves the formant up the filters, a < 1 down
    fe.train()
    torch.manual_seed(0)
    batch = tone.repeat(16, 1)
    out = fe(batch, n.repeat(16))[0]
    assert len({int(o.mean(0).argmax()) for o in out}) > 1  # items get different warps


def test_vtlp_config_checks():
    with pytest.raises(ConfigError, match="vtlp"):
        MFCCFrontend(FeatureConfig(vtlp=0.6))
    with pytest.raises(ConfigError, match="vtlp_steps"):
        MFCCFrontend(FeatureConfig(vtlp=0.1, vtlp_steps=1))


# --------------------------------------------------------------------------- export
@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
@pytest.mark.parametrize("style", ["kaldi", "librosa"])
def test_torchscript_matches_eager(style):
    cfg = FeatureConfig(style=style, deltas=2, cmvn="utterance", vtlp=0.1,
                        spec_augment=SpecAugmentConfig(freq_masks=1, time_masks=1))
    fe = MFCCFrontend(cfg).eval()
    scripted = torch.jit.script(fe)
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf)
    x = torch.randn(3, 12000)
    lengths = torch.tensor([12000, 7000, 350])
    ref, n = fe(x, lengths)
    for mod in (scripted, loaded):
        out, m = mod(x, lengths)
        assert torch.equal(m, n)
        torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("style", ["kaldi", "librosa"])
def test_torch_export_with_dynamic_batch_and_length(style):
    from torch.export import Dim, export

    fe = MFCCFrontend(FeatureConfig(style=style, deltas=2, cmvn="utterance")).eval()
    example = (torch.randn(3, 12000), torch.tensor([12000, 7000, 500]))
    dims = ({0: Dim("B", min=1, max=64), 1: Dim("S", min=1000, max=16000 * 600)},
            {0: Dim("B", min=1, max=64)})
    exported = export(fe, example, dynamic_shapes=dims).module()
    x, lengths = torch.randn(2, 20000), torch.tensor([20000, 9000])  # new batch and length
    ref, n = fe(x, lengths)
    out, m = exported(x, lengths)
    assert torch.equal(m, n)
    # exported graphs take Kaldi frame means with avg_pool1d (same math, other float order)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- config
def test_output_dim_and_shapes():
    fe = MFCCFrontend(FeatureConfig(kind="fbank", n_mels=64, deltas=2))
    assert fe.output_dim == 192
    feats, _ = fe(torch.randn(2, 4000), torch.tensor([4000, 4000]))
    assert feats.shape == (2, 23, 192) and feats.dtype == torch.float32


@pytest.mark.parametrize(
    "kw,field",
    [
        (dict(n_mfcc=50, n_mels=40), "n_mfcc"),
        (dict(f_min=9000.0), "f_min"),
        (dict(f_max=9000.0), "f_min"),
        (dict(deltas=3), "deltas"),
        (dict(preemphasis=1.0), "preemphasis"),
        (dict(win_ms=0.0), "win_ms"),
        (dict(n_fft=256), "n_fft"),
        (dict(n_mels=3), "n_mels"),
        (dict(cmvn="batch"), "cmvn"),
        (dict(spec_augment=SpecAugmentConfig(time_ratio=0.0)), "time_ratio"),
    ],
)
def test_invalid_config_names_the_field(kw, field):
    with pytest.raises(ConfigError, match=field):
        MFCCFrontend(FeatureConfig(**kw))


def test_from_dict_is_strict_and_nested():
    cfg = from_dict(FeatureConfig, {"style": "librosa", "spec_augment": {"time_masks": 2}})
    assert cfg.style == "librosa" and cfg.spec_augment.time_masks == 2
    with pytest.raises(ConfigError, match="n_mfc"):
        from_dict(FeatureConfig, {"n_mfc": 13})
    with pytest.raises(ConfigError, match="time_maskz"):
        from_dict(FeatureConfig, {"spec_augment": {"time_maskz": 2}})
    with pytest.raises(ConfigError, match="style"):
        from_dict(FeatureConfig, {"style": "htk"})


# --------------------------------------------------------------------------- CLI
def test_cli_features_reports_each_file(tmp_path, capsys):
    from speechrnn.cli import main

    good = tmp_path / "good.wav"
    sf.write(good, speechlike(0.5).numpy(), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = tmp_path / "feats"
    rc = main(["features", str(good), str(bad), "--n-mfcc", "13", "--style", "librosa",
               "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 1
    assert "good.wav" in captured.out and "(51, 13)" in captured.out
    assert "bad.wav" in captured.err and "not an audio file" in captured.err
    saved = np.load(out / "good.npy")
    assert saved.shape == (51, 13) and saved.dtype == np.float32
    assert not (out / "bad.npy").exists()


def test_cli_features_bundled_sample(capsys):
    from importlib.resources import files

    from speechrnn.cli import main

    sample = files("speechrnn") / "assets" / "samples" / "sample.wav"
    assert main(["features", str(sample)]) == 0
    assert "sample.wav" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("style", ["kaldi", "librosa"])
def test_cuda_matches_cpu(style):
    fe = MFCCFrontend(FeatureConfig(style=style, deltas=2, cmvn="utterance")).eval()
    x, lengths = torch.randn(3, 12000), torch.tensor([12000, 7000, 500])
    ref, n = fe(x, lengths)
    out, m = fe.to("cuda")(x.cuda(), lengths.cuda())
    assert torch.equal(m.cpu(), n)
    torch.testing.assert_close(out.cpu(), ref, atol=1e-3, rtol=1e-4)
