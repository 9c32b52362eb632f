import io
import json
from types import SimpleNamespace as NS

import pytest

from speechrnn.errors import ConfigError
from speechrnn.writers import FORMATS, cues, get_writer


def _result():
    words = [
        NS(word="the", start=0.12, end=0.30, confidence=0.91),
        NS(word="quick", start=0.35, end=0.80, confidence=0.75),
        NS(word="fox", start=6.10, end=6.50, confidence=0.50),
    ]
    return NS(text="the quick fox", words=words, path="a.wav", duration=7.0)


def _render(fmt):
    buf = io.StringIO()
    get_writer(fmt).write(_result(), buf)
    return buf.getvalue()


def test_txt():
    assert _render("txt") == "the quick fox\n"


def test_json_round_trip():
    doc = json.loads(_render("json"))
    assert doc["text"] == "the quick fox"
    assert [w["word"] for w in doc["words"]] == ["the", "quick", "fox"]
    assert doc["words"][1] == {"word": "quick", "start": 0.35, "end": 0.8, "confidence": 0.75}


def test_srt_splits_long_cues_and_formats_times():
    out = _render("srt").strip().split("\n\n")
    assert len(out) == 2  # "fox" starts > 5 s after "the": a new cue
    assert out[0] == "1\n00:00:00,120 --> 00:00:00,800\nthe quick"
    assert out[1] == "2\n00:00:06,100 --> 00:00:06,500\nfox"


def test_vtt_header_and_dot_separator():
    out = _render("vtt")
    assert out.startswith("WEBVTT\n\n")
    assert "00:00:00.120 --> 00:00:00.800\nthe quick" in out


def test_tsv_milliseconds():
    lines = _render("tsv").strip().split("\n")
    assert lines[0] == "start\tend\tword\tconfidence"
    assert lines[2] == "350\t800\tquick\t0.7500"


def test_cues_max_words():
    words = [NS(word=str(i), start=i * 0.1, end=i * 0.1 + 0.05) for i in range(25)]
    groups = cues(words, max_words=10)
    assert [len(g[2].split()) for g in groups] == [10, 10, 5]


def test_every_format_has_a_writer_and_unknown_is_refused():
    assert {get_writer(f).extension for f in FORMATS} == set(FORMATS)
    with pytest.raises(ConfigError, match="unknown output format 'docx'"):
        get_writer("docx")


def test_listing_marks_each_result_with_its_file():
    import io
    import json
    from types import SimpleNamespace as NS

    from speechrnn.errors import ConfigError
    from speechrnn.writers import Listing

    words = [NS(word="hi", start=0.1, end=0.4, confidence=0.9)]
    r = NS(text="hi", words=words, path=None, duration=0.5)
    for fmt, expect in (("txt", ["a.wav\thi", "b.wav\thi"]),
                        ("tsv", ["file\tstart\tend\tword\tconfidence", "a.wav\t100\t400\thi\t0.9000",
                                 "b.wav\t100\t400\thi\t0.9000"])):
        buf = io.StringIO()
        listing = Listing(fmt, buf)
        listing.add("a.wav", r)
        listing.add("b.wav", r)
        assert buf.getvalue().splitlines() == expect
    buf = io.StringIO()
    listing = Listing("json", buf)
    listing.add("a.wav", r)
    listing.add("b.wav", r)
    assert [json.loads(line)["path"] for line in buf.getvalue().splitlines()] == ["a.wav", "b.wav"]
    listing = Listing("srt", io.StringIO())
    listing.add("a.wav", r)
    with pytest.raises(ConfigError, match="--out DIR"):
        listing.add("b.wav", r)
