"""Every recipe config is a valid typed config (unknown keys or bad values fail here, not on a GPU
node hours later), and every recipe script parses."""
import json
import subprocess
from pathlib import Path

import pytest

from speechrnn.models import AcousticModel
from speechrnn.tasks import get_task
from speechrnn.training.config import resolve_config

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
CONFIGS = sorted(RECIPES.glob("*/*.yaml"))
SCRIPTS = sorted(RECIPES.glob("*/*.sh"))


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
