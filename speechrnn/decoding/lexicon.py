"""Lexicon-constrained CTC beam search with a word n-gram LM (flashlight-text).

:func:`beam_search` (pyctcdecode) only *penalises* words outside its unigram
list, so a character model can still spell a word by ear ("quik", "bron").
:func:`lexicon_search` runs flashlight-text's ``LexiconDecoder`` instead: every
hypothesis walks a trie of the lexicon's spellings, so the output holds **only
lexicon words**, and the word LM scores each word as it completes (with the
trie smeared by unigram scores as a look-ahead).

Scoring of a hypothesis ``y`` (natural logs; the same ``alpha`` and ``beta`` as
:func:`~speechrnn.decoding.beam_search`, so one tuned pair serves both)::

    log P_ctc(y | x) + alpha * ln P_lm(y) + beta * |words(y)|
        + sil_score * (#word separators emitted)

(flashlight's KenLM wrapper reports log10 scores: its ``lm_weight`` is
``alpha * ln 10``.)

Conventions (ours): ``labels[0]`` is the blank and ``" "`` the word separator,
which flashlight treats as *silence*: allowed between words, never inside one.
A spelling is the word's characters, so a word completes on its last letter
(the last word needs no trailing space). Words holding a character outside
``labels`` cannot be spelled and are left out (counted in
:attr:`LexiconDecoder.skipped_words`).

Words come from a lexicon file (first field per line) or, by default, from the
ARPA file's unigrams (``<s>``, ``</s>``, ``<unk>`` excluded). A binary KenLM file
has no readable word list: pass ``lexicon=``.

Example
-------
>>> import torch
>>> labels = ["<b>", " ", "a", "b", "c"]
>>> lp = torch.log(torch.tensor([[.1, .1, .2, .1, .5], [.9, .025, .025, .025, .025],
...                              [.1, .1, .3, .4, .1]]))
>>> lexicon_search(lp, labels, lexicon=["ca", "cb"]).text  # greedy would say "cb"
'cb'
>>> lexicon_search(lp, labels, lexicon=["ca", "ab"]).text  # "cb" is not a word
'ca'
"""
from __future__ import annotations

import functools
import itertools
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..fileio import native_stderr_silenced
from .greedy import as_log_probs
from .labels import check_labels
from .results import DecodeResult, DecodingError

SPECIAL_WORDS = frozenset({"<s>", "</s>", "<unk>"})


def is_arpa(path: str | Path | None) -> bool:
    """Whether ``path`` names an ARPA text LM (``.arpa`` or gzipped ``.arpa.gz``), not a binary."""
    return path is not None and str(path).endswith((".arpa", ".arpa.gz"))


def arpa_unigrams(path: str | Path) -> list[str]:
    """Words of an ARPA file's ``\\1-grams:`` section (``.arpa`` or ``.arpa.gz``), specials excluded."""
    import gzip

    words, inside = [], False
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("\\"):
                if inside:
                    break
                inside = line == "\\1-grams:"
                continue
            if inside and line:
                fields = line.split("\t")
                if len(fields) < 2:
                    fields = line.split()
                if len(fields) >= 2 and fields[1] not in SPECIAL_WORDS:
                    words.append(fields[1])
    if not words:
        raise DecodingError(f"{path}: no unigrams found (not an ARPA file?); pass a lexicon")
    return words


def read_lexicon(path: str | Path) -> dict[str, list[list[str]]]:
    """A lexicon file: one ``WORD [SYMBOL ...]`` per line (whitespace-separated).

    A line with the word alone spells it by its characters; with symbols, those are its
    spelling in the model's labels (e.g. phones), and several lines for one word are
    alternative pronunciations. Returns word -> spellings, in file order.
    """
    out: dict[str, list[list[str]]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if fields:
                out.setdefault(fields[0], []).append(fields[1:] or list(fields[0]))
    return out


def _flashlight():
    try:
        from flashlight.lib.text import decoder as fl
        from flashlight.lib.text.decoder.kenlm import KenLM
        from flashlight.lib.text.dictionary import Dictionary
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise DecodingError(
            "lexicon decoding needs flashlight-text (pip install 'speechrnn[lm]')"
        ) from e
    return fl, KenLM, Dictionary


class LexiconDecoder:
    """A flashlight ``LexiconDecoder`` built once for one labels / lexicon / LM / weights setting.

    Parameters
    ----------
    labels : sequence of str
        ``labels[0]`` blank, ``" "`` word separator.
    lexicon : iterable of str, or mapping str -> list of spellings, optional
        Allowed words, each spelled by its characters; or, for models whose labels are not
        letters (phones), word -> spellings, each a sequence of label symbols (several =
        alternative pronunciations; see :func:`read_lexicon`). Default: the unigrams of ``lm``
        (an ARPA file).
    lm : path, optional
        KenLM word n-gram (ARPA or binary). Without one, words are scored by
        ``beta`` alone (a lexicon-only search).
    beam_size, beam_size_token, beam_threshold : int, int, float
        Hypotheses kept per frame; tokens tried per frame (default: all);
        hypotheses further than ``beam_threshold`` below the best are dropped.
    alpha, beta, sil_score : float
        LM weight, per-word bonus and per-separator score (module docstring).
    """

    def __init__(self, labels: Sequence[str], lexicon: Iterable[str] | Mapping | None = None,
                 lm: str | Path | None = None, *, beam_size: int = 32,
                 beam_size_token: int | None = None, beam_threshold: float = 25.0,
                 alpha: float = 0.5, beta: float = 0.0, sil_score: float = 0.0):
        fl, KenLM, Dictionary = _flashlight()
        self.labels = check_labels(labels)
        subword = any(len(s) > 1 and s.startswith(" ") for s in self.labels[1:])
        if " " not in self.labels or (subword and not isinstance(lexicon, Mapping)):
            raise DecodingError("lexicon decoding needs a ' ' word-separator label and words spelled "
                                "in the labels (a subword/BPE model: use method 'beam', which takes "
                                "the LM too, or pass each word's pieces as a lexicon mapping)")
        if beam_size < 1:
            raise DecodingError(f"beam_size must be >= 1, got {beam_size}")
        if lm is not None and not Path(lm).is_file():
            raise DecodingError(f"{lm}: language model file not found")
        if lexicon is None:
            if not is_arpa(lm):
                raise DecodingError("lexicon decoding needs a lexicon, or an ARPA LM to take words from")
            lexicon = arpa_unigrams(lm)
        if not isinstance(lexicon, Mapping):
            lexicon = {w: [list(w)] for w in lexicon}
        index = {s: i for i, s in enumerate(self.labels)}
        words, spellings, skipped = [], [], 0  # spellings[i]: token-id lists of words[i]
        for w, options in lexicon.items():
            if not w or w in SPECIAL_WORDS:
                continue
            ok = []
            for sp in options:
                ids = [index.get(c) for c in sp]
                if ids and None not in ids and 0 not in ids and index[" "] not in ids:
                    ok.append(ids)
            if not ok:
                skipped += 1
                continue
            words.append(w)
            spellings.append(ok)
        if not words:
            raise DecodingError("no lexicon word can be spelled with the model's labels")
        self.words = words
        self.skipped_words = skipped
        self.word_dict = Dictionary(words + ["<unk>"])
        self.word_dict.set_default_index(len(words))
        # ``lm`` must outlive the decoder (pybind keeps only a raw reference)
        if lm is not None:
            try:
                with native_stderr_silenced():  # KenLM's "Reading ... ****" progress bar
                    self.lm = KenLM(str(lm), self.word_dict)
            except Exception as e:  # flashlight raises RuntimeError/ValueError with KenLM's text
                raise DecodingError(f"{lm}: cannot load KenLM model: {e}") from None
        else:
            self.lm = fl.ZeroLM()
        self.blank, self.sil = 0, index[" "]
        trie = fl.Trie(len(self.labels), self.sil)
        start = self.lm.start(False)
        for i, options in enumerate(spellings):
            _, unigram = self.lm.score(start, i)  # look-ahead score, smeared up the trie below
            for ids in options:
                trie.insert(ids, i, unigram)
        trie.smear(fl.SmearingMode.MAX)
        self.trie = trie
        self._opts = fl.LexiconDecoderOptions(
            beam_size=beam_size, beam_size_token=beam_size_token or len(self.labels),
            beam_threshold=beam_threshold, lm_weight=alpha * math.log(10), word_score=beta,
            unk_score=-math.inf, sil_score=sil_score, log_add=False,
            criterion_type=fl.CriterionType.CTC,
        )
        self._fl = fl
        self._local = threading.local()

    @property
    def decoder(self):
        """This thread's flashlight decoder.

        A flashlight ``LexiconDecoder`` keeps its hypotheses in the object while it decodes, so
        each thread gets its own; they share the read-only trie and the LM (KenLM queries are
        thread-safe, and each search starts its own LM state tree).
        """
        dec = getattr(self._local, "decoder", None)
        if dec is None:
            dec = self._fl.LexiconDecoder(self._opts, self.trie, self.lm, self.sil, self.blank,
                                          len(self.words), [], False)
            self._local.decoder = dec
        return dec

    def _tokens(self, hyp) -> list[int]:
        """The hypothesis' collapsed tokens, with a separator between every two words.

        The search may start a word right after the last letter of the previous one, with no
        separator frame (``"a" "low"`` read as ``a l o w``); the separator goes in there, so
        the tokens spell the words the text holds (word times from them then agree with it).
        ``hyp.words[t]`` is the word completed at frame ``t`` (-1 for none).
        """
        ids: list[int] = []
        word_done = False
        for token, frames in itertools.groupby(zip(hyp.tokens, hyp.words), key=lambda f: f[0]):
            completes = any(w >= 0 for _, w in frames)
            if token == self.sil:
                if ids and ids[-1] != self.sil:
                    ids.append(token)
                word_done = False
            elif 0 < token < len(self.labels):
                if word_done and ids and ids[-1] != self.sil:
                    ids.append(self.sil)
                ids.append(token)
                word_done = completes
            else:  # blank (or the search's padding)
                word_done = word_done or completes
        while ids and ids[0] == self.sil:
            ids.pop(0)
        while ids and ids[-1] == self.sil:
            ids.pop()
        return ids

    def __call__(self, log_probs, nbest: int = 1) -> list[DecodeResult]:
        """Decode one utterance's ``(T, V)`` log-probabilities; up to ``nbest`` results, best first."""
        x = as_log_probs(log_probs, 2)
        if x.shape[1] != len(self.labels):
            raise DecodingError(
                f"log_probs has {x.shape[1]} classes but labels has {len(self.labels)} symbols"
            )
        if x.shape[0] == 0:
            return [DecodeResult(text="", tokens=[], score=0.0)]
        em = np.ascontiguousarray(x, dtype=np.float32)  # (T, V), C order for the raw pointer
        hyps = self.decoder.decode(em.ctypes.data, em.shape[0], em.shape[1])
        out = []
        for h in hyps[:nbest]:
            text = " ".join(self.words[w] for w in h.words if 0 <= w < len(self.words))
            out.append(DecodeResult(text=text, tokens=self._tokens(h), score=float(h.score)))
        return out or [DecodeResult(text="", tokens=[], score=-math.inf)]


def file_key(path, what: str = "file") -> tuple[str, int] | None:
    """``(resolved path, mtime)`` to cache a decoder or LM on; ``None`` for no file.

    Raises :class:`DecodingError` ``"<path>: <what> not found"`` when it does not exist."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise DecodingError(f"{p}: {what} not found")
    return str(p.resolve()), p.stat().st_mtime_ns


_BUILD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _cached_decoder(labels, lexicon_key, lexicon_words, lm_key, beam_size, beam_threshold,
                    alpha, beta, sil_score) -> LexiconDecoder:
    lexicon = lexicon_words
    if lexicon and isinstance(lexicon[0], tuple):
        lexicon = {w: [list(sp) for sp in sps] for w, sps in lexicon}
    if lexicon_key is not None:
        lexicon = read_lexicon(lexicon_key[0])
    return LexiconDecoder(labels, lexicon, lm_key[0] if lm_key else None, beam_size=beam_size,
                          beam_threshold=beam_threshold, alpha=alpha, beta=beta,
                          sil_score=sil_score)


def lexicon_search(
    log_probs,
    labels: Sequence[str],
    lm: str | Path | None = None,
    *,
    lexicon: Iterable[str] | str | Path | None = None,
    beam_size: int = 32,
    beam_threshold: float = 25.0,
    alpha: float = 0.5,
    beta: float = 0.0,
    sil_score: float = 0.0,
    nbest: int = 1,
) -> DecodeResult | list[DecodeResult]:
    """Lexicon-constrained beam search for one utterance (decoders are cached per setting).

    Parameters
    ----------
    log_probs : torch.Tensor or np.ndarray, shape (T, V)
        Log-softmax outputs of the CTC head for the valid frames only.
    labels : sequence of str, length V
    lm : path, optional
        KenLM word n-gram; its ARPA unigrams are the default lexicon.
    lexicon : iterable of words, a mapping word -> spellings, or a lexicon file
        (:func:`read_lexicon`: ``WORD [SYMBOL ...]`` per line)
    beam_size, beam_threshold, alpha, beta, sil_score
        See :class:`LexiconDecoder`.
    nbest : int
        If greater than 1, return a list of up to ``nbest`` results.
    """
    if nbest < 1:
        raise DecodingError(f"nbest must be >= 1, got {nbest}")
    lexicon_key, words = None, None
    if isinstance(lexicon, (str, Path)):
        lexicon_key = file_key(lexicon, "lexicon file")
    elif isinstance(lexicon, Mapping):  # hashable for the cache: ((word, (spelling, ...)), ...)
        words = tuple((w, tuple(tuple(sp) for sp in sps)) for w, sps in lexicon.items())
    elif lexicon is not None:
        words = tuple(lexicon)
    with _BUILD_LOCK:  # one build per setting, even when threads ask at once
        dec = _cached_decoder(tuple(check_labels(labels)), lexicon_key, words, file_key(lm, "language model file"),
                              int(beam_size), float(beam_threshold), float(alpha),
                              float(beta), float(sil_score))
    results = dec(log_probs, nbest)
    return results[0] if nbest == 1 else results


def clear_cache() -> None:
    """Forget cached lexicon decoders (e.g. after rewriting an LM or lexicon file in place)."""
    _cached_decoder.cache_clear()
