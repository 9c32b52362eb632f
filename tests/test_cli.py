"""The command line as a user meets it: exit codes, one-line errors, outputs that lose nothing,
stdout listings that say which file, bundled models by name, options that override only
themselves, no torch import for ``--help``. Every test runs the real CLI (``main()`` or a
subprocess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from speechrnn.audio import write_audio
from speechrnn.cli import main
from speechrnn.errors import CheckpointError
from speechrnn.inference.models import MODELS_DIR, resolve_model

REPO = Path(__file__).resolve().parents[1]
BUNDLED_ASR = MODELS_DIR / "en-char-bilstm.pt"
needs_bundled = pytest.mark.skipif(not BUNDLED_ASR.is_file(), reason="bundled models not installed")


def _cli(*args, input_files=(), cwd=None, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m speechrnn ARGS`` (stderr kept apart)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "speechrnn", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300, **kw)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    """Speech-like 16 kHz clips in two folders with the same file names (a/x, b/x)."""
    root = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    paths = {}
    for rel in ("a/x.wav", "b/x.wav", "c/y.wav"):
        t = np.arange(int(0.8 * 16000)) / 16000
        sig = 0.3 * np.sin(2 * np.pi * (180 + 40 * np.sin(3 * t)) * t) * (1 + np.sin(7 * t)) / 2
        sig = (sig + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_audio(root / rel, sig, 16000)
        paths[rel] = root / rel
    return root, paths


# ---------------------------------------------------------------- --help and --version
def test_help_and_version_do_not_import_torch():
    code = ("import sys\nfrom speechrnn.cli import main\n"
            "for argv in (['--help'], ['--version'], ['transcribe', '--help'], ['export', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0, e.code\n"
            "print('IMPORTED', sorted(m for m in ('torch', 'torchaudio') if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "IMPORTED []" in r.stdout, r.stdout[-300:]
    assert "usage: speechrnn export" in r.stdout


# ---------------------------------------------------------------- exit codes, one-line errors
@pytest.mark.parametrize("argv, message", [
    (["transcribe", "X", "--device", "gpu"], "unknown device 'gpu'"),
    (["transcribe", "X", "--threads", "-1"], "--threads: must be >= 1"),
    (["identify", "X", "--top-k", "0"], "--top-k: must be >= 1"),
    (["spot", "X", "--hop", "0"], "--hop: must be a finite number > 0"),
])
def test_bad_option_values_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert f"usage: speechrnn {argv[0]}" in err  # the sub-command's usage, not the top-level one


def test_a_mistyped_option_prints_that_subcommands_usage(wavs, capsys):
    with pytest.raises(SystemExit) as e:
        main(["transcribe", str(wavs[1]["a/x.wav"]), "--bogus-flag"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: speechrnn transcribe") and "--bogus-flag" in err
    with pytest.raises(SystemExit):
        main(["kws", "evaluate", "m.pt", "t.jsonl", "--nope"])
    assert capsys.readouterr().err.startswith("usage: speechrnn kws evaluate")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(wavs, capsys):
    assert main(["transcribe", str(wavs[1]["a/x.wav"]), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("speechrnn transcribe: error: --device cuda: no CUDA GPU is available "
                           "here (use --device cpu)")


@needs_bundled
def test_an_audio_file_given_as_manifest_is_named(wavs, capsys):
    assert main(["evaluate", "en-char-bilstm", str(wavs[1]["a/x.wav"])]) == 2
    err = capsys.readouterr().err
    assert "x.wav" in err and "not UTF-8 text" in err and "Traceback" not in err


def test_nothing_to_do_exits_2(tmp_path, capsys):
    (tmp_path / "emptydir").mkdir()
    assert main(["enroll", "zz", str(tmp_path / "emptydir"), "--store", str(tmp_path / "s.json")]) == 2
    assert "no input files" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
    assert main(["identify", str(tmp_path / "nomatch/*.wav"), "--store", str(tmp_path / "s.json")]) == 2
    assert "matches no file" in capsys.readouterr().err
    assert main(["features", str(tmp_path / "emptydir")]) == 2
    assert "no audio files" in capsys.readouterr().err


# ---------------------------------------------------------------- outputs lose nothing
@needs_bundled
def test_transcribe_out_mirrors_folders_and_refuses_collisions(wavs, tmp_path, capsys):
    root, p = wavs
    out = tmp_path / "o"
    assert main(["transcribe", str(p["a/x.wav"]), str(p["b/x.wav"]), "--decoder", "greedy",
                 "--out", str(out)]) == 0
    assert sorted(f.relative_to(out).as_posix() for f in out.rglob("*")) == [
        "a", "a/x.txt", "b", "b/x.txt"]
    flac = tmp_path / "a" / "x.flac"
    flac.parent.mkdir()
    import soundfile as sf

    sf.write(flac, np.zeros(8000, np.float32) + 0.1, 16000)
    wav = flac.with_suffix(".wav")
    wav.write_bytes(p["a/x.wav"].read_bytes())
    out2 = tmp_path / "o2"
    assert main(["transcribe", str(wav), str(flac), "--decoder", "greedy", "--output-dir",
                 str(out2)]) == 2
    assert "would both be written to" in capsys.readouterr().err
    assert not out2.exists()  # refused before anything was written


def test_features_out_mirrors_folders_and_takes_folders(wavs, tmp_path):
    root, p = wavs
    out = tmp_path / "f"
    assert main(["features", str(root / "a"), str(root / "b"), "-o", str(out)]) == 0
    got = sorted(f.relative_to(out).as_posix() for f in out.rglob("*.npy"))
    assert got == ["a/x.npy", "b/x.npy"]
    assert np.load(out / "a" / "x.npy").shape[1] == 40
    assert not [f for f in out.rglob("*") if f.name.endswith(".tmp")]


# ---------------------------------------------------------------- stdout listings
@needs_bundled
def test_stdout_listings_mark_each_file_and_keep_one_shape(wavs, capsys):
    root, p = wavs
    files = [str(p["a/x.wav"]), str(p["c/y.wav"])]
    assert main(["transcribe", *files, "--decoder", "greedy", "--format", "json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    docs = [json.loads(line) for line in lines]  # JSON Lines
    assert [d["path"] for d in docs] == files and all("words" in d for d in docs)
    assert main(["transcribe", files[0], "--decoder", "greedy", "--format", "json"]) == 0
    json.loads(capsys.readouterr().out)  # one file: one valid JSON document

    assert main(["transcribe", files[0], "--decoder", "greedy"]) == 0
    one = capsys.readouterr().out.splitlines()
    assert main(["transcribe", *files, "--decoder", "greedy"]) == 0
    two = capsys.readouterr().out.splitlines()
    assert one == two[:1] and one[0].startswith(files[0] + "\t")  # same shape for 1 or 2 files

    assert main(["transcribe", *files, "--decoder", "greedy", "--format", "tsv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "file\tstart\tend\tword\tconfidence"
    assert {r.split("\t")[0] for r in rows[1:]} <= set(files)

    assert main(["transcribe", *files, "--decoder", "greedy", "--format", "srt"]) == 2
    assert "--out DIR" in capsys.readouterr().err


@needs_bundled
def test_a_closed_pipe_stops_quietly(wavs, tmp_path):
    src = wavs[1]["a/x.wav"]
    for i in range(6):
        (tmp_path / f"c{i}.wav").write_bytes(src.read_bytes())
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "speechrnn", "transcribe", str(tmp_path),
                             "--decoder", "greedy", "--format", "tsv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


# ---------------------------------------------------------------- bundled models by name
@needs_bundled
def test_bundled_models_resolve_by_name(tmp_path, capsys):
    assert resolve_model("en-char-bilstm") == BUNDLED_ASR
    assert resolve_model("en-char-bilstm.pt") == BUNDLED_ASR
    with pytest.raises(CheckpointError, match="bundled: en-char-bilstm"):
        resolve_model("no-such-model")
    from speechrnn.inference.keywords import KeywordSpotter

    spotter = KeywordSpotter.load("en-char-bilstm.pt", ["hello"], open_vocabulary=True)
    assert spotter.open_vocabulary
    from speechrnn import Recognizer, SpeakerIdentifier
    from speechrnn.decoding import DecodingConfig

    assert Recognizer.load("en-char-bilstm", decoding=DecodingConfig()).labels
    sid = SpeakerIdentifier.load("spk-bilstm.pt", tmp_path / "s.json")
    assert sid.model_path == MODELS_DIR / "spk-bilstm.pt"

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert str(BUNDLED_ASR) in out and str(MODELS_DIR / "en-char-bilstm.arpa.gz") in out
    assert main(["transcribe", "x.wav", "--model", "no-such-model"]) == 2
    assert "no such model file, nor a bundled model" in capsys.readouterr().err


@needs_bundled
def test_export_carries_the_lm_of_the_stored_decoding(tmp_path, capsys):
    from speechrnn.inference.model_decoding import stored_decoding

    out = tmp_path / "deploy" / "small.pt"
    assert main(["export", "en-char-bilstm", "--out", str(out), "--int8"]) == 0
    assert "default decoding: lexicon 256 + small.arpa.gz" in capsys.readouterr().out
    assert (out.parent / "small.arpa.gz").read_bytes() == \
        (MODELS_DIR / "en-char-bilstm.arpa.gz").read_bytes()
    cfg = stored_decoding(out)
    assert cfg is not None and cfg.method == "lexicon" and cfg.lm_path == str(out.parent / "small.arpa.gz")


def test_export_verifies_before_replacing_the_destination(tmp_path, monkeypatch, capsys):
    import speechrnn.export as ex
    from speechrnn.config import from_dict
    from speechrnn.features import FeatureConfig
    from speechrnn.models import AcousticModel, ModelConfig
    from speechrnn.models.checkpoint import save_checkpoint
    from speechrnn.text import CharTokenizer

    tok = CharTokenizer.english()
    model = AcousticModel(from_dict(ModelConfig, {"encoder": {"hidden_size": 8, "num_layers": 1}}),
                          tok.vocab_size, FeatureConfig(n_mfcc=13, n_mels=23))
    src = tmp_path / "src.pt"
    save_checkpoint(src, model, task="transcription", labels=tok.to_dict())
    dst = tmp_path / "dst.pt"
    dst.write_bytes(b"the previous export")

    def refuse(path, *a, **k):
        raise CheckpointError(f"{path}: does not load")

    monkeypatch.setattr(ex, "load_model", refuse)  # a written file that fails verification
    assert main(["export", str(src), str(dst)]) == 2
    assert "does not load" in capsys.readouterr().err
    assert dst.read_bytes() == b"the previous export"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["dst.pt", "src.pt"]  # no leftovers


def test_stored_lm_names_with_a_folder_part_are_refused(tmp_path):
    from speechrnn.inference.model_decoding import stored_decoding, stored_files

    extra = {"decoding": {"method": "beam", "lm_path": "../../etc/lm.arpa"}}
    with pytest.raises(CheckpointError, match="must be a file name beside the model"):
        stored_decoding(tmp_path / "m.pt", extra)
    for bad in ("sub/lm.arpa", "..", "/abs/lm.arpa", "a\\b.arpa"):
        with pytest.raises(CheckpointError):
            stored_files(tmp_path / "m.pt", {"decoding": {"method": "beam", "lm_path": bad}})
    ok = {"decoding": {"method": "beam", "lm_path": "m.arpa.gz"}}
    assert stored_files(tmp_path / "m.pt", ok) == [tmp_path / "m.arpa.gz"]


# ---------------------------------------------------------------- decoding options
def _decoding(argv, model):
    """The decoding `transcribe ARGV` would use with ``model`` (the real parser)."""
    from speechrnn.cli import build_parser
    from speechrnn.cli.decoding_args import decoding_for

    args = build_parser().parse_args(["transcribe", "x.wav", *argv])
    return decoding_for(args, model)


@needs_bundled
def test_one_decoding_option_overrides_only_itself():
    stored = {"method": "lexicon", "beam_size": 256, "alpha": 0.6, "beta": -1.0}
    assert _decoding([], BUNDLED_ASR) is None  # the stored default applies as it is
    d = _decoding(["--alpha", "0.8"], BUNDLED_ASR)
    assert (d.method, d.beam_size, d.alpha, d.beta) == ("lexicon", 256, 0.8, -1.0)
    assert d.lm_path == str(MODELS_DIR / "en-char-bilstm.arpa.gz")
    d = _decoding(["--beam-size", "16"], BUNDLED_ASR)
    assert (d.method, d.beam_size, d.alpha) == ("lexicon", 16, stored["alpha"]) and d.lm_path
    d = _decoding(["--hotword", "kitchen"], BUNDLED_ASR)  # hotwords need beam search; LM kept
    assert (d.method, d.hotwords, d.alpha) == ("beam", ["kitchen"], 0.6) and d.lm_path
    d = _decoding(["--decoder", "greedy"], BUNDLED_ASR)
    assert d.method == "greedy" and d.lm_path is None


def test_decoding_mistakes_name_the_options(tmp_path, capsys):
    from speechrnn.features import FeatureConfig
    from speechrnn.models import AcousticModel, ModelConfig
    from speechrnn.models.checkpoint import save_checkpoint
    from speechrnn.config import from_dict
    from speechrnn.text import CharTokenizer

    tok = CharTokenizer.english()
    model = AcousticModel(from_dict(ModelConfig, {"encoder": {"hidden_size": 8, "num_layers": 1}}),
                          tok.vocab_size, FeatureConfig(n_mfcc=13, n_mels=23))
    plain = tmp_path / "plain.pt"  # no stored decoding
    save_checkpoint(plain, model, task="transcription", labels=tok.to_dict())
    wav = tmp_path / "x.wav"
    write_audio(wav, np.full(8000, 0.1, np.float32), 16000)
    for argv, msg in [(["--decoder", "lexicon"], "--decoder lexicon needs --lexicon FILE, or an ARPA --lm"),
                      (["--alpha", "0.8"], "--alpha weigh a language model: give --lm"),
                      (["--lm", str(tmp_path / "none.arpa")], "--lm"),
                      (["--decoder", "greedy", "--hotword", "x"], "--decoder greedy uses no --hotword")]:
        assert main(["transcribe", str(wav), "--model", str(plain), *argv]) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and "DecodingConfig" not in err and "lexicon_path" not in err, err
    d = _decoding(["--beam-size", "8"], plain)  # greedy model: a beam asks for beam search
    assert (d.method, d.beam_size) == ("beam", 8)


# ---------------------------------------------------------------- spot, synth, progress
def test_spot_keywords_give_file_names_back_to_the_inputs():
    from speechrnn.cli import build_parser
    from speechrnn.cli.cmd_spot import split_keywords

    args = build_parser().parse_args(["spot", "--keywords", "yes", "stop", "file.wav", "d/"])
    assert split_keywords(args) == ["file.wav", "d/"] and args.keywords == ["yes", "stop"]
    args = build_parser().parse_args(["spot", "a.wav", "--keywords", "good morning"])
    assert split_keywords(args) == ["a.wav"] and args.keywords == ["good morning"]


@pytest.mark.skipif(not (MODELS_DIR / "kws-10-bilstm.pt").is_file(), reason="no bundled models")
def test_spot_with_keywords_before_the_file_runs(wavs, capsys):
    assert main(["spot", "--keywords", "yes", "stop", str(wavs[1]["a/x.wav"])]) == 0


def test_synth_sizes_and_output_spellings():
    from speechrnn.cli import build_parser
    from speechrnn.cli.cmd_synth import keyword_clips_for_hours

    assert keyword_clips_for_hours(0.5, None) == 120  # 1800 s / (10 words x 1.5)
    assert keyword_clips_for_hours(0.5, ["yes", "no"]) == 600
    p = build_parser()
    for argv in (["synth", "keywords", "D", "--hours", "0.5"],
                 ["synth", "keywords", "--out", "D", "--num", "3"],
                 ["synth", "transcription", "D", "--hours", "2"],
                 ["synth", "speakers", "-o", "D", "--num-voices", "4"]):
        args = p.parse_args(argv)
        from speechrnn.cli.options import positional_out

        assert positional_out(args, "out_dir") == "D"
    with pytest.raises(SystemExit):
        p.parse_args(["synth", "keywords", "D", "--hours", "1", "--num", "3"])


def test_progress_bars_only_on_a_terminal():
    from speechrnn.progress import progress_bar

    code = ("from speechrnn.progress import progress_bar\n"
            "for _ in progress_bar(range(200), desc='x'):\n    pass\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert r.returncode == 0 and r.stderr == ""  # stderr is a pipe: no bar at all
    assert progress_bar(range(3)).disable  # pytest's captured stderr is no terminal either


def test_a_bug_exits_3_with_its_traceback(wavs, monkeypatch, capsys):
    from speechrnn.inference import Recognizer

    def broken(cls, *a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(Recognizer, "load", classmethod(broken))  # a bug, not a bad input
    assert main(["transcribe", str(wavs[1]["a/x.wav"]), "--decoder", "greedy"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err and "internal error" in err


def test_train_output_spellings():
    from speechrnn.cli import build_parser
    from speechrnn.cli.cmd_train import _split_overrides

    p = build_parser()
    for argv in (["train", "c.yaml", "--out", "E"], ["train", "c.yaml", "a.b=1", "-o", "E"],
                 ["train", "--exp-dir", "E", "c.yaml", "a.b=1"]):
        args = p.parse_args(argv)
        assert _split_overrides(args) in ([], ["a.b=1"]) and args.exp_dir == "E"


def test_every_subcommand_help_renders(capsys):
    from speechrnn.cli import build_parser

    def walk(parser, prefix):
        import argparse

        yield prefix
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*prefix, name])

    commands = [c for c in walk(build_parser(), []) if c]
    assert len(commands) > 20
    for argv in commands:
        with pytest.raises(SystemExit) as e:
            main([*argv, "--help"])
        assert e.value.code == 0, argv
        assert capsys.readouterr().out.startswith(f"usage: speechrnn {' '.join(argv)}")
