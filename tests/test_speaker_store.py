"""Speaker store: JSON round trip, atomic replace, concurrent enrollment from several processes."""
from __future__ import annotations

import json
import multiprocessing as mp

import numpy as np
import pytest

from speechrnn.speakers.store import SpeakerStore, SpeakerStoreError


def test_round_trip_and_centroids(tmp_path):
    path = tmp_path / "sub" / "store.json"
    store = SpeakerStore(path)
    assert store.names() == [] and not path.exists()
    assert store.add("alice", np.array([[3.0, 4.0]]), sources=["a1.wav"], model="m1") == 1
    assert store.add("alice", [0.0, 2.0], sources=["a2.wav"], model="m1") == 2
    store.add("bob", np.array([[1.0, 0.0]]), model="m1")
    store.set_threshold(0.37, "m1")

    again = SpeakerStore(path)  # a fresh reader sees everything
    assert again.names() == ["alice", "bob"]
    np.testing.assert_allclose(again.embeddings("alice"), [[3, 4], [0, 2]])
    names, c = again.centroids()
    assert names == ["alice", "bob"]
    np.testing.assert_allclose(c[0], np.array([1.5, 3.0]) / np.hypot(1.5, 3.0), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, rtol=1e-6)
    assert again.threshold == pytest.approx(0.37)
    assert again.info()["speakers"] == {"alice": 2, "bob": 1}
    data = json.loads(path.read_text())
    assert data["format"] == "speechrnn-speakers" and data["speakers"]["alice"]["sources"] == ["a1.wav", "a2.wav"]
    assert not list(tmp_path.glob("sub/.*.tmp"))  # no temporary file left behind

    assert again.add("alice", np.array([[1.0, 1.0]]), model="m1", replace=True) == 1
    assert again.remove("bob") and not again.remove("bob")
    assert SpeakerStore(path).names() == ["alice"]


def test_refuses_other_model_dim_and_bad_files(tmp_path):
    store = SpeakerStore(tmp_path / "s.json")
    store.add("a", np.ones((1, 3)), model="m1")
    with pytest.raises(SpeakerStoreError, match="another embedding model"):
        store.add("b", np.ones((1, 3)), model="m2")
    with pytest.raises(SpeakerStoreError, match="3-dim"):
        store.add("b", np.ones((1, 4)), model="m1")
    with pytest.raises(SpeakerStoreError, match="finite"):
        store.add("b", np.array([[np.nan, 1.0, 1.0]]), model="m1")
    with pytest.raises(SpeakerStoreError, match="empty"):
        store.add(" ", np.ones((1, 3)))
    with pytest.raises(SpeakerStoreError, match="no speaker named"):
        store.embeddings("zed")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpeakerStoreError, match="bad.json"):
        SpeakerStore(bad).names()
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(SpeakerStoreError, match="not a speechrnn speaker store"):
        SpeakerStore(bad).names()


def test_in_memory_store_does_not_touch_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = SpeakerStore(None)
    store.add("a", np.ones((2, 3)))
    assert store.names() == ["a"] and list(tmp_path.iterdir()) == []


def _enroll_many(path: str, worker: int, n: int) -> None:
    store = SpeakerStore(path)
    for k in range(n):
        store.add(f"w{worker}", np.full((1, 8), worker + k / 10.0), sources=[f"{worker}-{k}"], model="m")


def test_concurrent_enrollment_from_processes_all_lands(tmp_path):
    path = str(tmp_path / "store.json")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_enroll_many, args=(path, w, 5)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    store = SpeakerStore(path)
    assert store.names() == ["w0", "w1", "w2", "w3"]
    for w in range(4):  # every write of every process is present, in that process's order
        assert store.read()["speakers"][f"w{w}"]["sources"] == [f"{w}-{k}" for k in range(5)]
    json.loads((tmp_path / "store.json").read_text())  # still one valid JSON document
