"""Output writers for transcripts: txt, json, srt, vtt, tsv.

Each writer is a small class with a file extension and ``write(result, stream)``;
``get_writer(fmt)`` returns one. A *result* is any object with ``text`` (str),
``words`` (sequence with ``word``, ``start``, ``end``, ``confidence``) and
optionally ``path`` and ``duration`` — :class:`speechrnn.inference.Transcript`.

Subtitle formats group words into cues of at most ``max_words`` words or
``max_seconds`` seconds.

Several results on one stream (the CLI's stdout) use :class:`Listing`, whose shape does not
depend on how many there are: txt ``FILE<TAB>TEXT`` lines, json one object per line (JSON
Lines; one result is a valid JSON document), tsv one header and a leading ``file`` column.
srt and vtt describe one recording each, so a listing refuses a second result.

Example
-------
>>> import io
>>> from types import SimpleNamespace as NS
>>> r = NS(text="hello world", words=[NS(word="hello", start=0.1, end=0.5, confidence=0.9),
...                                    NS(word="world", start=0.6, end=1.0, confidence=0.8)])
>>> buf = io.StringIO(); get_writer("srt").write(r, buf); print(buf.getvalue().strip())
1
00:00:00,100 --> 00:00:01,000
hello world
"""
from __future__ import annotations

import json
from typing import IO

FORMATS = ("txt", "json", "srt", "vtt", "tsv")


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cues(words, max_words: int = 12, max_seconds: float = 5.0):
    """Group words into subtitle cues: list of (start, end, text)."""
    out, cur = [], []
    for w in words:
        if cur and (len(cur) >= max_words or w.end - cur[0].start > max_seconds):
            out.append((cur[0].start, cur[-1].end, " ".join(x.word for x in cur)))
            cur = []
        cur.append(w)
    if cur:
        out.append((cur[0].start, cur[-1].end, " ".join(x.word for x in cur)))
    return out


class Writer:
    extension = ""

    def write(self, result, stream: IO[str]) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class TxtWriter(Writer):
    extension = "txt"

    def write(self, result, stream):
        stream.write(result.text + "\n")


class JsonWriter(Writer):
    extension = "json"

    def write(self, result, stream):
        json.dump(self.document(result), stream, ensure_ascii=False, indent=2)
        stream.write("\n")

    @staticmethod
    def document(result) -> dict:
        """The JSON object of one result: path, duration, text, words."""
        return {
            "path": getattr(result, "path", None),
            "duration": getattr(result, "duration", None),
            "text": result.text,
            "words": [
                {
                    "word": w.word,
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "confidence": round(w.confidence, 4),
                }
                for w in result.words
            ],
        }


class SrtWriter(Writer):
    extension = "srt"

    def write(self, result, stream):
        for i, (start, end, text) in enumerate(cues(result.words), 1):
            stream.write(f"{i}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n\n")


class VttWriter(Writer):
    extension = "vtt"

    def write(self, result, stream):
        stream.write("WEBVTT\n\n")
        for start, end, text in cues(result.words):
            stream.write(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n\n")


class TsvWriter(Writer):
    """Word-level table: start and end in integer milliseconds (whisper's convention)."""

    extension = "tsv"

    def write(self, result, stream):
        stream.write("start\tend\tword\tconfidence\n")
        for w in result.words:
            stream.write(self.row(w) + "\n")

    @staticmethod
    def row(w) -> str:
        return f"{int(round(w.start * 1000))}\t{int(round(w.end * 1000))}\t{w.word}\t{w.confidence:.4f}"


_WRITERS = {cls.extension: cls for cls in (TxtWriter, JsonWriter, SrtWriter, VttWriter, TsvWriter)}


def get_writer(fmt: str) -> Writer:
    """Return the writer for ``fmt`` (one of :data:`FORMATS`)."""
    try:
        return _WRITERS[fmt]()
    except KeyError:
        from .errors import ConfigError

        raise ConfigError(f"unknown output format {fmt!r} (choose from {', '.join(FORMATS)})") from None


class Listing:
    """Write the results of several inputs to one stream in ``fmt``, each marked with its file.

    Parameters
    ----------
    fmt : str
        One of :data:`FORMATS`.
    stream : text stream
        Flushed after each result, so a reader sees results as they come.

    Raises
    ------
    ConfigError
        (from :meth:`add`) a second result in srt or vtt, formats of one recording each.
    """

    def __init__(self, fmt: str, stream: IO[str]):
        self.writer = get_writer(fmt)
        self.fmt, self.stream, self.count = fmt, stream, 0

    def add(self, name: str, result) -> None:
        """Write ``result`` of input ``name``."""
        if self.fmt in ("srt", "vtt") and self.count:
            from .errors import ConfigError

            raise ConfigError(f"{self.fmt} holds one recording: write several with --out DIR "
                              "(one file each)")
        s = self.stream
        if self.fmt == "txt":
            s.write(f"{name}\t{result.text}\n")
        elif self.fmt == "json":
            doc = {**JsonWriter.document(result), "path": name}
            s.write(json.dumps(doc, ensure_ascii=False) + "\n")
        elif self.fmt == "tsv":
            if not self.count:
                s.write("file\tstart\tend\tword\tconfidence\n")
            for w in result.words:
                s.write(f"{name}\t{TsvWriter.row(w)}\n")
        else:
            self.writer.write(result, s)
        s.flush()
        self.count += 1
