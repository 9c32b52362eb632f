"""Acoustic model: padding invariance, length arithmetic after subsampling, heads."""
from __future__ import annotations

import math

import pytest
import torch

from speechrnn.config import from_dict
from speechrnn.errors import ConfigError
from speechrnn.features import FeatureConfig
from speechrnn.models import AcousticModel, EncoderConfig, HeadConfig, ModelConfig
from speechrnn.models.encoder import Conv2dSubsampling, Encoder, FrameStacking, reverse_padded

torch.set_num_threads(1)


def tiny(subsampling="stack", factor=3, rnn="lstm", bidirectional=True, head="ctc", **enc):
    cfg = ModelConfig(
        encoder=EncoderConfig(subsampling=subsampling, subsampling_factor=factor, rnn_type=rnn,
                              hidden_size=8, num_layers=2, bidirectional=bidirectional,
                              conv_channels=4, **enc),
        head=HeadConfig(kind=head, attention_dim=8, embedding_dim=6),
    )
    torch.manual_seed(0)
    return AcousticModel(cfg, num_outputs=5, features=FeatureConfig(n_mfcc=13, n_mels=23))


def padded_batch(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    wav = torch.randn(len(lengths), int(lengths.max()), generator=g) * 0.1
    for i, n in enumerate(lengths):
        wav[i, n:] = 0.0
    return wav, lengths


@pytest.mark.parametrize(
    "kw",
    [
        dict(subsampling="stack", factor=3),
        dict(subsampling="conv2d", factor=2),
        dict(subsampling="conv2d", factor=4),
        dict(subsampling="none", rnn="gru"),
        dict(subsampling="stack", factor=2, rnn="rnn", bidirectional=False),
        dict(subsampling="stack", factor=3, layer_norm=True, projection_size=6),
        dict(head="classifier"),
        dict(head="embedding"),
    ],
    ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()),
)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_padded_batch_equals_items_one_by_one(kw, mode):
    model = tiny(**kw)
    model.train(mode == "train")
    if mode == "train":  # dropout would make outputs random; padding is what is under test
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
    wav, lengths = padded_batch([8000, 5123, 3001])
    # Put garbage in the padding: it must not leak into results.
    wav[1, 5123:] = 1.0
    wav[2, 3001:] = -1.0
    out, out_len = model(wav, lengths)
    for i, n in enumerate(lengths.tolist()):
        one, one_len = model(wav[i : i + 1, :n], lengths[i : i + 1])
        assert one_len.item() == out_len[i].item()
        if out.dim() == 3:  # per-frame output: compare valid frames
            torch.testing.assert_close(out[i, : one_len.item()], one[0, : one_len.item()],
                                       rtol=1e-5, atol=1e-5)
        else:
            torch.testing.assert_close(out[i], one[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 100, 101])
def test_subsampling_length_arithmetic(t):
    x = torch.randn(1, t, 10)
    n = torch.tensor([t])
    for k in (1, 2, 3, 4):
        y, m = FrameStacking(10, k)(x, n)
        assert m.item() == math.ceil(t / k) == y.shape[1]
    for factor in (2, 4):
        sub = Conv2dSubsampling(10, factor, channels=2)
        y, m = sub(x, n)
        expect = t
        for _ in range(factor // 2):
            expect = (expect + 2 * 1 - 3) // 2 + 1  # PyTorch conv formula, k=3, s=2, p=1
        assert m.item() == expect == y.shape[1] == sub.output_lengths(n).item()
        assert y.shape[2] == sub.output_dim


def test_model_output_lengths_match_forward():
    for kw in (dict(subsampling="stack", factor=3), dict(subsampling="conv2d", factor=4)):
        model = tiny(**kw).eval()
        wav, lengths = padded_batch([16000, 4000, 401, 1234])
        out, out_len = model(wav, lengths)
        assert out_len.tolist() == model.output_lengths(lengths).tolist()
        assert out.shape == (4, int(out_len.max()), 5)
        # CTC head gives log-probabilities
        torch.testing.assert_close(out.exp().sum(-1), torch.ones(out.shape[:2]))


def test_reverse_padded_is_an_involution_and_keeps_padding():
    x = torch.arange(12.0).view(2, 6, 1)
    n = torch.tensor([6, 4])
    y = reverse_padded(x, n)
    assert y[1, :, 0].tolist() == [9.0, 8.0, 7.0, 6.0, 10.0, 11.0]
    assert torch.equal(reverse_padded(y, n), x)


def test_encoder_zeroes_padding_frames():
    enc = Encoder(EncoderConfig(subsampling="none", hidden_size=4, num_layers=1), 3).eval()
    y, n = enc(torch.randn(2, 7, 3), torch.tensor([7, 3]))
    assert torch.all(y[1, 3:] == 0)


def test_encoder_accepts_inputs_with_no_output_frame():
    enc = Encoder(EncoderConfig(subsampling="stack", subsampling_factor=3, hidden_size=4, num_layers=2), 3)
    y, n = enc.eval()(torch.randn(2, 0, 3), torch.tensor([0, 0]))  # no feature frame at all
    assert y.shape == (2, 0, 8) and n.tolist() == [0, 0]


def test_pooled_heads_shapes():
    wav, lengths = padded_batch([4000, 3000])
    out, _ = tiny(head="classifier").eval()(wav, lengths)
    assert out.shape == (2, 5)
    model = tiny(head="embedding").eval()
    x, n = model.encode(wav, lengths)
    assert model.head.embed(x, n).shape == (2, 6)


def test_configs_are_strict():
    with pytest.raises(ConfigError, match="hiden_size"):
        from_dict(ModelConfig, {"encoder": {"hiden_size": 3}})
    with pytest.raises(ConfigError, match="conv2d supports 2 or 4"):
        from_dict(ModelConfig, {"encoder": {"subsampling": "conv2d", "subsampling_factor": 3}})
    with pytest.raises(ConfigError, match="unknown head"):
        from_dict(ModelConfig, {"head": {"kind": "nope"}})
    cfg = from_dict(ModelConfig, {"encoder": {"rnn_type": "gru", "num_layers": 1}})
    assert cfg.encoder.rnn_type == "gru" and cfg.encoder.num_layers == 1
