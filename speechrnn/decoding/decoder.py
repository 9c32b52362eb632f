"""Config-driven decoding of a padded batch: greedy or beam (+LM), with word times.

Example
-------
>>> import torch
>>> from speechrnn.config import from_dict
>>> cfg = from_dict(DecodingConfig, {"method": "greedy"})
>>> labels = ["<b>", " ", "a", "b"]
>>> lp = torch.log(torch.tensor([[[.05, .05, .85, .05], [.9, .04, .03, .03]]]))
>>> [r.text for r in decode(lp, [2], labels, cfg, frame_shift_s=0.03)]
['a']
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from .align import align_words
from .beam import beam_search
from .greedy import as_log_probs, greedy_decode, greedy_score
from .labels import check_labels, ids_to_text
from .lexicon import is_arpa, lexicon_search
from .results import DecodeResult, DecodingError


@dataclass
class DecodingConfig:
    """How to turn CTC posteriors into text."""

    # greedy: best path; beam: prefix beam search (pyctcdecode: LM, soft lexicon, hotwords);
    # lexicon: beam search that outputs lexicon words only (flashlight-text), LM optional
    method: Literal["greedy", "beam", "lexicon"] = "greedy"
    beam_size: int = 32  # beams kept per frame (beam, lexicon)
    lm_path: str | None = None  # KenLM word n-gram (.arpa or binary), beam/lexicon
    alpha: float = 0.5  # LM weight (on natural-log LM probabilities)
    beta: float = 1.0  # per-word bonus
    lexicon_path: str | None = None  # one word per line; lexicon's default: the ARPA unigrams
    unk_score_offset: float = -10.0  # beam only: added per out-of-lexicon word; -1000 ~ forbid
    hotwords: list[str] = field(default_factory=list)  # words/phrases to boost (beam only)
    hotword_weight: float = 10.0  # boost per matched hotword character
    word_timestamps: bool = True  # align words to frames (needs frame_shift_s)

    def validate(self) -> None:
        """Raise ConfigError for values no decoder accepts."""
        if self.beam_size < 1:
            raise ConfigError(f"DecodingConfig.beam_size: must be >= 1, got {self.beam_size}")
        for key in ("lm_path", "lexicon_path"):
            value = getattr(self, key)
            if value is not None and not Path(value).is_file():
                raise ConfigError(f"DecodingConfig.{key}: file not found: {value}")
        if self.method == "greedy" and (self.lm_path or self.lexicon_path or self.hotwords):
            raise ConfigError(
                "DecodingConfig.method: 'greedy' ignores lm_path/lexicon_path/hotwords; "
                "use method: beam"
            )
        if self.method == "lexicon":
            if self.hotwords:
                raise ConfigError("DecodingConfig.hotwords: only method 'beam' boosts hotwords")
            if not self.lexicon_path and not is_arpa(self.lm_path):
                raise ConfigError(
                    "DecodingConfig.method: 'lexicon' needs lexicon_path, or an ARPA lm_path "
                    "whose unigrams are the lexicon"
                )


@functools.lru_cache(maxsize=8)
def _read_lexicon(path: str, mtime_ns: int) -> frozenset[str]:
    with open(path, encoding="utf-8") as f:
        return frozenset(w for line in f for w in line.split()[:1])


def load_lexicon(path: str | Path) -> frozenset[str]:
    """Words of a lexicon file: the first field of each non-empty line."""
    p = Path(path)
    if not p.is_file():
        raise DecodingError(f"{p}: lexicon file not found")
    return _read_lexicon(str(p.resolve()), p.stat().st_mtime_ns)


def decode(
    log_probs,
    lengths,
    labels: Sequence[str],
    cfg: DecodingConfig | None = None,
    frame_shift_s: float | None = None,
) -> list[DecodeResult]:
    """Decode a padded batch of CTC posteriors.

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (B, T, V)
        Log-softmax outputs of the CTC head.
    lengths : sequence of int, shape (B,)
        Valid frames per item (padding never changes a result).
    labels : sequence of str, length V
        ``labels[0]`` is the blank, ``" "`` the word separator.
    cfg : DecodingConfig, optional
        Default: greedy with word timestamps.
    frame_shift_s : float, optional
        Encoder frame period; required for ``cfg.word_timestamps``.

    Returns
    -------
    list[DecodeResult]
        One per item, in batch order.
    """
    cfg = cfg or DecodingConfig()
    labels = check_labels(labels)
    x = as_log_probs(log_probs, 3)  # (B,T,V)
    lengths = [int(n) for n in lengths]
    if cfg.method == "greedy":
        ids = greedy_decode(x, lengths)
        scores = greedy_score(x, lengths)
        results = [
            DecodeResult(ids_to_text(t, labels), t, s) for t, s in zip(ids, scores)
        ]
    elif cfg.method == "lexicon":
        results = [
            lexicon_search(x[i, :n], labels, cfg.lm_path, lexicon=cfg.lexicon_path,
                           beam_size=cfg.beam_size, alpha=cfg.alpha, beta=cfg.beta)
            for i, n in enumerate(lengths)
        ]
    else:
        lexicon = load_lexicon(cfg.lexicon_path) if cfg.lexicon_path else None
        results = [
            beam_search(
                x[i, :n], labels, cfg.beam_size, cfg.lm_path, cfg.alpha, cfg.beta,
                cfg.hotwords or None, cfg.hotword_weight,
                lexicon=lexicon, unk_score_offset=cfg.unk_score_offset,
            )
            for i, n in enumerate(lengths)
        ]
    if cfg.word_timestamps and frame_shift_s is not None:
        for i, (r, n) in enumerate(zip(results, lengths)):
            r.words = align_words(x[i, :n], r.tokens, labels, frame_shift_s)
    return results
