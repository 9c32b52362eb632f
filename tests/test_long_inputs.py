"""Long inputs in bounded memory: speaker embeddings of a long file read it block by block."""
import tracemalloc

import numpy as np
import soundfile as sf

from speechrnn.inference import SpeakerIdentifier


def test_speaker_embedding_of_a_long_file_holds_a_few_blocks_only(tmp_path):
    """10 minutes are 38 MB of float32 samples; the embedding used to read every block first."""
    sr = 16000
    rng = np.random.default_rng(0)
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as f:
        for _ in range(10):  # 10 x 60 s, written in pieces
            f.write((rng.standard_normal(60 * sr) * 0.1).astype(np.float32))
    sid = SpeakerIdentifier.load()
    tracemalloc.start()
    try:
        emb = sid.embed(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert emb.shape == (sid.model.cfg.head.embedding_dim,)
    assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-4
    assert peak < 25 * 2**20, peak  # at most 8 blocks of 30 s (15 MB) at once, not the whole file
