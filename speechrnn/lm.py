"""Word n-gram language models: estimate an ARPA file with modified Kneser-Ney.

KenLM's Python module only *queries* models; its estimator ``lmplz`` is a C++
binary that no PyPI package ships here, so this module implements interpolated
modified Kneser-Ney (Chen & Goodman 1998, as in ``lmplz``) in pure Python and
writes a standard ARPA file that ``kenlm.Model`` and pyctcdecode load.

Estimation, per order ``n`` (``N`` = highest order):

* adjusted counts ``a(g)``: raw counts for order ``N`` and for n-grams that
  start with ``<s>``; otherwise the number of distinct words seen to the left
  of ``g`` (continuation counts);
* discounts ``D1, D2, D3+`` from the counts-of-counts ``t1..t4`` of ``a``:
  ``Y = t1/(t1+2 t2)``, ``Dk = k - (k+1) Y t_{k+1}/t_k``; when the data are too
  small for that (a zero count-of-count or a discount outside ``(0, k)``), the
  fallback ``(0.5, 1.0, 1.5)`` is used, as ``lmplz --discount_fallback`` does;
* ``p(w|h) = (a(hw) - D(a(hw))) / sum_x a(hx) + gamma(h) p(w|h')`` with
  ``gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)) / sum_x a(hx)``, and the
  unigram level interpolated with the uniform distribution over the vocabulary
  plus ``<unk>``. ``gamma(h)`` is written as the ARPA back-off weight, so every
  ``p(.|h)`` sums to one over the vocabulary.

Example
-------
>>> import tempfile, os, kenlm
>>> path = os.path.join(tempfile.mkdtemp(), "lm.arpa")
>>> _ = build_arpa(["the cat sat", "the cat ran", "a dog sat"], path, order=3)
>>> m = kenlm.Model(path)
>>> m.score("the cat sat") > m.score("the sat cat")
True
"""
from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from .errors import SpeechRNNError
from .fileio import atomic_write

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
Ngram = tuple[str, ...]


class LanguageModelError(SpeechRNNError, ValueError):
    """LM training text or parameters are unusable (names the file/line and reason)."""


def read_sentences(texts: Iterable[str] | str | Path) -> list[list[str]]:
    """Sentences as word lists from a text file path (one sentence a line) or strings.

    Words are whitespace-separated; normalise text beforehand (e.g. with
    ``speechrnn.text.normalize_text``). Empty lines are skipped.
    """
    if isinstance(texts, (str, Path)):
        path = Path(texts)
        if not path.is_file():
            raise LanguageModelError(f"{path}: LM text file not found")
        with open(path, encoding="utf-8") as f:
            lines = list(f)
        where = str(path)
    else:
        lines = list(texts)
        where = "<texts>"
    sentences = []
    for lineno, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise LanguageModelError(f"{where}: item {lineno} is not a string: {line!r}")
        words = line.split()
        bad = [w for w in words if w in (BOS, EOS, UNK)]
        if bad:
            raise LanguageModelError(f"{where}: line {lineno}: reserved token {bad[0]!r}")
        if words:
            sentences.append(words)
    if not sentences:
        raise LanguageModelError(f"{where}: no words to train a language model on")
    return sentences


def count_ngrams(sentences: list[list[str]], order: int) -> list[Counter]:
    """Raw n-gram counts; ``counts[n-1]`` maps n-word tuples to counts (``<s>``/``</s>`` added)."""
    counts = [Counter() for _ in range(order)]
    for words in sentences:
        toks = [BOS, *words, EOS]
        for n in range(1, order + 1):
            c = counts[n - 1]
            for i in range(len(toks) - n + 1):
                c[tuple(toks[i : i + n])] += 1
    return counts


def adjust_counts(raw: list[Counter]) -> list[dict[Ngram, int]]:
    """Kneser-Ney adjusted counts (continuation counts below the top order)."""
    order = len(raw)
    adjusted: list[dict[Ngram, int]] = [dict() for _ in range(order)]
    adjusted[-1] = dict(raw[-1])
    for n in range(order - 1, 0, -1):  # n-grams of order n use (n+1)-gram types
        left = Counter(g[1:] for g in raw[n])
        adjusted[n - 1] = {g: (c if g[0] == BOS else left[g]) for g, c in raw[n - 1].items()}
    return adjusted


def discounts(adjusted: dict[Ngram, int]) -> tuple[float, float, float]:
    """Modified-KN discounts ``(D1, D2, D3+)`` for one order, with the small-data fallback."""
    coc = Counter(c for g, c in adjusted.items() if c <= 4 and g != (BOS,))
    t = [coc[k] for k in (1, 2, 3, 4)]
    if min(t) == 0:
        return FALLBACK_DISCOUNTS
    y = t[0] / (t[0] + 2 * t[1])
    d = tuple(k - (k + 1) * y * t[k] / t[k - 1] for k in (1, 2, 3))
    if any(not (0.0 < dk < k) for k, dk in zip((1, 2, 3), d)):
        return FALLBACK_DISCOUNTS
    return d  # type: ignore[return-value]


def estimate(
    sentences: list[list[str]], order: int
) -> tuple[list[dict[Ngram, float]], list[dict[Ngram, float]]]:
    """Interpolated modified-KN probabilities and back-off weights (natural scale).

    Returns
    -------
    probs : list of dict
        ``probs[n-1][g]`` = p(g[-1] | g[:-1]) for every seen n-gram ``g``
        (plus ``(<unk>,)`` at order 1; ``(<s>,)`` is not predicted).
    backoffs : list of dict
        ``backoffs[n-1][h]`` = gamma(h) for every seen n-gram ``h`` that is the
        context of some seen (n+1)-gram.
    """
    if order < 2:
        raise LanguageModelError(f"order must be >= 2 (KenLM loads bigram or higher), got {order}")
    adjusted = adjust_counts(count_ngrams(sentences, order))
    probs: list[dict[Ngram, float]] = [dict() for _ in range(order)]
    backoffs: list[dict[Ngram, float]] = [dict() for _ in range(order)]
    vocab_size = sum(1 for g in adjusted[0] if g != (BOS,)) + 1  # + <unk>
    for n in range(1, order + 1):
        d1, d2, d3 = discounts(adjusted[n - 1])
        by_context: dict[Ngram, list[tuple[Ngram, int]]] = defaultdict(list)
        for g, a in adjusted[n - 1].items():
            if g != (BOS,):
                by_context[g[:-1]].append((g, a))
        for h, items in by_context.items():
            total = sum(a for _, a in items)
            mass = sum(d1 if a == 1 else d2 if a == 2 else d3 for _, a in items)
            gamma = mass / total
            for g, a in items:
                disc = d1 if a == 1 else d2 if a == 2 else d3
                lower = 1.0 / vocab_size if n == 1 else probs[n - 2][g[1:]]
                probs[n - 1][g] = (a - disc) / total + gamma * lower
            if n == 1:
                probs[0][(UNK,)] = gamma / vocab_size
            else:
                backoffs[n - 2][h] = gamma
    return probs, backoffs


def _log10(p: float) -> str:
    return f"{math.log10(p):.7f}"


@contextmanager
def _text_out(path: Path):
    """Atomic UTF-8 text writer; gzip-compressed (reproducibly: no timestamp) for ``*.gz``."""
    if path.suffix != ".gz":
        with atomic_write(path, "w", encoding="utf-8") as f:
            yield f
        return
    with atomic_write(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            with io.TextIOWrapper(gz, encoding="utf-8") as f:
                yield f


def write_arpa(probs, backoffs, out_path: str | Path) -> Path:
    """Write ``estimate``'s output as an ARPA file (atomically; gzipped if ``out_path`` ends in .gz)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    order = len(probs)
    grams = [sorted(p) for p in probs]
    grams[0] = [(BOS,)] + grams[0]  # <s> is listed (prob -99) to carry its back-off
    with _text_out(out_path) as f:
        f.write("\n\\data\\\n")
        for n in range(1, order + 1):
            f.write(f"ngram {n}={len(grams[n - 1])}\n")
        for n in range(1, order + 1):
            f.write(f"\n\\{n}-grams:\n")
            for g in grams[n - 1]:
                logp = "-99" if g == (BOS,) else _log10(probs[n - 1][g])
                bo = backoffs[n - 1].get(g) if n < order else None
                tail = f"\t{_log10(bo)}" if bo is not None else ""
                f.write(f"{logp}\t{' '.join(g)}{tail}\n")
        f.write("\n\\end\\\n")
    return out_path


def build_arpa(texts: Iterable[str] | str | Path, out_path: str | Path, order: int = 3) -> Path:
    """Estimate a modified Kneser-Ney word n-gram LM and write it as ARPA.

    Parameters
    ----------
    texts : path or iterable of str
        A text file (one sentence a line) or the sentences themselves; words
        are whitespace-separated, already normalised.
    out_path : path
        Where to write the ``.arpa`` file (parent folders are created); a name ending in
        ``.arpa.gz`` is written gzip-compressed (KenLM and the decoders read it as is).
    order : int
        n-gram order, at least 2 (KenLM cannot load unigram models).

    Returns
    -------
    Path
        ``out_path``.
    """
    sentences = read_sentences(texts)
    probs, backoffs = estimate(sentences, order)
    return write_arpa(probs, backoffs, out_path)


def arpa_to_binary(arpa_path: str | Path, out_path: str | Path) -> Path:
    """Convert ARPA to KenLM's binary format with KenLM's ``build_binary`` tool.

    Raises
    ------
    LanguageModelError
        If ``build_binary`` is not on ``PATH`` (it is not on PyPI; ARPA files
        load fine, only more slowly) or it fails.
    """
    tool = shutil.which("build_binary")
    if tool is None:
        raise LanguageModelError(
            f"{arpa_path}: KenLM's build_binary is not installed; use the ARPA file"
        )
    proc = subprocess.run([tool, str(arpa_path), str(out_path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise LanguageModelError(f"{arpa_path}: build_binary failed: {proc.stderr.strip()[-500:]}")
    return Path(out_path)
