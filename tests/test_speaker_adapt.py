"""Speaker adaptation by distillation: the similarity losses, the speakers_distill task,
segmenting unlabeled recordings, the real resemblyzer teacher (no mock) with its resumable
cache, and `speakers adapt` end to end (slow)."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from speechrnn.audio import resample, write_audio
from speechrnn.data.manifest import Utterance
from speechrnn.errors import ConfigError
from speechrnn.tasks.speaker_distill import SpeakerDistillConfig, SpeakerDistillTask, similarity_distillation_loss

needs_teacher = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or importlib.util.find_spec("resemblyzer") is None
    or importlib.util.find_spec("faster_whisper") is None,
    reason="needs espeak-ng and the teacher extra (bash scripts/setup.sh installs both)")

SENTENCES = ["the weather will be sunny tomorrow morning and warm",
             "please send the report to my office before noon today",
             "we bought fresh bread and cheese at the market yesterday",
             "the children played football in the park after school"]


def _speak(text: str, voice: str = "en-us") -> np.ndarray:
    from speechrnn.synth.engines import ENGINES

    eng = ENGINES["espeak-ng"]
    x, sr = eng.synthesize(text, eng.voice(voice))
    return resample(x, sr, 16000)


def _recording(path: Path, voice: str) -> Path:
    """Four sentences with 0.8 s pauses of faint noise: one ~12 s recording."""
    rng = np.random.default_rng(0)
    parts = []
    for s in SENTENCES:
        parts += [_speak(s, voice), (rng.standard_normal(12800) * 1e-3).astype(np.float32)]
    write_audio(path, np.concatenate(parts))
    return path


# --------------------------------------------------------------------------- losses
@pytest.mark.parametrize("kind", ["pearson", "mse", "relation"])
def test_loss_zero_when_similarities_match(kind):
    s = torch.randn(7, 12)
    q, _ = torch.linalg.qr(torch.randn(20, 20))
    t = torch.cat([s, torch.zeros(7, 8)], dim=1) @ q * 3.0  # other dimension, rotated, rescaled
    assert float(similarity_distillation_loss(s, t, kind)) < 1e-4
    assert float(similarity_distillation_loss(s, torch.randn(7, 20), kind)) > 1e-2


def test_loss_gradient_pulls_student_towards_teacher():
    torch.manual_seed(0)
    teacher = torch.randn(10, 16)
    student = torch.randn(10, 8, requires_grad=True)
    opt = torch.optim.Adam([student], lr=0.05)
    first = float(similarity_distillation_loss(student.detach(), teacher))
    for _ in range(200):
        opt.zero_grad()
        loss = similarity_distillation_loss(student, teacher)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * first


def test_loss_rejects_mismatched_rows():
    with pytest.raises(ValueError):
        similarity_distillation_loss(torch.randn(3, 4), torch.randn(4, 4))
    with pytest.raises(ValueError):
        similarity_distillation_loss(torch.randn(1, 4), torch.randn(1, 4))


# --------------------------------------------------------------------------- task
def _task(tmp_path, **kw) -> SpeakerDistillTask:
    ids = np.array(["u0", "u1", "u2"])
    np.savez(tmp_path / "t.npz", ids=ids, embeddings=np.random.default_rng(0).random((3, 256)).astype(np.float32))
    return SpeakerDistillTask(SpeakerDistillConfig(speakers=["a", "b"], teacher_embeddings=str(tmp_path / "t.npz"),
                                                   **kw))


def _items(utts):
    return [{"index": i, "id": u.id, "waveform": torch.randn(16000 + 800 * i), "utt": u} for i, u in enumerate(utts)]


def test_task_mixes_labelled_and_teacher_losses(tmp_path):
    from speechrnn.features import FeatureConfig
    from speechrnn.models import ModelConfig
    from speechrnn.tasks import get_task
    from speechrnn.tasks.speakers import SpeakerTask, SpeakerTaskConfig

    task = _task(tmp_path, margin=0.0)
    assert task.name == "speakers"  # checkpoints stay plain speaker models
    assert isinstance(get_task({"name": "speakers_distill", "speakers": ["a"],
                                "teacher_embeddings": str(tmp_path / "t.npz")}), SpeakerDistillTask)
    cfg = ModelConfig()
    cfg.encoder.hidden_size, cfg.encoder.num_layers = 16, 1
    model = task.build_model(cfg, FeatureConfig())
    utts = [Utterance("l0", "x.wav", speaker="a"), Utterance("l1", "x.wav", speaker="b"),
            Utterance("u0", "x.wav"), Utterance("u1", "x.wav"), Utterance("zz", "x.wav")]
    assert task.prepare(utts, [1.0] * 5, model, "train") == [0, 1, 2, 3]
    torch.manual_seed(0)
    batch = task.collate(_items(utts[:4]))
    assert batch["targets"].tolist() == [0, 1, -1, -1] and batch["has_teacher"].tolist() == [False, False, True, True]
    model.eval()
    out = model(batch["waveforms"], batch["lengths"])
    total = task.loss(out, batch)
    # the labelled part equals the plain speakers task's loss on the labelled items alone
    plain = SpeakerTask(SpeakerTaskConfig(speakers=["a", "b"], margin=0.0))
    lab = plain.loss((out[0][:2], out[1][:2]), {"targets": batch["targets"][:2], "ids": ["l0", "l1"]})
    emb = model.head.embed(*model.encode(batch["waveforms"], batch["lengths"]))
    dist = similarity_distillation_loss(emb[2:], batch["teacher"][2:])
    assert torch.allclose(total, lab + dist, atol=1e-5)
    total.backward()
    assert model.head.embedding.weight.grad.abs().sum() > 0
    # a batch of labelled items only: no distillation term
    batch2 = task.collate(_items(utts[:2]))
    out2 = model(batch2["waveforms"], batch2["lengths"])
    assert torch.allclose(task.loss(out2, batch2), plain.loss(out2, batch2), atol=1e-6)
    metrics = task.evaluate(model, [batch], "cpu")
    assert {"teacher_corr", "distill_loss", "top1"} <= set(metrics)


def test_task_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="teacher_embeddings"):
        SpeakerDistillTask(SpeakerDistillConfig(speakers=["a"]))
    with pytest.raises(ConfigError, match="not found"):
        SpeakerDistillTask(SpeakerDistillConfig(speakers=["a"], teacher_embeddings=str(tmp_path / "no.npz")))


# --------------------------------------------------------------------------- teacher
def test_missing_resemblyzer_names_the_fix(monkeypatch):
    from speechrnn.adapt.speaker_teacher import SpeakerTeacher
    from speechrnn.adapt.teacher import TeacherError

    monkeypatch.setitem(sys.modules, "resemblyzer", None)  # as if not installed
    with pytest.raises(TeacherError, match=r"pip install 'speechrnn\[teacher\]'"):
        SpeakerTeacher.load()


@needs_teacher
def test_segments_and_real_teacher_cache_resume(tmp_path):
    from speechrnn.adapt.speaker_teacher import SpeakerTeacher, embed_segments
    from speechrnn.adapt.speakers import SpeakerAdaptConfig, segment_recordings

    rec = _recording(tmp_path / "rec.wav", "en-us")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    segs, problems = segment_recordings([str(rec), str(bad), str(tmp_path / "none*.wav")],
                                        SpeakerAdaptConfig(min_s=1.5, max_s=6.0))
    assert [p[0] for p in problems] == [str(tmp_path / "none*.wav"), str(bad)]
    assert 2 <= len(segs) <= 8
    assert all(1.5 <= u.duration <= 6.0 + 0.25 and u.offset >= 0 for u in segs)
    assert all(u.audio == str(rec) for u in segs)
    starts = [u.offset for u in segs]
    assert starts == sorted(starts) and all(a.offset + a.duration <= b.offset + 1e-3 for a, b in zip(segs, segs[1:]))

    teacher = SpeakerTeacher.load()  # the weights ship in the wheel: offline
    cache = tmp_path / "cache.jsonl"
    emb, failed = embed_segments(segs[:2], cache, teacher)
    assert failed == [] and emb.shape == (2, 256)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)

    class NoTeacher:
        def embed(self, x):
            raise AssertionError("cached segments must not be embedded again")

    again, _ = embed_segments(segs[:2], cache, NoTeacher())
    assert np.allclose(again, emb, atol=1e-5)
    with open(cache, "a") as f:
        f.write('{"key": "torn')  # a crash mid-write leaves a torn last line: ignored
    more, _ = embed_segments(segs[:3], cache, teacher)
    assert np.allclose(more[:2], emb, atol=1e-5) and np.linalg.norm(more[2]) > 0.99


# --------------------------------------------------------------------------- end to end
@needs_teacher
@pytest.mark.slow
def test_speakers_adapt_end_to_end_and_resume(tmp_path):
    from speechrnn.adapt.speakers import SpeakerAdaptConfig, adapt_speakers
    from speechrnn.inference.speakers import SpeakerIdentifier

    a = _recording(tmp_path / "in" / "a.wav", "en-us")
    b = _recording(tmp_path / "in" / "b.wav", "en-gb+Alicia")
    bad = tmp_path / "in" / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage")
    cfg = SpeakerAdaptConfig(budget_minutes=0.15, replay_voices=2, replay_utts=3, replay_generated=0,
                             min_s=1.0, max_s=4.0, max_seconds=30.0, threads=2)
    out = tmp_path / "spk.pt"
    with pytest.raises(ConfigError, match="at least 20"):  # too little speech: one clear error
        adapt_speakers([str(a)], out, cfg=cfg, work_dir=tmp_path / "w1")
    for k in range(3):  # more recordings (copies): 20+ segments
        for p in (a, b):
            c = tmp_path / "in" / f"{p.stem}-{k}.wav"
            shutil.copy(p, c)
    s = adapt_speakers([str(tmp_path / "in")], out, cfg=cfg, work_dir=tmp_path / "w")
    assert [n for n, _ in s["skipped_inputs"]] == [str(bad)]
    assert s["segments"] >= 20 and set(s["stage_seconds"]) == {"segment", "teacher", "replay", "train"}
    sid = SpeakerIdentifier.load(str(out))
    e = sid.embed(str(a))
    assert e.shape == (192,) and abs(float(np.linalg.norm(e)) - 1) < 1e-3
    # rerun: segments and teacher embeddings come from the caches, training resumes from last.pt
    mtime = (tmp_path / "w" / "teacher_cache.jsonl").stat().st_mtime
    s2 = adapt_speakers([str(tmp_path / "in")], out, cfg=cfg, work_dir=tmp_path / "w")
    assert (tmp_path / "w" / "teacher_cache.jsonl").stat().st_mtime == mtime
    assert s2["training"]["steps"] >= s["training"]["steps"]
