"""speechrnn.runtime transcribes, spots keywords and embeds speakers with torch absent.

The models are exported here (that needs torch); then a fresh Python process runs the runtime
with a meta-path finder that raises ImportError for ``torch`` / ``torchaudio``, as if they were
not installed, and reports what it got; the results must equal this process's runtime results
and no torch module may have been loaded.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from speechrnn.export_onnx import SAMPLE, export_onnx
from speechrnn.inference.models import default_model_path

BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchaudio"):
                raise ImportError(f"No module named {name!r} (blocked: the runtime must not need it)")
    sys.meta_path.insert(0, NoTorch())
""")

JOB = textwrap.dedent("""
    import json, sys
    import numpy as np
    from speechrnn.runtime import KeywordSpotter, Recognizer, SpeakerIdentifier
    from speechrnn.audio import load_audio
    en, kws, spk, sample, store = sys.argv[1:6]
    rec = Recognizer.load(en, threads=1)
    t = rec.transcribe(sample)                      # the file's default decoding: lexicon + LM
    g = rec.transcribe(sample, decoding=__import__("speechrnn.decoding", fromlist=["x"]).DecodingConfig())
    x = load_audio(sample)
    stream = rec.stream()
    for i in range(0, len(x), 8000):
        stream.feed(x[i:i + 8000])
    spotter = KeywordSpotter.load(kws)
    ov = KeywordSpotter.load(en, keywords=["lazy dog"])
    sid = SpeakerIdentifier.load(spk, store=store)
    sid.enroll("sample", [sample])
    out = {"text": t.text, "words": [[w.word, w.start, w.end] for w in t.words], "greedy": g.text,
           "stream": stream.finish().text, "classify": spotter.classify(x[:16000]),
           "open_vocab": [d.keyword for d in ov.spot(sample).detections],
           "embedding": sid.embed(sample).tolist(), "identified": sid.identify(x[:30000]).speaker,
           "torch_loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchaudio"))}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    return [export_onnx(default_model_path(t), d / f"{t}.onnx", int8=True)
            for t in ("transcription", "keywords", "speakers")]


def test_the_blocker_really_blocks_torch():
    r = subprocess.run([sys.executable, "-c", BLOCKER + "import torch"], capture_output=True, text=True)
    assert r.returncode != 0 and "blocked" in r.stderr


def test_runtime_works_with_torch_absent(exported, tmp_path):
    en, kws, spk = exported
    store = tmp_path / "speakers.json"
    r = subprocess.run([sys.executable, "-c", BLOCKER + JOB, str(en), str(kws), str(spk), str(SAMPLE),
                        str(store)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["torch_loaded"] == []
    # int8 graph, lexicon + LM: the README's 'the quick brown face jumps ...' up to one word
    assert got["text"].startswith("the quick brown") and got["text"].endswith("over the lazy dog")
    assert [w[0] for w in got["words"]] == got["text"].split()
    assert all(0 <= s < e <= 3.0 for _, s, e in got["words"])
    assert got["stream"] == got["text"] and got["greedy"]
    assert max(got["classify"], key=got["classify"].get) == "_unknown_"  # a sentence, no keyword
    assert got["open_vocab"] == ["lazy dog"]
    assert len(got["embedding"]) == 192 and got["identified"] == "sample"
    # the same results as the runtime in this process (where torch is importable)
    import numpy as np

    from speechrnn.runtime import Recognizer, SpeakerIdentifier

    assert Recognizer.load(en).transcribe(SAMPLE).text == got["text"]
    np.testing.assert_allclose(SpeakerIdentifier.load(spk).embed(SAMPLE), got["embedding"], atol=1e-6)
    assert json.loads(store.read_text())["speakers"]["sample"]["embeddings"]
