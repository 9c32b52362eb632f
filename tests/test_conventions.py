"""Conventions the docs promise: one exception hierarchy, and a CLI that works under python -OO."""
import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from speechrnn.errors import ConfigError, SpeechRNNError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "speechrnn").rglob("*.py"))
BUILTIN = set(dir(__import__("builtins")))
# transport errors of the server: rendered to HTTP / WebSocket clients as status and close codes
# inside speechrnn.serve, never raised to a Python caller
TRANSPORT = {"APIError", "ProtocolError", "_ClientGone"}
# file-system failures keep Python's own OSError types (as the OS raises them)
OS_ERRORS = {n for n in dir(__import__("builtins")) if isinstance(getattr(__import__("builtins"), n), type)
             and issubclass(getattr(__import__("builtins"), n), OSError)}


def _raised_builtins(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    getattr_fns = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
                   for n in ast.walk(f)}
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = exc.id if isinstance(exc, ast.Name) else None
        if name is None or name not in BUILTIN or not name.endswith(("Error", "Exception")):
            continue
        if name == "NotImplementedError" or name in OS_ERRORS or (
                name == "AttributeError" and id(node) in getattr_fns):
            continue  # abstract methods; I/O failures; module __getattr__ must raise AttributeError
        bad.append(f"{path.relative_to(ROOT)}:{node.lineno} raises {name}")
    return bad


def test_the_package_raises_only_speechrnn_errors():
    """ARCHITECTURE: every error a user sees derives from SpeechRNNError (a ConfigError is also a
    ValueError, so `except ValueError` keeps working)."""
    bad = [b for p in SOURCES for b in _raised_builtins(p)]
    assert not bad, "\n".join(bad)


def test_every_exception_class_derives_from_speechrnn_error():
    classes = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                classes[node.name] = (bases, f"{path.relative_to(ROOT)}:{node.lineno}")

    def derives(name, seen=()):
        if name == "SpeechRNNError":
            return True
        return name in classes and name not in seen and any(derives(b, seen + (name,)) for b in classes[name][0])

    def is_exception(name, seen=()):
        if name in BUILTIN:
            return name.endswith(("Error", "Exception"))
        return name in classes and name not in seen and any(is_exception(b, seen + (name,)) for b in classes[name][0])

    bad = [f"{where} class {n}({', '.join(bases)})" for n, (bases, where) in classes.items()
           if n not in TRANSPORT and is_exception(n) and not derives(n)]
    assert not bad, "\n".join(bad)
    assert derives("ConfigError") and derives("MetricsError") and not derives("TRANSPORT")


def test_bad_arguments_are_speechrnn_errors_and_still_value_errors(tmp_path):
    from speechrnn.audio import load_audio, resample, write_audio
    from speechrnn.data.dataset import collate_audio

    wav = tmp_path / "a.wav"
    write_audio(wav, np.zeros(1600, dtype=np.float32))
    for call in (lambda: load_audio(wav, offset=-1.0), lambda: load_audio(wav, duration=0.0),
                 lambda: resample(np.zeros(10), 0, 16000), lambda: collate_audio([])):
        with pytest.raises(ConfigError) as e:
            call()
        assert isinstance(e.value, SpeechRNNError) and isinstance(e.value, ValueError)


def test_cli_help_works_under_python_OO():
    """python -OO strips docstrings; commands that built their help from them crashed."""
    for cmd in ([], ["prepare"], ["spot"], ["kws"], ["speakers"], ["transcribe"]):
        proc = subprocess.run([sys.executable, "-OO", "-m", "speechrnn", *cmd, "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (cmd, proc.stderr[-1500:])
        assert "usage: speechrnn" in proc.stdout


def test_a_silent_file_transcribes_to_an_empty_text(tmp_path, capsys):
    """README: a silent file is valid audio, not an error: empty text, exit status 0."""
    from speechrnn.audio import write_audio
    from speechrnn.cli import main
    from speechrnn.inference import Recognizer

    wav = tmp_path / "silence.wav"
    write_audio(wav, np.zeros(32000, dtype=np.float32))
    assert Recognizer.load().transcribe(wav).text == ""
    assert main(["transcribe", str(wav)]) == 0
    assert capsys.readouterr().out.strip() in ("", str(wav))  # nothing was said
