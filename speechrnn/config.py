"""Typed configuration: dataclasses loaded strictly from dicts, YAML or JSON.

Unknown keys fail loudly with their dotted name, values are checked against the
field's annotation, and nested dataclasses are built recursively.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass
... class Opt:
...     lr: float = 1e-3
...     epochs: int = 10
>>> from_dict(Opt, {"lr": 0.01}).lr
0.01
>>> from_dict(Opt, {"lrr": 0.01})
Traceback (most recent call last):
...
speechrnn.errors.ConfigError: unknown key 'lrr' in Opt (known: epochs, lr)
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

# scientific notation without a dot (1e-3, 5E+2), which YAML 1.1 leaves a string
_EXP_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")

T = TypeVar("T")


def _check_type(value: Any, tp: Any, where: str) -> Any:
    """Coerce/validate ``value`` against annotation ``tp``; raise ConfigError on mismatch."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_type(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        items = [_check_type(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}")
        return from_dict(tp, value, where)
    if tp is float:
        if isinstance(value, str) and _EXP_FLOAT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 (PyYAML) reads 1e-3 as a string; every user means a number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict, where: str | None = None) -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys and bad types."""
    where = where or cls.__name__
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {where} (known: {', '.join(sorted(fields))})"
        )
    kwargs = {k: _check_type(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as e:  # missing required field
        raise ConfigError(f"{where}: {e}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(obj) -> dict:
    """Dataclass -> plain dict (JSON/YAML/checkpoint friendly)."""
    return dataclasses.asdict(obj)


def load_file(path: str | Path) -> dict:
    """Read a YAML or JSON file into a dict, with a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_text()
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # noqa: BLE001 - parser errors vary
        raise ConfigError(f"{path}: cannot parse config: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def merge(base: dict, override: dict) -> dict:
    """Recursive dict merge; ``override`` wins. Used for per-corpus configs over defaults."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def set_dotted(data: dict, assignment: str) -> dict:
    """Apply a command-line override ``a.b.c=value`` (value parsed as YAML) to ``data``."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} must look like key.sub=value")
    key, raw = assignment.split("=", 1)
    import yaml

    value = yaml.safe_load(raw)
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {assignment!r}: {p!r} is not a section")
    node[parts[-1]] = value
    return data
