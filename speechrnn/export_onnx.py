"""ONNX export of transcription, keyword (ensembles too) and speaker models, for torch-free use.

The graph takes what the torch model takes and holds the whole pipeline, MFCC front-end included::

    waveforms (B, S) float32 at 16 kHz, zero-padded   lengths (B,) int64 valid samples
      -> transcription: log_probs (B, T', V) CTC log-probabilities, out_lengths (B,) int64
      -> keywords:      scores (B, C) class log-posteriors (ensembles: log of the members' mean)
      -> speakers:      embeddings (B, E) unit-length speaker vectors

Batch and length are dynamic; padding never changes an item's outputs (the recurrent stack's
backward direction runs each sequence reversed within its own length, as in torch, see
:mod:`speechrnn.models.encoder`). ``S`` must be at least ``min_samples`` (one analysis window,
400 samples); pad shorter input with zeros and pass its true length.

The front-end is the torch front-end's arithmetic written with ops every ONNX runtime has:
framing and the real DFT are one strided ``Conv`` whose kernels are the window times the DFT's
cosines and sines (Kaldi's per-frame DC removal by linearity, as in
:class:`speechrnn.features.MFCCFrontend`), then mel, log, DCT, deltas and CMVN as matrix
products. Dithering, VTLP and SpecAugment are training-only and absent.

Metadata (``metadata_props["speechrnn"]``, JSON): ``task``, ``labels`` (checkpoint form),
``output_labels`` and ``frame_shift_s`` / ``unit_samples`` (CTC), ``sample_rate``,
``min_samples``, ``features`` (each member's front-end settings and CMVN statistics),
``decoding`` (the default decoding; its LM / lexicon are copied beside the ``.onnx`` file),
``description``, ``extra`` (thresholds, calibration), ``fingerprint`` (speaker models: names the
embedding space, as the speaker store expects), ``weights`` (``float`` or ``int8``).
Read it with :func:`speechrnn.runtime.read_metadata` (no torch needed).

``int8`` quantizes the LSTM and Linear weights with onnxruntime's dynamic quantization; the
front-end stays float32. Every export is run with onnxruntime on a padded batch of another size
and length than the one traced and refused if it disagrees with the torch model.

Example
-------
>>> export_onnx("speechrnn/assets/models/en-char-bilstm.pt", "en.onnx")     # doctest: +SKIP
>>> from speechrnn.runtime import Transcriber                              # doctest: +SKIP
>>> Transcriber("en.onnx").transcribe("speech.wav").text  # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import ExportError
from .models.acoustic import frame_shift_seconds
from .features import MFCCFrontend
from .fileio import atomic_path

__all__ = ["export_onnx", "onnx_metadata", "OnnxGraph", "METADATA_KEY", "FORMAT_VERSION",
           "OPSET", "TOLERANCE"]

METADATA_KEY = "speechrnn"
FORMAT_VERSION = 1
OPSET = 17
# Largest |ONNX - torch float| allowed on the check batch (the bundled speech sample). Float graphs: on the
# outputs (log-probabilities, log-posteriors, unit embeddings). int8 graphs: on probabilities
# (exp of the log outputs) and unit embeddings, as int8 rounding moves the log of unlikely
# classes a lot and likely ones little; their accuracy is tested on speech (tests/test_onnx*.py).
TOLERANCE = 2e-3
TOLERANCE_INT8 = 0.2
OUTPUT_NAMES = {"transcription": ["log_probs", "out_lengths"], "keywords": ["scores"],
                "speakers": ["embeddings"]}
# Batch (seconds per item) for tracing; the check runs on another shape (:func:`_check_batch`).
TRACE_SECONDS = (1.0, 0.6)
CHECK_SECONDS = (None, 1.7, 0.45)  # None: the whole sample (2.9 s)
SAMPLE = Path(__file__).parent / "assets" / "samples" / "sample.wav"


# --------------------------------------------------------------------------- front-end
class _Frontend(nn.Module):
    """:class:`MFCCFrontend` (eval mode) with ONNX-exportable ops; same outputs.

    ``forward(waveforms (B, S), lengths (B,)) -> (feats (B, T, F), feat_lengths (B,))``.
    """

    def __init__(self, fe: MFCCFrontend):
        super().__init__()
        self.kaldi, self.mfcc = fe.kaldi, fe.mfcc
        self.win, self.hop, self.n_fft = fe.win_length, fe.hop_length, fe.n_fft
        self.a = fe.preemphasis
        self.log_floor, self.db_scale, self.top_db = fe.log_floor, fe.db_scale, fe.top_db
        self.deltas, self.delta_window = fe.deltas, fe.delta_window
        self.cmvn, self.cmvn_variance = fe.cmvn, fe.cmvn_variance
        n_freqs = self.n_fft // 2 + 1
        window = fe.window.double()  # (n_fft,)
        taps = self.win if self.kaldi else self.n_fft  # Kaldi's window sits at the buffer's start
        n = torch.arange(taps, dtype=torch.float64)
        f = torch.arange(n_freqs, dtype=torch.float64)
        ang = 2 * math.pi * f[:, None] * n[None, :] / self.n_fft  # (n_freqs, taps)
        w = window[:taps][None, :]
        kernel = torch.cat([torch.cos(ang) * w, -torch.sin(ang) * w])  # (2 n_freqs, taps)
        self.register_buffer("dft", kernel[:, None, :].float())  # (2 n_freqs, 1, taps)
        self.register_buffer("mel_fb", fe.mel_fb.clone())  # (n_freqs, n_mels)
        self.register_buffer("dct", fe.dct.clone())  # (n_mels, n_mfcc)
        self.register_buffer("win_re", fe.window_dft_re.clone())  # (n_freqs,)
        self.register_buffer("win_im", fe.window_dft_im.clone())
        self.register_buffer("cmvn_mean", fe.cmvn_mean.clone())  # (F,)
        self.register_buffer("cmvn_std", fe.cmvn_std.clone())

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        if self.kaldi:
            n = torch.div(lengths - self.win, self.hop, rounding_mode="floor") + 1
            return torch.where(lengths >= self.win, n, torch.zeros_like(n))
        return torch.div(lengths, self.hop, rounding_mode="floor") + 1

    def _power(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, S)`` -> power spectrum ``(B, T, n_freqs)``."""
        n_freqs = self.n_fft // 2 + 1
        if self.kaldi:
            prev = F.pad(x, (1, 0))[:, :-1]  # x[n-1], 0 before the start
            y = x - self.a * prev  # pre-emphasis (the Povey window zeroes each frame's first sample)
            spec = F.conv1d(y[:, None, :], self.dft, stride=self.hop)  # (B, 2 n_freqs, T)
            spec = spec.transpose(1, 2)  # (B, T, 2 n_freqs)
            means = F.avg_pool1d(x[:, None, :], self.win, self.hop).transpose(1, 2)  # (B, T, 1)
            scale = means * (1.0 - self.a)
            re = spec[:, :, :n_freqs] - scale * self.win_re  # DC removal by linearity
            im = spec[:, :, n_freqs:] - scale * self.win_im
        else:
            y = F.pad(x, (self.n_fft // 2, self.n_fft // 2))  # centred frames, zero padding
            spec = F.conv1d(y[:, None, :], self.dft, stride=self.hop).transpose(1, 2)  # (B, T, 2nf)
            re, im = spec[:, :, :n_freqs], spec[:, :, n_freqs:]
        return re * re + im * im

    def _deltas(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Regression deltas of ``(B, T, F)``, each item's edge frames replicated."""
        n = self.delta_window
        t = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
        last = (lengths - 1).clamp(min=0)[:, None]  # (B, 1)
        out = torch.zeros_like(x)
        for k in range(1, n + 1):
            fwd = torch.minimum(t + k, last)  # (B, T)
            bwd = torch.minimum((t - k).clamp(min=0), last)
            gf = x.gather(1, fwd[:, :, None].expand(-1, -1, x.shape[2]))
            gb = x.gather(1, bwd[:, :, None].expand(-1, -1, x.shape[2]))
            out = out + k * (gf - gb)
        return out / float(2 * sum(k * k for k in range(1, n + 1)))

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        x = waveforms
        lengths = lengths.clamp(min=0)
        if not self.kaldi:  # centred frames reach past an item's end: that must read zeros
            keep = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
            x = x * keep.to(x.dtype)
        feat_lengths = self.num_frames(lengths)
        power = self._power(x)  # (B, T, n_freqs)
        valid = (torch.arange(power.shape[1], device=x.device)[None, :]
                 < feat_lengths[:, None])[:, :, None]  # (B, T, 1)
        logmel = torch.log(torch.clamp(torch.matmul(power, self.mel_fb), min=self.log_floor))
        if self.top_db > 0:
            peak = logmel.masked_fill(~valid, -1e30).amax(dim=(1, 2), keepdim=True)  # (B, 1, 1)
            logmel = torch.maximum(logmel, peak - self.top_db / self.db_scale)
        if self.mfcc:
            feats = torch.matmul(logmel, self.dct)  # (B, T, n_mels) @ (n_mels, n_mfcc)
        else:
            feats = logmel * self.db_scale
        if self.deltas > 0:
            d1 = self._deltas(feats, feat_lengths)
            parts = [feats, d1] + ([self._deltas(d1, feat_lengths)] if self.deltas > 1 else [])
            feats = torch.cat(parts, dim=2)  # (B, T, F (1 + deltas))
        if self.cmvn == "global":
            feats = feats - self.cmvn_mean
            if self.cmvn_variance:
                feats = feats / self.cmvn_std
        elif self.cmvn == "utterance":
            w = valid.to(feats.dtype).transpose(1, 2)  # (B, 1, T)
            count = feat_lengths.clamp(min=1).to(feats.dtype)[:, None, None]  # (B, 1, 1)
            feats = feats - torch.bmm(w, feats) / count
            if self.cmvn_variance:
                var = torch.bmm(w, feats * feats) / count  # (B, 1, F)
                feats = feats * torch.rsqrt(var.clamp(min=1e-10))
        return feats * valid.to(feats.dtype), feat_lengths


class _Single(nn.Module):
    """One :class:`AcousticModel` with the exportable front-end: task outputs (see module doc)."""

    def __init__(self, model, task: str):
        super().__init__()
        self.frontend = _Frontend(model.frontend)
        self.encoder = model.encoder
        self.head = model.head
        self.task = task

    def forward(self, waveforms, lengths):
        feats, n = self.frontend(waveforms, lengths)  # (B, S) -> (B, T, F)
        x, n = self.encoder(feats, n)  # (B, T, F) -> (B, T', D)
        if self.task == "speakers":
            return F.normalize(self.head.embed(x, n).float(), dim=-1)  # (B, E)
        out, n = self.head(x, n)
        return (out, n) if self.task == "transcription" else out


class OnnxGraph(nn.Module):
    """The module exported: a single model or the posterior mean of an ensemble's members.

    ``forward(waveforms (B, S), lengths (B,))`` returns the outputs named in the module docstring.
    """

    def __init__(self, model):
        super().__init__()
        task = getattr(model, "task", "transcription")
        self.task = task
        members = list(getattr(model, "members", [])) or [model]
        self.members = nn.ModuleList(_Single(m, task) for m in members)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor):
        if len(self.members) == 1:
            return self.members[0](waveforms, lengths)
        logp = torch.stack([F.log_softmax(m(waveforms, lengths).float(), dim=-1)
                            for m in self.members])  # (K, B, C)
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))  # (B, C)


# --------------------------------------------------------------------------- metadata
def _members(model) -> list:
    return list(getattr(model, "members", [])) or [model]


def onnx_metadata(ckpt: dict, model, src, dst, description: str | None = None) -> tuple[dict, list]:
    """The JSON metadata of the ONNX file (see the module docstring) and the LM/lexicon copies
    ``[(from, to)]`` its default decoding needs beside ``dst``."""
    from . import __version__
    from .config import to_dict

    extra = dict(ckpt.get("extra") or {})
    task = ckpt["task"]
    members = _members(model)
    features = []
    for m in members:
        fe = m.frontend
        cmvn = {"kind": fe.cmvn, "variance": bool(fe.cmvn_variance)}
        if fe.cmvn == "global":
            cmvn.update(mean=fe.cmvn_mean.tolist(), std=fe.cmvn_std.tolist())
        features.append({"config": to_dict(m.feature_cfg), "cmvn": cmvn,
                         "model_config": to_dict(m.cfg)})
    meta = {
        "format": "speechrnn-onnx", "format_version": FORMAT_VERSION,
        "speechrnn_version": __version__, "task": task, "labels": ckpt["labels"],
        "sample_rate": int(members[0].feature_cfg.sample_rate),
        "min_samples": max(int(m.frontend.win_length) for m in members),
        "features": features, "ensemble_size": len(members),
        "description": description or extra.get("description", ""),
        "inputs": {"waveforms": "(B, S) float32 in [-1, 1] at sample_rate, zero-padded",
                   "lengths": "(B,) int64 valid samples per item"},
        "outputs": {"transcription": {"log_probs": "(B, T', V) CTC log-probabilities, index 0 the blank",
                                      "out_lengths": "(B,) int64 valid frames"},
                    "keywords": {"scores": "(B, C) class log-posteriors (softmax -> posteriors)"},
                    "speakers": {"embeddings": "(B, E) unit-length speaker embeddings"}}[task],
    }
    copies: list = []
    if task == "transcription":
        from .inference.model_decoding import carry_decoding
        from .inference.recognizer import output_labels
        from .text import tokenizer_from_dict

        m = members[0]
        meta["output_labels"] = output_labels(tokenizer_from_dict(ckpt["labels"]))
        meta["frame_shift_s"] = frame_shift_seconds(m)
        meta["unit_samples"] = int(round(meta["frame_shift_s"] * meta["sample_rate"]))
        extra, copies = carry_decoding(src, dst, extra)
        meta["decoding"] = extra.get("decoding")
    if task == "speakers":
        from .speakers.head import model_fingerprint

        meta["fingerprint"] = model_fingerprint(members[0])
        meta["embedding_dim"] = int(members[0].cfg.head.embedding_dim)
    meta["extra"] = {k: v for k, v in extra.items()
                     if k not in ("decoding", "description") and _jsonable(v)}
    return meta, copies


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- export
def _example_batch(seconds, sample_rate: int, seed: int):
    """Noise ``(B, S)`` zero-padded past each item's length, and lengths ``(B,)``."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([int(s * sample_rate) for s in seconds], dtype=torch.int64)
    waves = torch.randn(len(seconds), int(lengths.max()), generator=g) * 0.1  # (B, S)
    keep = torch.arange(waves.shape[1])[None, :] < lengths[:, None]
    return waves * keep, lengths


def _check_batch(sample_rate: int):
    """The bundled speech sample and two shorter cuts of it, zero-padded: ``(3, S)``, ``(3,)``."""
    from .audio import load_audio

    x = torch.from_numpy(load_audio(SAMPLE, sample_rate))
    lengths = torch.tensor([x.shape[0] if s is None else int(s * sample_rate) for s in CHECK_SECONDS])
    waves = torch.zeros(len(CHECK_SECONDS), int(lengths.max()))  # (B, S)
    for i, n in enumerate(lengths.tolist()):
        waves[i, :n] = x[:n]
    return waves, lengths


def _trace(graph: OnnxGraph, path: Path, sample_rate: int) -> None:
    names = OUTPUT_NAMES[graph.task]
    dyn = {"waveforms": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}}
    dyn.update({n: {0: "batch"} for n in names})
    if graph.task == "transcription":
        dyn["log_probs"] = {0: "batch", 1: "frames"}
    example = _example_batch(TRACE_SECONDS, sample_rate, seed=0)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings / deprecation: the check below is what counts
        try:
            torch.onnx.export(graph, example, str(path), dynamo=False, opset_version=OPSET,
                              input_names=["waveforms", "lengths"], output_names=names,
                              dynamic_axes=dyn, do_constant_folding=True)
        except Exception as e:  # noqa: BLE001 - exporter errors vary by op
            raise ExportError(f"cannot export the model to ONNX ({type(e).__name__}: {e})") from None


def _quantize(src: Path, dst: Path) -> None:
    """int8 dynamic quantization of LSTM / MatMul / Gemm weights outside the front-end."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    frontend = [n.name for n in onnx.load(str(src)).graph.node if "frontend" in n.name]
    logging.disable(logging.WARNING)  # onnxruntime's quantizer logs advice on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # per-channel scales: closest to float (and to torch int8) on the WER test set:
            # 32.26 % vs float 32.37 % and torch int8 32.48 %; per-tensor scales gave 31.73 %
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["LSTM", "GRU", "MatMul", "Gemm"],
                             nodes_to_exclude=frontend)
    finally:
        logging.disable(logging.NOTSET)


def _check(model, path: Path, task: str, sample_rate: int, int8: bool) -> float:
    """Run ``path`` with onnxruntime on speech of another batch shape than traced; max |diff| vs
    ``model`` (int8: of probabilities, see :data:`TOLERANCE_INT8`)."""
    import onnxruntime as ort

    waves, lengths = _check_batch(sample_rate)
    graph = OnnxGraph(model).eval()
    with torch.no_grad():
        ref = graph(waves, lengths)
    ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"waveforms": waves.numpy(), "lengths": lengths.numpy()})
    atol = TOLERANCE_INT8 if int8 else TOLERANCE
    if int8 and task != "speakers":
        ref[0], got[0] = np.exp(ref[0]), np.exp(got[0])
    if task == "transcription":
        if not np.array_equal(ref[1], got[1]):
            raise ExportError(f"ONNX output lengths differ: {ref[1].tolist()} vs {got[1].tolist()}")
        mask = np.arange(ref[0].shape[1])[None, :] < ref[1][:, None]  # compare valid frames only
        diff = float(np.abs(ref[0] - got[0])[mask].max()) if mask.any() else 0.0
    else:
        if ref[0].shape != got[0].shape:
            raise ExportError(f"ONNX output shape {got[0].shape} differs from torch's {ref[0].shape}")
        diff = float(np.abs(ref[0] - got[0]).max())
    if not diff <= atol:
        raise ExportError(f"the ONNX graph differs from the torch model by up to {diff:.3g} "
                          f"(tolerance {atol:g})")
    return diff


def export_onnx(src, dst, *, int8: bool = False, description: str | None = None) -> Path:
    """Export checkpoint ``src`` (one model or a keyword ensemble) as an ONNX file ``dst``.

    Parameters
    ----------
    src, dst : str or Path
    int8 : bool
        Quantize LSTM / Linear weights to int8 (onnxruntime dynamic quantization; ~3x smaller).
    description : str, optional
        Stored in the metadata (default: the checkpoint's ``extra["description"]``).

    Returns
    -------
    Path
        ``dst``; the default decoding's LM / lexicon are copied beside it.

    Raises
    ------
    CheckpointError
        ``src`` is missing or not a speechrnn checkpoint.
    ExportError
        The graph cannot be exported or disagrees with the torch model.
    """
    import onnx

    from .models.checkpoint import build_model_from_checkpoint, read_checkpoint

    src, dst = Path(src), Path(dst)
    ckpt = read_checkpoint(src)
    task = ckpt["task"]
    if task not in OUTPUT_NAMES:
        raise ExportError(f"{src}: ONNX export covers transcription, keywords and speakers "
                          f"models, not {task!r}")
    model = build_model_from_checkpoint(ckpt, src).eval()
    for m in _members(model):
        m.task = task
    if task == "speakers" and model.cfg.head.kind not in ("embedding", "cosine_embedding"):
        raise ExportError(f"{src}: a speakers model without an embedding head")
    meta, copies = onnx_metadata(ckpt, model, src, dst, description)
    meta["weights"] = "int8" if int8 else "float"
    rate = meta["sample_rate"]
    with tempfile.TemporaryDirectory() as tmpdir:
        traced = Path(tmpdir) / "float.onnx"
        _trace(OnnxGraph(model).eval(), traced, rate)
        out = traced
        if int8:
            out = Path(tmpdir) / "int8.onnx"
            _quantize(traced, out)
        meta["max_abs_diff_vs_torch"] = _check(model, out, task, rate, int8)
        proto = onnx.load(str(out))
        del proto.metadata_props[:]
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(meta)
        proto.doc_string = meta["description"]
        proto.producer_name = "speechrnn"
        with atomic_path(dst) as tmp:
            onnx.save(proto, str(tmp))
    from .inference.model_decoding import copy_companions

    copy_companions(copies)
    return dst
