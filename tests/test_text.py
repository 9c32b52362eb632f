"""Text normalization policy and tokenizers (char + SentencePiece BPE)."""
import json
import re

import pytest

from speechrnn.errors import SpeechRNNError
from speechrnn.text import (BPETokenizer, CharTokenizer, TokenizerError, normalize_text,
                            tokenizer_from_dict)


@pytest.mark.parametrize("raw, expected", [
    ("Hello,   World!", "hello world"),
    ("I paid $5", "i paid five dollars"),
    ("It cost $12.50.", "it cost twelve dollars fifty cents"),
    ("£1 only", "one pound only"),
    ("the 21st century", "the twenty first century"),
    ("in 1984 we", "in nineteen eighty four we"),
    ("50% off", "fifty percent off"),
    ("the 1990s and 80's", "the nineteen nineties and eighties"),   # were "the s and"
    ("1,000s of 6s", "thousands of sixes"),
    ("pi is 3.14", "pi is three point one four"),
    ("1,000 people", "one thousand people"),
    ("don't  stop", "don't stop"),
    ("'tis the dogs' bone", "tis the dogs bone"),
    ("rock\u2019n\u2019roll", "rock'n'roll"),
    ("caf\u00e9 na\u00efve", "cafe naive"),
    ("well-known A&B", "well known a and b"),
    ("", ""),
    ("?!...", ""),
])
def test_normalize_text_policy(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_output_alphabet_and_idempotence():
    raw = "On 3 May 2024, Dr. O'Neil (aged 42) said: \"Ça va?\" -- 7th time, 99.9%!"
    out = normalize_text(raw)
    assert re.fullmatch(r"[a-z' ]*", out) and "  " not in out and out == out.strip()
    assert normalize_text(out) == out
    assert "o'neil" in out and "forty two" in out and "seventh" in out


def test_normalize_rejects_non_string():
    with pytest.raises(TokenizerError):
        normalize_text(42)


def test_char_tokenizer_roundtrip_and_blank():
    tok = CharTokenizer.english()
    assert tok.vocab_size == 29 and tok.blank_id == 0
    ids = tok.encode("it's ok")
    assert 0 not in ids and max(ids) < tok.vocab_size
    assert tok.decode(ids) == "it's ok"
    assert tok.decode([0] + ids + [0]) == "it's ok"          # blanks skipped
    assert tok.decode([ids[0], ids[0]]) == "ii"              # repeats are decoding's business


def test_char_tokenizer_unknown_policies():
    with pytest.raises(TokenizerError, match=r"'X'.*position 2"):
        CharTokenizer.english().encode("abX")
    assert CharTokenizer.english(unknown="drop").encode("abX") == CharTokenizer.english().encode("ab")
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        CharTokenizer.english().decode([99])
    assert issubclass(TokenizerError, SpeechRNNError)


def test_char_tokenizer_serialization():
    tok = CharTokenizer(["x", "y", " "], unknown="drop")
    d = json.loads(json.dumps(tok.to_dict()))
    again = tokenizer_from_dict(d)
    assert isinstance(again, CharTokenizer) and again.symbols == tok.symbols and again.unknown == "drop"
    with pytest.raises(TokenizerError, match="unknown key 'bogus'"):
        CharTokenizer.from_dict({**d, "bogus": 1})
    with pytest.raises(TokenizerError, match="repeat"):
        CharTokenizer(["a", "a"])
    with pytest.raises(TokenizerError, match="single characters"):
        CharTokenizer(["ab"])


def test_bpe_tokenizer_train_roundtrip_serialize():
    pytest.importorskip("sentencepiece")
    texts = [normalize_text(t) for t in [
        "the cat sat on the mat", "the dog sat on the log", "a cat and a dog met",
        "the mat was on the floor", "dogs and cats are pets", "the log was wet"] * 20]
    tok = BPETokenizer.train(texts, vocab_size=40)
    ids = tok.encode("the cat sat on the log")
    assert ids and 0 not in ids and max(ids) < tok.vocab_size
    assert tok.decode(ids) == "the cat sat on the log"
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.encode("the dog met a cat") == tok.encode("the dog met a cat")
    with pytest.raises(TokenizerError, match="does not know"):
        tok.encode("the zqx")
    dropper = BPETokenizer.from_dict({**tok.to_dict(), "unknown": "drop"})
    assert dropper.decode(dropper.encode("cat zq")).strip() == "cat"
    with pytest.raises(TokenizerError):
        BPETokenizer(b"not a model")


def test_tokenizer_from_dict_rejects_unknown_kind():
    with pytest.raises(TokenizerError, match="unknown tokenizer kind"):
        tokenizer_from_dict({"kind": "wordpiece"})
