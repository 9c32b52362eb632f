"""Recognizer: chunk stitching, batch/stream/file agreement, long files, CLI, threads."""
import json
import threading
from types import SimpleNamespace as NS

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from speechrnn.cli import main
from speechrnn.config import from_dict
from speechrnn.features import FeatureConfig, MFCCFrontend
from speechrnn.inference import Recognizer
from speechrnn.inference.chunking import ChunkedCTC
from speechrnn.models import AcousticModel, ModelConfig
from speechrnn.models.checkpoint import save_checkpoint
from speechrnn.text import CharTokenizer

torch.set_num_threads(1)


class LocalModel(nn.Module):
    """A model with no recurrence: frame-local outputs, so chunked == whole exactly."""

    def __init__(self, k=3, vocab=5):
        super().__init__()
        self.frontend = MFCCFrontend(FeatureConfig(cmvn="none", n_mfcc=13, n_mels=23))
        self.k = k
        self.proj = nn.Linear(13 * k, vocab)
        self.encoder = NS(cfg=NS(subsampling="stack", subsampling_factor=k))

    def forward(self, w, n):
        f, fn = self.frontend(w, n)  # (B,T,F)
        t = f.shape[1] // self.k
        x = f[:, : t * self.k].reshape(f.shape[0], t, -1)  # (B,T,F) -> (B,T/k,kF)
        return self.proj(x).log_softmax(-1), torch.div(fn, self.k, rounding_mode="floor")


def test_chunked_stitching_equals_whole_pass():
    torch.manual_seed(0)
    m = LocalModel().eval()
    x = np.random.default_rng(0).standard_normal(16000 * 9).astype(np.float32) * 0.1
    with torch.inference_mode():
        whole, n = m(torch.from_numpy(x)[None], torch.tensor([x.size]))
    whole = whole[0, : int(n[0])]
    ctc = ChunkedCTC(m, unit=480, chunk_s=1.0, context_s=0.3)
    pieces, i = [], 0
    for size in [1000, 7000, 30000, 123, 50000, 16000 * 9]:
        pieces.append(ctc.feed(x[i: i + size]))
        i += size
    pieces.append(ctc.flush())
    got = torch.cat([p for p in pieces if p.numel()])
    assert got.shape == whole.shape
    torch.testing.assert_close(got, whole, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    tok = CharTokenizer.english()
    cfg = from_dict(ModelConfig, {"encoder": {"hidden_size": 16, "num_layers": 2}})
    model = AcousticModel(cfg, tok.vocab_size, FeatureConfig(n_mfcc=13, n_mels=23))
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    save_checkpoint(path, model, task="transcription", labels=tok.to_dict(),
                    extra={"description": "random test model"})
    return path


@pytest.fixture(scope="module")
def rec(model_file):
    return Recognizer.load(model_file, chunk_s=2.0, context_s=0.5)


def _noise(seconds, seed=0, sr=16000):
    return (np.random.default_rng(seed).standard_normal(int(seconds * sr)) * 0.05).astype(np.float32)


def test_transcribe_array_equals_batch_and_stream(rec):
    items = [_noise(1.2, 1), _noise(2.0, 2), _noise(0.7, 3)]
    single = [rec.transcribe(x) for x in items]
    batch = rec.transcribe_batch(items)
    assert [t.text for t in single] == [t.text for t in batch]
    for t, x in zip(single, items):
        assert t.duration == pytest.approx(x.size / 16000)
        for w in t.words:
            assert 0 <= w.start < w.end <= t.duration + 0.03 and 0 <= w.confidence <= 1
    stream = rec.stream()
    for piece in np.array_split(items[1], 7):
        stream.feed(piece)
    assert stream.finish().text == single[1].text


def test_wrong_rate_stereo_file_and_tensor_inputs(rec, tmp_path):
    x = _noise(1.5, 4)
    ref = rec.transcribe(x).text
    stereo = np.stack([x, x], axis=1)
    sf.write(tmp_path / "s.flac", stereo, 16000)
    assert rec.transcribe(tmp_path / "s.flac").text == ref
    assert rec.transcribe(torch.from_numpy(x)).text == ref
    import soxr
    x8 = soxr.resample(x, 16000, 8000)
    t8 = rec.transcribe(x8, sample_rate=8000)
    assert t8.duration == pytest.approx(1.5, abs=1e-3)


def test_input_shorter_than_one_output_frame_transcribes_to_nothing(rec, tmp_path):
    """A few samples give no output frame: an empty transcript, not an RNN crash mid-batch."""
    for n in (1, 10, 200):
        r = rec.transcribe(np.full(n, 0.1, np.float32))
        assert r.text == "" and r.words == [] and r.duration == pytest.approx(n / 16000)
    sf.write(tmp_path / "blip.wav", np.full(10, 0.1, np.float32), 16000)
    assert rec.transcribe(tmp_path / "blip.wav").text == ""


def test_long_file_streams_in_blocks(rec, tmp_path):
    x = _noise(150, 5)
    sf.write(tmp_path / "long.wav", x, 8000)  # 300 s at 8 kHz -> resampled in blocks
    t = rec.transcribe(tmp_path / "long.wav")
    assert t.duration == pytest.approx(300.0, abs=0.01)
    assert all(w.end <= 300.05 for w in t.words)
    assert t.words == sorted(t.words, key=lambda w: w.start)


def test_concurrent_calls_agree(rec):
    items = [_noise(1.0 + i * 0.3, 10 + i) for i in range(6)]
    expected = [rec.transcribe(x).text for x in items]
    got = [None] * len(items)

    def work(i):
        got[i] = rec.transcribe(items[i]).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_cli_formats_and_bad_files(model_file, rec, tmp_path, capsys):
    good = tmp_path / "in" / "good.wav"
    good.parent.mkdir()
    sf.write(good, _noise(1.0, 7), 16000)
    (tmp_path / "in" / "bad.wav").write_text("not audio at all")
    out = tmp_path / "out"
    code = main(["transcribe", str(tmp_path / "in"), "--model", str(model_file),
                 "--format", "json", "--output-dir", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "bad.wav" in err and "1 of 2 file(s) failed" in err
    doc = json.loads((out / "good.json").read_text())
    assert doc["text"] == rec.transcribe(good).text  # CLI output = API output
    assert not (out / "bad.json").exists()
    for fmt in ("txt", "srt", "vtt", "tsv"):
        assert main(["transcribe", str(good), "--model", str(model_file), "--format", fmt,
                     "--output-dir", str(out)]) == 0
        assert (out / f"good.{fmt}").is_file()


def test_missing_bundled_model_message(tmp_path, monkeypatch):
    from speechrnn.errors import CheckpointError
    from speechrnn.inference import models

    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    with pytest.raises(CheckpointError, match="no bundled transcription model"):
        Recognizer.load()


def test_models_lists_description_and_parents(model_file, tmp_path, monkeypatch, capsys):
    import shutil

    from speechrnn.inference import models
    from speechrnn.models.checkpoint import atomic_torch_save, read_checkpoint

    shutil.copy(model_file, tmp_path / "base.pt")
    ck = read_checkpoint(model_file)
    ck["extra"] = {"description": "fine-tuned", "init_from": ["base.pt", "older.pt"]}
    atomic_torch_save(ck, tmp_path / "ft.pt")
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    rows = {r["name"]: r for r in models.list_models()}
    assert rows["base"]["init_from"] == [] and rows["ft"]["init_from"] == ["base.pt", "older.pt"]
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("random test model" in ln and "trained from" not in ln for ln in lines)
    assert any("fine-tuned [trained from base.pt <- older.pt]" in ln for ln in lines)


def test_bpe_model_decodes_greedy_and_beam_with_the_tasks_labels(tmp_path):
    """One label list (speechrnn.text.output_labels) for tasks and the Recognizer: subword
    pieces keep their word-start space, so BPE models decode (greedy, and beam + LM)."""
    from speechrnn.decoding import DecodingConfig, DecodingError, decode
    from speechrnn.lm import build_arpa
    from speechrnn.tasks.transcription import TranscriptionConfig, TranscriptionTask
    from speechrnn.text import BPETokenizer, output_labels

    texts = ["the cat sat on the mat", "hello world this is a test", "a cat and the dog"] * 20
    tok = BPETokenizer.train(texts, vocab_size=40)
    labels = output_labels(tok)
    assert len(labels) == tok.vocab_size == len(set(labels)) and all(labels)
    task = TranscriptionTask(TranscriptionConfig(tokenizer=tok.to_dict()))
    assert task.label_list() == labels
    torch.manual_seed(0)
    cfg = from_dict(ModelConfig, {"encoder": {"hidden_size": 16, "num_layers": 1}})
    model = AcousticModel(cfg, tok.vocab_size, FeatureConfig(n_mfcc=13, n_mels=23))
    path = tmp_path / "bpe.pt"
    save_checkpoint(path, model, task="transcription", labels=tok.to_dict())
    rec = Recognizer.load(path)
    assert rec.labels == labels
    ids = tok.encode("the cat sat")  # a path spelling known text: one peaked frame per piece
    lp = torch.full((2 * len(ids) + 1, len(labels)), -8.0)
    lp[0::2, 0] = 0.0
    for k, i in enumerate(ids):
        lp[2 * k + 1, i] = 0.0
    lp = lp.log_softmax(-1)
    greedy = decode(lp[None], [lp.shape[0]], rec.labels, frame_shift_s=0.03)[0]
    assert greedy.text == "the cat sat" == " ".join(w.word for w in greedy.words)
    lm = build_arpa(texts, tmp_path / "lm.arpa", order=2)
    beam = DecodingConfig(method="beam", beam_size=8, lm_path=str(lm))
    r = decode(lp[None], [lp.shape[0]], task.label_list(), beam, frame_shift_s=0.03)[0]
    assert r.text == "the cat sat" == " ".join(w.word for w in r.words)
    t = Recognizer.load(path, decoding=beam).transcribe(_noise(1.0))  # runs end to end
    assert t.text == " ".join(w.word for w in t.words)
    with pytest.raises(DecodingError, match="BPE"):
        decode(lp[None], [lp.shape[0]], labels, DecodingConfig(method="lexicon", lm_path=str(lm)))
