"""Transcription checkpoints over manifests: WER/CER with the model file's default decoding,
and decoder/LM-weight tuning on one pass of the network.

Example
-------
>>> rates, rows = evaluate_checkpoint("exp/best.pt", "dev.jsonl")          # doctest: +SKIP
>>> [(d.alpha, r.wer) for d, r in tune_decoding("exp/best.pt", "dev.jsonl", grid)][:1]  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..tasks.transcription import TranscriptionTask


@dataclass
class Posteriors:
    """CTC outputs of one model over a manifest, computed once and decoded many ways.

    ``log_probs[i]`` has shape ``(T_i, V)`` (valid frames only; ``V = len(labels)``).
    """

    ids: list[str]
    references: list[str]
    log_probs: list[torch.Tensor]
    labels: list[str]
    task: TranscriptionTask
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Utterances whose audio could not be read: (id, reason); they have no posteriors."""
    frame_shift_s: float | None = None
    """Seconds per output frame (for keyword search and word times over ``log_probs``)."""

    def texts(self, decoding) -> list[str]:
        """Decode every utterance with ``decoding`` (greedy: the tokenizer's own decoding)."""
        from ..decoding import decode

        if decoding.method == "greedy":  # also BPE pieces
            return [self.task.decode((lp.unsqueeze(0), torch.tensor([lp.shape[0]])))[0]
                    for lp in self.log_probs]
        return [decode(lp.unsqueeze(0), [lp.shape[0]], self.labels, decoding)[0].text
                for lp in self.log_probs]


def compute_posteriors(checkpoint, manifest, *, max_seconds: float = 120.0,
                       device: str = "cpu") -> Posteriors:
    """Run a transcription checkpoint over a manifest (length-bucketed batches, padding cut off)."""
    from torch.utils.data import DataLoader

    from ..data import AudioDataset, BucketBatchSampler, read_manifest, readable_utterances
    from ..errors import CheckpointError
    from ..models import load_model
    from ..models.acoustic import frame_shift_seconds

    model = load_model(checkpoint, device=device)
    if model.task != "transcription":
        raise CheckpointError(f"{checkpoint}: a {model.task!r} model, not a transcription model")
    task = TranscriptionTask.from_labels(model.labels)
    utts, skipped = readable_utterances(read_manifest(manifest), str(manifest))
    out = Posteriors([], [], [], task.label_list(), task, skipped=skipped,
                     frame_shift_s=frame_shift_seconds(model))
    ds = AudioDataset(utts, sample_rate=model.feature_cfg.sample_rate, on_error="skip")
    batches = list(BucketBatchSampler(ds.durations(), max_seconds, shuffle=False))
    with torch.no_grad():
        for batch in DataLoader(ds, batch_sampler=batches, collate_fn=task.collate):
            out.skipped += batch["skipped"]  # decoding failed past the header
            if not batch["ids"]:
                continue
            log_probs, lengths = model(batch["waveforms"].to(device), batch["lengths"].to(device))
            lp = log_probs.float().cpu()  # (B, T, V)
            out.log_probs += [lp[i, : int(n)].clone() for i, n in enumerate(lengths)]
            out.references += batch["references"]
            out.ids += batch["ids"]
    return out


def _no_times(decoding):
    import dataclasses

    decoding = dataclasses.replace(decoding, word_timestamps=False)
    decoding.validate()
    return decoding


def evaluate_checkpoint(checkpoint, manifest, decoding=None, *, max_seconds: float = 120.0,
                        device: str = "cpu"):
    """WER/CER of a transcription checkpoint on a manifest.

    Parameters
    ----------
    decoding : speechrnn.decoding.DecodingConfig, optional
        How to decode (default: the model file's stored default decoding, else greedy).
        Word timestamps are never computed here.

    Returns
    -------
    (ErrorRates, list[dict]) corpus rates and per-utterance rows (worst first), from
    :mod:`speechrnn.metrics`.
    """
    from ..decoding import DecodingConfig
    from .model_decoding import stored_decoding
    from ..metrics import error_rates, error_report

    decoding = _no_times(decoding or stored_decoding(checkpoint) or DecodingConfig())
    post = compute_posteriors(checkpoint, manifest, max_seconds=max_seconds, device=device)
    hyps = post.texts(decoding)
    rates = error_rates(post.references, hyps, post.ids)
    rates.skipped = list(post.skipped)
    return rates, error_report(post.references, hyps, post.ids)


def tune_decoding(checkpoint, manifest, decodings, *, max_seconds: float = 120.0,
                  device: str = "cpu", progress=None,
                  posteriors: Posteriors | None = None) -> list[tuple[object, object]]:
    """WER/CER of every decoding in ``decodings`` on one pass of the model over ``manifest``.

    For choosing a decoder and its LM weights on **dev** data: the network runs once, then
    each :class:`~speechrnn.decoding.DecodingConfig` decodes the cached posteriors.

    Returns
    -------
    list of (DecodingConfig, ErrorRates), best (lowest WER, then CER) first.
    ``progress(config, rates)``, if given, is called after each one. ``posteriors`` (from
    :func:`compute_posteriors` of the same model and manifest) skips the network pass.
    """
    from ..metrics import error_rates

    decodings = list(decodings)
    post = posteriors or compute_posteriors(checkpoint, manifest, max_seconds=max_seconds, device=device)
    rows = []
    for d in decodings:  # scored without word times (faster); returned as given, times kept
        rates = error_rates(post.references, post.texts(_no_times(d)), post.ids)
        rates.skipped = list(post.skipped)
        rows.append((d, rates))
        if progress:
            progress(d, rates)
    return sorted(rows, key=lambda r: (r[1].wer, r[1].cer))
