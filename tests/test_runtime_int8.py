"""int8 ONNX graphs (onnxruntime dynamic quantization) vs the torch int8 models (torch dynamic
quantization) on synthesized speech: WER, keyword accuracy and speaker EER within 0.5 points.

The sets are synthesized with espeak-ng voices (sentences and keywords the tests choose), so
they are small: 20 sentences x 6 voices (~940 words), 10 keywords x 8 voices, 6 voices x 4 sentences
(276 verification trials). Slow tier: about a minute on 2 cores.
"""
import numpy as np
import pytest

from speechrnn.audio import resample
from speechrnn.export_onnx import export_onnx
from speechrnn.inference.models import default_model_path
from speechrnn.synth.engines import ENGINES

pytestmark = [pytest.mark.slow, pytest.mark.tts]

SR = 16000
POINTS = 0.5  # allowed difference in percentage points
SENTENCES = [
    "the old man walked slowly down the hill", "my sister bought a new red car last week",
    "we need more water for the garden", "the train leaves the station at seven",
    "please close the door when you go out", "the dog slept under the kitchen table",
    "they built a small house near the lake", "he forgot his keys at the office",
    "the music was too loud for the baby", "she reads a book every night before bed",
    "the market sells fresh fish and bread", "our teacher asked us to write a story",
    "the wind blew the leaves across the road", "i will call you after the meeting",
    "the children laughed at the funny clown", "a cold rain fell on the quiet town",
    "he painted the fence white in the summer", "the doctor told him to rest for a day",
    "we watched the sun go down over the sea", "the shop on the corner opens at nine",
]
VOICES = ["en-us", "en-gb+Alicia", "en-gb+Adam", "en-gb+Andrea", "en-us+Annie", "en-gb+Alex"]
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


@pytest.fixture(scope="module")
def engine():
    e = ENGINES["espeak-ng"]
    why = e.missing()
    if why:
        pytest.skip(f"espeak-ng unavailable: {why}")
    return e


def _say(engine, text, voice):
    x, rate = engine.synthesize(text, engine.voice(voice), {})
    return (resample(x, rate, SR) if rate != SR else x).astype(np.float32)


@pytest.fixture(scope="module")
def onnx_int8(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx8")
    return {t: export_onnx(default_model_path(t), d / f"{t}.onnx", int8=True)
            for t in ("transcription", "keywords", "speakers")}


def test_wer_within_half_a_point(engine, onnx_int8):
    from speechrnn.decoding import DecodingConfig
    from speechrnn.inference import Recognizer as TorchRecognizer
    from speechrnn.metrics import error_rates
    from speechrnn.runtime import Recognizer

    # every sentence in every voice (120 utterances, ~940 words): one word flipped by a different
    # int8 rounding is 0.1 points, so the bound measures the quantizations, not the set's grain
    refs = [s for s in SENTENCES for _ in VOICES]
    audio = [_say(engine, s, v) for s in SENTENCES for v in VOICES]
    torch_rec = TorchRecognizer.load(quantize=True)
    rt = Recognizer.load(onnx_int8["transcription"])
    for cfg in (DecodingConfig(), None):  # greedy, then the model's default (lexicon + LM)
        ref = error_rates(refs, [torch_rec.transcribe(a, decoding=cfg).text for a in audio])
        got = error_rates(refs, [rt.transcribe(a, decoding=cfg).text for a in audio])
        print(f"WER {'greedy' if cfg else 'default'}: torch int8 {100 * ref.wer:.1f} %, "
              f"onnx int8 {100 * got.wer:.1f} %")
        assert abs(got.wer - ref.wer) * 100 <= POINTS


def test_keyword_accuracy_within_half_a_point(engine, onnx_int8):
    from speechrnn.inference import KeywordSpotter as TorchSpotter
    from speechrnn.runtime import KeywordSpotter

    clips = [(k, _say(engine, k, v)) for k in KEYWORDS for v in VOICES + ["en-us+Benjamin", "en-us+Belinda"]]
    torch_kws = TorchSpotter.load(quantize=True)
    rt = KeywordSpotter.load(onnx_int8["keywords"])

    def accuracy(spotter):
        hits = 0
        for word, x in clips:
            x = np.pad(x, (0, max(0, SR - len(x))))[: max(SR, len(x))]
            post = spotter.classify(x)
            hits += max(post, key=post.get) == word
        return 100 * hits / len(clips)

    ref, got = accuracy(torch_kws), accuracy(rt)
    print(f"keyword accuracy ({len(clips)} clips): torch int8 {ref:.1f} %, onnx int8 {got:.1f} %")
    assert abs(got - ref) <= POINTS


def test_speaker_eer_within_half_a_point(engine, onnx_int8):
    from speechrnn.inference.speakers import SpeakerIdentifier as TorchIdentifier
    from speechrnn.metrics import eer
    from speechrnn.runtime import SpeakerIdentifier

    utts = [(v, _say(engine, s, v)) for v in VOICES for s in SENTENCES[:4]]
    i, j = np.triu_indices(len(utts), 1)
    same = np.array([utts[a][0] == utts[b][0] for a, b in zip(i, j)])

    def rate(sid):
        emb = sid.embed_many([x for _, x in utts])
        s = (emb[i] * emb[j]).sum(axis=1)
        return 100 * eer(s[same], s[~same])[0]

    ref = rate(TorchIdentifier.load(quantize=True))
    got = rate(SpeakerIdentifier.load(onnx_int8["speakers"]))
    print(f"speaker EER ({len(i)} trials): torch int8 {ref:.2f} %, onnx int8 {got:.2f} %")
    assert abs(got - ref) <= POINTS
