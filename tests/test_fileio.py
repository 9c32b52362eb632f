"""Atomic writes: all or nothing, no temporary files left, ordinary permissions."""
import os
import stat

import pytest

from speechrnn.fileio import atomic_path, atomic_write


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_replaces_whole_file_with_open_permissions(tmp_path):
    p = tmp_path / "sub" / "report.json"
    with atomic_write(p, "w", encoding="utf-8") as f:
        f.write("first")
    with atomic_write(p, "w", encoding="utf-8") as f:
        f.write("second")
        assert p.read_text() == "first"              # the old file stays until the new one is complete
    assert p.read_text() == "second"
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(p) == 0o666 & ~umask                 # as open() would make it, not mkstemp's 0o600
    assert sorted(x.name for x in p.parent.iterdir()) == ["report.json"]


@pytest.mark.parametrize("durable", [True, False])
def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path, durable):
    p = tmp_path / "model.pt"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(p, durable=durable) as f:
            f.write(b"half a mod")
            raise RuntimeError("disk full")
    assert p.read_bytes() == b"old"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(p) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert p.read_bytes() == b"old" and [x.name for x in tmp_path.iterdir()] == ["model.pt"]


def test_atomic_path_hands_a_file_name_to_writers(tmp_path):
    p = tmp_path / "a.bin"
    with atomic_path(p) as tmp:
        assert tmp.parent == tmp_path and tmp != p
        tmp.write_bytes(b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(p, "a"):
            pass


def test_write_json_is_indented_and_ends_with_a_newline(tmp_path):
    import json

    from speechrnn.fileio import write_json

    p = tmp_path / "r" / "report.json"
    write_json(p, {"a": [1, 2]})
    assert p.read_text().endswith("}\n") and json.loads(p.read_text()) == {"a": [1, 2]}
    assert '\n  "a"' in p.read_text()
