"""Export a trained checkpoint for deployment: a slim (optionally int8) checkpoint or TorchScript.

Formats
-------
``checkpoint``
    The self-describing checkpoint without training state (optimizer, RNG, sampler), optionally
    with int8 weights (~4x smaller, :func:`speechrnn.models.export_int8`). Loads with
    ``torch.load(weights_only=True)`` through :func:`speechrnn.load_model`.
``torchscript``
    A traced module ``forward(waveforms (B,S) float32, lengths (B,) int64) -> (output,
    out_lengths (B,))`` with the MFCC front-end inside, runnable from C++/Java/Python with no
    speechrnn install. Labels, frame shift and configs travel in the archive as the extra file
    ``speechrnn.json`` (:data:`METADATA_FILE`); read them with :func:`load_torchscript`. With
    ``int8`` the model is dynamically quantized (int8 LSTM/Linear) before tracing.

``onnx``
    An ONNX graph (opset 17) with the front-end inside, for onnxruntime and
    :mod:`speechrnn.runtime` (no torch); see :mod:`speechrnn.export_onnx`. ``int8``: onnxruntime
    dynamic quantization of the LSTM / Linear weights.

Tracing records one execution path; the exported module is therefore checked on a second batch of
a different size and length (with padding) and the export is refused when outputs differ.

Example
-------
>>> from speechrnn.export import export_model, load_torchscript     # doctest: +SKIP
>>> export_model("best.pt", "model.ts", format="torchscript")  # doctest: +SKIP
>>> module, meta = load_torchscript("model.ts")  # doctest: +SKIP
>>> log_probs, n = module(waveforms, lengths)     # (B,T',V), (B,)  # doctest: +SKIP
>>> meta["output_labels"][:3], meta["frame_shift_s"]  # doctest: +SKIP
(['<blank>', ' ', 'a'], 0.03)
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from .errors import ExportError
from .fileio import atomic_path
from .models import export_int8, load_model, quantize_dynamic, read_checkpoint
from .models.ensemble import require_single
from .models.acoustic import frame_shift_seconds
from .models.checkpoint import atomic_torch_save, build_model_from_checkpoint

FORMATS = ("checkpoint", "torchscript", "onnx")
METADATA_FILE = "speechrnn.json"

# Example batches (seconds per item) for tracing and for the check on a different shape.
TRACE_SECONDS = (1.0, 0.6)
CHECK_SECONDS = (1.7, 1.3, 0.45)


def export_metadata(ckpt: dict, model, description: str | None = None) -> dict:
    """What a consumer of an exported module needs to decode its outputs (JSON-serializable).

    Keys: ``task``, ``labels`` (checkpoint form), ``output_labels`` (index -> symbol, index 0 the
    CTC blank; CTC models only), ``sample_rate``, ``frame_shift_s`` (CTC only), ``model_config``,
    ``feature_config``, ``speechrnn_version``, ``description``, ``inputs``, ``outputs``.
    """
    meta = {
        "task": ckpt["task"],
        "labels": ckpt["labels"],
        "sample_rate": int(model.feature_cfg.sample_rate),
        "model_config": ckpt["model_config"],
        "feature_config": ckpt["feature_config"],
        "speechrnn_version": ckpt["speechrnn_version"],
        "description": description or (ckpt.get("extra") or {}).get("description", ""),
        "inputs": ["waveforms (B,S) float32 in [-1,1] at sample_rate", "lengths (B,) int64"],
        "outputs": ["output (B,T',V) log-probs (CTC) or (B,C) scores", "out_lengths (B,) int64"],
    }
    if model.cfg.head.kind == "ctc":
        from .inference.recognizer import output_labels
        from .text import tokenizer_from_dict

        meta["output_labels"] = output_labels(tokenizer_from_dict(ckpt["labels"]))
        meta["frame_shift_s"] = frame_shift_seconds(model)
    return meta


def _example_batch(seconds, sample_rate: int, seed: int):
    """Noise batch ``(B,S)`` zero-padded past each item's length, and lengths ``(B,)``."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([int(s * sample_rate) for s in seconds], dtype=torch.int64)
    waves = torch.randn(len(seconds), int(lengths.max()), generator=g) * 0.1  # (B,S)
    keep = torch.arange(waves.shape[1])[None, :] < lengths[:, None]  # (B,S)
    return waves * keep, lengths


def _compare(ref, got, atol: float, what: str) -> None:
    """Raise ExportError unless ``(output, lengths)`` pairs agree."""
    if not torch.equal(ref[1], got[1]):
        raise ExportError(f"{what}: output lengths differ: {ref[1].tolist()} vs {got[1].tolist()}")
    if ref[0].shape != got[0].shape:
        raise ExportError(
            f"{what}: output shapes differ: {tuple(ref[0].shape)} vs {tuple(got[0].shape)}")
    diff = (ref[0] - got[0]).abs().max().item() if ref[0].numel() else 0.0
    if not diff <= atol:
        raise ExportError(f"{what}: outputs differ by up to {diff:.3g} (tolerance {atol:g})")


def trace_model(model, *, atol: float = 1e-4) -> torch.jit.ScriptModule:
    """Trace ``model`` on one padded batch and verify it on a batch of another size and length.

    Parameters
    ----------
    model : AcousticModel (eval mode; may be dynamically quantized)
    atol : float
        Largest allowed absolute difference from eager outputs on the check batch.

    Raises
    ------
    ExportError
        Tracing failed, or the traced module disagrees with eager mode on the check batch.
    """
    rate = model.feature_cfg.sample_rate
    model = model.eval()
    example = _example_batch(TRACE_SECONDS, rate, seed=0)
    check = _example_batch(CHECK_SECONDS, rate, seed=1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: the check below is what counts
        try:
            traced = torch.jit.trace(model, example, check_trace=False)
        except Exception as e:  # noqa: BLE001 - tracing errors vary by op
            raise ExportError(f"cannot trace the model ({type(e).__name__}: {e})") from None
        _compare(model(*check), traced(*check), atol,
                 f"traced model on a batch of shape {tuple(check[0].shape)}")
    return traced


def export_torchscript(src, dst, *, int8: bool = False, description: str | None = None,
                       atol: float = 1e-4) -> Path:
    """Export checkpoint ``src`` as a traced TorchScript archive at ``dst`` (atomic write).

    Parameters
    ----------
    src, dst : str or Path
    int8 : bool
        Dynamically quantize LSTM/Linear layers to int8 before tracing (CPU inference).
    description : str, optional
        Stored in the metadata (default: the checkpoint's ``extra["description"]``).
    atol : float
        Tolerance of the check against eager mode (see :func:`trace_model`).
    """
    ckpt = read_checkpoint(src)
    require_single(ckpt, src, "TorchScript export")
    model = build_model_from_checkpoint(ckpt, src).eval()
    meta = export_metadata(ckpt, model, description)
    meta["weights"] = "int8-dynamic" if int8 else "float"
    if int8:
        model = quantize_dynamic(model)
    traced = trace_model(model, atol=atol)
    dst = Path(dst)
    with atomic_path(dst) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated"
        torch.jit.save(traced, str(tmp), _extra_files={METADATA_FILE: json.dumps(meta)})
    return dst


def load_torchscript(path) -> tuple[torch.jit.ScriptModule, dict]:
    """Load an exported TorchScript archive: ``(module, metadata)`` (see :func:`export_metadata`).

    Raises
    ------
    ExportError
        The file is missing, not a TorchScript archive, or has no speechrnn metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: file not found")
    extra = {METADATA_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated"
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"{path}: not a TorchScript archive ({type(e).__name__}: {e})") from None
    if not extra[METADATA_FILE]:
        raise ExportError(
            f"{path}: TorchScript archive without {METADATA_FILE} (not a speechrnn export)")
    return module.eval(), json.loads(extra[METADATA_FILE])


def export_checkpoint(src, dst, *, int8: bool = False, description: str | None = None) -> Path:
    """Re-save checkpoint ``src`` at ``dst`` without training state, optionally with int8 weights.

    The new file is written beside ``dst`` and verified by loading it with
    :func:`speechrnn.load_model` *before* it replaces ``dst``: a failed export leaves ``dst`` as
    it was. The LM / lexicon of ``src``'s stored default decoding are copied beside ``dst``
    under its name (:func:`speechrnn.inference.model_decoding.carry_decoding`).
    """
    from .inference.model_decoding import carry_decoding, copy_companions

    dst = Path(dst)
    with atomic_path(dst) as tmp:
        if int8:
            export_int8(src, tmp)
            ckpt = read_checkpoint(tmp)
        else:
            ckpt = {k: v for k, v in read_checkpoint(src).items() if k != "training"}
        extra, copies = carry_decoding(src, dst, dict(ckpt.get("extra") or {}))
        if description:
            extra["description"] = description
        ckpt["extra"] = extra
        atomic_torch_save(ckpt, tmp)
        load_model(tmp)  # raises CheckpointError if the written file does not load
        copy_companions(copies)
    return dst


def export_model(src, dst, *, format: str = "checkpoint", int8: bool = False,
                 description: str | None = None) -> Path:
    """Export checkpoint ``src`` to ``dst`` in ``format`` (one of :data:`FORMATS`).

    Raises
    ------
    CheckpointError
        ``src`` is missing or not a speechrnn checkpoint.
    ExportError
        Unknown format, or the exported model does not reproduce the original.
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r} (choose from {', '.join(FORMATS)})")
    if Path(src).resolve() == Path(dst).resolve():
        raise ExportError(f"{dst}: output would overwrite the input checkpoint")
    if format == "torchscript":
        return export_torchscript(src, dst, int8=int8, description=description)
    if format == "onnx":
        from .export_onnx import export_onnx

        return export_onnx(src, dst, int8=int8, description=description)
    return export_checkpoint(src, dst, int8=int8, description=description)
