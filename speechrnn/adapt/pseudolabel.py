"""`pseudo_label`: unlabeled recordings -> a training manifest labelled by a teacher.

Inputs are audio files, folders (recursive), globs or manifests (their text ignored). Each
recording is cut at pauses into training-sized segments (:mod:`.segment`, manifest
``offset``/``duration``, no audio copies), the teacher transcribes each segment, the text is
normalized like our references (:func:`speechrnn.text.normalize_text`) and checked by
:mod:`.filters`. The output folder holds:

``labels.jsonl``
    kept segments: ``text`` = normalized teacher text, ``extra`` = the teacher's raw text and
    confidence figures (``avg_logprob``, ``no_speech_prob``, ``compression_ratio``, ...).
``dropped.jsonl``
    the others, each with ``extra.reason``.
``summary.json``
    hours in / of speech / kept / dropped (by reason), unreadable files with their reasons,
    files with no speech, the teacher, the seconds it took.
``progress.jsonl``
    one line per finished recording: an interrupted run resumes after the last finished one
    (a recording that changed since, by size or time, or a change of teacher or segmentation, is
    labelled again; filters run on the stored figures, so changing one needs no new labelling).

Example
-------
>>> summary = pseudo_label(["calls/"], "work/labels")            # doctest: +SKIP
>>> summary["kept_hours"], summary["dropped"]  # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..data.manifest import Utterance, read_manifest, write_manifest
from ..errors import AudioError, ManifestError, SpeechRNNError
from ..fileio import write_json
from ..text import normalize_text
from .filters import FilterConfig, check_label
from .teacher import TeacherLabel
from .segment import SegmentConfig, speech_segments

__all__ = ["PseudoLabelConfig", "pseudo_label", "expand_sources", "Source"]

LOG = logging.getLogger("speechrnn.adapt")
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".m4a"}


@dataclass
class PseudoLabelConfig:
    """Everything :func:`pseudo_label` can be told (typed; unknown keys fail)."""

    teacher: str | None = None      # Whisper name or CTranslate2 folder; None = offline tiny.en
    teacher_beam_size: int = 5
    threads: int = 0                # teacher CPU threads (0 = CTranslate2's default)
    device: str = "cpu"
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    progress: bool | None = None    # False: no bar (else one only when stderr is a terminal)


@dataclass
class Source:
    """One recording, or a slice of one (a manifest line)."""

    audio: str
    offset: float = 0.0
    duration: float | None = None

    def key(self) -> str:
        st = os.stat(self.audio)
        return f"{os.path.abspath(self.audio)}|{self.offset}|{self.duration}|{st.st_size}|{int(st.st_mtime)}"


def expand_sources(inputs) -> tuple[list[Source], list[tuple[str, str]]]:
    """Files | folders (recursive, audio extensions) | globs | manifests (.jsonl) -> sources.

    Returns ``(sources, problems)``; a name that matches nothing or a broken manifest is a
    problem ``(name, reason)``, not an exception, so the rest of a batch goes on.
    """
    sources: list[Source] = []
    problems: list[tuple[str, str]] = []
    for item in map(str, inputs):
        if os.path.isdir(item):
            found = sorted(p for p in Path(item).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                problems.append((item, "folder holds no audio files"))
            sources += [Source(str(p)) for p in found]
        elif item.endswith(".jsonl") and os.path.isfile(item):
            try:
                sources += [Source(u.audio, u.offset, u.duration) for u in read_manifest(item)]
            except ManifestError as e:
                problems.append((item, str(e)))
        elif any(c in item for c in "*?["):
            found = sorted(glob.glob(item, recursive=True))
            if not found:
                problems.append((item, "pattern matches no file"))
            sources += [Source(p) for p in found if os.path.isfile(p)]
        else:
            sources.append(Source(item))
    unique = {(s.audio, s.offset, s.duration): s for s in sources}
    return list(unique.values()), problems


def _utt_id(src: Source, offset: float) -> str:
    h = hashlib.sha1(os.path.abspath(src.audio).encode()).hexdigest()[:8]
    return f"{Path(src.audio).stem}-{h}-{int(round(offset * 1000)):09d}"


def _read_progress(path: Path) -> dict[str, dict]:
    """Finished recordings by key; a torn last line (a crash mid-write) is ignored."""
    done = {}
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    done[rec["key"]] = rec
                except (ValueError, KeyError):
                    continue
    return done


def _label_source(src: Source, teacher, cfg: PseudoLabelConfig) -> dict:
    """Segment and label one recording -> progress record (segment rows with the teacher's figures)."""
    rows = []
    speech_s = 0.0
    for offset, duration, audio in speech_segments(src.audio, cfg.segment, offset=src.offset,
                                                   duration=src.duration):
        speech_s += duration
        label = teacher.label(audio)
        rows.append({"id": _utt_id(src, offset), "offset": offset, "duration": duration, **label.to_dict()})
    return {"rows": rows, "speech_s": round(speech_s, 3)}


def _run_key(teacher, cfg: PseudoLabelConfig) -> str:
    """What a stored label depends on besides the audio: the teacher and the segmentation."""
    return json.dumps([teacher.name, cfg.teacher_beam_size, dataclasses.asdict(cfg.segment)], sort_keys=True)


def _utterance(src: Source, row: dict, cfg: PseudoLabelConfig, multilingual: bool) -> Utterance:
    """A manifest line; ``extra.reason`` says why it is dropped (filters run on the stored figures,
    so changing a filter needs no new labelling)."""
    label = TeacherLabel(row["teacher_text"], row["avg_logprob"], row["no_speech_prob"],
                         row["compression_ratio"], row["temperature"], row["language"],
                         row["language_probability"])
    extra = {k: v for k, v in row.items() if k not in ("id", "offset", "duration")}
    reason = check_label(label, row["duration"], cfg.filters, multilingual=multilingual)
    if reason:
        extra["reason"] = reason
    return Utterance(row["id"], os.path.abspath(src.audio), offset=row["offset"],
                     duration=row["duration"], text=normalize_text(label.text) or None, extra=extra)


def pseudo_label(inputs, out_dir, cfg: PseudoLabelConfig | None = None, *, teacher=None) -> dict:
    """Label every recording of ``inputs`` with the teacher; write the manifests in ``out_dir``.

    Parameters
    ----------
    inputs : iterable of str
        Files, folders, globs or manifests.
    out_dir : path
        Output folder (created); a run there before is resumed.
    cfg : PseudoLabelConfig
    teacher : WhisperTeacher, optional
        An already loaded teacher (else ``cfg.teacher`` is loaded).

    Returns
    -------
    dict, the summary (also ``out_dir/summary.json``).

    Raises
    ------
    TeacherError
        The teacher package or model is missing (names the fix).
    SpeechRNNError
        No input at all.
    """
    from ..progress import progress_bar

    cfg = cfg or PseudoLabelConfig()
    cfg.segment.validate()
    started = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sources, problems = expand_sources(inputs)
    if not sources and not problems:
        raise SpeechRNNError("pseudo-label: no input given")
    if teacher is None:
        from .teacher import WhisperTeacher

        teacher = WhisperTeacher(cfg.teacher, beam_size=cfg.teacher_beam_size, threads=cfg.threads,
                                 device=cfg.device)
    run_key = _run_key(teacher, cfg)
    progress_path = out / "progress.jsonl"
    done = _read_progress(progress_path)
    unreadable: list[dict] = [{"file": n, "reason": r} for n, r in problems]
    kept: list[Utterance] = []
    dropped: list[Utterance] = []
    in_s = speech_s = 0.0
    no_speech: list[str] = []
    resumed = 0
    bar = progress_bar(sources, unit="file", desc="pseudo-label", enabled=cfg.progress is not False)
    with open(progress_path, "a", encoding="utf-8") as log:
        for src in bar:
            try:
                key = run_key + "|" + src.key()
                rec = done.get(key)
                if rec is None:
                    from ..audio import audio_info

                    total = audio_info(src.audio).duration
                    rec = {"key": key, "audio_s": (src.duration or total - src.offset),
                           **_label_source(src, teacher, cfg)}
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    os.fsync(log.fileno())
                    if bar.disable:   # no bar: one log line per recording instead
                        LOG.info("%s: %d segments, %.1f s of speech", src.audio, len(rec["rows"]),
                                 rec["speech_s"])
                else:
                    resumed += 1
            except (AudioError, OSError) as e:
                LOG.warning("%s: skipped: %s", src.audio, e)
                unreadable.append({"file": src.audio, "reason": str(e)})
                continue
            in_s += rec["audio_s"]
            speech_s += rec["speech_s"]
            utts = [_utterance(src, r, cfg, teacher.multilingual) for r in rec["rows"]]
            kept += [u for u in utts if "reason" not in u.extra]
            dropped += [u for u in utts if "reason" in u.extra]
            if not rec["rows"]:
                no_speech.append(src.audio)
    write_manifest(out / "labels.jsonl", kept)
    write_manifest(out / "dropped.jsonl", dropped)
    reasons = Counter()
    for u in dropped:
        reasons[u.extra["reason"]] += u.duration
    summary = {
        "teacher": teacher.name, "files": len(sources), "resumed_files": resumed,
        "hours_in": round(in_s / 3600, 4), "speech_hours": round(speech_s / 3600, 4),
        "kept_hours": round(sum(u.duration for u in kept) / 3600, 4), "kept_segments": len(kept),
        "dropped_segments": len(dropped),
        "dropped": {r: {"segments": sum(u.extra["reason"] == r for u in dropped),
                        "hours": round(s / 3600, 4)} for r, s in reasons.most_common()},
        "files_without_speech": no_speech, "unreadable": unreadable,
        "labels": str(out / "labels.jsonl"), "seconds": round(time.time() - started, 1),
        "config": dataclasses.asdict(cfg),
    }
    write_json(out / "summary.json", summary)
    return summary


def format_summary(s: dict) -> str:
    """A few lines for people: hours in / kept / dropped by reason, files with problems."""
    lines = [f"pseudo-label ({s['teacher']}): {s['files']} recordings, {s['hours_in'] * 60:.1f} min in, "
             f"{s['speech_hours'] * 60:.1f} min of speech, kept {s['kept_hours'] * 60:.1f} min in "
             f"{s['kept_segments']} segments, dropped {s['dropped_segments']} "
             f"({s['seconds']:.0f} s; {s['resumed_files']} recordings from an earlier run)"]
    for reason, d in s["dropped"].items():
        lines.append(f"  dropped {d['segments']:4d} segments, {d['hours'] * 60:6.1f} min: {reason}")
    for f in s["files_without_speech"]:
        lines.append(f"  no speech heard in {f}")
    for u in s["unreadable"]:
        lines.append(f"  skipped {u['file']}: {u['reason']}")
    return "\n".join(lines)
