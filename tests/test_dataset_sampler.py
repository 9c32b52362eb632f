"""AudioDataset + collate_audio on real files, and BucketBatchSampler properties."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import tone, write_tone
from torch.utils.data import DataLoader

from speechrnn.data.dataset import AudioDataset, collate_audio
from speechrnn.data.manifest import Utterance
from speechrnn.data.sampler import BucketBatchSampler
from speechrnn.errors import AudioTooLongError, ConfigError

SR = 16000


# --------------------------------------------------------------------------- dataset
@pytest.fixture
def utts(tmp_path):
    write_tone(tmp_path / "a.wav", seconds=0.5, freq=440)
    write_tone(tmp_path / "b.flac", seconds=0.25, freq=220)
    write_tone(tmp_path / "c_8k.wav", seconds=0.3, sr=8000, freq=300)
    return [
        Utterance("a", str(tmp_path / "a.wav"), duration=0.5),
        Utterance("b", str(tmp_path / "b.flac"), duration=0.25),
        Utterance("a_slice", str(tmp_path / "a.wav"), offset=0.1, duration=0.2),
        Utterance("c", str(tmp_path / "c_8k.wav")),  # no duration: read to the end, resampled
    ]


def test_items_are_float32_waveforms_with_slices_and_resampling(utts):
    ds = AudioDataset(utts)
    assert len(ds) == 4
    a, b, s, c = (ds[i] for i in range(4))
    assert (a["index"], a["id"], a["utt"]) == (0, "a", utts[0])
    assert a["waveform"].dtype == torch.float32 and a["waveform"].shape == (8000,)
    assert b["waveform"].shape == (4000,)
    assert c["waveform"].shape == (4800,)  # 0.3 s at 8 kHz -> 16 kHz
    # the slice equals the matching samples of the whole file (16-bit quantised)
    assert s["waveform"].shape == (3200,)
    torch.testing.assert_close(s["waveform"], a["waveform"][1600:4800])
    np.testing.assert_allclose(a["waveform"].numpy(), tone(0.5, SR, 440.0), atol=1e-3)


def test_max_duration_is_enforced(utts):
    with pytest.raises(AudioTooLongError, match="a.wav"):
        AudioDataset(utts, max_duration=0.4)[0]
    assert AudioDataset(utts, max_duration=0.4)[2]["waveform"].shape == (3200,)  # slice is 0.2 s


def test_durations_probe_headers_when_missing(utts):
    np.testing.assert_allclose(AudioDataset(utts).durations(), [0.5, 0.25, 0.2, 0.3])


def test_collate_pads_with_zeros_and_keeps_lengths(utts):
    ds = AudioDataset(utts)
    batch = collate_audio([ds[1], ds[0], ds[2]])
    assert batch["ids"] == ["b", "a", "a_slice"]
    assert batch["waveforms"].shape == (3, 8000) and batch["waveforms"].dtype == torch.float32
    assert batch["lengths"].tolist() == [4000, 8000, 3200] and batch["lengths"].dtype == torch.int64
    assert batch["indices"].tolist() == [1, 0, 2]
    assert torch.all(batch["waveforms"][0, 4000:] == 0) and torch.all(
        batch["waveforms"][2, 3200:] == 0
    )
    torch.testing.assert_close(batch["waveforms"][0, :4000], ds[1]["waveform"])
    assert batch["utts"][1] is utts[0]
    with pytest.raises(ValueError):
        collate_audio([])


def test_dataloader_with_bucket_sampler(utts):
    ds = AudioDataset(utts)
    sampler = BucketBatchSampler(ds.durations(), max_seconds=0.6, shuffle=False)
    batches = list(DataLoader(ds, batch_sampler=sampler, collate_fn=collate_audio))
    assert sorted(i for b in batches for i in b["ids"]) == ["a", "a_slice", "b", "c"]
    for b in batches:
        assert b["waveforms"].shape[1] == int(b["lengths"].max())
        assert b["waveforms"].shape[0] * b["waveforms"].shape[1] / SR <= 0.6 + 1e-9


# --------------------------------------------------------------------------- sampler
def random_durations(n=500, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 15.0, n)  # seconds, like a read-speech corpus


def test_budget_and_batch_size_respected():
    d = random_durations()
    s = BucketBatchSampler(d, max_seconds=60.0, max_batch_size=16, seed=1)
    for batch in s:
        assert len(batch) <= 16
        assert len(batch) * d[batch].max() <= 60.0 + 1e-9
    assert s.oversized == []


def test_every_index_once_per_epoch_and_len():
    d = random_durations()
    s = BucketBatchSampler(d, max_seconds=45.0, seed=2)
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s)
        assert sorted(i for b in batches for i in b) == list(range(len(d)))


def test_deterministic_under_seed_and_varies_by_epoch_and_seed():
    d = np.round(random_durations(), 1)  # many ties: exercises random tie-breaking

    def run(seed, epoch):
        s = BucketBatchSampler(d, max_seconds=45.0, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert run(0, 1) == run(0, 1)
    assert run(0, 1) != run(0, 2)
    assert run(0, 1) != run(1, 1)


def test_unshuffled_and_sortagrad_orders_are_ascending():
    d = random_durations()
    for s in (
        BucketBatchSampler(d, 45.0, shuffle=False),
        BucketBatchSampler(d, 45.0, sortagrad=True),
    ):
        maxima = [d[b].max() for b in s]
        assert maxima == sorted(maxima)
    s = BucketBatchSampler(d, 45.0, sortagrad=True)
    s.set_epoch(1)
    maxima = [d[b].max() for b in s]
    assert maxima != sorted(maxima)  # shuffled after epoch 0


def test_oversized_items_get_their_own_batch():
    d = np.array([1.0, 30.0, 2.0, 1.5, 50.0])
    s = BucketBatchSampler(d, max_seconds=10.0, shuffle=False)
    batches = list(s)
    assert s.oversized == [1, 4]
    assert [1] in batches and [4] in batches
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3, 4]


def test_padding_waste_is_small():
    d = random_durations(2000, seed=3)
    s = BucketBatchSampler(d, max_seconds=120.0)
    padded = sum(len(b) * d[b].max() for b in s)
    waste = 1.0 - d.sum() / padded
    assert waste == pytest.approx(s.padding_waste())
    assert waste < 0.02  # sorted buckets: under 2% of padded seconds are padding
    s_unsorted_waste = 1.0 - d.sum() / sum(
        len(b) * d[b].max() for b in np.array_split(np.arange(2000), len(s))
    )
    assert waste < s_unsorted_waste / 10  # ten times better than batching in file order


@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_ranks_equal_counts_disjoint_and_covering(drop_last):
    d = random_durations(301, seed=4)
    world = 4
    samplers = [
        BucketBatchSampler(d, 40.0, seed=5, rank=r, world_size=world, drop_last=drop_last)
        for r in range(world)
    ]
    for s in samplers:
        s.set_epoch(3)
    per_rank = [list(s) for s in samplers]
    assert len({len(b) for b in per_rank}) == 1 and len(per_rank[0]) == len(samplers[0])
    full = BucketBatchSampler(d, 40.0, seed=5)
    n_batches = len(full)
    assert n_batches % world != 0  # the padding / dropping path is exercised
    seen = [i for batches in per_rank for b in batches for i in b]
    if drop_last:
        assert len(seen) == len(set(seen))  # disjoint
        assert len(per_rank[0]) == n_batches // world
    else:
        assert set(seen) == set(range(len(d)))  # union covers everything
        unique_batches = {tuple(b) for batches in per_rank for b in batches}
        assert len(unique_batches) == n_batches  # only padding repeats batches
        # without the padded tail, ranks are disjoint
        head = [i for batches in per_rank for b in batches[: n_batches // world] for i in b]
        assert len(head) == len(set(head))


def test_resume_mid_epoch_equals_uninterrupted():
    d = random_durations(200, seed=6)
    ref = BucketBatchSampler(d, 40.0, seed=7)
    ref.set_epoch(2)
    expected = list(ref)

    s = BucketBatchSampler(d, 40.0, seed=7)
    s.set_epoch(2)
    it = iter(s)
    first = [next(it) for _ in range(5)]
    state = s.state_dict()
    assert state["position"] == 5 and state["epoch"] == 2

    resumed = BucketBatchSampler(d, 40.0, seed=7)
    resumed.load_state_dict(state)
    assert first + list(resumed) == expected
    # the next epoch starts from the beginning again
    resumed.set_epoch(3)
    assert len(list(resumed)) == len(resumed)


def test_state_with_consumed_count_and_mismatch_errors():
    d = random_durations(100, seed=8)
    s = BucketBatchSampler(d, 30.0, seed=1)
    list(s)  # a prefetching loader may run ahead of training...
    state = s.state_dict(batches_consumed=3)  # ...so the trainer passes what it consumed
    r = BucketBatchSampler(d, 30.0, seed=1)
    r.load_state_dict(state)
    assert list(r) == list(BucketBatchSampler(d, 30.0, seed=1))[3:]
    with pytest.raises(ConfigError, match="seed"):
        BucketBatchSampler(d, 30.0, seed=2).load_state_dict(state)
    with pytest.raises(ConfigError, match="num_items"):
        BucketBatchSampler(d[:50], 30.0, seed=1).load_state_dict(state)


def test_invalid_arguments():
    with pytest.raises(ConfigError, match="max_seconds"):
        BucketBatchSampler([1.0], 0)
    with pytest.raises(ConfigError, match="rank"):
        BucketBatchSampler([1.0], 10, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="item 1"):
        BucketBatchSampler([1.0, float("nan")], 10)
    assert list(BucketBatchSampler([], 10)) == [] and len(BucketBatchSampler([], 10)) == 0


# --------------------------------------------------------------------------- end to end
def test_importer_manifest_dataset_loader_pipeline(tmp_path):
    from helpers import make_speech_commands

    from speechrnn.data.importers import prepare_speech_commands
    from speechrnn.data.manifest import read_manifest

    root = make_speech_commands(tmp_path / "sc")
    prepare_speech_commands(root, tmp_path / "m", protocol="12class", silence_fraction=0.5)
    ds = AudioDataset(read_manifest(tmp_path / "m" / "train.jsonl"))
    loader = DataLoader(
        ds,
        batch_sampler=BucketBatchSampler(ds.durations(), max_seconds=2.0, seed=0),
        collate_fn=collate_audio,
    )
    seen = {}
    for batch in loader:
        for u, n in zip(batch["utts"], batch["lengths"].tolist(), strict=True):
            seen[u.id] = (u.label, n)
    assert len(seen) == len(ds) == 6
    silence = [n for label, n in seen.values() if label == "_silence_"]
    assert silence == [SR, SR]  # 1 s slices of the background noise
    assert all(n == int(0.2 * SR) for label, n in seen.values() if label != "_silence_")


def test_dataset_on_error_raise_skip_substitute(tmp_path):
    from speechrnn.data import AudioDataset, Utterance, collate_audio
    from speechrnn.errors import AudioError

    good = tmp_path / "good.wav"
    sf.write(good, np.full(800, 0.1, np.float32), 16000)
    (tmp_path / "bad.wav").write_text("not audio")
    utts = [Utterance(id="g", audio=str(good), duration=0.05),
            Utterance(id="b", audio=str(tmp_path / "bad.wav"), duration=1.0)]
    with pytest.raises(AudioError, match="bad.wav"):
        AudioDataset(utts)[1]
    skip = AudioDataset(utts, on_error="skip")
    batch = collate_audio([skip[0], skip[1]])
    assert batch["ids"] == ["g"] and batch["waveforms"].shape == (1, 800)
    assert batch["skipped"][0][0] == "b" and "bad.wav" in batch["skipped"][0][1]
    empty = collate_audio([skip[1]])
    assert empty["ids"] == [] and empty["waveforms"].shape[0] == 0 and len(empty["skipped"]) == 1
    sub = AudioDataset(utts, on_error="substitute")
    assert sub[1]["id"] == "g" and sub[1]["index"] == 0
    with pytest.raises(AudioError, match="no utterance"):
        AudioDataset(utts[1:], on_error="substitute")[0]
    with pytest.raises(ValueError, match="on_error"):
        AudioDataset(utts, on_error="ignore")
