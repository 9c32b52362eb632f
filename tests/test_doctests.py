"""The docstring examples of every module run and print what they show.

Examples that need files, a trained model or a microphone carry ``# doctest: +SKIP`` in the
docstring itself, so a skipped example is visible where it is written. A module whose optional
extra is not installed is skipped by name.
"""
import doctest
import importlib
import io
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


WITH_EXAMPLES = sorted(_module(p) for p in (ROOT / "speechrnn").rglob("*.py")
                       if ">>>" in p.read_text(encoding="utf-8") and p.name != "__main__.py")


def test_modules_with_examples_are_found():
    assert len(WITH_EXAMPLES) > 20 and "speechrnn.metrics.trials" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        pytest.skip(f"{name} needs {e.name}, an optional extra that is not installed")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        if test.filename and Path(test.filename).resolve() != Path(module.__file__).resolve():
            continue  # re-exported from another module: tested there
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()
