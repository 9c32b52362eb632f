"""Corpus presets: transcription, keywords (Speech Commands layout) and speakers.

Each ``build_<preset>(out_dir, cfg)`` plans jobs from ``cfg.seed`` alone, renders them with
:func:`speechrnn.synth.build.run_jobs` (parallel, resumable), writes 16 kHz WAVs, JSONL
manifests and ``summary.json``, and returns the summary dict.

Layouts
-------
transcription::

    wavs/{train,dev,test_seen,test_unseen}/<id>.wav
    train.jsonl dev.jsonl test_seen.jsonl test_unseen.jsonl summary.json

  ``dev``/``test_*`` sentences never occur in ``train``; ``test_seen`` and ``test_unseen``
  hold the *same* sentences, spoken by training voices and by held-out voices respectively.

keywords (readable by ``speechrnn.data.importers.prepare_speech_commands``)::

    <word>/<voice-slug>_nohash_<n>.wav    validation_list.txt  testing_list.txt  testing_seen_list.txt
    _background_noise_/*.wav              train.jsonl dev.jsonl test.jsonl test_seen.jsonl summary.json

  Held-out voices are the testing list (``test``: unseen voices); a share of the other voices is
  the validation list; ``testing_seen_list.txt`` holds other clips of the *training* voices
  (``test_seen``: keyword and ``_unknown_`` clips, no ``_silence_``, as silence has no voice).
  Non-keyword words get their own folders (labelled ``_unknown_`` in the manifests);
  ``_silence_`` items are 1 s slices of the background noise files.

speakers::

    wavs/<voice-slug>/<n>.wav
    train.jsonl dev.jsonl test.jsonl  (closed set: same voices, disjoint utterances)
    verify.jsonl trials.txt           (held-out voices; "1|0 <id> <id>" per line)

  Generated espeak-ng timbres and (``other_language_voices``) recorded humans of other
  languages are extra *training* speakers only: in no test, no trial.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SynthesisError
from ..fileio import write_json, write_text
from .augment import AugmentConfig
from .build import Job, check_out_dir, colored_noise_file, mix_babble_file, run_jobs
from .voices import speaker_identity, split_voices

__all__ = ["TranscriptionConfig", "KeywordConfig", "SpeakerConfig", "build_transcription",
           "build_keywords", "build_speakers", "DEFAULT_KEYWORDS"]

DEFAULT_KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
DEV_MIN_SPEAKERS = 4  # an engine gives keyword validation speakers only if it has this many


@dataclass
class _Common:
    voices: list[str] | None = None        # voice id globs / engine names (None: all found)
    held_out_voices: float = 0.15          # fraction of each engine's voices kept for testing
    seed: int = 0
    jobs: int = 0                          # processes; 0 = every core
    text_source: str = "wordnet"           # wordnet | fortunes | file:PATH
    noise_dir: str | None = None           # extra noise files for augmentation
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    progress: bool = True
    # random espeak-ng timbres (speechrnn.synth.timbres) added to the *training* voices only:
    # held-out, validation and seen-voice test voices stay installed ones
    generated_timbres: int = 0

    def validate(self) -> None:
        if self.generated_timbres < 0:
            raise ConfigError(f"generated_timbres must be >= 0, got {self.generated_timbres}")


@dataclass
class TranscriptionConfig(_Common):
    """Transcription corpus; give ``hours`` or ``num`` (utterances)."""

    hours: float | None = None
    num: int | None = None
    min_words: int = 3
    max_words: int = 20
    dev_fraction: float = 0.05
    test_fraction: float = 0.10            # split evenly between test_seen and test_unseen
    augment_eval: bool = False             # also augment dev/test

    def validate(self) -> None:
        super().validate()
        _size(self.hours, self.num)
        if not 0 < self.dev_fraction + self.test_fraction < 1:
            raise ConfigError("dev_fraction + test_fraction must be in (0, 1)")


@dataclass
class KeywordConfig(_Common):
    """Speech-Commands-style corpus: ``num`` clips per keyword."""

    num: int = 100
    keywords: list[str] = field(default_factory=lambda: list(DEFAULT_KEYWORDS))
    unknown_words: int = 20                 # distinct non-keyword words
    unknown_fraction: float = 0.5           # unknown clips, as a fraction of all keyword clips
    dev_fraction: float = 0.1               # share of training speakers put in validation_list
    noise_seconds: float = 30.0             # length of each _background_noise_ file
    silence_per_split: float = 0.1          # _silence_ items as a fraction of each split
    test_seen_share: float = 0.05           # clips of training voices held out as test_seen

    def validate(self) -> None:
        super().validate()
        if self.num < 1 or not self.keywords:
            raise ConfigError("KeywordConfig needs num >= 1 and at least one keyword")
        if not 0.0 <= self.test_seen_share < 1.0:
            raise ConfigError(f"KeywordConfig.test_seen_share must be in [0, 1), got {self.test_seen_share}")


@dataclass
class SpeakerConfig(_Common):
    """``num_voices`` closed-set voices x ``utts_per_voice`` utterances + held-out voices."""

    num_voices: int = 20
    utts_per_voice: int = 20
    verify_voices: int = 5                  # voices held out entirely (verification trials)
    trials_per_utt: int = 2                 # one target + one non-target trial each, x this
    generated_utts: int | None = None       # utterances per generated timbre (None: utts_per_voice)
    # every installed recorded human of another language (festival's Czech, Italian, Finnish...
    # voices, reading the English sentences with their own rules) as a training-only speaker with
    # utts_per_voice utterances; a voice that cannot read the text at all is skipped and listed
    other_language_voices: bool = False
    # no speed perturbation: resampling shifts pitch *and* formants by up to 10 %, which turns a
    # clip into another voice (speaker recipes treat speed-perturbed copies as new speakers)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(p_speed=0.0))

    def validate(self) -> None:
        super().validate()
        if self.num_voices < 1 or self.utts_per_voice < 3:
            raise ConfigError("SpeakerConfig needs num_voices >= 1 and utts_per_voice >= 3")
        if self.generated_utts is not None and self.generated_utts < 1:
            raise ConfigError(f"SpeakerConfig.generated_utts must be >= 1, got {self.generated_utts}")


def _size(hours, num) -> None:
    if (hours is None) == (num is None):
        raise ConfigError("give exactly one of hours or num")
    if (hours is not None and hours <= 0) or (num is not None and num < 1):
        raise ConfigError("hours/num must be positive")


# --------------------------------------------------------------------------- helpers
def _voices(cfg: _Common):
    from .voices import list_voices, select_voices

    report = list_voices()
    chosen = select_voices(report.voices, cfg.voices)
    train, held = split_voices(chosen, cfg.held_out_voices, cfg.seed)
    return report, train, held


def _generated(cfg: _Common, voices) -> list:
    """``cfg.generated_timbres`` new espeak-ng speakers, accents drawn from ``voices``' bases."""
    from .voices import generated_voices

    return generated_voices(cfg.generated_timbres, cfg.seed, voices)


def _pick(rng: np.random.Generator, voices: list) -> object:
    """Engine uniformly among those present, then a voice uniformly within it."""
    engines = sorted({v.engine for v in voices})
    e = engines[int(rng.integers(len(engines)))]
    pool = [v for v in voices if v.engine == e]
    return pool[int(rng.integers(len(pool)))]


def _job(rng, voices, text, path, augment, clip_s=None) -> Job:
    from .engines import ENGINES

    v = _pick(rng, voices)
    params = ENGINES[v.engine].sample_params(v, rng)
    return Job(path=path, text=text, voice=v.id, params=params,
               seed=[int(s) for s in rng.integers(0, 2**31, size=2)], augment=augment, clip_s=clip_s)


def _utt(out: Path, job: Job, res, **kw):
    from ..data.manifest import Utterance

    extra = {"voice": job.voice, "params": job.params, "augment": res.augment}
    return Utterance(id=Path(job.path).stem if "id" not in kw else kw.pop("id"), audio=str(out / job.path),
                     duration=res.duration, extra=extra, **kw)


def _finish(out: Path, summary: dict, results: dict, started: float) -> dict:
    failed = {p: r.error for p, r in results.items() if r.error}
    summary["failed"] = len(failed)
    if failed:
        summary["failures"] = dict(list(sorted(failed.items()))[:20])
    summary["build_seconds"] = round(time.time() - started, 1)
    write_json(out / "summary.json", summary)
    return summary


def _check_results(results: dict, jobs: list[Job]) -> None:
    if jobs and all(results[j.path].error for j in jobs):
        raise SynthesisError(f"every synthesis failed, e.g. {results[jobs[0].path].error}")


def _babble(out: Path, voices, sentences, cfg: _Common, rng) -> list[str]:
    """Render a few clean sentences used as babble noise (only if babble is enabled)."""
    if "babble" not in cfg.augment.noise_kinds or cfg.augment.p_noise == 0:
        return []
    jobs = [_job(rng, voices, sentences[int(rng.integers(len(sentences)))], f"_babble/{i:02d}.wav", False)
            for i in range(6)]
    res = run_jobs(out, jobs, workers=cfg.jobs, progress=False)
    return [str(out / j.path) for j in jobs if not res[j.path].error]


# --------------------------------------------------------------------------- transcription
def build_transcription(out_dir, cfg: TranscriptionConfig) -> dict:
    """Build a transcription corpus (layout in the module docstring); returns the summary."""
    from ..data.manifest import write_manifest
    from .textsource import load_sentences, vocabulary

    cfg.validate()
    started = time.time()
    out = check_out_dir(out_dir)
    rng = np.random.default_rng(cfg.seed)
    report, train_v, held_v = _voices(cfg)
    sents, text_info = load_sentences(cfg.text_source, cfg.min_words, cfg.max_words, with_info=True)
    sents = [sents[i] for i in rng.permutation(len(sents))]
    if cfg.num is not None:
        n = cfg.num
    else:  # ~0.3 s per word at the default speeds plus ~0.55 s of pauses (measured: 2.5 s avg)
        words = np.mean([len(s.split()) for s in sents[:2000]])
        n = max(4, int(round(cfg.hours * 3600 / (0.3 * words + 0.55))))
    n_dev = max(1, int(round(n * cfg.dev_fraction)))
    n_test = max(1, int(round(n * cfg.test_fraction / 2)))
    n_train = max(1, n - n_dev - 2 * n_test)
    if n_dev + n_test + 1 > len(sents):
        raise ConfigError(f"text source has only {len(sents)} sentences for {n_dev + n_test} dev/test ones")
    test_s, dev_s, train_s = sents[:n_test], sents[n_test:n_test + n_dev], sents[n_test + n_dev:]
    babble = _babble(out, train_v, train_s, cfg, rng)
    fit_v = train_v + _generated(cfg, report.voices)
    plan: dict[str, list[Job]] = {"train": [], "dev": [], "test_seen": [], "test_unseen": []}
    for i in range(n_train):
        plan["train"].append(_job(rng, fit_v, train_s[i % len(train_s)], f"wavs/train/tr{i:07d}.wav", True))
    for i, s in enumerate(dev_s):
        plan["dev"].append(_job(rng, train_v, s, f"wavs/dev/dv{i:06d}.wav", cfg.augment_eval))
    for i, s in enumerate(test_s):
        plan["test_seen"].append(_job(rng, train_v, s, f"wavs/test_seen/ts{i:06d}.wav", cfg.augment_eval))
        if held_v:
            plan["test_unseen"].append(_job(rng, held_v, s, f"wavs/test_unseen/tu{i:06d}.wav", cfg.augment_eval))
    all_jobs = [j for js in plan.values() for j in js]
    results = run_jobs(out, all_jobs, aug=cfg.augment, workers=cfg.jobs, babble=babble,
                       noise_dir=cfg.noise_dir, progress=cfg.progress, desc="transcription")
    _check_results(results, all_jobs)
    splits = {}
    for split, jobs in plan.items():
        utts = [_utt(out, j, results[j.path], text=j.text, speaker=j.voice)
                for j in jobs if not results[j.path].error]
        write_manifest(out / f"{split}.jsonl", utts)
        splits[split] = {"utterances": len(utts), "hours": round(sum(u.duration for u in utts) / 3600, 4),
                         "voices": len({u.speaker for u in utts})}
    summary = {
        "preset": "transcription", "seed": cfg.seed, "sample_rate": 16000, "splits": splits,
        "hours": round(sum(s["hours"] for s in splits.values()), 4),
        "utterances": sum(s["utterances"] for s in splits.values()),
        "voices": len(train_v) + len(held_v), "train_voices": len(train_v),
        "generated_timbres": cfg.generated_timbres, "held_out_voices": sorted(v.id for v in held_v),
        "vocabulary_size": len(vocabulary([j.text for j in all_jobs])),
        "text_source": text_info, "engines_missing": report.missing,
    }
    return _finish(out, summary, results, started)


# --------------------------------------------------------------------------- keywords
def build_keywords(out_dir, cfg: KeywordConfig) -> dict:
    """Build a Speech-Commands-style keyword corpus; returns the summary."""
    from ..data.manifest import Utterance, write_manifest
    from .textsource import load_sentences, vocabulary

    cfg.validate()
    started = time.time()
    out = check_out_dir(out_dir)
    rng = np.random.default_rng(cfg.seed)
    report, train_v, held_v = _voices(cfg)
    kws = [k.lower() for k in cfg.keywords]
    sents, text_info = load_sentences(cfg.text_source, with_info=True)
    pool = [w for w in vocabulary(sents) if w.isalpha() and 3 <= len(w) <= 8 and w not in kws]
    unknown = sorted(pool[int(i)] for i in rng.choice(len(pool), size=min(cfg.unknown_words, len(pool)),
                                                        replace=False))
    # validation speakers are whole speakers too (never a heard timbre in another accent), taken
    # only from engines with many of them: the few recorded humans all stay in training
    # (with only small engines installed, one speaker per engine is the best available)
    fit_v, dev_v = split_voices(train_v, cfg.dev_fraction, cfg.seed + 1, min_speakers=DEV_MIN_SPEAKERS)
    if not dev_v and cfg.dev_fraction > 0:
        fit_v, dev_v = split_voices(train_v, cfg.dev_fraction, cfg.seed + 1)
    shares = {"train": 0.8, "dev": 0.1, "test": 0.1, "test_seen": cfg.test_seen_share}
    groups = [("train", fit_v + _generated(cfg, report.voices)), ("dev", dev_v), ("test", held_v),
              ("test_seen", fit_v)]
    groups = [(s, vs) for s, vs in groups if vs and shares[s] > 0]
    total_share = sum(shares[s] for s, _ in groups)
    n_unknown = max(1, int(round(cfg.unknown_fraction * cfg.num * len(kws) / max(len(unknown), 1))))
    plan: list[tuple[str, str, Job]] = []  # (split, word, job)
    counters: dict[tuple[str, str], int] = {}
    for word, count in [(k, cfg.num) for k in kws] + [(u, n_unknown) for u in unknown]:
        for split, vs in groups:
            for _ in range(max(1, int(round(count * shares[split] / total_share)))):
                v_job = _job(rng, vs, word, "", True, clip_s=1.0)
                slug = v_job.voice.lower().replace(":", "-").replace("+", "-").replace("_", "-")
                k = counters[(word, slug)] = counters.get((word, slug), -1) + 1
                v_job.path = f"{word}/{slug}_nohash_{k}.wav"
                plan.append((split, word, v_job))
    noise_dir = out / "_background_noise_"
    for i, kind in enumerate(["white", "pink", "brown"]):
        colored_noise_file(noise_dir / f"{kind}_noise.wav", kind, cfg.noise_seconds, cfg.seed * 7 + i)
    jobs = [j for _, _, j in plan]
    results = run_jobs(out, jobs, aug=cfg.augment, workers=cfg.jobs, noise_dir=cfg.noise_dir,
                       progress=cfg.progress, desc="keywords")
    _check_results(results, jobs)
    ok = [(s, w, j) for s, w, j in plan if not results[j.path].error]
    mix_babble_file(noise_dir / "babble.wav", [out / j.path for _, _, j in ok[:40]], cfg.noise_seconds, cfg.seed)
    write_text(out / "validation_list.txt", "".join(j.path + "\n" for s, _, j in ok if s == "dev"))
    write_text(out / "testing_list.txt", "".join(j.path + "\n" for s, _, j in ok if s == "test"))
    write_text(out / "testing_seen_list.txt",
               "".join(j.path + "\n" for s, _, j in ok if s == "test_seen"))
    noises = sorted(noise_dir.glob("*.wav"))
    splits = {}
    for split in ("train", "dev", "test", "test_seen"):
        utts = [_utt(out, j, results[j.path], id=j.path[:-4].replace("/", "__"),
                     label=w if w in kws else "_unknown_", text=w, speaker=j.voice)
                for s, w, j in ok if s == split]
        n_sil = int(round(cfg.silence_per_split * len(utts))) if split != "test_seen" else 0
        for i in range(n_sil):
            f = noises[int(rng.integers(len(noises)))]
            off = float(rng.integers(0, int(cfg.noise_seconds) - 1))
            utts.append(Utterance(id=f"silence__{split}_{i:05d}", audio=str(f), offset=off, duration=1.0,
                                  label="_silence_", extra={"noise": f.name}))
        write_manifest(out / f"{split}.jsonl", utts)
        splits[split] = {"utterances": len(utts), "voices": len({u.speaker for u in utts if u.speaker})}
    summary = {
        "preset": "keywords", "seed": cfg.seed, "sample_rate": 16000, "keywords": kws,
        "unknown_words": unknown, "splits": splits, "utterances": sum(s["utterances"] for s in splits.values()),
        "hours": round(sum(s["utterances"] for s in splits.values()) / 3600, 4),
        "voices": len(train_v) + len(held_v), "generated_timbres": cfg.generated_timbres,
        "held_out_voices": sorted(v.id for v in held_v), "validation_voices": sorted(v.id for v in dev_v),
        "vocabulary_size": len(kws) + len(unknown),
        "text_source": text_info, "engines_missing": report.missing,
    }
    return _finish(out, summary, results, started)


# --------------------------------------------------------------------------- speakers
def build_speakers(out_dir, cfg: SpeakerConfig) -> dict:
    """Build a speaker identification + verification corpus; returns the summary."""
    from ..data.manifest import write_manifest
    from .engines import ENGINES, jitter_params
    from .textsource import load_sentences
    from .voices import list_voices, select_voices

    cfg.validate()
    started = time.time()
    out = check_out_dir(out_dir)
    rng = np.random.default_rng(cfg.seed)
    report = list_voices()
    chosen = select_voices(report.voices, cfg.voices)
    by_engine: dict[str, list] = {}
    identities: set[str] = set()
    for i in rng.permutation(len(chosen)):
        v = chosen[int(i)]
        who = speaker_identity(v)
        if who in identities:  # one person, one speaker: the same espeak timbre in two accents,
            continue           # or the same human in two engines, is not two speakers
        identities.add(who)
        by_engine.setdefault(v.engine, []).append(v)
    ordered = []  # round-robin over engines so every engine is represented
    while any(by_engine.values()):
        for e in sorted(by_engine):
            if by_engine[e]:
                ordered.append(by_engine[e].pop(0))
    need = cfg.num_voices + cfg.verify_voices
    if len(ordered) < need:
        raise ConfigError(f"asked for {need} voices but only {len(ordered)} distinct speakers are available "
                          "(espeak-ng variants count once, whatever the accent)")
    closed, verify = ordered[:cfg.num_voices], ordered[cfg.num_voices:need]
    extra = _generated(cfg, report.voices)  # training-only speakers: extra classes, never tested
    others, skipped = _other_language_humans(identities) if cfg.other_language_voices else ([], {})
    sents, text_info = load_sentences(cfg.text_source, with_info=True)
    sents = [sents[i] for i in rng.permutation(len(sents))]
    plan: dict[str, list[Job]] = {"train": [], "dev": [], "test": [], "verify": []}
    k = 0
    # the other-language humans come last and draw from a generator of their own, so adding them
    # changes no other clip, no test set and no trial
    other_rng = np.random.default_rng([cfg.seed, 1])
    for group, voices in (("closed", closed), ("verify", verify), ("generated", extra), ("other", others)):
        g = other_rng if group == "other" else rng
        for v in voices:
            # one prosody per speaker (pitch, pace...), a few percent of variation per utterance:
            # re-drawing it per utterance would blur the very identity the task is about
            base = ENGINES[v.engine].sample_params(v, g)
            n_utts = cfg.generated_utts if group == "generated" and cfg.generated_utts else cfg.utts_per_voice
            for u in range(n_utts):
                job = Job(path=f"wavs/{v.slug}/{u:04d}.wav", text=sents[k % len(sents)], voice=v.id,
                          params=jitter_params(base, g),
                          seed=[int(s) for s in g.integers(0, 2**31, size=2)], augment=True)
                k += 1
                if group != "closed":
                    split = "verify" if group == "verify" else "train"
                else:
                    frac = u / cfg.utts_per_voice
                    split = "train" if frac < 0.8 else ("dev" if frac < 0.9 else "test")
                    if u == cfg.utts_per_voice - 1:
                        split = "test"
                plan[split].append(job)
    jobs = [j for js in plan.values() for j in js]
    results = run_jobs(out, jobs, aug=cfg.augment, workers=cfg.jobs, noise_dir=cfg.noise_dir,
                       progress=cfg.progress, desc="speakers")
    _check_results(results, jobs)
    splits = {}
    utt_by_split = {}
    for split, js in plan.items():
        utts = [_utt(out, j, results[j.path], id=j.path[5:-4].replace("/", "__"), text=j.text, speaker=j.voice)
                for j in js if not results[j.path].error]
        utt_by_split[split] = utts
        write_manifest(out / f"{split}.jsonl", utts)
        splits[split] = {"utterances": len(utts), "voices": len({u.speaker for u in utts})}
    trials = _trials(utt_by_split["verify"], cfg.trials_per_utt, rng)
    write_text(out / "trials.txt", "".join(f"{t} {a} {b}\n" for t, a, b in trials))
    summary = {
        "preset": "speakers", "seed": cfg.seed, "sample_rate": 16000, "splits": splits,
        "utterances": sum(s["utterances"] for s in splits.values()),
        "hours": round(sum(u.duration for us in utt_by_split.values() for u in us) / 3600, 4),
        "voices": need, "closed_set_voices": sorted(v.id for v in closed),
        "held_out_voices": sorted(v.id for v in verify), "generated_timbres": len(extra), "trials": len(trials),
        "other_language_voices": sorted(v.id for v in others), "other_language_voices_skipped": skipped,
        "vocabulary_size": len({w for j in jobs for w in j.text.split()}),
        "text_source": text_info, "engines_missing": report.missing,
    }
    return _finish(out, summary, results, started)


_PROBE_TEXT = "the old man sat on the bench and read his paper"


def _other_language_humans(identities: set[str]) -> tuple[list, dict[str, str]]:
    """Recorded humans of other languages that can read :data:`_PROBE_TEXT`, one per person.

    Returns the usable voices (sorted by id) and ``{voice id: why skipped}`` (e.g. festival's
    Hindi voice crashes on Latin script). ``identities`` (the people already chosen) is extended.
    """
    from .engines import ENGINES
    from .voices import other_language_voices

    found = other_language_voices()
    if not found:
        raise ConfigError("other_language_voices: no voice of another language is installed "
                          "(SPEECHRNN_EXTRA_VOICES=1 bash scripts/setup.sh installs festival's)")
    usable, skipped = [], {}
    for v in found:
        who = speaker_identity(v)
        if who in identities:
            continue
        try:
            ENGINES[v.engine].synthesize(_PROBE_TEXT, v)
        except SynthesisError as e:
            skipped[v.id] = str(e)[:200]
            continue
        identities.add(who)
        usable.append(v)
    return usable, skipped


def _trials(utts, per_utt: int, rng) -> list[tuple[int, str, str]]:
    """Balanced target (1) / non-target (0) pairs among ``utts`` (text-independent)."""
    by_spk: dict[str, list[str]] = {}
    for u in utts:
        by_spk.setdefault(u.speaker, []).append(u.id)
    trials = []
    spks = sorted(by_spk)
    if len(spks) < 2:
        return trials
    for u in utts:
        same = [i for i in by_spk[u.speaker] if i != u.id]
        others = [s for s in spks if s != u.speaker]
        for _ in range(per_utt // 2 or 1):
            if same:
                trials.append((1, u.id, same[int(rng.integers(len(same)))]))
            o = by_spk[others[int(rng.integers(len(others)))]]
            trials.append((0, u.id, o[int(rng.integers(len(o)))]))
    return trials
