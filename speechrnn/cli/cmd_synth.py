"""``speechrnn synth``: build synthetic corpora, or list the voices found.

Examples
--------
speechrnn synth voices
speechrnn synth transcription data/tts --hours 2 --jobs 2
speechrnn synth keywords data/kws --num 200 --keywords yes no stop go   # or --hours 0.5
speechrnn synth keywords --out data/kws --hours 0.5
speechrnn synth speakers data/spk --num-voices 40 --utts-per-voice 30 --voices espeak-ng flite piper
"""
from __future__ import annotations

import argparse
import json

from .options import add_positional_out, positional_out, positive_float, positive_int


def _common(p: argparse.ArgumentParser) -> None:
    add_positional_out(p, "out_dir", "corpus folder (created; a rerun fills gaps)", "OUT_DIR")
    p.add_argument("--voices", nargs="+", help="voice id globs or engine names, e.g. 'espeak-ng:en-us*' piper")
    p.add_argument("--held-out-voices", type=float, default=0.15, help="fraction of voices kept for testing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=0, help="processes (0: every core)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none when stderr is not a terminal)")
    p.add_argument("--text-source", default="wordnet", help="wordnet | fortunes | file:PATH")
    p.add_argument("--noise-dir", help="folder of noise recordings mixed in by augmentation")
    p.add_argument("--no-augment", action="store_true", help="write clean audio")
    p.add_argument("--generated-timbres", type=int, default=0, metavar="N",
                   help="N random espeak-ng timbres (new speakers) added to the training voices only")


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="build synthetic (TTS) corpora; `synth voices` lists voices")
    sub = p.add_subparsers(dest="preset", metavar="PRESET")
    sub.required = True
    v = sub.add_parser("voices", help="list TTS voices found and engines missing")
    v.add_argument("--all", action="store_true", help="list every espeak-ng variant combination")
    v.set_defaults(func=_voices)
    t = sub.add_parser("transcription", help="sentences for speech recognition")
    _common(t)
    size = t.add_mutually_exclusive_group(required=True)
    size.add_argument("--hours", type=positive_float, help="hours of speech")
    size.add_argument("--num", type=positive_int, help="number of utterances")
    t.add_argument("--augment-eval", action="store_true", help="augment dev/test too")
    t.set_defaults(func=_build)
    k = sub.add_parser("keywords", help="Speech-Commands-style 1 s keyword clips")
    _common(k)
    ksize = k.add_mutually_exclusive_group()
    ksize.add_argument("--num", type=positive_int, help="clips per keyword (default 100)")
    ksize.add_argument("--hours", type=positive_float,
                       help="hours of 1 s clips in all (keywords + unknown words; sets --num)")
    k.add_argument("--keywords", nargs="+", help="default: yes no up down left right on off stop go")
    k.add_argument("--unknown-words", type=int, default=20)
    k.set_defaults(func=_build)
    s = sub.add_parser("speakers", help="speaker identification + verification corpus")
    _common(s)
    s.add_argument("--num-voices", type=positive_int, default=20)
    s.add_argument("--utts-per-voice", type=positive_int, default=20,
                   help="size the corpus with this and --num-voices (there is no --hours: "
                        "utterance lengths depend on the text source)")
    s.add_argument("--verify-voices", type=int, default=5)
    s.add_argument("--generated-utts", type=int, help="utterances per generated timbre (default: --utts-per-voice)")
    s.add_argument("--other-language-voices", action="store_true",
                   help="add every installed recorded human of another language (festival's Czech, Italian, "
                        "Finnish... voices) as a training-only speaker")
    s.set_defaults(func=_build)


def keyword_clips_for_hours(hours: float, keywords: list[str] | None) -> int:
    """Clips per keyword giving ``hours`` of 1 s clips, unknown-word clips included."""
    from ..synth import presets

    cfg = presets.KeywordConfig()
    n_words = len(keywords or cfg.keywords)
    return max(1, round(hours * 3600 / (n_words * (1 + cfg.unknown_fraction))))


def _voices(args) -> int:
    from ..synth.voices import list_voices, other_language_voices

    report = list_voices()
    print(report.format(verbose=args.all))
    print(f"total: {len(report.voices)} voices; engines missing: {len(report.missing)}")
    others = other_language_voices()
    if others:
        print(f"other languages (training-only speakers, `synth speakers --other-language-voices`): "
              f"{', '.join(f'{v.id} ({v.language})' for v in others)}")
    return 0


def _build(args) -> int:
    from ..config import from_dict
    from ..synth import presets

    args.out_dir = positional_out(args, "out_dir")
    common = {"voices": args.voices, "held_out_voices": args.held_out_voices, "seed": args.seed,
              "jobs": args.jobs, "text_source": args.text_source, "noise_dir": args.noise_dir,
              "progress": not args.no_progress, "generated_timbres": args.generated_timbres}
    if args.no_augment:
        common["augment"] = {"p_speed": 0.0, "p_reverb": 0.0, "p_telephone": 0.0, "p_noise": 0.0,
                             "p_gain": 0.0, "p_silence": 0.0}
    if args.preset == "transcription":
        cfg = from_dict(presets.TranscriptionConfig, {**common, "hours": args.hours, "num": args.num,
                                                      "augment_eval": args.augment_eval})
        summary = presets.build_transcription(args.out_dir, cfg)
    elif args.preset == "keywords":
        extra = {"unknown_words": args.unknown_words}
        if args.keywords:
            extra["keywords"] = args.keywords
        if args.num is not None:
            extra["num"] = args.num
        elif args.hours is not None:
            extra["num"] = keyword_clips_for_hours(args.hours, args.keywords)
        summary = presets.build_keywords(args.out_dir, from_dict(presets.KeywordConfig, {**common, **extra}))
    else:
        cfg = from_dict(presets.SpeakerConfig, {**common, "num_voices": args.num_voices,
                                                "utts_per_voice": args.utts_per_voice,
                                                "verify_voices": args.verify_voices,
                                                "generated_utts": args.generated_utts,
                                                "other_language_voices": args.other_language_voices})
        summary = presets.build_speakers(args.out_dir, cfg)
    short = {k: v for k, v in summary.items() if k not in ("held_out_voices", "closed_set_voices",
                                                            "validation_voices", "unknown_words", "failures")}
    print(json.dumps(short, indent=2))
    print(f"summary written to {args.out_dir}/summary.json")
    return 0
