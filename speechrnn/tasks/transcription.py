"""Transcription: CTC over characters (or BPE pieces), evaluated by WER/CER.

Before training, every utterance is checked for CTC feasibility: the model's output frames
for its duration must be at least ``len(tokens) + repeats`` (a blank is needed between equal
neighbours). Offenders are reported and dropped with a warning - they would otherwise give an
infinite loss. The loss uses ``zero_infinity=True`` as a second line of defence, and the trainer
skips a batch whose loss is still not finite.

Example task section::

    task:
      name: transcription
      tokenizer: null        # null = CharTokenizer.english(); or a tokenizer to_dict()
      normalize: true        # apply speechrnn.text.normalize_text to references
      beam_size: 1           # dev decoding: 1 = greedy, >1 = prefix beam search
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .base import Task

log = logging.getLogger(__name__)


@dataclass
class TranscriptionConfig:
    """The ``task`` section for transcription."""

    name: str = "transcription"
    """Always ``transcription``."""
    tokenizer: dict[str, Any] | None = None
    """Tokenizer description (``CharTokenizer.to_dict()`` form); null = English characters."""
    normalize: bool = True
    """Normalize reference texts with :func:`speechrnn.text.normalize_text` before encoding."""
    beam_size: int = 1
    """Dev-set decoding: 1 = greedy; larger = prefix beam search without LM."""

    def validate(self) -> None:
        if self.beam_size < 1:
            raise ConfigError("task.beam_size must be >= 1")


def ctc_min_frames(tokens: Sequence[int]) -> int:
    """Frames CTC needs for ``tokens``: one per token plus one blank between equal neighbours."""
    return len(tokens) + sum(1 for a, b in zip(tokens, tokens[1:]) if a == b)


class TranscriptionTask(Task):
    """CTC transcription; primary metric ``wer`` (lower is better)."""

    name = "transcription"
    Config = TranscriptionConfig
    head_kind = "ctc"
    primary_metric = "wer"
    higher_is_better = False

    def __init__(self, cfg: TranscriptionConfig):
        from ..text import CharTokenizer, tokenizer_from_dict

        super().__init__(cfg)
        self.tokenizer = CharTokenizer.english() if cfg.tokenizer is None else tokenizer_from_dict(cfg.tokenizer)
        self._tokens: dict[str, list[int]] = {}

    @classmethod
    def from_labels(cls, labels: dict) -> "TranscriptionTask":
        return cls(TranscriptionConfig(tokenizer=labels))

    def num_outputs(self) -> int:
        return self.tokenizer.vocab_size

    def labels(self) -> dict:
        return self.tokenizer.to_dict()

    # ------------------------------------------------------------------ text
    def reference(self, text: str | None, utt_id: str = "?") -> str:
        """Normalized reference text of an utterance."""
        if text is None:
            raise ConfigError(f"utterance {utt_id!r} has no text: transcription needs 'text' in the manifest")
        if self.cfg.normalize:
            from ..text import normalize_text

            return normalize_text(text)
        return text

    def tokens(self, utt) -> list[int]:
        """Token ids of an utterance's reference (cached by id)."""
        ids = self._tokens.get(utt.id)
        if ids is None:
            ids = self.tokenizer.encode(self.reference(utt.text, utt.id))
            self._tokens[utt.id] = ids
        return ids

    # ------------------------------------------------------------------ data
    def prepare(self, utts, durations, model, split: str) -> list[int]:
        """Keep utterances CTC can align; warn about (and drop) the others."""
        sr = model.feature_cfg.sample_rate
        samples = torch.tensor([int(round(d * sr)) for d in durations], dtype=torch.int64)
        frames = model.output_lengths(samples).tolist() if len(utts) else []
        keep, bad = [], []
        for i, (u, n) in enumerate(zip(utts, frames)):
            need = ctc_min_frames(self.tokens(u))
            if n >= need:
                keep.append(i)
            else:
                bad.append((i, n, need))
        if bad:
            shown = ", ".join(f"{utts[i].id} ({n} frames < {need} needed)" for i, n, need in bad[:10])
            more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
            log.warning("%s: dropping %d utterance(s) too short for their transcript: %s%s",
                        split, len(bad), shown, more)
        return keep

    def targets(self, batch: dict) -> dict:
        toks = [self.tokens(u) for u in batch["utts"]]
        return {
            "targets": torch.tensor([t for seq in toks for t in seq], dtype=torch.int64),  # (sum L,)
            "target_lengths": torch.tensor([len(seq) for seq in toks], dtype=torch.int64),  # (B,)
            "references": [self.reference(u.text, u.id) for u in batch["utts"]],
        }

    # ------------------------------------------------------------------ training / eval
    def loss(self, model_out, batch: dict) -> torch.Tensor:
        """Mean over the batch of the CTC loss divided by target length."""
        log_probs, out_lengths = model_out  # (B,T,V), (B,)
        return F.ctc_loss(
            log_probs.float().transpose(0, 1),  # (B,T,V) -> (T,B,V)
            batch["targets"], out_lengths, batch["target_lengths"],
            blank=0, reduction="mean", zero_infinity=True,
        )

    def label_list(self) -> list[str]:
        """Index -> symbol list for decoders (``[0]`` is the blank): :func:`speechrnn.text.output_labels`,
        the same list the ``Recognizer`` uses (characters or subword pieces)."""
        from ..text import output_labels

        return output_labels(self.tokenizer)

    def decode(self, model_out) -> list[str]:
        """Texts for a batch of CTC outputs (greedy, or beam search if ``beam_size > 1``)."""
        log_probs, lengths = model_out
        if self.cfg.beam_size > 1:
            from ..decoding import beam_search_batch

            res = beam_search_batch(log_probs, lengths, self.label_list(), beam_size=self.cfg.beam_size)
            return [r.text for r in res]
        from ..decoding import greedy_decode

        return [self.tokenizer.decode(ids) for ids in greedy_decode(log_probs, lengths)]

    @torch.no_grad()
    def evaluate(self, model, loader, device="cpu") -> dict[str, float]:
        """Corpus WER/CER and mean loss; ``self.last_report`` keeps per-utterance rows."""
        from ..metrics import error_rates

        was_training = model.training
        model.eval()
        refs, hyps, ids, losses = [], [], [], []
        try:
            for batch in loader:
                out = model(batch["waveforms"].to(device), batch["lengths"].to(device))
                losses.append(float(self.loss(out, _to(batch, device))) * len(batch["ids"]))
                hyps += self.decode(out)
                refs += batch["references"]
                ids += batch["ids"]
        finally:
            model.train(was_training)
        rates = error_rates(refs, hyps, ids)
        self.last_rates = rates
        return {"wer": rates.wer, "cer": rates.cer, "loss": sum(losses) / max(len(ids), 1)}


def _to(batch: dict, device) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
