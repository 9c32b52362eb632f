"""A model file's default decoding: the decoder, LM and weights used when the caller names none.

Stored as :class:`~speechrnn.decoding.DecodingConfig` fields in the checkpoint's
``extra["decoding"]``. Its LM and lexicon files live **beside the model file** and are stored
by plain file name (a name with a folder part or ``..`` is refused), so the model and its LM
move together: ``speechrnn export`` copies them beside its output (:func:`carry_decoding`); a
plain file copy must take them along. A model whose LM file has gone missing, or whose decoder's package is not installed (the ``lm``
extra), still loads: it decodes greedily, with a warning.

Example
-------
>>> attach_decoding("exp/model-int8.pt", from_dict(DecodingConfig, {   # doctest: +SKIP
...     "method": "lexicon", "lm_path": "exp/lm3.arpa.gz", "alpha": 0.6, "beta": 1.0}))
>>> stored_decoding("exp/model-int8.pt").lm_path                           # doctest: +SKIP
'exp/model-int8.arpa.gz'
"""
from __future__ import annotations

import dataclasses
import importlib.util
import logging
import shutil
from pathlib import Path

from ..config import from_dict
from ..decoding import DecodingConfig
from ..errors import CheckpointError
from ..fileio import atomic_path

LOGGER = logging.getLogger(__name__)
KEY = "decoding"
_FILES = {"lm_path": "", "lexicon_path": "-lexicon"}  # field -> name tag beside the model
_NEEDS = {"beam": ("pyctcdecode", "kenlm"), "lexicon": ("flashlight",)}  # method -> modules


def _companion(model_path: Path, src: Path, tag: str) -> Path:
    """``<model stem><tag><src's suffixes>``, e.g. ``en-char-bilstm.arpa.gz`` beside the model."""
    suffixes = "".join(s for s in src.suffixes if len(s) <= 6) or ".txt"
    return model_path.with_name(model_path.stem + tag + suffixes)


def attach_decoding(model_path, cfg: DecodingConfig) -> DecodingConfig:
    """Make ``cfg`` the default decoding of the model file ``model_path``.

    Copies ``cfg``'s LM / lexicon beside the model (see :func:`_companion`), stores the config
    in the checkpoint's metadata (both writes atomic) and returns it with the new paths.
    """
    from ..models.checkpoint import atomic_torch_save, read_checkpoint

    cfg.validate()
    model_path = Path(model_path)
    ckpt = read_checkpoint(model_path)
    if ckpt.get("task") != "transcription":
        raise CheckpointError(f"{model_path}: default decoding is for transcription models, "
                         f"not a {ckpt.get('task')!r} model")
    stored = dataclasses.asdict(cfg)
    resolved = dataclasses.replace(cfg)
    for key, tag in _FILES.items():
        src = getattr(cfg, key)
        if not src:
            continue
        dst = _companion(model_path, Path(src), tag)
        if Path(src).resolve() != dst.resolve():
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
        stored[key] = dst.name
        setattr(resolved, key, str(dst))
    ckpt["extra"] = {**(ckpt.get("extra") or {}), KEY: stored}
    atomic_torch_save(ckpt, model_path)
    return resolved


def _checked_name(model_path: Path, key: str, name) -> str:
    """A stored LM / lexicon name: a plain file name beside the model, never a path."""
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
            or "\\" in name or Path(name).name != name):
        raise CheckpointError(f"{model_path}: extra.decoding.{key} must be a file name beside "
                              f"the model, got {name!r}")
    return name


def stored_files(model_path, extra: dict | None = None) -> list[Path]:
    """The LM / lexicon files the model file's stored decoding names (present or not)."""
    model_path = Path(model_path)
    if extra is None:
        from ..models.checkpoint import read_checkpoint

        extra = read_checkpoint(model_path).get("extra") or {}
    d = extra.get(KEY) or {}
    return [model_path.parent / _checked_name(model_path, k, d[k]) for k in _FILES if d.get(k)]


def stored_decoding(model_path, extra: dict | None = None) -> DecodingConfig | None:
    """The default decoding saved in a model file, with file paths resolved beside it.

    ``None`` when the file stores none, or when a file it needs is missing (logged).
    ``extra`` may pass the checkpoint's metadata when the caller has already read it.

    Raises
    ------
    CheckpointError
        A stored LM / lexicon name is not a plain file name (a folder part or ``..``).
    """
    model_path = Path(model_path)
    if extra is None:
        from ..models.checkpoint import read_checkpoint

        extra = read_checkpoint(model_path).get("extra") or {}
    d = extra.get(KEY)
    if not d:
        return None
    d = dict(d)
    for key in _FILES:
        if d.get(key):
            _checked_name(model_path, key, d[key])
    missing = [m for m in _NEEDS.get(d.get("method"), ()) if importlib.util.find_spec(m) is None]
    if missing:
        LOGGER.warning("%s: its default decoding (%s) needs %s (pip install 'speechrnn[lm]'); "
                       "decoding greedily", model_path, d.get("method"), ", ".join(missing))
        return None
    for key in _FILES:
        if d.get(key):
            f = model_path.parent / d[key]
            if not f.is_file():
                LOGGER.warning("%s: its default decoding needs %s beside it, which is missing "
                               "(copy it there, or copy models with `speechrnn export`, which "
                               "carries it); decoding greedily", model_path, f.name)
                return None
            d[key] = str(f)
    return from_dict(DecodingConfig, d, f"{model_path}: extra.decoding")


def carry_decoding(src, dst, extra: dict) -> tuple[dict, list[tuple[Path, Path]]]:
    """Metadata for a copy of model ``src`` to be written at ``dst``, and the copies it needs.

    The stored decoding's LM / lexicon files are renamed for ``dst`` (see :func:`_companion`);
    the caller copies each ``(from, to)`` pair (:func:`copy_companions`) once ``dst`` is
    verified. A stored decoding whose files are missing is dropped, with a warning.
    """
    src, dst = Path(src), Path(dst)
    d = (extra or {}).get(KEY)
    if not d:
        return extra, []
    stored, copies = dict(d), []
    for key, tag in _FILES.items():
        if not d.get(key):
            continue
        f = src.parent / _checked_name(src, key, d[key])
        if not f.is_file():
            LOGGER.warning("%s: its default decoding needs %s, which is missing; %s gets no "
                           "default decoding", src, f, dst)
            return {k: v for k, v in extra.items() if k != KEY}, []
        target = _companion(dst, f, tag)
        stored[key] = target.name
        if f.resolve() != target.resolve():
            copies.append((f, target))
    return {**extra, KEY: stored}, copies


def copy_companions(copies: list[tuple[Path, Path]]) -> None:
    """Copy each ``(from, to)`` pair of :func:`carry_decoding` (atomic writes)."""
    for f, target in copies:
        with atomic_path(target) as tmp:
            shutil.copyfile(f, tmp)


def describe(cfg: DecodingConfig | None) -> str:
    """Short text for listings: ``greedy``, ``lexicon 32 + en-char-bilstm.arpa.gz``."""
    if cfg is None or cfg.method == "greedy":
        return "greedy"
    lm = f" + {Path(cfg.lm_path).name}" if cfg.lm_path else ""
    return f"{cfg.method} {cfg.beam_size}{lm} (alpha {cfg.alpha:g}, beta {cfg.beta:g})"
