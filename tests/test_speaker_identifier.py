"""SpeakerIdentifier: embeddings (files/arrays/long audio), enroll/identify/'unknown', verify,
threshold calibration saved with the store or the model."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from test_speakers_task import make_speaker_tree, voice

from speechrnn.errors import AudioError, ConfigError


def tiny_checkpoint(path, speakers=("a", "b", "c")):
    """An untrained (seeded) speaker model saved as a self-describing checkpoint."""
    from speechrnn.config import from_dict
    from speechrnn.features import FeatureConfig
    from speechrnn.models import ModelConfig, save_checkpoint
    from speechrnn.tasks import get_task

    torch.manual_seed(0)
    task = get_task({"name": "speakers", "speakers": list(speakers)})
    mcfg = from_dict(ModelConfig, {"encoder": {"hidden_size": 16, "num_layers": 1, "dropout": 0.0},
                                   "head": {"embedding_dim": 12, "attention_dim": 8}})
    model = task.build_model(mcfg, FeatureConfig(n_mfcc=13, n_mels=23))
    save_checkpoint(path, model, task="speakers", labels=task.labels())
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("m") / "spk.pt")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    return root, make_speaker_tree(root, speakers=3, per_speaker=3)


def test_embed_is_unit_length_and_same_for_file_array_and_resampled(ckpt, tree):
    from speechrnn.inference.speakers import SpeakerIdentifier

    torch.set_num_threads(1)
    sid = SpeakerIdentifier.load(ckpt)
    utt = tree[1]["train"][0]
    e = sid.embed(utt.audio)
    assert e.shape == (12,) and np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    x, sr = sf.read(utt.audio, dtype="float32")
    np.testing.assert_allclose(sid.embed(x, sr), e, atol=1e-5)
    np.testing.assert_allclose(sid.embed(torch.from_numpy(x)), e, atol=1e-5)
    many = sid.embed_many([utt.audio, x])
    assert many.shape == (2, 12)


def test_long_audio_is_embedded_in_windows(ckpt):
    from speechrnn.inference.speakers import SpeakerIdentifier

    rng = np.random.default_rng(0)
    x = voice(1, 2.0, rng)
    whole = SpeakerIdentifier.load(ckpt, window_s=30.0)
    windowed = SpeakerIdentifier.load(ckpt, window_s=0.5)
    a, b = whole.embed(x, 16000), windowed.embed(x, 16000)
    assert np.linalg.norm(b) == pytest.approx(1.0, abs=1e-5)
    assert float(a @ b) > 0.8  # same speaker signal: windows agree with the whole
    _, pieces = windowed._windows(x[:16000 + 1000], 16000)  # 1.0625 s: the 0.0625 s tail is folded
    assert [len(p) for p in pieces] == [8000, 9000]


def test_enroll_identify_unknown_and_verify(ckpt, tree, tmp_path):
    from speechrnn.inference.speakers import SpeakerIdentifier

    _, splits = tree
    by = {}
    for u in splits["train"] + splits["dev"]:
        by.setdefault(u.speaker, []).append(u.audio)
    sid = SpeakerIdentifier.load(ckpt, tmp_path / "store.json")
    assert sid.enroll("alice", by["spk0"][:2]) == 2
    assert sid.enroll("bob", by["spk1"][0]) == 1
    m = sid.identify(by["spk0"][0])  # an enrolled recording itself scores high
    assert m.candidates[0][0] == "alice" and m.candidates[0][1] == m.score
    assert sorted(c[0] for c in m.candidates) == ["alice", "bob"]
    strict = SpeakerIdentifier.load(ckpt, tmp_path / "store.json", threshold=m.score + 1e-3)
    rejected = strict.identify(by["spk0"][0])
    assert rejected.speaker == "unknown" and not rejected.accepted and rejected.score == pytest.approx(m.score)
    lenient = SpeakerIdentifier.load(ckpt, tmp_path / "store.json", threshold=-1.0)
    assert lenient.identify(by["spk1"][0]).speaker == "bob"
    v = lenient.verify(by["spk2"][0], by["spk2"][0])
    assert v.same and v.score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(AudioError, match="missing.wav"):
        sid.identify(tmp_path / "missing.wav")
    with pytest.raises(ConfigError, match="no speakers enrolled"):
        SpeakerIdentifier.load(ckpt).identify(by["spk0"][0])


def test_silent_or_too_short_input_is_refused_not_embedded(ckpt, tree, tmp_path):
    """Silence or a blip would give an embedding of noise that enrolls as, or matches, anyone."""
    from speechrnn.errors import NoVoiceError
    from speechrnn.inference.speakers import MIN_VOICE_S, SpeakerIdentifier

    sid = SpeakerIdentifier.load(ckpt, tmp_path / "store.json")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    with pytest.raises(NoVoiceError, match=r"silent.wav: silent \(peak -inf dBFS"):
        sid.enroll("alice", [silent])
    with pytest.raises(NoVoiceError, match="silent"):  # dither-level noise is silence too
        sid.embed(1e-5 * np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
    with pytest.raises(NoVoiceError, match="too short"):
        sid.verify(np.full(int(MIN_VOICE_S * 16000) - 1, 0.1, np.float32), tree[1]["train"][0].audio, 16000)
    assert sid.speakers() == []  # nothing enrolled
    x, sr = sf.read(tree[1]["train"][0].audio, dtype="float32")
    quiet = sid.embed(x * 10 ** (-50 / 20) / np.abs(x).max(), sr)  # -50 dBFS peak: quiet, not silent
    assert quiet.shape == (12,)


def test_store_from_another_model_is_refused(ckpt, tree, tmp_path):
    from speechrnn.inference.speakers import SpeakerIdentifier
    from speechrnn.speakers.store import SpeakerStore, SpeakerStoreError

    SpeakerStore(tmp_path / "s.json").add("x", np.ones((1, 12)), model="spk-othermodel")
    sid = SpeakerIdentifier.load(ckpt, tmp_path / "s.json")
    with pytest.raises(SpeakerStoreError, match="another"):
        sid.identify(tree[1]["train"][0].audio)


def test_calibrate_saves_threshold_in_store_and_model(ckpt, tree, tmp_path):
    import shutil

    from speechrnn.inference.speakers import DEFAULT_THRESHOLD, SpeakerIdentifier

    utts = tree[1]["train"] + tree[1]["dev"]
    model_copy = shutil.copy(ckpt, tmp_path / "m.pt")
    sid = SpeakerIdentifier.load(model_copy, tmp_path / "store.json")
    assert sid.threshold == DEFAULT_THRESHOLD
    info = sid.calibrate([u.audio for u in utts], [u.speaker for u in utts], save="store")
    from speechrnn.metrics import eer  # the EER point of every pair's cosine score, recomputed
    emb = np.stack([sid.embed(u.audio) for u in utts])
    pairs = [(a, b) for a in range(len(utts)) for b in range(a + 1, len(utts))]
    score = np.array([float(emb[a] @ emb[b]) for a, b in pairs])
    same = np.array([utts[a].speaker == utts[b].speaker for a, b in pairs])
    want_eer, want_thr = eer(score[same], score[~same])
    assert info["threshold"] == pytest.approx(want_thr, abs=1e-5) and info["eer"] == pytest.approx(want_eer, abs=1e-5)
    assert info["target_trials"] == int(same.sum()) and info["nontarget_trials"] == int((~same).sum())
    assert SpeakerIdentifier.load(model_copy, tmp_path / "store.json").threshold == pytest.approx(info["threshold"])
    info2 = sid.calibrate([u.audio for u in utts], [u.speaker for u in utts], method="mindcf", save="model")
    fresh = SpeakerIdentifier.load(model_copy)  # empty in-memory store: threshold from the model file
    assert fresh.threshold == pytest.approx(info2["threshold"])
    assert fresh.model.extra["speaker_calibration"]["method"] == "mindcf"
    with pytest.raises(ConfigError, match="different-speaker"):
        sid.calibrate([utts[0].audio, utts[1].audio], ["a", "a"])


def test_padded_batch_embeddings_equal_one_by_one(ckpt):
    from speechrnn.speakers.head import embed_batch, load_speaker_model

    model = load_speaker_model(ckpt)
    rng = np.random.default_rng(1)
    xs = [voice(0, s, rng) for s in (0.4, 0.9, 0.6)]
    lengths = torch.tensor([len(x) for x in xs])  # (3,)
    batch = torch.zeros(3, int(lengths.max()))  # (3,S) zero-padded
    for i, x in enumerate(xs):
        batch[i, : len(x)] = torch.from_numpy(x)
    with torch.no_grad():
        together = embed_batch(model, batch, lengths)
        alone = torch.cat([embed_batch(model, torch.from_numpy(x)[None], lengths[i:i + 1]) for i, x in enumerate(xs)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)
