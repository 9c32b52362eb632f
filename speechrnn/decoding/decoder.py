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

import dataclasses
import functools
import math
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
from .results import DecodeResult, DecodingError, Word


MAX_BEAM_SIZE = 4096


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

    def check_ranges(self) -> None:
        """Raise ConfigError for an unknown method or a value out of range (no file checks).

        Ranges: ``1 <= beam_size <= MAX_BEAM_SIZE`` (4096: the search's time grows with it,
        and beyond a few hundred beams results stop changing); ``alpha`` finite and ``>= 0``;
        ``beta`` finite; ``unk_score_offset`` finite and ``<= 0``; ``hotword_weight`` finite
        and ``>= 0``; hotwords non-empty strings.
        """
        if self.method not in ("greedy", "beam", "lexicon"):
            raise ConfigError(f"DecodingConfig.method: must be greedy, beam or lexicon, got {self.method!r}")
        if isinstance(self.beam_size, bool) or not isinstance(self.beam_size, int) \
                or not 1 <= self.beam_size <= MAX_BEAM_SIZE:
            raise ConfigError(f"DecodingConfig.beam_size: must be an integer in [1, {MAX_BEAM_SIZE}], "
                              f"got {self.beam_size!r}")
        for key, low, high in (("alpha", 0.0, math.inf), ("beta", -math.inf, math.inf),
                               ("unk_score_offset", -math.inf, 0.0), ("hotword_weight", 0.0, math.inf)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high:
                bounds = {"alpha": ">= 0", "beta": "finite", "unk_score_offset": "<= 0",
                          "hotword_weight": ">= 0"}[key]
                raise ConfigError(f"DecodingConfig.{key}: must be a finite number {bounds}, got {value!r}")
        bad = [h for h in self.hotwords if not isinstance(h, str) or not h.strip()]
        if bad:
            raise ConfigError(f"DecodingConfig.hotwords: must be non-empty strings, got {bad[0]!r}")

    def validate(self) -> None:
        """Raise ConfigError for values no decoder accepts (:meth:`check_ranges`, missing files,
        options the method ignores)."""
        self.check_ranges()
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
    cfg.check_ranges()
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
            r.words = _as_text_words(align_words(x[i, :n], r.tokens, labels, frame_shift_s), r.text)
    return results


def _as_text_words(words: list[Word], text: str) -> list[Word]:
    """Aligned words carrying the text's spelling: a lexicon search over phone labels aligns
    phones (``HH AH L OW``), its text holds the word (``hello``); one word each, in order."""
    names = text.split()
    if len(names) != len(words):
        return words
    return [w if w.word == n else dataclasses.replace(w, word=n) for w, n in zip(words, names)]
