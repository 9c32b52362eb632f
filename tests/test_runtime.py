"""speechrnn.runtime (ONNX, no torch in the package) against the torch API on synthesized speech.

A small manifest is synthesized with espeak-ng (several voices, sentences the model never saw);
the bundled models are exported to ONNX (float) and run both ways:

* transcription: identical greedy and default-decoding (lexicon + LM) transcripts, word times
  within one output frame, also for long audio in bounded windows and for live streams;
* keywords: the same detections (classifier ensemble and open vocabulary), scores within 1e-3;
* speakers: embeddings within 1e-4, one store file shared by both identifiers.

``test_int8_*`` (slow tier) compare WER, keyword accuracy and speaker EER of the int8 ONNX graphs
with the torch int8 (dynamically quantized) models on a larger synthesized set.
"""
import json

import numpy as np
import pytest

from speechrnn.audio import resample, write_audio
from speechrnn.decoding import DecodingConfig
from speechrnn.export_onnx import export_onnx
from speechrnn.inference.models import default_model_path
from speechrnn.synth.engines import ENGINES

SR = 16000
SENTENCES = [
    "the weather was cold and the river froze over night",
    "please send the report to my office before noon",
    "a small boat drifted slowly toward the island",
    "she opened the window and looked at the garden",
    "we will meet again at the station tomorrow morning",
    "the children played football in the park",
]
VOICES = ["en-us", "en-gb+Alicia", "en-gb+Adam"]
GREEDY = DecodingConfig()  # greedy with word times
FRAME_S = 0.03


def _espeak():
    engine = ENGINES["espeak-ng"]
    why = engine.missing()
    if why:
        pytest.skip(f"espeak-ng unavailable: {why} (install with scripts/setup.sh)")
    return engine


def _say(engine, text, voice):
    x, rate = engine.synthesize(text, engine.voice(voice), {})
    return (resample(x, rate, SR) if rate != SR else x).astype(np.float32)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """Synthesized utterances written as WAV files plus a JSONL manifest (id, audio, text)."""
    engine = _espeak()
    d = tmp_path_factory.mktemp("synth")
    rows = []
    for i, text in enumerate(SENTENCES):
        voice = VOICES[i % len(VOICES)]
        path = d / f"u{i}.wav"
        write_audio(path, _say(engine, text, voice), SR)
        rows.append({"id": f"u{i}", "audio": str(path), "text": text, "speaker": voice})
    (d / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d / "test.jsonl"


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    return {task: export_onnx(default_model_path(task), d / f"{task}.onnx")
            for task in ("transcription", "keywords", "speakers")}


def _utts(manifest):
    from speechrnn.data.manifest import read_manifest

    return read_manifest(manifest)


def _same_words(a, b):
    assert [w.word for w in a] == [w.word for w in b]
    for x, y in zip(a, b):
        assert abs(x.start - y.start) <= FRAME_S + 1e-6 and abs(x.end - y.end) <= FRAME_S + 1e-6
        assert abs(x.confidence - y.confidence) <= 0.02


# --------------------------------------------------------------------------- transcription
@pytest.fixture(scope="module")
def recognizers(onnx_models):
    from speechrnn.inference import Recognizer as TorchRecognizer
    from speechrnn.inference import set_threads
    from speechrnn.runtime import Recognizer

    set_threads(2)
    return TorchRecognizer.load(), Recognizer.load(onnx_models["transcription"], threads=2)


@pytest.mark.tts
@pytest.mark.parametrize("decoding", ["greedy", "default"])
def test_transcripts_identical_to_torch_on_synthesized_manifest(recognizers, manifest, decoding):
    torch_rec, rt_rec = recognizers
    assert rt_rec.decoding == torch_rec.decoding or decoding == "greedy" or (
        rt_rec.decoding.method == torch_rec.decoding.method == "lexicon")
    cfg = GREEDY if decoding == "greedy" else None
    for u in _utts(manifest):
        ref = torch_rec.transcribe(u.audio, decoding=cfg)
        got = rt_rec.transcribe(u.audio, decoding=cfg)
        assert got.text == ref.text, u.id
        assert got.text  # the model hears something
        _same_words(got.words, ref.words)
        assert got.duration == pytest.approx(ref.duration) and got.path == u.audio


@pytest.mark.tts
def test_long_audio_in_bounded_windows_equals_torch(recognizers, manifest):
    """37 s of speech in 4 s windows (1 s context): same stitched transcript as torch."""
    from speechrnn.audio import load_audio
    from speechrnn.inference import Recognizer as TorchRecognizer
    from speechrnn.runtime import Recognizer

    torch_rec, rt_rec = recognizers
    gap = np.zeros(SR // 3, np.float32)
    audio = np.concatenate([p for u in _utts(manifest) * 2 for p in (load_audio(u.audio), gap)])
    t = TorchRecognizer(torch_rec.model, GREEDY, chunk_s=4.0, context_s=1.0).transcribe(audio)
    r = Recognizer(rt_rec.model, GREEDY, chunk_s=4.0, context_s=1.0).transcribe(audio)
    assert len(audio) > 30 * SR and r.text == t.text
    _same_words(r.words, t.words)


@pytest.mark.tts
def test_stream_equals_transcribe_and_gives_partials(recognizers, manifest):
    from speechrnn.audio import load_audio

    _, rec = recognizers
    u = _utts(manifest)[0]
    x = load_audio(u.audio)
    stream = rec.stream(decoding=GREEDY)
    partials = []
    for i in range(0, len(x), 3331):  # odd chunk size, int16 PCM bytes
        pcm = (np.clip(x[i:i + 3331], -1, 1) * 32767).astype("<i2").tobytes()
        partials.append(stream.feed(pcm))
    final = stream.finish()
    whole = rec.transcribe((np.clip(x, -1, 1) * 32767).astype("<i2").astype(np.float32) / 32768,
                           decoding=GREEDY)
    assert final.text == whole.text and any(partials[:-1])
    with pytest.raises(Exception, match="finished"):
        stream.feed(x[:100])


@pytest.mark.tts
def test_align_known_text_equals_torch(recognizers, manifest):
    torch_rec, rt_rec = recognizers
    u = _utts(manifest)[1]
    _same_words(rt_rec.align(u.audio, u.text), torch_rec.align(u.audio, u.text))


# --------------------------------------------------------------------------- keywords
@pytest.fixture(scope="module")
def keyword_audio():
    """'yes', 'stop', 'go' (two voices) with 0.7 s gaps: ``(audio, words)``."""
    engine = _espeak()
    words = [("yes", "en-us"), ("stop", "en-gb+Alicia"), ("go", "en-us"), ("left", "en-gb+Adam")]
    gap = np.zeros(int(0.7 * SR), np.float32)
    return np.concatenate([p for w, v in words for p in (gap, _say(engine, w, v))] + [gap]), words


def _dets(result):
    return [(d.keyword, round(d.start, 3), round(d.end, 3)) for d in result.detections]


@pytest.mark.tts
def test_keyword_classifier_detections_equal_torch(onnx_models, keyword_audio):
    from speechrnn.inference import KeywordSpotter as TorchSpotter
    from speechrnn.runtime import KeywordSpotter

    audio, words = keyword_audio
    ref = TorchSpotter.load().spot(audio)
    spotter = KeywordSpotter.load(onnx_models["keywords"])
    got = spotter.spot(audio)
    assert _dets(got) == _dets(ref) and got.detections
    for a, b in zip(got.detections, ref.detections):
        assert abs(a.score - b.score) <= 1e-3
    clip = audio[int(0.7 * SR): int(1.7 * SR)]  # the 'yes' second
    p_ref = TorchSpotter.load().classify(clip)
    p_got = spotter.classify(clip)
    assert max(abs(p_got[k] - p_ref[k]) for k in p_ref) <= 1e-4
    stream = spotter.stream()
    dets = [d for i in range(0, len(audio), 1600) for d in stream.feed(audio[i:i + 1600])]
    dets += stream.finish()
    assert sorted((d.keyword, round(d.start, 3)) for d in dets) == sorted((k, s) for k, s, _ in _dets(got))


@pytest.mark.tts
def test_per_keyword_thresholds_stored_in_the_file_are_used_by_both_spotters(keyword_audio, tmp_path):
    """A model calibrated per keyword (``kws adapt``) stores ``kws_thresholds``: torch and runtime
    spotters apply them by default; an explicit threshold still wins for every keyword."""
    import torch

    from speechrnn.inference import KeywordSpotter as TorchSpotter
    from speechrnn.models import read_checkpoint
    from speechrnn.runtime import KeywordSpotter

    audio, _ = keyword_audio
    ref = TorchSpotter.load().spot(audio)
    stop = max((d.score for d in ref.detections if d.keyword == "stop"), default=None)
    assert stop is not None and stop < 0.99, _dets(ref)
    ck = read_checkpoint(default_model_path("keywords"))
    ck["extra"] = {**ck["extra"], "kws_thresholds": {"stop": stop + 0.005}}
    torch.save(ck, tmp_path / "kws.pt")
    want = [d for d in _dets(ref) if d[0] != "stop"]
    assert want and _dets(TorchSpotter.load(tmp_path / "kws.pt").spot(audio)) == want
    onnx = export_onnx(tmp_path / "kws.pt", tmp_path / "kws.onnx")
    assert _dets(KeywordSpotter.load(onnx).spot(audio)) == want
    low = min(d.score for d in ref.detections) - 0.01
    assert _dets(KeywordSpotter.load(onnx, threshold=low).spot(audio)) == \
        _dets(TorchSpotter.load(tmp_path / "kws.pt", threshold=low).spot(audio))
    assert "stop" in {d[0] for d in _dets(TorchSpotter.load(tmp_path / "kws.pt", threshold=low).spot(audio))}


@pytest.mark.tts
def test_open_vocabulary_detections_equal_torch(onnx_models, recognizers, manifest):
    from speechrnn.inference import KeywordSpotter as TorchSpotter
    from speechrnn.runtime import KeywordSpotter

    u = _utts(manifest)[2]  # "a small boat drifted slowly toward the island"
    keywords = ["small", "island", "garden"]
    ref = TorchSpotter.load(default_model_path("transcription"), keywords=keywords).spot(u.audio)
    got = KeywordSpotter.load(onnx_models["transcription"], keywords=keywords).spot(u.audio)
    assert _dets(got) == _dets(ref)
    assert "small" in {d.keyword for d in got.detections}  # (the model writes 'boat' as 'bot')
    for a, b in zip(got.detections, ref.detections):
        assert abs(a.score - b.score) <= 1e-3


# --------------------------------------------------------------------------- speakers
@pytest.mark.tts
def test_speaker_embeddings_and_store_shared_with_torch(onnx_models, manifest, tmp_path):
    from speechrnn.inference.speakers import SpeakerIdentifier as TorchIdentifier
    from speechrnn.runtime import SpeakerIdentifier
    from speechrnn.speakers.store import SpeakerStoreError

    utts = _utts(manifest)
    store = tmp_path / "speakers.json"
    torch_sid = TorchIdentifier.load(store=store)
    sid = SpeakerIdentifier.load(onnx_models["speakers"], store=store)
    assert sid.fingerprint == torch_sid.fingerprint and sid.threshold == torch_sid.threshold
    e_ref, e_got = torch_sid.embed(utts[0].audio), sid.embed(utts[0].audio)
    assert np.abs(e_ref - e_got).max() <= 1e-4 and abs(float(np.linalg.norm(e_got)) - 1) < 1e-5
    # torch enrolls two voices (first three utterances), the runtime identifies with that file
    for u in utts[:3]:
        torch_sid.enroll(u.speaker, [u.audio])
    sid.enroll(utts[3].speaker, [utts[3].audio])  # and the runtime adds to the same store
    assert torch_sid.speakers() == sid.speakers()
    for u in utts[3:]:
        a, b = torch_sid.identify(u.audio), sid.identify(u.audio)
        assert a.speaker == b.speaker and abs(a.score - b.score) <= 1e-4
    v_ref, v_got = torch_sid.verify(utts[0].audio, utts[3].audio), sid.verify(utts[0].audio, utts[3].audio)
    assert v_ref.same == v_got.same and abs(v_ref.score - v_got.score) <= 1e-4
    other = tmp_path / "other.json"
    other.write_text(store.read_text().replace(sid.fingerprint, "spk-000000000000"))
    with pytest.raises(SpeakerStoreError, match="another model"):
        SpeakerIdentifier.load(onnx_models["speakers"], store=other).identify(utts[0].audio)
    from speechrnn.errors import NoVoiceError

    with pytest.raises(NoVoiceError, match="silent"):
        sid.embed(np.zeros(SR, np.float32))


def test_wrong_model_kind_is_refused(onnx_models):
    from speechrnn.errors import CheckpointError
    from speechrnn.runtime import KeywordSpotter, Recognizer, SpeakerIdentifier

    with pytest.raises(CheckpointError, match="needs a transcription model"):
        Recognizer.load(onnx_models["speakers"])
    with pytest.raises(CheckpointError, match="needs a speakers model"):
        SpeakerIdentifier.load(onnx_models["keywords"])
    with pytest.raises(CheckpointError, match="needs a keywords or transcription"):
        KeywordSpotter.load(onnx_models["speakers"])
