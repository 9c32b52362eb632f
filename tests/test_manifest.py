"""Manifest schema: round trip, path resolution, validation of every bad line, helpers."""

from __future__ import annotations

import json
import os

import pytest

from speechrnn.data.manifest import (
    Utterance,
    filter_by_duration,
    labels,
    read_manifest,
    speakers,
    total_duration,
    write_manifest,
)
from speechrnn.errors import ManifestError


def _utts(folder):
    return [
        Utterance(
            "a", str(folder / "audio" / "a.wav"), duration=1.5, text="hello world", speaker="s1"
        ),
        Utterance(
            "b",
            str(folder / "audio" / "b.flac"),
            offset=2.0,
            duration=0.5,
            label="yes",
            speaker="s2",
        ),
        Utterance("c", "/elsewhere/c.wav", extra={"chapter": "12", "snr": 5.0}),
    ]


def test_round_trip_preserves_fields(tmp_path):
    utts = _utts(tmp_path)
    write_manifest(tmp_path / "m.jsonl", utts)
    assert read_manifest(tmp_path / "m.jsonl") == utts


def test_paths_inside_folder_are_written_relative(tmp_path):
    write_manifest(tmp_path / "m.jsonl", _utts(tmp_path))
    records = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert records[0]["audio"] == "audio/a.wav"
    assert records[2]["audio"] == "/elsewhere/c.wav"
    # defaults are omitted for compact manifests
    assert "offset" not in records[0] and "label" not in records[0]


def test_relative_paths_resolve_against_manifest_folder_or_root(tmp_path):
    sub = tmp_path / "manifests"
    sub.mkdir()
    (sub / "m.jsonl").write_text('{"id": "x", "audio": "wavs/x.wav"}\n')
    assert read_manifest(sub / "m.jsonl")[0].audio == str((sub / "wavs" / "x.wav").resolve())
    other = tmp_path / "corpus"
    assert read_manifest(sub / "m.jsonl", root=other)[0].audio == str(
        (other / "wavs" / "x.wav").resolve()
    )


def test_moving_the_folder_keeps_paths_valid(tmp_path):
    src = tmp_path / "src"
    write_manifest(src / "m.jsonl", _utts(src)[:1])
    os.rename(src, tmp_path / "dst")
    assert read_manifest(tmp_path / "dst" / "m.jsonl")[0].audio == str(
        tmp_path / "dst" / "audio" / "a.wav"
    )


def test_all_bad_lines_are_reported_with_reasons(tmp_path):
    lines = [
        '{"id": "ok", "audio": "a.wav"}',  # 1 fine
        '{"id": "x", "audio": ',  # 2 bad JSON
        '{"audio": "b.wav"}',  # 3 missing id
        '{"id": "y", "audio": "c.wav", "duration": "long"}',  # 4 wrong type
        '{"id": "z", "audio": "d.wav", "offset": -1}',  # 5 negative offset
        '{"id": "w", "audio": "e.wav", "duration": 0}',  # 6 non-positive duration
        '{"id": "ok", "audio": "f.wav"}',  # 7 duplicate id
        '{"id": "v", "audio": "g.wav", "txt": "typo"}',  # 8 unknown key
        "",  # blank lines are skipped
        '["not", "an", "object"]',  # 10
        '{"id": "u", "audio": "h.wav", "speaker": 7, "extra": []}',  # 11 two problems
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as err:
        read_manifest(tmp_path / "m.jsonl")
    problems = err.value.problems
    assert sorted({n for n, _ in problems}) == [2, 3, 4, 5, 6, 7, 8, 10, 11]
    by_line = {}
    for n, why in problems:
        by_line.setdefault(n, []).append(why)
    assert "invalid JSON" in by_line[2][0]
    assert "missing required key 'id'" in by_line[3][0]
    assert "'duration'" in by_line[4][0]
    assert ">= 0" in by_line[5][0]
    assert "> 0" in by_line[6][0]
    assert "duplicate id 'ok' (first on line 1)" in by_line[7][0]
    assert "'txt'" in by_line[8][0] and "extra" in by_line[8][0]
    assert "JSON object" in by_line[10][0]
    assert len(by_line[11]) == 2
    assert str(tmp_path / "m.jsonl") in str(err.value) and "line 7" in str(err.value)


def test_booleans_are_not_numbers(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"id": "a", "audio": "a.wav", "offset": true}\n')
    with pytest.raises(ManifestError, match="offset"):
        read_manifest(tmp_path / "m.jsonl")


def test_write_rejects_duplicate_ids_and_leaves_no_partial_file(tmp_path):
    u = Utterance("a", "a.wav")
    with pytest.raises(ManifestError, match="duplicate id 'a'"):
        write_manifest(tmp_path / "m.jsonl", [u, u])
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic_replace(tmp_path):
    target = tmp_path / "m.jsonl"
    write_manifest(target, [Utterance("a", "a.wav")])
    write_manifest(target, [Utterance("b", "b.wav"), Utterance("c", "c.wav")])
    assert [u.id for u in read_manifest(target)] == ["b", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]  # no temp files left


def test_helpers(tmp_path):
    utts = _utts(tmp_path)
    assert total_duration(utts) == pytest.approx(2.0)
    assert speakers(utts) == ["s1", "s2"]
    assert labels(utts) == ["yes"]
    assert [u.id for u in filter_by_duration(utts, max_duration=1.0)] == ["b"]
    assert [u.id for u in filter_by_duration(utts, min_duration=1.0)] == ["a"]
    assert [u.id for u in filter_by_duration(utts)] == ["a", "b", "c"]
    assert utts[1].end == pytest.approx(2.5) and utts[2].end is None


def test_missing_manifest_is_a_clear_error_and_a_clean_cli_failure(tmp_path, capsys):
    from speechrnn.cli import main
    from speechrnn.errors import ManifestNotFoundError, SpeechRNNError

    missing = tmp_path / "nope.jsonl"
    with pytest.raises(ManifestNotFoundError, match="no such manifest file") as e:
        read_manifest(missing)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, SpeechRNNError)
    write_manifest(tmp_path / "train.jsonl", [Utterance("k1", "a.wav", label="up")])
    assert main(["kws", "negatives", str(tmp_path / "train.jsonl"), str(missing),
                 "--out", str(tmp_path / "out.jsonl")]) != 0
    assert "no such manifest file" in capsys.readouterr().err
