"""Self-describing checkpoints: one file loads a working model with no side files.

File layout (a plain dict saved with ``torch.save``; everything is a tensor, str, number,
list or dict so it loads with ``torch.load(weights_only=True)``)::

    format_version   int, FORMAT_VERSION
    speechrnn_version str
    task             str, e.g. "transcription"
    model_config     dict (ModelConfig as a dict)
    feature_config   dict (FeatureConfig as a dict)
    num_outputs      int
    labels           dict: tokenizer ``to_dict()`` (CTC) or {"labels": [...]} (classes)
    weights_format   "float" | "int8"
    state_dict       weights incl. CMVN buffers ("int8": see :func:`quantize_state_dict`)
    training         optional dict (optimizer, scheduler, sampler position, RNG states, ...)
    extra            optional dict of metadata (metrics, epoch, ...)

Example
-------
>>> save_checkpoint("model.pt", model, task="transcription", labels=tok.to_dict())  # doctest: +SKIP
>>> model = load_model("model.pt")  # doctest: +SKIP
>>> model.task, model.labels                                                    # doctest: +SKIP
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import from_dict, to_dict
from ..errors import CheckpointError, ConfigError
from ..fileio import atomic_write

FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version", "speechrnn_version", "task", "model_config", "feature_config",
    "num_outputs", "labels", "weights_format", "state_dict",
)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then ``os.replace``.

    A crash mid-write leaves the previous file intact.
    """
    with atomic_write(path) as f:
        torch.save(obj, f)


def checkpoint_dict(model, *, task: str, labels: dict, training: dict | None = None,
                    extra: dict | None = None, weights_format: str = "float") -> dict:
    """Build the checkpoint dict for ``model`` (an :class:`AcousticModel`, DDP-unwrapped)."""
    from .. import __version__

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if weights_format == "int8":
        state = quantize_state_dict(state)
    elif weights_format != "float":
        raise CheckpointError(f"unknown weights_format {weights_format!r}")
    ckpt = {
        "format_version": FORMAT_VERSION,
        "speechrnn_version": __version__,
        "task": task,
        "model_config": to_dict(model.cfg),
        "feature_config": to_dict(model.feature_cfg),
        "num_outputs": int(model.num_outputs),
        "labels": labels,
        "weights_format": weights_format,
        "state_dict": state,
    }
    if training is not None:
        ckpt["training"] = training
    if extra is not None:
        ckpt["extra"] = extra
    return ckpt


def save_checkpoint(path, model, *, task: str, labels: dict, training: dict | None = None,
                    extra: dict | None = None, weights_format: str = "float") -> Path:
    """Write a self-describing checkpoint atomically and return its path.

    Parameters
    ----------
    path : str or Path
    model : AcousticModel (not DDP-wrapped)
    task : str
        Task name (``transcription``, ...).
    labels : dict
        Tokenizer ``to_dict()`` or ``{"labels": [...]}``: plain lists/dicts/str only.
    training : dict, optional
        Trainer state for exact resume (plain containers and tensors only).
    extra : dict, optional
        Free metadata (epoch, metrics).
    weights_format : {"float", "int8"}
        ``int8`` stores Linear/RNN weight matrices as int8 with per-row scales (~4x smaller).
    """
    ckpt = checkpoint_dict(model, task=task, labels=labels, training=training, extra=extra,
                           weights_format=weights_format)
    atomic_torch_save(ckpt, path)
    return Path(path)


def read_checkpoint(path) -> dict:
    """Load and validate a checkpoint dict (``weights_only=True``); raise :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip errors vary
        raise CheckpointError(f"{path}: not a speechrnn checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a speechrnn checkpoint (top level is {type(ckpt).__name__})")
    _validate(ckpt, path)
    return ckpt


def _validate(ckpt: dict, path, where: str = "checkpoint") -> None:
    """Check the format version and required keys of a single-model or ensemble dict."""
    from .ensemble import ENSEMBLE_KEYS, is_ensemble

    if "format_version" in ckpt and ckpt["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unsupported {where} format_version {ckpt['format_version']!r} "
            f"(this speechrnn reads version {FORMAT_VERSION})"
        )
    missing = [k for k in (ENSEMBLE_KEYS if is_ensemble(ckpt) else REQUIRED_KEYS) if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: {where} is missing key(s): {', '.join(missing)}")
    if is_ensemble(ckpt):
        members = ckpt["members"]
        if not isinstance(members, list) or len(members) < 2:
            raise CheckpointError(f"{path}: an ensemble needs a list of at least 2 members")
        for i, m in enumerate(members):
            if not isinstance(m, dict) or is_ensemble(m):
                raise CheckpointError(f"{path}: ensemble member {i} is not a single-model checkpoint")
            _validate(m, path, f"ensemble member {i}")


def build_model_from_checkpoint(ckpt: dict, path="<checkpoint>"):
    """Instantiate an :class:`AcousticModel` (or an :class:`~.ensemble.EnsembleModel` of them)
    from a validated checkpoint dict and load weights."""
    from .ensemble import EnsembleModel, is_ensemble

    if is_ensemble(ckpt):
        return EnsembleModel([build_model_from_checkpoint(m, path) for m in ckpt["members"]])
    from ..features import FeatureConfig
    from .acoustic import AcousticModel, ModelConfig

    try:  # every built-in task's head kind is built in (models.heads); others: register_head
        cfg = from_dict(ModelConfig, ckpt["model_config"], "model_config")
        feats = from_dict(FeatureConfig, ckpt["feature_config"], "feature_config")
    except ConfigError as e:
        raise CheckpointError(f"{path}: bad configuration in checkpoint: {e}") from None
    try:
        model = AcousticModel(cfg, int(ckpt["num_outputs"]), feats)
    except ConfigError as e:  # a registered "module:function" head that cannot be imported
        raise CheckpointError(f"{path}: {e}") from e
    state = ckpt["state_dict"]
    if ckpt["weights_format"] == "int8":
        state = dequantize_state_dict(state)
    elif ckpt["weights_format"] != "float":
        raise CheckpointError(f"{path}: unknown weights_format {ckpt['weights_format']!r}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the model config: {e}") from None
    model.task = ckpt["task"]
    model.labels = ckpt["labels"]
    return model


def load_model(path, *, device: str | torch.device = "cpu", quantize: bool = False) -> nn.Module:
    """Load a model ready for inference (eval mode) from one checkpoint file.

    Parameters
    ----------
    path : str or Path
    device : str or torch.device
    quantize : bool
        Apply int8 dynamic quantization (CPU only) for faster inference.

    Returns
    -------
    AcousticModel with extra attributes ``task`` (str) and ``labels`` (dict; rebuild the
    tokenizer with ``speechrnn.text.tokenizer_from_dict(model.labels)``).

    Raises
    ------
    CheckpointError
        Missing file, unknown ``format_version``, missing keys, or weights not matching.
    """
    ckpt = read_checkpoint(path)
    model = build_model_from_checkpoint(ckpt, path).to(device).eval()
    if quantize:
        model = quantize_dynamic(model)
    return model


# --------------------------------------------------------------------------- int8
def _quantizable(name: str, t: torch.Tensor) -> bool:
    return t.is_floating_point() and t.dim() == 2 and ("weight" in name.rsplit(".", 1)[-1])


def quantize_state_dict(state: dict) -> dict:
    """Store 2-D weight matrices as symmetric per-row int8 (``name`` -> ``name.__int8`` +
    ``name.__scale``); other tensors (biases, norms, CMVN buffers) stay float.

    Plain tensors only, so the result still loads with ``weights_only=True``.
    """
    out = {}
    for name, t in state.items():
        if _quantizable(name, t):
            scale = t.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0  # (R,1)
            out[f"{name}.__int8"] = torch.round(t / scale).clamp(-127, 127).to(torch.int8)
            out[f"{name}.__scale"] = scale.to(torch.float32)
        else:
            out[name] = t
    return out


def dequantize_state_dict(state: dict) -> dict:
    """Inverse of :func:`quantize_state_dict` (up to rounding)."""
    out = {}
    for name, t in state.items():
        if name.endswith(".__int8"):
            base = name[: -len(".__int8")]
            out[base] = t.to(torch.float32) * state[f"{base}.__scale"]
        elif not name.endswith(".__scale"):
            out[name] = t
    return out


def export_int8(src, dst, extra: dict | None = None) -> Path:
    """Re-save checkpoint ``src`` with int8 weights (no training state) at ``dst``.

    ``extra`` (e.g. ``{"description": ...}``) is merged into the checkpoint's ``extra``.
    """
    ckpt = read_checkpoint(src)
    if extra:
        ckpt["extra"] = dict(ckpt.get("extra") or {}, **extra)
    atomic_torch_save(int8_checkpoint(ckpt), dst)
    return Path(dst)


def int8_checkpoint(ckpt: dict) -> dict:
    """A copy of a checkpoint dict (single or ensemble) with int8 weights and no training state."""
    from .ensemble import is_ensemble

    ckpt = {k: v for k, v in ckpt.items() if k != "training"}
    if is_ensemble(ckpt):
        return {**ckpt, "members": [_with_int8_weights(m) for m in ckpt["members"]]}
    return _with_int8_weights(ckpt)


def _with_int8_weights(ckpt: dict) -> dict:
    """A copy of a single-model checkpoint dict with its weights stored as int8."""
    state = ckpt["state_dict"]
    if ckpt["weights_format"] == "int8":
        state = dequantize_state_dict(state)
    return dict(ckpt, state_dict=quantize_state_dict(state), weights_format="int8")


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """Runtime int8 dynamic quantization of RNN and Linear layers (CPU inference).

    Uses ``torch.ao.quantization.quantize_dynamic``; attributes ``task``/``labels`` are kept.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = torch.ao.quantization.quantize_dynamic(
            model.cpu(), {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8
        )
    return q


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors; other tensors are taken from the last."""
    if not states:
        raise CheckpointError("average_state_dicts: no state dicts given")
    out = {}
    for k, v in states[-1].items():
        if v.is_floating_point():
            out[k] = sum(s[k].to(torch.float64) for s in states).div(len(states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def average_checkpoints(paths, dst) -> Path:
    """Average the weights of several checkpoints of the same model and save at ``dst``."""
    ckpts = [read_checkpoint(p) for p in paths]
    states = [dequantize_state_dict(c["state_dict"]) if c["weights_format"] == "int8" else c["state_dict"]
              for c in ckpts]
    out = {k: v for k, v in ckpts[-1].items() if k != "training"}
    out["state_dict"] = average_state_dicts(states)
    out["weights_format"] = "float"
    out.setdefault("extra", {})
    out["extra"] = dict(out["extra"], averaged_from=[str(p) for p in paths])
    atomic_torch_save(out, dst)
    return Path(dst)


def ensemble_dict(members: list[dict], extra: dict | None = None) -> dict:
    """Ensemble checkpoint dict from validated single-model checkpoint dicts."""
    from .. import __version__
    from .ensemble import is_ensemble

    if len(members) < 2:
        raise CheckpointError(f"an ensemble needs at least 2 members, got {len(members)}")
    singles = []
    for m in members:
        if is_ensemble(m):  # flatten: an ensemble of ensembles is the ensemble of all members
            singles += m["members"]
        else:
            singles.append({k: v for k, v in m.items() if k not in ("training", "extra")})
    ckpt = {"format_version": FORMAT_VERSION, "speechrnn_version": __version__,
            "task": singles[0]["task"], "labels": singles[0]["labels"], "members": singles}
    if extra is not None:
        ckpt["extra"] = extra
    return ckpt


def write_ensemble(paths: list, out, *, description: str | None = None) -> Path:
    """Write the ensemble of the checkpoints ``paths`` to ``out`` (atomic) and return ``out``.

    The members are checked to build together (same task, labels and sample rate) before
    anything is written; ``extra.members`` records the source files.
    """
    cks = [read_checkpoint(p) for p in paths]
    for p, ck in zip(paths[1:], cks[1:]):
        if (ck["task"], ck["labels"]) != (cks[0]["task"], cks[0]["labels"]):
            raise CheckpointError(f"{p}: a {ck['task']!r} model with other labels than {paths[0]} "
                                  f"(a {cks[0]['task']!r} model); ensemble members must share them")
    extra = {"members": [str(p) for p in paths]}
    if description:
        extra["description"] = description
    ckpt = ensemble_dict(cks, extra)
    build_model_from_checkpoint(ckpt, out)  # raises before writing if the members disagree
    atomic_torch_save(ckpt, out)
    return Path(out)
