"""Conversions between token ids and text for a CTC ``labels`` list.

``labels[i]`` is the symbol of token ``i``; ``labels[0]`` is the blank and
``" "`` is the word separator. Symbols may be longer than one character.
"""
from __future__ import annotations

from collections.abc import Sequence

from .results import DecodingError

WORD_SEPARATOR = " "


def check_labels(labels: Sequence[str]) -> list[str]:
    """Validate ``labels`` (at least blank + one symbol, no duplicates) and return a list."""
    labels = list(labels)
    if len(labels) < 2:
        raise DecodingError(f"labels: need the blank and at least one symbol, got {labels!r}")
    seen: dict[str, int] = {}
    for i, s in enumerate(labels[1:], start=1):
        if not isinstance(s, str) or not s:
            raise DecodingError(f"labels[{i}]: symbols must be non-empty strings, got {s!r}")
        if s in seen:
            raise DecodingError(f"labels[{i}]: {s!r} duplicates labels[{seen[s]}]")
        seen[s] = i
    return labels


def ids_to_text(ids: Sequence[int], labels: Sequence[str], blank: int = 0) -> str:
    """Join the symbols of ``ids`` (blanks skipped) and normalise spaces."""
    text = "".join(labels[i] for i in ids if i != blank)
    return " ".join(text.split())


def text_to_ids(text: str, labels: Sequence[str], blank: int = 0) -> list[int]:
    """Encode ``text`` into token ids by greedy longest match over ``labels``.

    Raises
    ------
    DecodingError
        If part of ``text`` matches no symbol.
    """
    table = {s: i for i, s in enumerate(labels) if i != blank}
    longest = max(len(s) for s in table)
    ids: list[int] = []
    pos = 0
    while pos < len(text):
        for n in range(min(longest, len(text) - pos), 0, -1):
            tid = table.get(text[pos : pos + n])
            if tid is not None:
                ids.append(tid)
                pos += n
                break
        else:
            raise DecodingError(f"text {text!r}: no label for {text[pos]!r} at position {pos}")
    return ids
