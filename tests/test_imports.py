"""Imports go one way: every ``import`` in the package (also those inside functions) against the
layer table of docs/ARCHITECTURE.md, no circles between packages or modules, and a torch-free
``speechrnn.runtime``."""
import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "speechrnn"


def read_layers() -> dict[str, int]:
    """Top-level module/package name -> layer index, from the ```layers block."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    assert m, "docs/ARCHITECTURE.md has no ```layers block"
    layers = {}
    for i, line in enumerate(m.group(1).splitlines()):
        for name in line.split():
            assert name not in layers, f"{name} is on two layers"
            layers[name] = i
    return layers


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def imports(mod: str) -> list[tuple[str, int]]:
    """speechrnn modules imported anywhere in ``mod``: (module, line)."""
    path = MODULES[mod]
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from pkg import sub" imports the submodule pkg.sub when there is one
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        else:
            continue
        for name in names:
            if name == "speechrnn" or name.startswith("speechrnn."):
                while name not in MODULES and "." in name:  # e.g. speechrnn.__version__
                    name = name.rpartition(".")[0]
                found.append((name, node.lineno))
    return found


def top(mod: str) -> str:
    """The layer-table name of a module: its top-level package/module (``speechrnn`` for the root)."""
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "speechrnn"


EDGES = {m: imports(m) for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` (a list of nodes, first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                c = visit(w)
                if c:
                    return c
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(graph):
        if v not in state:
            c = visit(v)
            if c:
                return c
    return None


def test_every_module_has_a_layer():
    layers = read_layers()
    missing = sorted({top(m) for m in MODULES} - set(layers))
    assert not missing, f"add {missing} to the ```layers block of docs/ARCHITECTURE.md"


def test_no_module_imports_a_higher_layer():
    layers = read_layers()
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t} ({top(m)} is on layer {layers[top(m)]}, "
           f"{top(t)} on layer {layers[top(t)]})"
           for m, targets in EDGES.items() for t, line in targets
           if top(m) in layers and top(t) in layers and layers[top(t)] > layers[top(m)]]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_packages_and_modules_form_no_circle():
    packages, modules = defaultdict(set), defaultdict(set)
    for m, targets in EDGES.items():
        for t, _ in targets:
            if top(t) != top(m):
                packages[top(m)].add(top(t))
            if t != m and not m.startswith(t + "."):  # a package's own __init__ is not a circle
                modules[m].add(t)
    assert find_cycle(packages) is None, f"package import circle: {' -> '.join(find_cycle(packages))}"
    assert find_cycle(modules) is None, f"module import circle: {' -> '.join(find_cycle(modules))}"


def test_checker_sees_upward_and_circular_imports():
    """The checks above are not vacuous: the real graph has cross-layer edges, and known bad
    shapes are caught."""
    layers = read_layers()
    assert ("speechrnn.models.acoustic" in {t for t, _ in EDGES["speechrnn.tasks.base"]}
            or any(top(t) == "models" for t, _ in EDGES["speechrnn.tasks.base"]))
    assert layers["tasks"] > layers["models"] and layers["cli"] > layers["inference"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


RUNTIME = sorted(m for m in MODULES if m == "speechrnn.runtime" or m.startswith("speechrnn.runtime."))


def test_runtime_imports_without_torch():
    """speechrnn.runtime serves ONNX models where torch is not installed: every runtime module
    imports with torch blocked, and none names torch even inside a function."""
    if not RUNTIME:
        pytest.skip("speechrnn/runtime does not exist in this tree")
    named = [f"{MODULES[m].relative_to(ROOT)}:{n.lineno}" for m in RUNTIME
             for n in ast.walk(ast.parse(MODULES[m].read_text(encoding="utf-8")))
             if (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "torch" for a in n.names))
             or (isinstance(n, ast.ImportFrom) and not n.level and (n.module or "").split(".")[0] == "torch")]
    assert not named, f"runtime modules import torch: {named}"
    code = ("import importlib, sys\nsys.modules['torch'] = None\n"
            f"for m in {RUNTIME!r}:\n    importlib.import_module(m)\n"
            "assert 'torch' not in [k for k, v in sys.modules.items() if v is not None]\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
