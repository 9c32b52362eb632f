"""WER/CER of the Whisper teacher on a labelled manifest (the demo's test set).

    python recipes/adaptation/teacher_wer.py TEST.jsonl [--teacher NAME_OR_FOLDER] [--beam-size 5]

Each clip is transcribed whole and normalized like our references; prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import logging
import time

from speechrnn.adapt.teacher import WhisperTeacher
from speechrnn.audio import load_audio
from speechrnn.data.manifest import read_manifest
from speechrnn.metrics import error_rates
from speechrnn.text import normalize_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("--teacher", default=None)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    teacher = WhisperTeacher(args.teacher, beam_size=args.beam_size, threads=args.threads)
    utts = read_manifest(args.manifest)
    t, audio_s, hyps = time.time(), 0.0, []
    for u in utts:
        x = load_audio(u.audio, offset=u.offset, duration=u.duration)
        audio_s += len(x) / 16000
        hyps.append(normalize_text(teacher.label(x).text))
    rates = error_rates([normalize_text(u.text) for u in utts], hyps, [u.id for u in utts])
    print(json.dumps({"teacher": teacher.name, "utterances": len(utts), "wer": round(rates.wer, 4),
                      "cer": round(rates.cer, 4), "rtf": round((time.time() - t) / audio_s, 3)}))


if __name__ == "__main__":
    main()
