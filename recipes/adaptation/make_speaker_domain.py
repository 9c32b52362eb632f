"""Build the speaker-adaptation demo's target domain: people the bundled encoder never heard.

    python recipes/adaptation/make_speaker_domain.py OUT [--adapt-utts 40] [--test-utts 25] [--seed 0]

Voices: festival's recorded humans of other languages reading English (Czech dita, krb, machac,
ph; Finnish lj, mv; Italian lp, pc; Catalan ona: ``SPEECHRNN_EXTRA_VOICES=1 bash
scripts/setup.sh`` installs them). The bundled ``spk-bilstm.pt`` was trained on none of them
(its 370 classes are English espeak-ng timbres and English humans). Every clip goes through a
telephone channel (300-3400 Hz, 8 kHz round trip) with noise at 10-25 dB SNR, sometimes a room.

OUT/
  corpus/                          the synthesized clips (speechrnn.synth.build.run_jobs)
  unlabeled/recording-NN.wav       the adaptation audio: each voice's first ``--adapt-utts``
                                   clips joined into ~1-minute recordings with pauses; names,
                                   texts and speakers thrown away (adaptation gets no labels)
  test.jsonl                       labelled test clips: the voices' *other* sentences (disjoint
                                   from the adaptation audio), for the EER table only
  domain.json                      what was built
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from speechrnn.audio import load_audio, write_audio
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.synth.augment import AugmentConfig
from speechrnn.synth.build import Job, run_jobs
from speechrnn.synth.engines import ENGINES, jitter_params
from speechrnn.synth.textsource import load_sentences
from speechrnn.synth.voices import other_language_voices

RECORDING_S = 60.0


def channel(kind: str) -> AugmentConfig:
    """``telephone``: band-pass + 8 kHz round trip + noise; ``noise``: wideband noise and rooms;
    ``room``: rooms and faint wideband noise (25-40 dB SNR); ``clean``: nothing."""
    if kind == "clean":
        return AugmentConfig.off()
    return AugmentConfig(p_speed=0.0, p_reverb=0.3, p_telephone=1.0 if kind == "telephone" else 0.0,
                         p_noise=1.0, snr_db=[25.0, 40.0] if kind == "room" else [10.0, 25.0], noise_kinds=["white", "pink", "brown"],
                         p_gain=0.5, gain_db=[-9.0, 0.0], p_silence=0.5, silence_s=[0.0, 0.3])


def plan(voices, adapt_utts: int, test_utts: int, seed: int) -> tuple[list[Job], list[Job]]:
    """Adaptation and test jobs; every clip has its own sentence."""
    rng = np.random.default_rng(seed)
    sents = load_sentences("fortunes", min_words=5, max_words=18)
    sents = [sents[i] for i in rng.permutation(len(sents))]
    adapt, test, k = [], [], 0
    for v in voices:
        base = ENGINES[v.engine].sample_params(v, rng)  # one prosody per person
        for u in range(adapt_utts + test_utts):
            job = Job(path=f"wavs/{v.slug}/{u:04d}.wav", text=sents[k % len(sents)], voice=v.id,
                      params=jitter_params(base, rng), seed=[int(s) for s in rng.integers(0, 2**31, size=2)],
                      augment=True)
            k += 1
            (adapt if u < adapt_utts else test).append(job)
    return adapt, test


def join_recordings(paths_by_voice: dict[str, list[str]], out: Path, seed: int) -> list[dict]:
    """Concatenate each voice's clips into ~1-minute files with 0.3-1.5 s pauses of faint noise."""
    rng = np.random.default_rng(seed)
    made, n = [], 0
    for voice, paths in sorted(paths_by_voice.items()):
        parts, length = [], 0.0
        for i, p in enumerate(paths):
            x = load_audio(p)
            pause = (rng.standard_normal(int(rng.uniform(0.3, 1.5) * 16000)) * 10 ** (-55 / 20)).astype(np.float32)
            parts += [x, pause]
            length += (len(x) + len(pause)) / 16000
            if length >= RECORDING_S or i == len(paths) - 1:
                path = out / f"recording-{n:02d}.wav"
                write_audio(path, np.concatenate(parts))
                made.append({"file": path.name, "seconds": round(length, 2), "voice": voice})
                parts, length, n = [], 0.0, n + 1
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--adapt-utts", type=int, default=40, help="unlabeled clips per voice")
    ap.add_argument("--test-utts", type=int, default=25, help="labelled test clips per voice")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--channel", choices=["telephone", "noise", "room", "clean"], default="room")
    args = ap.parse_args()
    out = Path(args.out).resolve()  # the manifest holds absolute paths
    t0 = time.time()
    voices = other_language_voices()
    if not voices:
        raise SystemExit("no recorded human of another language is installed: "
                         "SPEECHRNN_EXTRA_VOICES=1 bash scripts/setup.sh")
    voices = [v for v in voices if not v.id.startswith("festival:msu_ru")]  # 180 MB, optional
    adapt, test = plan(voices, args.adapt_utts, args.test_utts, args.seed)
    res = run_jobs(out / "corpus", adapt + test, aug=channel(args.channel), workers=args.jobs, progress=False,
                   desc="speaker domain")
    failed = [j.path for j in adapt + test if res[j.path].error]
    by_voice: dict[str, list[str]] = {}
    for j in adapt:
        if not res[j.path].error:
            by_voice.setdefault(j.voice, []).append(str(out / "corpus" / j.path))
    made = join_recordings(by_voice, out / "unlabeled", args.seed)
    test_utts = [Utterance(id=j.path[5:-4].replace("/", "__"), audio=str(out / "corpus" / j.path),
                           duration=res[j.path].duration, text=j.text, speaker=j.voice)
                 for j in test if not res[j.path].error]
    write_manifest(out / "test.jsonl", test_utts)
    info = {"voices": [v.id for v in voices], "failed": failed[:20], "n_failed": len(failed),
            "unlabeled_recordings": len(made),
            "unlabeled_minutes": round(sum(m["seconds"] for m in made) / 60, 2),
            "recordings": made, "test_utterances": len(test_utts),
            "test_minutes": round(sum(u.duration for u in test_utts) / 60, 2),
            "channel": args.channel, "seconds": round(time.time() - t0, 1)}
    (out / "domain.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps({k: v for k, v in info.items() if k != "recordings"}))


if __name__ == "__main__":
    main()
