"""Every recipe config is a valid typed config (unknown keys or bad values fail here, not on a GPU
node hours later), and every recipe script parses."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from speechrnn.models import AcousticModel
from speechrnn.tasks import get_task
from speechrnn.training.config import resolve_config

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
CONFIGS = sorted(RECIPES.glob("*/*.yaml"))
SCRIPTS = sorted(RECIPES.glob("*/*.sh")) + [RECIPES / "stages.sh"]


def test_recipes_are_found():
    assert len(CONFIGS) >= 6 and len(SCRIPTS) >= 6


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_config_validates(path, tmp_path):
    overrides = []
    if "speakers_from" in path.read_text():               # the scripts point it at a manifest
        manifest = tmp_path / "train.jsonl"
        manifest.write_text("".join(
            json.dumps({"id": f"u{i}", "audio": "a.wav", "duration": 1.0, "speaker": f"s{i}"}) + "\n"
            for i in range(3)))
        overrides.append(f"task.speakers_from={manifest}")
    cfg, plain = resolve_config(path, overrides)
    task = get_task(cfg.task)                              # validates the task section
    model = task.build_model(cfg.model, cfg.features)     # and the model it describes
    assert isinstance(model, AcousticModel) and task.num_outputs() > 1
    assert Path(plain["data"]["train"]).is_absolute()     # resolved against the config's folder


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_script_parses(path):
    subprocess.run(["bash", "-n", str(path)], check=True)


def _stages_run(env_stage, env_stop):
    """Source recipes/stages.sh with STAGE/STOP set and list which of stages 1..6 would run."""
    env = {"PATH": "/usr/bin:/bin"}
    env.update({k: v for k, v in (("STAGE", env_stage), ("STOP", env_stop)) if v is not None})
    script = 'source recipes/stages.sh; for i in 1 2 3 4 5 6; do stage $i && echo $i; done; true'
    return subprocess.run(["bash", "-c", script], cwd=RECIPES.parent, env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("stage,stop,expected", [
    (None, None, "1 2 3 4 5 6"), ("3", None, "3 4 5 6"), (None, "2", "1 2"), ("2", "4", "2 3 4"),
    ("5", "2", "")])
def test_stages_helper_selects_stages(stage, stop, expected):
    out = _stages_run(stage, stop)
    assert out.returncode == 0 and out.stdout.split() == expected.split()


@pytest.mark.parametrize("stage,stop", [("x", None), (None, "2a"), ("-1", None)])
def test_stages_helper_rejects_non_numbers(stage, stop):
    out = _stages_run(stage, stop)
    assert out.returncode == 2 and "must be stage numbers" in out.stderr


def test_staged_scripts_share_the_helper():
    staged = [p for p in SCRIPTS if re.search(r"^if stage \d", p.read_text(), re.M)]
    assert len(staged) >= 5
    for p in staged:
        text = p.read_text()
        assert "source recipes/stages.sh" in text and "stage() {" not in text, p
