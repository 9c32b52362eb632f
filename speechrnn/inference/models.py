"""Bundled pretrained models, installed with the package under ``speechrnn/assets/models``.

A model argument anywhere in the API or the CLI is a file path or a bundled model's name, with
or without ``.pt`` (``en-char-bilstm``, ``kws-10-bilstm.pt``): :func:`resolve_model`.
"""
from __future__ import annotations

import os
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


def bundled_names() -> list[str]:
    """Names of the bundled model files, without ``.pt``."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.pt"))


def resolve_model(model: str | os.PathLike | None, task: str | None = None) -> Path:
    """The model file that ``model`` names.

    Parameters
    ----------
    model : str, path or None
        An existing file; else a bundled model's name (``en-char-bilstm`` or
        ``en-char-bilstm.pt``, no folder part); ``None`` or ``""``: the bundled default for
        ``task``.
    task : str, optional
        ``transcription``, ``keywords`` or ``speakers``, for the default.

    Raises
    ------
    CheckpointError
        Neither a file nor a bundled model's name (the message lists the bundled names).
    """
    if model is None or str(model) == "":
        if task is None:
            raise CheckpointError("no model given")
        return default_model_path(task)
    path = Path(model)
    if path.is_file():
        return path
    name = str(model)
    if "/" in name or os.sep in name or name in (".", ".."):
        raise CheckpointError(f"{model}: checkpoint file not found")
    bundled = MODELS_DIR / (name if name.endswith(".pt") else f"{name}.pt")
    if bundled.is_file():
        return bundled
    names = ", ".join(bundled_names()) or "none installed"
    raise CheckpointError(f"{model}: no such model file, nor a bundled model of that name "
                          f"(bundled: {names}; `speechrnn models` lists them)")


def list_models() -> list[dict]:
    """The bundled model files with their task, size, description, path and the files their
    default decoding needs (``decoding_files``: LM / lexicon paths beside the model)."""
    from ..models.checkpoint import read_checkpoint
    from .model_decoding import describe, stored_decoding, stored_files

    rows = []
    for p in sorted(MODELS_DIR.glob("*.pt")):
        ck = read_checkpoint(p)
        extra = ck.get("extra") or {}
        is_ctc = ck["task"] == "transcription"
        rows.append({
            "name": p.stem, "path": str(p), "task": ck["task"],
            "decoding": describe(stored_decoding(p, extra)) if is_ctc else "",
            "decoding_files": [str(f) for f in stored_files(p, extra)] if is_ctc else [],
            "size_mb": round(p.stat().st_size / 1e6, 2),
            "default": p.name == DEFAULTS.get(ck["task"]),
            "description": extra.get("description", ""),
            "init_from": list(extra.get("init_from") or []),   # parent checkpoints, nearest first
        })
    return rows
