"""Build the adaptation demo's target domain: voices, channel and text the bundled model never met.

    python recipes/adaptation/make_domain.py OUT [--num 700] [--seed 0] [--channel telephone]
        [--exclude OTHER/test.jsonl]

Voices: festival's ked and flite's rms (recorded humans the bundled model held out) and Piper's
joe. Channel (``--channel``): ``telephone`` (default: 300-3400 Hz, 8 kHz round trip, noise at 20-35 dB
SNR) or ``room`` (reverberation RT60 0.2-0.6 s and noise at 15-30 dB SNR, 16 kHz). Text: the
``fortunes`` text source (the bundled model's LM was built from WordNet).

OUT/
  corpus/              the synthesized clips (speechrnn.synth.presets.build_transcription)
  unlabeled/<voice>/recording-NN.wav   the adaptation audio: the train clips of each voice
                       joined into ~3-minute recordings with pauses, texts thrown away
  test.jsonl           labelled test clips: other sentences, same voices and channel
                       (never used by adapt; for the before/after table only)
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from speechrnn.audio import load_audio, write_audio
from speechrnn.data.manifest import read_manifest, write_manifest
from speechrnn.synth.augment import AugmentConfig
from speechrnn.synth.presets import TranscriptionConfig, build_transcription

VOICES = ["festival:ked_diphone", "flite:rms", "piper:en_US-joe-medium"]
RECORDING_S = 180.0


CHANNELS = {
    # a reverberant room with noise, recorded at 16 kHz (like most user recordings)
    "room": dict(p_reverb=1.0, rt60=[0.2, 0.6], p_telephone=0.0, snr_db=[15.0, 30.0]),
    # a telephone line (300-3400 Hz, 8 kHz round trip) with noise
    "telephone": dict(p_reverb=0.0, p_telephone=1.0, snr_db=[20.0, 35.0]),
}


def channel(name: str) -> AugmentConfig:
    return AugmentConfig(p_speed=0.0, p_noise=1.0, noise_kinds=["white", "pink", "babble"], p_gain=0.5,
                         gain_db=[-9.0, 0.0], p_silence=0.5, silence_s=[0.0, 0.3], **CHANNELS[name])


def join_recordings(utts, out: Path, seed: int) -> list[dict]:
    """Concatenate each voice's clips into ~3-min files with 0.3-1.5 s pauses of faint noise."""
    rng = np.random.default_rng(seed)
    by_voice = defaultdict(list)
    for u in utts:
        by_voice[u.speaker].append(u)
    made = []
    for voice, items in sorted(by_voice.items()):
        slug = voice.replace(":", "_")
        parts, length, n = [], 0.0, 0

        def flush():
            nonlocal parts, length, n
            if parts:
                path = out / slug / f"recording-{n:02d}.wav"
                write_audio(path, np.concatenate(parts))
                made.append({"file": str(path), "seconds": round(length, 2), "voice": voice})
                parts, length, n = [], 0.0, n + 1

        for u in items:
            x = load_audio(u.audio)
            pause = (rng.standard_normal(int(rng.uniform(0.3, 1.5) * 16000)) * 10 ** (-55 / 20)).astype(np.float32)
            parts += [x, pause]
            length += (len(x) + len(pause)) / 16000
            if length >= RECORDING_S:
                flush()
        flush()
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--num", type=int, default=700, help="clips to synthesize (about 60%% unlabeled, 36%% test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--channel", choices=sorted(CHANNELS), default="telephone")
    ap.add_argument("--exclude", nargs="*", default=[], metavar="MANIFEST",
                    help="leave sentences of these manifests (another domain's test set) out of the unlabeled audio")
    args = ap.parse_args()
    out = Path(args.out)
    cfg = TranscriptionConfig(voices=VOICES, held_out_voices=0.0, seed=args.seed, jobs=args.jobs,
                              text_source="fortunes", num=args.num, min_words=4, max_words=16,
                              dev_fraction=0.02, test_fraction=0.36, augment=channel(args.channel),
                              augment_eval=True, progress=False)
    summary = build_transcription(out / "corpus", cfg)
    if summary["failed"]:
        print(f"warning: {summary['failed']} clips failed to synthesize", flush=True)
    train = read_manifest(out / "corpus" / "train.jsonl")
    excluded = {u.text for m in args.exclude for u in read_manifest(m)}
    train = [u for u in train if u.text not in excluded]
    made = join_recordings(train, out / "unlabeled", args.seed)
    test = read_manifest(out / "corpus" / "test_seen.jsonl")
    write_manifest(out / "test.jsonl", test)
    info = {"unlabeled_recordings": len(made), "unlabeled_minutes": round(sum(m["seconds"] for m in made) / 60, 2),
            "test_utterances": len(test), "test_minutes": round(sum(u.duration for u in test) / 60, 2),
            "voices": VOICES, "channel": args.channel, "synthesis_seconds": summary["build_seconds"]}
    (out / "domain.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info))


if __name__ == "__main__":
    main()
