"""CTC prefix beam search with word n-gram LM fusion, lexicon and hotwords (pyctcdecode).

The search itself is pyctcdecode's; this module adapts our label convention
(``labels[0]`` is the blank, ``" "`` separates words), caches decoders and KenLM
models so repeated calls are cheap, and adds a lexicon-only scorer.

Scoring of a hypothesis ``y`` (pyctcdecode's, natural logs)::

    log P_ctc(y | x) + alpha * ln P_lm(y) + beta * |words(y)|
        + unk_score_offset * (#words not in the lexicon)
        + hotword_weight * (#hotword characters matched)

Lexicon constraint (what we do)
-------------------------------
* With an LM: the lexicon (``lexicon=`` or, by default, the unigrams of an
  ARPA file) is pyctcdecode's unigram list. A complete word outside it, or a
  partial word that is no prefix of a lexicon word, gets ``unk_score_offset``
  added (scaled up for long partial words). The default ``-10`` *penalises*
  out-of-lexicon words; a large negative value such as ``-1000`` effectively
  *disallows* them, since such beams fall outside ``beam_prune_logp``.
* Without an LM but with ``lexicon=``: :class:`LexiconScorer` applies the
  same rule with no n-gram probabilities (plus ``beta`` per word).
* A binary KenLM file carries no readable unigram list: pass ``lexicon=`` or
  every partial word is treated as out-of-lexicon (a uniform penalty).
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

from .greedy import as_log_probs
from .labels import check_labels, text_to_ids
from .lexicon import arpa_unigrams, file_key, is_arpa
from .results import DecodeResult, DecodingError

LOGGER = logging.getLogger(__name__)
_BUILD_LOCK = threading.RLock()


_QUIET = threading.local()  # .depth > 0 while this thread builds a pyctcdecode decoder
_PYCTCDECODE_LOGGERS = ("pyctcdecode.language_model", "pyctcdecode.decoder", "pyctcdecode.alphabet")


class _BuildWarningsFilter(logging.Filter):
    """Drops pyctcdecode's below-ERROR records emitted by a thread inside :func:`_quiet_pyctcdecode`
    (its 'small vocabulary' / 'unigrams' warnings about our deliberate setups). Installed once;
    logger levels are never changed, so other threads' records and the application's own
    logging configuration are untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or getattr(_QUIET, "depth", 0) == 0


_FILTER = _BuildWarningsFilter()
for _name in _PYCTCDECODE_LOGGERS:
    if _FILTER not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_FILTER)


@contextmanager
def _quiet_pyctcdecode():
    """Silence pyctcdecode's warnings raised by this thread while it builds a decoder."""
    _QUIET.depth = getattr(_QUIET, "depth", 0) + 1
    try:
        yield
    finally:
        _QUIET.depth -= 1


def _is_subword(labels: Sequence[str]) -> bool:
    """Whether ``labels`` are subword pieces that mark a word start with a leading space
    (:func:`speechrnn.text.output_labels` of a SentencePiece tokenizer)."""
    return any(len(s) > 1 and s.startswith(" ") for s in labels[1:])


def _pyctcdecode_labels(labels: Sequence[str]) -> list[str]:
    """Our labels -> pyctcdecode's: blank becomes ``""``; subword pieces' leading space becomes
    SentencePiece's ``▁`` (pyctcdecode's BPE mode); characters unchanged."""
    if _is_subword(labels):
        return [""] + ["\u2581" + s[1:] if s.startswith(" ") else s for s in labels[1:]]
    return [""] + list(labels[1:])


def _text_tokens(text: str, labels: Sequence[str]) -> list[int]:
    """Token ids spelling ``text`` (subword labels: the first word also starts with a space)."""
    if _is_subword(labels) and text:
        try:
            return text_to_ids(" " + text, labels)
        except DecodingError:
            pass
    return text_to_ids(text, labels)


def _lexicon_scorer_class():
    from pyctcdecode.language_model import AbstractLanguageModel
    from pygtrie import CharTrie

    class LexiconScorer(AbstractLanguageModel):
        """Word scorer with no n-gram: 0 for lexicon words, ``unk_score_offset`` otherwise.

        Partial words that are not a prefix of any lexicon word are penalised as
        they are spelled, so the beam drops them early. ``beta`` is added per word.
        """

        def __init__(self, words: Iterable[str], unk_score_offset: float, beta: float):
            self._words = frozenset(words)
            self._trie = CharTrie.fromkeys(sorted(self._words, key=len))
            self.unk_score_offset = unk_score_offset
            self.beta = beta

        @property
        def order(self) -> int:
            return 1

        def get_start_state(self):
            return None

        def score_partial_token(self, partial_token: str) -> float:
            return 0.0 if self._trie.has_node(partial_token) else self.unk_score_offset

        def score(self, prev_state, word: str, is_last_word: bool = False):
            base = 0.0 if (word in self._words or word == "") else self.unk_score_offset
            return base + (self.beta if word else 0.0), None

    return LexiconScorer


@functools.lru_cache(maxsize=8)
def _load_kenlm(path: str, mtime_ns: int):
    """Load a KenLM model once per (path, modification time)."""
    import kenlm

    config = kenlm.Config()
    config.show_progress = False  # no "Reading ... ****" bar on stderr (nothing else is printed)
    try:
        return kenlm.Model(path, config)
    except (OSError, RuntimeError) as e:
        raise DecodingError(f"{path}: cannot load KenLM model: {e}") from None


@functools.lru_cache(maxsize=32)
def _build_decoder(
    labels: tuple[str, ...],
    lm_key: tuple[str, int] | None,
    lexicon: frozenset[str] | None,
    alpha: float,
    beta: float,
    unk_score_offset: float,
):
    """Build (and cache) a pyctcdecode decoder for one labels/LM/lexicon/weights setting."""
    from pyctcdecode.alphabet import Alphabet
    from pyctcdecode.decoder import BeamSearchDecoderCTC
    from pyctcdecode.language_model import LanguageModel

    with _quiet_pyctcdecode():
        alphabet = Alphabet.build_alphabet(_pyctcdecode_labels(labels))
        if lm_key is not None:
            model = _load_kenlm(*lm_key)
            unigrams = lexicon
            if unigrams is None and is_arpa(lm_key[0]):
                unigrams = frozenset(arpa_unigrams(lm_key[0]))
            scorer = LanguageModel(
                model, unigrams, alpha=alpha, beta=beta, unk_score_offset=unk_score_offset
            )
        elif lexicon is not None:
            scorer = _lexicon_scorer_class()(lexicon, unk_score_offset, beta)
        else:
            scorer = None
        return BeamSearchDecoderCTC(alphabet, scorer)


def beam_search(
    log_probs,
    labels: Sequence[str],
    beam_size: int = 32,
    lm: str | Path | None = None,
    alpha: float = 0.5,
    beta: float = 1.0,
    hotwords: Iterable[str] | None = None,
    hotword_weight: float = 10.0,
    *,
    lexicon: Iterable[str] | None = None,
    unk_score_offset: float = -10.0,
    beam_prune_logp: float = -10.0,
    token_min_logp: float = -5.0,
    nbest: int = 1,
) -> DecodeResult | list[DecodeResult]:
    """CTC prefix beam search for one utterance, with optional LM, lexicon and hotwords.

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (T, V)
        Log-softmax outputs of the CTC head for the valid frames only.
    labels : sequence of str, length V
        ``labels[0]`` is the blank; ``" "`` is the word separator.
    beam_size : int
        Beams kept per frame.
    lm : path, optional
        KenLM model (``.arpa`` or binary) over words, e.g. from
        :func:`speechrnn.lm.build_arpa`.
    alpha, beta : float
        LM weight and per-word bonus (used with ``lm`` or ``lexicon``).
    hotwords : iterable of str, optional
        Words or phrases to boost; ``hotword_weight`` per matched character.
    lexicon : iterable of str, optional
        Allowed words; see the module docstring for how others are treated.
    unk_score_offset : float
        Log-score added per out-of-lexicon word (``-1000`` ~ disallow).
    beam_prune_logp, token_min_logp : float
        pyctcdecode's pruning: beams further than this below the best are
        dropped; tokens below this log-prob in a frame are not expanded.
    nbest : int
        If greater than 1, return a list of up to ``nbest`` results, best first.

    Returns
    -------
    DecodeResult or list[DecodeResult]
        ``score`` is pyctcdecode's combined acoustic + LM score; ``words`` is
        empty (use :func:`speechrnn.decoding.align_words` for times).

    Examples
    --------
    >>> import torch
    >>> labels = ["<b>", " ", "a", "b"]
    >>> lp = torch.log(torch.tensor([[.05, .05, .85, .05], [.9, .04, .03, .03],
    ...                              [.05, .05, .05, .85]]))
    >>> beam_search(lp, labels, beam_size=8).text
    'ab'
    """
    labels = check_labels(labels)
    x = as_log_probs(log_probs, 2)
    if x.shape[1] != len(labels):
        raise DecodingError(
            f"log_probs has {x.shape[1]} classes but labels has {len(labels)} symbols"
        )
    if beam_size < 1 or nbest < 1:
        raise DecodingError(f"beam_size and nbest must be >= 1, got {beam_size}, {nbest}")
    lex = None if lexicon is None else frozenset(w for w in lexicon if w)
    with _BUILD_LOCK:  # one build (and one KenLM load) per setting, even when threads ask at once
        decoder = _build_decoder(
            tuple(labels), file_key(lm, "language model file"), lex, float(alpha), float(beta),
            float(unk_score_offset),
        )
    logits = x  # (T,V) float32, C order
    if logits.shape[0] == 0:
        empty = DecodeResult(text="", tokens=[], score=0.0)
        return empty if nbest == 1 else [empty]
    beams = decoder.decode_beams(
        logits,
        beam_width=beam_size,
        beam_prune_logp=beam_prune_logp,
        token_min_logp=token_min_logp,
        hotwords=list(hotwords) if hotwords else None,
        hotword_weight=hotword_weight,
    )
    results = [
        DecodeResult(text=text, tokens=_text_tokens(text, labels), score=float(score))
        for text, _state, _frames, _logit_score, score in beams[:nbest]
    ]
    return results[0] if nbest == 1 else results


def beam_search_batch(log_probs, lengths, labels: Sequence[str], **kwargs) -> list[DecodeResult]:
    """:func:`beam_search` over a padded batch.

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (B, T, V)
    lengths : sequence of int, shape (B,)
        Valid frames per item; padding frames are cut off before decoding.
    labels : sequence of str
    **kwargs
        Passed to :func:`beam_search` (``nbest`` must stay 1).
    """
    x = as_log_probs(log_probs, 3)
    lengths = [int(n) for n in lengths]
    if len(lengths) != x.shape[0]:
        raise DecodingError(f"lengths has {len(lengths)} items, log_probs has {x.shape[0]}")
    return [beam_search(x[i, :n], labels, **kwargs) for i, n in enumerate(lengths)]


def clear_caches() -> None:
    """Forget cached decoders and KenLM models (e.g. after rewriting an LM file in place)."""
    from .lexicon import clear_cache

    _build_decoder.cache_clear()
    _load_kenlm.cache_clear()
    clear_cache()
