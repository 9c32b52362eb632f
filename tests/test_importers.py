"""Corpus importers on tiny look-alike trees of real audio files."""

from __future__ import annotations

import pytest
from helpers import (
    make_folder,
    make_kaldi,
    make_librispeech,
    make_speech_commands,
    make_voxceleb,
)

from speechrnn.data.importers import (
    prepare_folder,
    prepare_kaldi,
    prepare_librispeech,
    prepare_speech_commands,
    prepare_voxceleb,
    read_trials,
)
from speechrnn.data.manifest import read_manifest
from speechrnn.errors import CorpusError, ManifestError

SR = 16000


# --------------------------------------------------------------------------- LibriSpeech
def test_librispeech_splits_texts_speakers_durations(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    (root / "README.TXT").write_text("not a part")
    splits = prepare_librispeech(root, tmp_path / "out")
    assert sorted(splits) == ["dev-clean", "test-clean"]
    dev = {u.id: u for u in splits["dev-clean"]}
    assert dev["84-121123-0001"].text == "but in less than five minutes"
    assert dev["84-121123-0001"].speaker == "84"
    assert dev["84-121123-0001"].extra == {"chapter": "121123"}
    assert dev["84-121123-0001"].duration == pytest.approx(0.30)
    assert dev["84-121123-0000"].audio.endswith("dev-clean/84/121123/84-121123-0000.flac")
    assert {u.speaker for u in splits["test-clean"]} == {"1089", "121"}
    assert read_manifest(tmp_path / "out" / "test-clean.jsonl") == splits["test-clean"]


def test_librispeech_selected_parts_and_errors(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    assert list(prepare_librispeech(root, parts=["dev-clean"])) == ["dev-clean"]
    with pytest.raises(CorpusError, match="train-clean-100"):
        prepare_librispeech(root, parts=["train-clean-100"])
    with pytest.raises(CorpusError, match="no LibriSpeech part folders"):
        prepare_librispeech(tmp_path / "LibriSpeech" / "dev-clean")
    (root / "dev-clean" / "84" / "121123" / "84-121123-0001.flac").unlink()
    with pytest.raises(CorpusError, match="84-121123-0001.flac"):
        prepare_librispeech(root)
    (root / "test-clean" / "121" / "121726" / "121-121726.trans.txt").unlink()
    with pytest.raises(CorpusError, match="121-121726.trans.txt"):
        prepare_librispeech(root, parts=["test-clean"])


# --------------------------------------------------------------------------- Speech Commands
def test_speech_commands_35class_splits_follow_lists(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    splits = prepare_speech_commands(root, tmp_path / "out")
    ids = {k: sorted(u.id for u in v) for k, v in splits.items()}
    assert ids["dev"] == ["cat/bb22_nohash_0", "no/bb22_nohash_0", "yes/bb22_nohash_0"]
    assert ids["test"] == ["no/dd44_nohash_0", "yes/cc33_nohash_0"]
    assert len(ids["train"]) == 4  # 9 files, 5 of them in the lists
    assert {u.label for u in splits["train"]} == {"yes", "no", "cat"}
    u = next(u for u in splits["train"] if u.id == "yes/aa11_nohash_1")
    assert (u.speaker, u.label, u.extra["word"]) == ("aa11", "yes", "yes")
    assert u.duration == pytest.approx(0.2)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dev.jsonl",
        "test.jsonl",
        "train.jsonl",
    ]


def test_speech_commands_12class_unknown_and_deterministic_silence(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    a = prepare_speech_commands(root, protocol="12class", silence_fraction=1.0, seed=3)
    b = prepare_speech_commands(root, protocol="12class", silence_fraction=1.0, seed=3)
    assert a == b
    assert {u.label for u in a["train"]} == {"yes", "no", "_unknown_", "_silence_"}
    assert next(u for u in a["dev"] if u.id == "cat/bb22_nohash_0").label == "_unknown_"
    for split, (lo, hi) in {"train": (0.0, 0.8), "dev": (0.8, 0.9), "test": (0.9, 1.0)}.items():
        words = [u for u in a[split] if u.label != "_silence_"]
        silence = [u for u in a[split] if u.label == "_silence_"]
        assert len(silence) == len(words)  # silence_fraction=1.0
        for s in silence:
            total = 20.0 if s.extra["noise"] == "white_noise" else 12.0
            assert s.duration == 1.0
            assert lo * total - 1e-9 <= s.offset and s.offset + 1.0 <= hi * total + 1e-9
    c = prepare_speech_commands(root, protocol="12class", silence_fraction=1.0, seed=4)
    assert [u.offset for u in c["train"] if u.label == "_silence_"] != [
        u.offset for u in a["train"] if u.label == "_silence_"
    ]


def test_speech_commands_layout_errors(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    (root / "testing_list.txt").write_text("yes/missing_nohash_0.wav\n")
    with pytest.raises(CorpusError, match="yes/missing_nohash_0.wav"):
        prepare_speech_commands(root)
    (root / "testing_list.txt").unlink()
    with pytest.raises(CorpusError, match="testing_list.txt"):
        prepare_speech_commands(root)
    root2 = make_speech_commands(tmp_path / "sc2")
    for f in (root2 / "_background_noise_").iterdir():
        f.unlink()
    (root2 / "_background_noise_").rmdir()
    assert prepare_speech_commands(root2, protocol="35class")[
        "train"
    ]  # noise only needed for 12class
    with pytest.raises(CorpusError, match="_background_noise_"):
        prepare_speech_commands(root2, protocol="12class")
    with pytest.raises(CorpusError, match="protocol"):
        prepare_speech_commands(root2, protocol="10class")


# --------------------------------------------------------------------------- VoxCeleb1
def test_voxceleb_identification_and_verification(tmp_path):
    root = make_voxceleb(tmp_path / "vox1")
    splits = prepare_voxceleb(root, tmp_path / "out")
    ids = {k: [u.id for u in v] for k, v in splits.items()}
    assert ids["train"] == [
        "id10001/1zcIwhmdeo4/00001",
        "id10001/1zcIwhmdeo4/00002",
        "id10002/C7k7C-PDvAA/00001",
    ]
    assert ids["dev"] == ["id10001/7gWzIy6yIIk/00001"] and ids["test"] == [
        "id10002/C7k7C-PDvAA/00002"
    ]
    assert {u.speaker for u in splits["veri_test"]} == {"id10270", "id10271"}
    assert {u.speaker for u in splits["veri_train"]} == {"id10001", "id10002"}
    assert splits["dev"][0].extra == {"video": "7gWzIy6yIIk"}
    trials = read_trials(tmp_path / "out" / "trials.tsv")
    assert [(t.label, t.enroll, t.test) for t in trials] == [
        (1, "id10270/x6uYqmx31kE/00001", "id10270/8jEAjG6SegY/00008"),
        (0, "id10270/x6uYqmx31kE/00001", "id10271/1gtz-CUIygI/00001"),
    ]
    manifest_ids = {u.id for u in read_manifest(tmp_path / "out" / "veri_test.jsonl")}
    assert {t.enroll for t in trials} | {t.test for t in trials} == manifest_ids
    assert read_trials(root / "veri_test2.txt") == trials  # original format reads too


def test_voxceleb_without_lists_gives_all_and_errors(tmp_path):
    root = make_voxceleb(tmp_path / "vox1")
    (root / "iden_split.txt").unlink()
    (root / "veri_test2.txt").unlink()
    assert len(prepare_voxceleb(root)["all"]) == 8
    with pytest.raises(CorpusError, match="veri_test.txt"):
        prepare_voxceleb(root, trial_list="veri_test.txt")
    (root / "iden_split.txt").write_text("4 id10001/1zcIwhmdeo4/00001.wav\n")
    with pytest.raises(CorpusError, match=r"iden_split.txt:1: split code"):
        prepare_voxceleb(root)
    (root / "iden_split.txt").write_text("1 id10009/nope/00001.wav\n")
    with pytest.raises(CorpusError, match="id10009/nope/00001.wav"):
        prepare_voxceleb(root)
    with pytest.raises(CorpusError, match="wav/ folder"):
        prepare_voxceleb(tmp_path)
    (tmp_path / "bad_trials.txt").write_text("1 a.wav b.wav\n2 a.wav b.wav\n1 a.wav\n")
    with pytest.raises(ManifestError) as err:
        read_trials(tmp_path / "bad_trials.txt")
    assert [n for n, _ in err.value.problems] == [2, 3]


# --------------------------------------------------------------------------- Kaldi
def test_kaldi_segments_text_utt2spk(tmp_path):
    d = make_kaldi(tmp_path / "data" / "train", tmp_path / "data" / "audio")
    (d / "segments").write_text(
        "utt1 rec1 0.00 0.75\nutt2 rec1 0.75 -1\nutt3 rec2 0.1 0.4\nutt4 rec2 0.3 0.9\n"
    )
    (d / "text").write_text("utt1 HELLO THERE\nutt2 GENERAL  KENOBI\n")
    (d / "utt2spk").write_text("utt1 spkA\nutt2 spkA\nutt3 spkB\n")
    splits = prepare_kaldi(d, tmp_path / "out")
    by_id = {u.id: u for u in splits["train"]}
    assert (by_id["utt1"].offset, by_id["utt1"].duration, by_id["utt1"].text) == (
        0.0,
        0.75,
        "HELLO THERE",
    )
    assert by_id["utt2"].offset == 0.75 and by_id["utt2"].duration == pytest.approx(1.25)
    assert by_id["utt3"].text is None and by_id["utt3"].speaker == "spkB"
    assert by_id["utt3"].audio == str((tmp_path / "data" / "audio" / "rec2.flac").resolve())
    assert by_id["utt4"].duration == pytest.approx(0.2)  # end past the 0.5 s file is clipped
    assert by_id["utt1"].extra == {"recording": "rec1"}
    assert read_manifest(tmp_path / "out" / "train.jsonl") == splits["train"]


def test_kaldi_folder_of_data_dirs_without_segments(tmp_path):
    make_kaldi(tmp_path / "data" / "train", tmp_path / "data" / "audio")
    dev = tmp_path / "data" / "dev"
    dev.mkdir()
    (dev / "wav.scp").write_text(f"rec2 {tmp_path / 'data' / 'audio' / 'rec2.flac'}\n")
    splits = prepare_kaldi(tmp_path / "data")
    assert sorted(splits) == ["dev", "train"]  # data/audio has no wav.scp: not a split
    assert [(u.id, u.offset, u.duration) for u in splits["dev"]] == [("rec2", 0.0, 0.5)]
    assert prepare_kaldi(dev, split="valid").keys() == {"valid"}


@pytest.mark.parametrize(
    "files, message",
    [
        ({"wav.scp": "rec1 sox in.wav -t wav - |\n"}, r"wav.scp:1: piped command"),
        ({"wav.scp": "rec1 /no/such/file.wav\n"}, r"missing files:\n  line 1: /no/such/file.wav"),
        ({"segments": "utt1 rec9 0 1\n"}, r"segments:1: recording 'rec9' is not in wav.scp"),
        ({"segments": "utt1 rec1 1.0 0.5\n"}, r"segments:1: bad segment times"),
        (
            {"segments": "utt1 rec2 0.6 0.9\n"},
            r"'utt1' starts at 0.6 s, after recording 'rec2' ends \(0.500 s\)",
        ),
        ({"text": "utt1 hi\nrec7 bye\n"}, r"text:2: utterance 'rec7' is not in wav.scp"),
        ({"utt2spk": "rec1 a\nrec1 b\n"}, r"utt2spk:2: duplicate id 'rec1'"),
        ({"text": "rec1\n"}, r"text:1: expected at least 2 fields"),
    ],
)
def test_kaldi_errors_name_file_and_line(tmp_path, files, message):
    d = make_kaldi(tmp_path / "data" / "train", tmp_path / "data" / "audio")
    for name, content in files.items():
        (d / name).write_text(content)
    with pytest.raises(CorpusError, match=message):
        prepare_kaldi(d)


def test_kaldi_missing_wav_scp(tmp_path):
    with pytest.raises(CorpusError, match="wav.scp"):
        prepare_kaldi(tmp_path)


# --------------------------------------------------------------------------- folder per label
def test_folder_hash_split_is_deterministic_and_grouped_by_name(tmp_path):
    root = make_folder(tmp_path / "spk")
    a = prepare_folder(
        root, tmp_path / "out", label_field="speaker", dev_fraction=0.2, test_fraction=0.2
    )
    assert a == prepare_folder(root, label_field="speaker", dev_fraction=0.2, test_fraction=0.2)
    every = [u for v in a.values() for u in v]
    assert len(every) == 90 and {u.speaker for u in every} == {"alice", "bob", "carol"}
    assert all(u.label is None for u in every)
    for split, utts in a.items():
        assert 0 < len(utts) < 90, split
        # the same file name lands in the same split under every label
        names = {u.id.split("/", 1)[1] for u in utts}
        assert all(
            f"{spk}/{name}" in {u.id for u in utts}
            for spk in ("alice", "bob", "carol")
            for name in names
        )
    assert (tmp_path / "out" / "dev.jsonl").is_file()


def test_folder_labels_and_errors(tmp_path):
    root = make_folder(tmp_path / "kw", n=3)
    splits = prepare_folder(root, test_fraction=0.0, dev_fraction=0.0)
    assert {u.label for u in splits["train"]} == {"alice", "bob", "carol"} and not splits["test"]
    with pytest.raises(CorpusError, match="sum below 1"):
        prepare_folder(root, dev_fraction=0.5, test_fraction=0.5)
    with pytest.raises(CorpusError, match="no audio found"):
        prepare_folder(tmp_path / "kw" / "_ignored")
    with pytest.raises(CorpusError, match="missing corpus folder"):
        prepare_folder(tmp_path / "nowhere")


# --------------------------------------------------------------------------- CLI
def test_cli_prepare_prints_counts_and_writes_manifests(tmp_path, capsys):
    from speechrnn.cli import main

    root = make_speech_commands(tmp_path / "sc")
    rc = main(
        [
            "prepare",
            "speech_commands",
            str(root),
            str(tmp_path / "out"),
            "--protocol",
            "12class",
            "--silence-fraction",
            "0.5",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:4]}
    assert (
        rows["train"][0] == "6" and rows["dev"][0] == "5" and rows["test"][0] == "3"
    )  # words + half as many silence (half up)
    assert float(rows["train"][1]) == pytest.approx((4 * 0.2 + 2 * 1.0) / 3600, abs=1e-3)
    assert len(read_manifest(tmp_path / "out" / "train.jsonl")) == 6


def test_cli_prepare_reports_layout_errors(tmp_path, capsys):
    from speechrnn.cli import main

    rc = main(["prepare", "librispeech", str(tmp_path), str(tmp_path / "out")])
    assert rc == 2
    assert "no LibriSpeech part folders" in capsys.readouterr().err
    assert (
        main(
            [
                "prepare",
                "folder",
                str(make_folder(tmp_path / "f", n=2)),
                str(tmp_path / "o2"),
                "--label-field",
                "speaker",
            ]
        )
        == 0
    )
    assert {u.speaker for u in read_manifest(tmp_path / "o2" / "train.jsonl")} <= {
        "alice",
        "bob",
        "carol",
    }


def test_kaldi_relative_paths_fall_back_to_working_directory(tmp_path, monkeypatch):
    d = make_kaldi(tmp_path / "s5" / "data" / "train", tmp_path / "s5" / "audio")
    (d / "wav.scp").write_text(
        "rec2 audio/rec2.flac\n"
    )  # relative to the recipe folder, Kaldi style
    monkeypatch.chdir(tmp_path / "s5")
    (u,) = prepare_kaldi(d)["train"]
    assert u.audio == str((tmp_path / "s5" / "audio" / "rec2.flac").resolve())
