"""`OnnxModel`: one exported speechrnn ONNX file in onnxruntime, with its metadata.

The file is written by ``speechrnn export MODEL OUT.onnx --format onnx``
(:mod:`speechrnn.export_onnx`, which documents the graph's inputs, outputs and metadata).
This module imports numpy and onnxruntime only.

Example
-------
>>> m = OnnxModel("en.onnx", threads=2)                               # doctest: +SKIP
>>> log_probs, lengths = m.run_pieces([np.zeros(16000, np.float32)])  # (1, T', V), (1,)  # doctest: +SKIP
>>> m.task, m.sample_rate, m.meta["frame_shift_s"]  # doctest: +SKIP
('transcription', 16000, 0.03)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError

METADATA_KEY = "speechrnn"  # the key export_onnx writes (kept in sync by tests/test_onnx_export.py)
FORMAT_VERSION = 1
TASKS = ("transcription", "keywords", "speakers")


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # no warnings on stderr
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises several kinds
        raise CheckpointError(f"{path}: not an ONNX model ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None


def _metadata(sess, path: Path) -> dict:
    raw = sess.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if not raw:
        raise CheckpointError(f"{path}: an ONNX model without speechrnn metadata (export it with "
                              f"`speechrnn export MODEL {path.name} --format onnx`)")
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise CheckpointError(f"{path}: unreadable speechrnn metadata ({e})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: speechrnn ONNX format_version {meta.get('format_version')!r}; "
                              f"this speechrnn reads version {FORMAT_VERSION}")
    if meta.get("task") not in TASKS:
        raise CheckpointError(f"{path}: unknown task {meta.get('task')!r} in its metadata")
    return meta


def read_metadata(path) -> dict:
    """The speechrnn metadata of an exported ONNX file (see :mod:`speechrnn.export_onnx`).

    Raises
    ------
    CheckpointError
        Missing file, not an ONNX model, or no / unreadable speechrnn metadata.
    """
    return OnnxModel(path, threads=1).meta


class OnnxModel:
    """An exported model in an onnxruntime session (thread-safe: ``run`` may be called from
    several threads at once).

    Parameters
    ----------
    path : str or Path
        ``.onnx`` file written by :func:`speechrnn.export_onnx.export_onnx`.
    threads : int, optional
        onnxruntime intra-op threads (default: onnxruntime's choice, all cores).

    Attributes
    ----------
    meta : dict
        The file's metadata; ``task``, ``sample_rate`` and ``min_samples`` are also attributes.
    """

    def __init__(self, path, *, threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: model file not found")
        self.session = _session(self.path, threads)
        self.meta = _metadata(self.session, self.path)
        self.task: str = self.meta["task"]
        self.sample_rate: int = int(self.meta["sample_rate"])
        self.min_samples: int = int(self.meta.get("min_samples", 1))
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, waveforms: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Run the graph on a padded batch.

        Parameters
        ----------
        waveforms : np.ndarray
            ``(B, S)`` float32 at :attr:`sample_rate`, zero-padded past each item's length.
        lengths : np.ndarray
            ``(B,)`` valid samples per item.

        Returns
        -------
        list[np.ndarray]
            transcription: ``[log_probs (B, T', V), out_lengths (B,)]``; keywords:
            ``[scores (B, C)]`` (log-posteriors); speakers: ``[embeddings (B, E)]``.
        """
        x = np.ascontiguousarray(waveforms, dtype=np.float32)
        if x.ndim != 2:
            raise ConfigError(f"waveforms must be (B, S), got shape {x.shape}")
        if x.shape[1] < self.min_samples:  # the graph needs one analysis window; lengths mask it
            x = np.pad(x, ((0, 0), (0, self.min_samples - x.shape[1])))
        n = np.asarray(lengths, dtype=np.int64).reshape(-1)
        return self.session.run(None, {"waveforms": x, "lengths": n})

    def run_pieces(self, pieces: list[np.ndarray]) -> list[np.ndarray]:
        """:meth:`run` on 1-D float32 waveforms of any lengths, padded into one batch."""
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)  # (B,)
        batch = np.zeros((len(pieces), int(lengths.max(initial=0))), dtype=np.float32)  # (B, S)
        for i, p in enumerate(pieces):
            batch[i, : len(p)] = p
        return self.run(batch, lengths)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable ``log(softmax(x))`` along ``axis``."""
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
