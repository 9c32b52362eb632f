"""Words that sound like a keyword (near-misses), to train and test a detector against.

A near-miss of ``seven`` is ``heaven``, ``eleven``, ``seventy``, ``kevin``: words a detector
trained only on the keyword and random other words fires on. Similarity is measured on
phonemes from espeak-ng (``espeak-ng -q --ipa``, one word per line) when it is installed, else
on letters:

* **edit distance** between the phoneme strings (stress marks dropped) at most
  ``max(1, round(max_ratio * len(keyword phonemes)))``;
* or the same **rhyme**: the phonemes from the primary-stressed vowel on (``ɛvən`` for
  seven, heaven, eleven), or for letters everything from the second-to-last vowel group on
  (letters catch fewer: ``even`` and ``aven`` differ);
* or the keyword contained in the word or the word in the keyword (``seventeen``, ``marv``).

Example
-------
>>> sorted(near_misses("seven", ["heaven", "eleven", "cat", "seventy", "seven"], phonemes=False))
['eleven', 'heaven', 'seventy']
"""
from __future__ import annotations

import re
import shutil
import subprocess

__all__ = ["edit_distance", "near_misses", "phonemize", "rhyme"]

_VOWELS = set("aeiouy")
_IPA_VOWELS = set("aeiouyæɑɒɔəɛɜɪʊʌɐᵻɚɝœøɨʉɯɤ")
_MARKS = "ˈˌː'\u0329"


def edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences (strings or lists)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def phonemize(words: list[str], voice: str = "en-us") -> dict[str, str] | None:
    """IPA phonemes of each word from espeak-ng (``None`` when espeak-ng is not installed)."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    words = sorted({w for w in words if w})
    if exe is None:
        return None
    if not words:
        return {}

    def run(text: str) -> list[str]:
        r = subprocess.run([exe, "-q", "--ipa=0", "-v", voice], input=text, capture_output=True,
                           text=True, timeout=60)
        return [ln.strip() for ln in r.stdout.splitlines() if ln.strip()]

    lines = run("\n".join(words) + "\n")
    if len(lines) != len(words):  # espeak joined or split some lines: ask word by word
        lines = [" ".join(run(w + "\n")) for w in words]
    return dict(zip(words, lines, strict=True))


def _strip(p: str) -> str:
    return "".join(c for c in p.replace(" ", "") if c not in _MARKS)


def rhyme(word: str, phon: str | None = None) -> str:
    """The rhyme of a word: from the primary-stressed vowel on (phonemes), or from the
    second-to-last vowel group on (letters)."""
    if phon:
        tail = phon.replace(" ", "").split("ˈ")[-1] if "ˈ" in phon else phon.replace(" ", "")
        k = next((i for i, c in enumerate(tail) if c in _IPA_VOWELS), 0)
        return _strip(tail[k:])
    groups = [m.start() for m in re.finditer(r"[aeiouy]+", word)]
    return word[groups[-2] if len(groups) >= 2 else groups[-1]:] if groups else word


def near_misses(keyword: str, vocabulary, *, max_ratio: float = 0.34, phonemes: bool = True,
                min_length: int = 3, phones: dict[str, str] | None = None) -> list[str]:
    """Words of ``vocabulary`` that sound like ``keyword`` (see the module docstring).

    Parameters
    ----------
    keyword : str
        A normalized word or phrase (``normalize_text``); the keyword itself is never returned.
    vocabulary : iterable of str
        Candidate words (e.g. every word the teacher heard).
    max_ratio : float
        Edit distance allowed per phoneme (letter) of the keyword.
    phonemes : bool
        Compare espeak-ng phonemes (falls back to letters when espeak-ng is missing).
    min_length : int
        Shorter candidates (``a``, ``of``) are ignored.
    phones : dict, optional
        :func:`phonemize` of the keyword and the vocabulary, when the caller already has it
        (several keywords over one vocabulary: espeak-ng runs once).

    Returns
    -------
    list[str], in vocabulary order, without duplicates.
    """
    vocab = list(dict.fromkeys(w for w in vocabulary if len(w) >= min_length and w != keyword))
    ph = (phones if phones is not None else phonemize([keyword, *vocab])) if phonemes else None
    if ph is not None:
        key = {w: _strip(ph[w]) for w in ph}
        rhymes = {w: rhyme(w, ph[w]) for w in ph}
    else:
        key = {w: w for w in [keyword, *vocab]}
        rhymes = {w: rhyme(w) for w in key}
    limit = max(1, round(max_ratio * len(key[keyword])))
    out = []
    for w in vocab:
        if (edit_distance(key[keyword], key[w]) <= limit or
                (len(rhymes[keyword]) >= 2 and rhymes[w] == rhymes[keyword]) or
                (len(keyword) >= 4 and (keyword in w or (len(w) >= 4 and w in keyword)))):
            out.append(w)
    return out
