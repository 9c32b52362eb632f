from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from speechrnn.config import from_dict, load_file, merge, set_dotted, to_dict
from speechrnn.errors import ConfigError


@dataclass
class Inner:
    size: int = 4
    kind: Literal["lstm", "gru"] = "lstm"


@dataclass
class Outer:
    lr: float = 1e-3
    name: Optional[str] = None
    layers: list[int] = field(default_factory=lambda: [1, 2])
    inner: Inner = field(default_factory=Inner)

    def validate(self):
        if self.lr <= 0:
            raise ConfigError("Outer.lr must be positive")


def test_defaults_and_nested():
    cfg = from_dict(Outer, {"lr": 1, "inner": {"kind": "gru"}})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.inner == Inner(size=4, kind="gru")
    assert to_dict(cfg)["inner"]["kind"] == "gru"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"lrr": 1}, "unknown key 'lrr' in Outer"),
        ({"inner": {"sise": 3}}, "unknown key 'sise' in Outer.inner"),
        ({"inner": {"kind": "transformer"}}, "Outer.inner.kind"),
        ({"lr": "fast"}, "Outer.lr: expected a number"),
        ({"inner": {"size": 2.5}}, "Outer.inner.size: expected an integer"),
        ({"inner": {"size": True}}, "Outer.inner.size: expected an integer"),
        ({"layers": "12"}, "Outer.layers: expected a list"),
        ({"lr": -1.0}, "lr must be positive"),
    ],
)
def test_bad_configs_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        from_dict(Outer, data)


def test_load_yaml_merge_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("lr: 0.5\ninner:\n  size: 8\n")
    data = merge({"inner": {"kind": "gru"}}, load_file(p))
    set_dotted(data, "inner.size=16")
    cfg = from_dict(Outer, data)
    assert cfg.lr == 0.5 and cfg.inner.size == 16 and cfg.inner.kind == "gru"


def test_load_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_file(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_file(lst)
    with pytest.raises(ConfigError, match="key.sub=value"):
        set_dotted({}, "novalue")


def test_scientific_notation_without_a_dot_is_a_number(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-3 as the string "1e-3"; in a float field it means the number
    data = {}
    set_dotted(data, "lr=1e-3")
    assert data["lr"] == "1e-3"
    assert from_dict(Outer, data).lr == pytest.approx(1e-3)
    p = tmp_path / "c.yaml"
    p.write_text("lr: 5E+2\n")
    assert from_dict(Outer, load_file(p)).lr == 500.0
    with pytest.raises(ConfigError, match="expected a number"):
        from_dict(Outer, {"lr": "1e-3x"})
    assert from_dict(Outer, {"name": "1e-3"}).name == "1e-3"  # only float fields convert
