"""Bundled pretrained models, installed with the package under ``speechrnn/assets/models``."""
from __future__ import annotations

from pathlib import Path

from ..errors import CheckpointError

MODELS_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"

# task -> file name of the bundled default
DEFAULTS = {
    "transcription": "en-char-bilstm.pt",
    "keywords": "kws-10-bilstm.pt",
    "speakers": "spk-bilstm.pt",
}


def default_model_path(task: str) -> Path:
    """Path of the bundled default model for ``task``; a clear error if it is not installed."""
    p = MODELS_DIR / DEFAULTS[task]
    if not p.is_file():
        raise CheckpointError(
            f"no bundled {task} model at {p}; pass a model file (--model) or train one "
            f"(see recipes/)"
        )
    return p


def list_models() -> list[dict]:
    """The bundled model files with their task, size and description."""
    from ..models.checkpoint import read_checkpoint
    from .model_decoding import describe, stored_decoding

    rows = []
    for p in sorted(MODELS_DIR.glob("*.pt")):
        ck = read_checkpoint(p)
        extra = ck.get("extra") or {}
        rows.append({
            "name": p.stem, "path": str(p), "task": ck["task"],
            "decoding": describe(stored_decoding(p, extra)) if ck["task"] == "transcription" else "",
            "size_mb": round(p.stat().st_size / 1e6, 2),
            "default": p.name == DEFAULTS.get(ck["task"]),
            "description": extra.get("description", ""),
            "init_from": list(extra.get("init_from") or []),   # parent checkpoints, nearest first
        })
    return rows
