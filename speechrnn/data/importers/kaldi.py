"""Kaldi data-directory importer.

A Kaldi data directory holds::

    wav.scp    <recording-id> <path>          (plain paths only; no "cmd |" pipes)
    text       <utterance-id> <transcript>    (optional)
    utt2spk    <utterance-id> <speaker-id>    (optional)
    segments   <utterance-id> <recording-id> <start> <end>   (optional; end -1 = to the end)

Relative ``wav.scp`` paths are looked up against the data directory first,
then the current working directory (Kaldi runs scripts from the recipe folder).
Without ``segments`` each recording is one utterance with the recording id.
``corpus_dir`` may be one data directory (one split, named after the folder
unless ``split`` is given) or a folder of data directories (one split each,
e.g. ``data/train``, ``data/dev``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import CorpusError
from ..manifest import Utterance
from .common import audio_duration, fail_on_missing, parse_table, require_dir, write_splits


def prepare_kaldi(
    corpus_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    split: str | None = None,
) -> dict[str, list[Utterance]]:
    """Convert Kaldi data directories to manifests.

    Parameters
    ----------
    corpus_dir : path-like
        A data directory (has ``wav.scp``) or a folder whose sub-folders are.
    output_dir : path-like, optional
        Where to write ``<split>.jsonl``.
    split : str, optional
        Split name for a single data directory (default: its folder name).

    Returns
    -------
    dict
        ``{split: [Utterance]}`` with ``text``/``speaker`` when the files exist
        and ``offset``/``duration`` from ``segments``.

    Raises
    ------
    CorpusError
        No ``wav.scp``; piped or missing wav.scp entries; malformed lines;
        ``segments``/``text``/``utt2spk`` naming unknown recordings/utterances;
        segments with ``end <= start`` or starting after their recording ends
        (ends past the recording are clipped to it).
    """
    root = require_dir(Path(corpus_dir), "Kaldi data directory")
    if (root / "wav.scp").is_file():
        splits = {split or root.name: _read_data_dir(root)}
    else:
        subdirs = sorted(p for p in root.iterdir() if (p / "wav.scp").is_file())
        if not subdirs:
            raise CorpusError(
                f"{root / 'wav.scp'}: missing (not a Kaldi data directory, nor a folder of them)"
            )
        splits = {p.name: _read_data_dir(p) for p in subdirs}
    write_splits(output_dir, splits)
    return splits


def _read_map(path: Path) -> dict[str, tuple[int, str]]:
    """``key rest-of-line`` file -> ``{key: (line_no, rest)}``; rejects duplicate keys."""
    out: dict[str, tuple[int, str]] = {}
    for n, (key, rest) in parse_table(path, 2, 2):
        if key in out:
            raise CorpusError(f"{path}:{n}: duplicate id {key!r} (first on line {out[key][0]})")
        out[key] = (n, rest.strip())
    return out


def _read_wav_scp(path: Path) -> dict[str, Path]:
    recs, missing = {}, []
    for key, (n, value) in _read_map(path).items():
        if value.endswith("|"):
            raise CorpusError(
                f"{path}:{n}: piped command {value!r} is not supported; "
                "write the audio to files first (e.g. with sox or ffmpeg) and list their paths"
            )
        audio = Path(value)
        if not audio.is_absolute():
            audio = next(
                (c for c in (path.parent / audio, Path.cwd() / audio) if c.is_file()),
                path.parent / audio,
            )
        if not audio.is_file():
            missing.append(f"line {n}: {value}")
        recs[key] = audio.resolve()
    fail_on_missing(missing, "wav.scp entries point to missing files", path)
    return recs


def _read_segments(path: Path, recs: dict[str, Path]) -> dict[str, tuple[str, float, float | None]]:
    segs = {}
    for n, fields in parse_table(path, 4):
        utt, rec, start, end = fields[:4]
        if rec not in recs:
            raise CorpusError(f"{path}:{n}: recording {rec!r} is not in wav.scp")
        try:
            t0, t1 = float(start), float(end)
        except ValueError:
            raise CorpusError(
                f"{path}:{n}: start/end must be numbers, got {start!r} {end!r}"
            ) from None
        if t0 < 0 or (t1 != -1 and t1 <= t0):
            raise CorpusError(f"{path}:{n}: bad segment times start={t0} end={t1}")
        if utt in segs:
            raise CorpusError(f"{path}:{n}: duplicate utterance id {utt!r}")
        segs[utt] = (rec, t0, None if t1 == -1 else t1)
    return segs


def _read_data_dir(d: Path) -> list[Utterance]:
    recs = _read_wav_scp(d / "wav.scp")
    if (d / "segments").is_file():
        segs = _read_segments(d / "segments", recs)
    else:
        segs = {rec: (rec, 0.0, None) for rec in recs}
    text = _read_map(d / "text") if (d / "text").is_file() else {}
    spk = _read_map(d / "utt2spk") if (d / "utt2spk").is_file() else {}
    for name, table in (("text", text), ("utt2spk", spk)):
        unknown = sorted(k for k in table if k not in segs)
        if unknown:
            raise CorpusError(
                f"{d / name}:{table[unknown[0]][0]}: utterance {unknown[0]!r} is not in "
                f"{'segments' if (d / 'segments').is_file() else 'wav.scp'}"
                + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
            )
    rec_dur = {rec: audio_duration(path) for rec, path in recs.items()}  # header reads: cheap
    utts = []
    for utt_id, (rec, t0, t1) in segs.items():
        if t0 >= rec_dur[rec]:
            raise CorpusError(
                f"{d / 'segments'}: {utt_id!r} starts at {t0} s, "
                f"after recording {rec!r} ends ({rec_dur[rec]:.3f} s)"
            )
        t1 = (
            rec_dur[rec] if t1 is None else min(t1, rec_dur[rec])
        )  # Kaldi tolerates ends past the file
        utts.append(
            Utterance(
                id=utt_id,
                audio=str(recs[rec]),
                offset=t0,
                duration=round(t1 - t0, 6),
                text=text[utt_id][1] if utt_id in text else None,
                speaker=spk[utt_id][1] if utt_id in spk else None,
                extra={"recording": rec} if rec != utt_id else {},
            )
        )
    return utts
