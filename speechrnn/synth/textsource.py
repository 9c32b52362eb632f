"""English sentences from freely licensed text installed by Debian packages (not text we wrote).

Sources (``load_sentences(source=...)``):

``wordnet``  (default) the quoted usage examples in Princeton WordNet 3.0 glosses
    (``/usr/share/wordnet/data.{noun,verb,adj,adv}``, Debian package ``wordnet-base``):
    ~48,000 examples. Licence: the WordNet 3.0 licence (permissive, BSD-like; use, copy,
    modify and distribute for any purpose with the copyright notice kept).
``fortunes`` the BSD ``fortune`` databases in ``/usr/share/games/fortunes`` (Debian packages
    ``fortunes-min``/``fortunes``), split into sentences; distributed under the BSD licence of
    fortune-mod, though individual quotations come from many authors.
``file:PATH`` a user's text file, one sentence per line.

Every sentence is passed through :func:`speechrnn.text.normalize_text` and kept when it has
``min_words..max_words`` words and its raw form only uses letters, digits, spaces and common
punctuation. Output is deduplicated and sorted (deterministic).

Example
-------
>>> sents = load_sentences("wordnet", min_words=3, max_words=20)   # doctest: +SKIP
>>> len(sents) > 10000                                             # doctest: +SKIP
True
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import CorpusError

__all__ = ["SOURCES", "load_sentences", "vocabulary"]

SOURCES = {
    "wordnet": {
        "paths": ["/usr/share/wordnet"],
        "package": "Debian wordnet-base",
        "license": "WordNet 3.0 license (Princeton University; permissive, BSD-like)",
    },
    "fortunes": {
        "paths": ["/usr/share/games/fortunes"],
        "package": "Debian fortunes-min / fortunes",
        "license": "BSD (fortune-mod); quotations from many authors",
    },
}

_RAW_OK = re.compile(r"^[A-Za-z0-9 ,.;:!?'\"()\-$%&]+$")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def _wordnet(root: Path) -> list[str]:
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        f = root / f"data.{pos}"
        if not f.is_file():
            continue
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # licence header
            gloss = line.split("|", 1)[1]
            out += re.findall(r'"([^"]+)"', gloss)
    return out


def _fortunes(root: Path) -> list[str]:
    out = []
    for f in sorted(root.iterdir()):
        if f.suffix or not f.is_file() or f.name.startswith("."):
            continue  # skip .dat/.u8 indexes
        text = f.read_text(encoding="utf-8", errors="replace")
        for entry in text.split("\n%\n"):
            lines = [ln for ln in entry.splitlines() if ln.strip() and not ln.lstrip().startswith(("--", "\t\t--"))]
            out += _SENT_SPLIT.split(" ".join(" ".join(lines).split()))
    return out


def _raw_sentences(source: str) -> tuple[list[str], dict]:
    if source.startswith("file:"):
        path = Path(source[5:])
        if not path.is_file():
            raise CorpusError(f"text file {path} does not exist")
        return path.read_text(encoding="utf-8", errors="replace").splitlines(), {
            "source": source, "license": "user supplied"}
    if source not in SOURCES:
        raise CorpusError(f"unknown text source {source!r} (known: {sorted(SOURCES)} or file:PATH)")
    info = SOURCES[source]
    root = Path(info["paths"][0])
    if not root.is_dir():
        raise CorpusError(f"text source {source!r} needs {root} (install {info['package']}; "
                          "scripts/setup.sh does)")
    raw = _wordnet(root) if source == "wordnet" else _fortunes(root)
    return raw, {"source": source, "package": info["package"], "license": info["license"], "path": str(root)}


def load_sentences(source: str = "wordnet", min_words: int = 3, max_words: int = 20,
                   with_info: bool = False):
    """Normalized, deduplicated, sorted sentences from ``source`` (see module docstring).

    Returns
    -------
    list of str, or (list of str, dict) when ``with_info`` (source, package, licence).
    """
    from ..text import normalize_text

    raw, info = _raw_sentences(source)
    keep = set()
    for s in raw:
        s = s.strip()
        if not s or not _RAW_OK.match(s):
            continue
        norm = normalize_text(s)
        if min_words <= len(norm.split()) <= max_words:
            keep.add(norm)
    if not keep:
        raise CorpusError(f"text source {source!r} gave no sentence of {min_words}-{max_words} words")
    sents = sorted(keep)
    return (sents, info) if with_info else sents


def vocabulary(sentences: list[str]) -> list[str]:
    """Sorted distinct words of ``sentences``."""
    return sorted({w for s in sentences for w in s.split()})
