"""Text normalization and tokenizers for CTC targets.

Normalization policy (:func:`normalize_text`)
---------------------------------------------
The output holds only ``a-z``, the apostrophe ``'`` and single spaces:

1. Unicode is folded with NFKD and accents are stripped (``café`` -> ``cafe``); curly
   quotes/apostrophes become ASCII; ``&`` becomes ``and``.
2. Numbers become words (with the ``num2words`` package):
   currency ``$12.50`` -> ``twelve dollars fifty cents`` (``$``, ``£``, ``€``);
   ordinals ``21st`` -> ``twenty first``; decades and plural numbers ``1990s`` -> ``nineteen
   nineties``, ``80's`` -> ``eighties``; percentages ``50%`` -> ``fifty percent``;
   a bare four-digit integer from 1100 to 2099 is read as a year
   (``1984`` -> ``nineteen eighty four``); decimals ``3.14`` -> ``three point one four``;
   thousands separators are dropped (``1,000`` -> ``one thousand``); other integers are
   cardinals.
3. Lowercase. An apostrophe is kept only *inside* a word (``don't``, ``o'clock``);
   leading/trailing apostrophes are dropped (``'tis`` -> ``tis``, ``dogs'`` -> ``dogs``).
4. Every other character (punctuation, hyphens, symbols, non-Latin letters) becomes a space and
   whitespace is collapsed; the result has no leading or trailing space.

Tokenizers
----------
Both tokenizers reserve id 0 for the CTC blank and share one interface: ``encode(str) ->
list[int]``, ``decode(list[int]) -> str``, ``vocab_size``, ``to_dict()`` / ``from_dict(d)``.
Unknown characters raise :class:`TokenizerError` naming the character and its position
(``unknown="error"``, the default) or are silently dropped (``unknown="drop"``).
:func:`tokenizer_from_dict` rebuilds either kind from its ``to_dict()`` (as stored in a
checkpoint).

Example
-------
>>> normalize_text("On May 3rd, 1984 I paid $5 -- don't ask!")
"on may third nineteen eighty four i paid five dollars don't ask"
>>> tok = CharTokenizer.english()
>>> tok.decode(tok.encode("hi there"))
'hi there'
"""
from __future__ import annotations

import base64
import io
import re
import unicodedata
from typing import Iterable, Sequence

from .errors import SpeechRNNError

__all__ = [
    "TokenizerError",
    "normalize_text",
    "CharTokenizer",
    "BPETokenizer",
    "tokenizer_from_dict",
]


class TokenizerError(SpeechRNNError, ValueError):
    """Text cannot be encoded/decoded, or a tokenizer description is invalid."""


# --------------------------------------------------------------------------- normalization
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"),
             "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_RE_CURRENCY = re.compile(r"([$£€])\s?(\d[\d,]*)(?:\.(\d{1,2}))?\b")
_RE_PERCENT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s?%")
_RE_ORDINAL = re.compile(r"\b(\d[\d,]*)(st|nd|rd|th)\b", re.IGNORECASE)
_RE_PLURAL = re.compile(r"\b(\d[\d,]*)'?s\b")  # decades and plural numbers: 1990s, 80's
_RE_DECIMAL = re.compile(r"\b(\d[\d,]*)\.(\d+)\b")
_RE_INTEGER = re.compile(r"\b\d[\d,]*\b")
_RE_APOSTROPHE = re.compile(r"(?<![a-z])'+|'+(?![a-z])")
_RE_NOT_ALLOWED = re.compile(r"[^a-z' ]+")
_RE_SPACES = re.compile(r"\s+")


def _n2w(number, **kw) -> str:
    try:
        from num2words import num2words
    except ImportError as e:  # pragma: no cover - dependency declared in pyproject
        raise SpeechRNNError("normalize_text needs the 'num2words' package (pip install num2words)") from e
    return " " + num2words(number, lang="en", **kw) + " "


def _int(digits: str) -> int:
    return int(digits.replace(",", ""))


def _currency(m: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    whole = _int(m.group(2))
    out = _n2w(whole) + (one if whole == 1 else many)
    if m.group(3):
        cents = int(m.group(3).ljust(2, "0"))
        if cents:
            out += _n2w(cents) + (sub_one if cents == 1 else sub_many)
    return " " + out + " "


def _decimal(m: re.Match) -> str:
    digits = " ".join(_n2w(int(d)).strip() for d in m.group(2))
    return _n2w(_int(m.group(1))) + " point " + digits + " "


def _integer(m: re.Match) -> str:
    raw = m.group(1) if m.re is _RE_PLURAL else m.group(0)
    value = _int(raw)
    if "," not in raw and len(raw) == 4 and 1100 <= value <= 2099:
        return _n2w(value, to="year")
    return _n2w(value)


def _plural(m: re.Match) -> str:
    words = _integer(m).split()
    if len(words) == 2 and words[0] == "one":   # 1,000s -> thousands
        words = words[1:]
    last = words[-1]
    words[-1] = last[:-1] + "ies" if last.endswith("y") else last + ("es" if last.endswith("x") else "s")
    return " ".join(words)


def normalize_text(text: str) -> str:
    """Normalize ``text`` for CTC training/scoring (policy in the module docstring).

    Parameters
    ----------
    text : str
        Any Unicode text.

    Returns
    -------
    str
        Lowercase words of ``a-z`` and in-word apostrophes separated by single spaces
        (possibly empty).
    """
    if not isinstance(text, str):
        raise TokenizerError(f"normalize_text expects a string, got {type(text).__name__}")
    s = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = s.replace("&", " and ")
    s = _RE_CURRENCY.sub(_currency, s)
    s = _RE_PERCENT.sub(lambda m: _RE_DECIMAL.sub(_decimal, m.group(1)) + " percent ", s)
    s = _RE_ORDINAL.sub(lambda m: _n2w(_int(m.group(1)), to="ordinal"), s)
    s = _RE_PLURAL.sub(_plural, s)
    s = _RE_DECIMAL.sub(_decimal, s)
    s = _RE_INTEGER.sub(_integer, s)
    s = s.lower()
    s = _RE_NOT_ALLOWED.sub(" ", s)
    s = _RE_APOSTROPHE.sub(" ", s)
    return _RE_SPACES.sub(" ", s).strip()


# --------------------------------------------------------------------------- tokenizers
_UNKNOWN_POLICIES = ("error", "drop")


def _check_unknown(unknown: str) -> str:
    if unknown not in _UNKNOWN_POLICIES:
        raise TokenizerError(f"unknown={unknown!r} must be one of {list(_UNKNOWN_POLICIES)}")
    return unknown


class CharTokenizer:
    """Character tokenizer; id 0 is the CTC blank, ``symbols[i]`` has id ``i + 1``.

    Parameters
    ----------
    symbols : sequence of str
        Distinct single characters (the blank is implicit, not listed).
    unknown : {"error", "drop"}
        What ``encode`` does with a character not in ``symbols``.

    Example
    -------
    >>> tok = CharTokenizer(["a", "b", " "])
    >>> tok.encode("ab a"), tok.vocab_size
    ([1, 2, 3, 1], 4)
    """

    kind = "char"
    blank_id = 0

    def __init__(self, symbols: Sequence[str], unknown: str = "error"):
        symbols = list(symbols)
        bad = [s for s in symbols if not isinstance(s, str) or len(s) != 1]
        if bad:
            raise TokenizerError(f"CharTokenizer symbols must be single characters, got {bad[:5]!r}")
        if len(set(symbols)) != len(symbols):
            dup = sorted({s for s in symbols if symbols.count(s) > 1})
            raise TokenizerError(f"CharTokenizer symbols repeat: {dup!r}")
        if not symbols:
            raise TokenizerError("CharTokenizer needs at least one symbol")
        self.symbols = symbols
        self.unknown = _check_unknown(unknown)
        self._ids = {s: i + 1 for i, s in enumerate(symbols)}

    @classmethod
    def english(cls, unknown: str = "error") -> "CharTokenizer":
        """Space, ``a``-``z`` and the apostrophe: the alphabet of :func:`normalize_text`."""
        return cls([" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"], unknown)

    @property
    def vocab_size(self) -> int:
        """Number of output classes including the blank."""
        return len(self.symbols) + 1

    def encode(self, text: str) -> list[int]:
        """Text -> ids (each in ``1..vocab_size-1``); raises or drops unknown characters."""
        out = []
        for pos, ch in enumerate(text):
            i = self._ids.get(ch)
            if i is None:
                if self.unknown == "error":
                    raise TokenizerError(
                        f"character {ch!r} (U+{ord(ch):04X}) at position {pos} of {text!r} is not in "
                        "the tokenizer's symbols; normalize the text first or use unknown='drop'"
                    )
                continue
            out.append(i)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; blanks (0) are skipped, repeats are *not* collapsed (decoding does that)."""
        chars = []
        for i in ids:
            i = int(i)
            if i == self.blank_id:
                continue
            if not 0 < i <= len(self.symbols):
                raise TokenizerError(f"id {i} is outside the vocabulary (0..{len(self.symbols)})")
            chars.append(self.symbols[i - 1])
        return "".join(chars)

    def to_dict(self) -> dict:
        """JSON-friendly description (stored in checkpoints)."""
        return {"kind": self.kind, "symbols": list(self.symbols), "unknown": self.unknown}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        """Inverse of :meth:`to_dict`; raises :class:`TokenizerError` on a bad dict."""
        _expect_kind(d, cls.kind, {"symbols", "unknown"})
        return cls(d["symbols"], d.get("unknown", "error"))

    def __repr__(self) -> str:
        return f"CharTokenizer({''.join(self.symbols)!r}, unknown={self.unknown!r})"


class BPETokenizer:
    """SentencePiece subword tokenizer (BPE or unigram); id 0 is the CTC blank.

    SentencePiece piece ``p`` has id ``p + 1`` here. The serialized model travels inside
    :meth:`to_dict` (base64), so a checkpoint needs no side file.

    Parameters
    ----------
    model_bytes : bytes
        A serialized SentencePiece model (e.g. from :meth:`train`).
    unknown : {"error", "drop"}
        What ``encode`` does with text that maps to SentencePiece's unknown piece.

    Example
    -------
    >>> tok = BPETokenizer.train(["hello world"] * 50, vocab_size=30)  # doctest: +SKIP
    >>> tok.decode(tok.encode("hello"))  # doctest: +SKIP
    'hello'
    """

    kind = "bpe"
    blank_id = 0

    def __init__(self, model_bytes: bytes, unknown: str = "error"):
        spm = _sentencepiece()
        self.model_bytes = bytes(model_bytes)
        self.unknown = _check_unknown(unknown)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self.model_bytes)
        except Exception as e:  # noqa: BLE001 - sentencepiece raises RuntimeError/OSError
            raise TokenizerError(f"not a SentencePiece model: {e}") from None

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 256, model_type: str = "bpe",
              unknown: str = "error") -> "BPETokenizer":
        """Train on (already normalized) ``texts``; ``vocab_size`` counts pieces, not the blank."""
        spm = _sentencepiece()
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise TokenizerError("BPETokenizer.train needs at least one non-empty text")
        buf = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=buf, vocab_size=int(vocab_size),
                model_type=model_type, character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1,
                pad_id=-1, hard_vocab_limit=False, minloglevel=2,
            )
        except RuntimeError as e:
            raise TokenizerError(f"SentencePiece training failed: {e}") from None
        return cls(buf.getvalue(), unknown)

    @property
    def vocab_size(self) -> int:
        """Number of output classes including the blank."""
        return self._sp.get_piece_size() + 1

    def encode(self, text: str) -> list[int]:
        """Text -> ids (each in ``1..vocab_size-1``)."""
        pieces = self._sp.encode(text, out_type=int)
        unk = self._sp.unk_id()
        if unk in pieces and self.unknown == "error":
            raise TokenizerError(f"{text!r} contains characters the SentencePiece model does not know; "
                                 "normalize the text first or use unknown='drop'")
        return [p + 1 for p in pieces if p != unk]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; blanks (0) are skipped."""
        n = self._sp.get_piece_size()
        pieces = []
        for i in ids:
            i = int(i)
            if i == self.blank_id:
                continue
            if not 0 < i <= n:
                raise TokenizerError(f"id {i} is outside the vocabulary (0..{n})")
            pieces.append(i - 1)
        return self._sp.decode(pieces)

    def to_dict(self) -> dict:
        """JSON-friendly description including the base64 model."""
        return {"kind": self.kind, "model": base64.b64encode(self.model_bytes).decode("ascii"),
                "unknown": self.unknown}

    @classmethod
    def from_dict(cls, d: dict) -> "BPETokenizer":
        """Inverse of :meth:`to_dict`."""
        _expect_kind(d, cls.kind, {"model", "unknown"})
        try:
            model = base64.b64decode(d["model"], validate=True)
        except (ValueError, TypeError) as e:
            raise TokenizerError(f"BPETokenizer model is not valid base64: {e}") from None
        return cls(model, d.get("unknown", "error"))


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError as e:
        raise TokenizerError("BPETokenizer needs the 'sentencepiece' package "
                             "(pip install 'speechrnn[bpe]')") from e
    return sentencepiece


def _expect_kind(d: dict, kind: str, allowed: set) -> None:
    if not isinstance(d, dict):
        raise TokenizerError(f"tokenizer description must be a dict, got {type(d).__name__}")
    if d.get("kind") != kind:
        raise TokenizerError(f"tokenizer kind is {d.get('kind')!r}, expected {kind!r}")
    unknown = sorted(set(d) - allowed - {"kind"})
    if unknown:
        raise TokenizerError(f"unknown key {unknown[0]!r} in {kind} tokenizer (known: {sorted(allowed)})")
    missing = sorted(k for k in allowed - {"unknown"} if k not in d)
    if missing:
        raise TokenizerError(f"{kind} tokenizer description lacks {missing[0]!r}")


def output_labels(tokenizer) -> list[str]:
    """Index -> symbol list for CTC decoders: ``[blank, symbol of id 1, ...]``.

    The one label list for training-time decoding (tasks) and inference (``Recognizer``).
    Characters are themselves (``" "`` is the word separator); SentencePiece pieces carry their
    word-start mark ``▁`` as a space (``"▁the"`` -> ``" the"``), so the symbols of any id
    sequence joined are its text; the unknown piece is ``"<unk>"``. Every symbol is distinct
    and non-empty (what the decoders require).
    """
    if isinstance(tokenizer, CharTokenizer):
        return ["<blank>", *tokenizer.symbols]
    if isinstance(tokenizer, BPETokenizer):
        sp = tokenizer._sp
        return ["<blank>", *("<unk>" if sp.is_unknown(p) else sp.id_to_piece(p).replace("\u2581", " ")
                             for p in range(sp.get_piece_size()))]
    raise TokenizerError(f"no output labels for a {type(tokenizer).__name__}")


def tokenizer_from_dict(d: dict):
    """Rebuild a :class:`CharTokenizer` or :class:`BPETokenizer` from its ``to_dict()``."""
    kinds = {CharTokenizer.kind: CharTokenizer, BPETokenizer.kind: BPETokenizer}
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind not in kinds:
        raise TokenizerError(f"unknown tokenizer kind {kind!r} (known: {sorted(kinds)})")
    return kinds[kind].from_dict(d)
