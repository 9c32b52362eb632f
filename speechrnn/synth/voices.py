"""Voice discovery, selection and held-out splits.

Example
-------
>>> report = list_voices()                                  # doctest: +SKIP
>>> report.missing                                          # doctest: +SKIP
{}
>>> train, held = split_voices(select_voices(report.voices, ["flite:*"]), 0.2, seed=0)  # doctest: +SKIP
"""
from __future__ import annotations

import fnmatch
import functools
import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import SynthesisError
from .engines import ENGINES, Voice
from .timbres import espeak_data_dir, timbre_name

__all__ = ["VoiceReport", "list_voices", "generated_voices", "other_language_voices", "select_voices", "speaker_identity", "split_voices", "voice_by_id"]


@dataclass
class VoiceReport:
    """Voices found per engine, and why the missing engines are missing."""

    voices: list[Voice] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def by_engine(self) -> dict[str, list[Voice]]:
        out: dict[str, list[Voice]] = {name: [] for name in ENGINES}
        for v in self.voices:
            out[v.engine].append(v)
        return out

    def format(self, verbose: bool = False) -> str:
        """Human-readable summary (one line per engine, or per voice when ``verbose``)."""
        lines = []
        for name, vs in self.by_engine().items():
            if name in self.missing:
                lines.append(f"{name:10s} MISSING: {self.missing[name]}")
                continue
            shown = [v.name for v in vs] if verbose else [v.name for v in vs if "+" not in v.name]
            extra = f" (+{len(vs) - len(shown)} variant combinations)" if len(shown) < len(vs) else ""
            lines.append(f"{name:10s} {len(vs)} voices: {', '.join(shown)}{extra}")
        return "\n".join(lines)


def list_voices(engines: list[str] | None = None) -> VoiceReport:
    """Discover the voices of ``engines`` (default: all); missing engines are reported."""
    names = list(ENGINES) if engines is None else engines
    report = VoiceReport()
    for name in names:
        if name not in ENGINES:
            raise SynthesisError(f"unknown engine {name!r} (known: {sorted(ENGINES)})")
        why = ENGINES[name].missing()
        if why:
            report.missing[name] = why
        else:
            report.voices += ENGINES[name].voices()
    return report


def other_language_voices() -> list[Voice]:
    """Every engine's installed voices of languages other than English, sorted by id
    (:meth:`Engine.other_language_voices`: training-only speakers, never in :func:`list_voices`)."""
    return sorted((v for e in ENGINES.values() for v in e.other_language_voices()), key=lambda v: v.id)


def select_voices(voices: list[Voice], patterns: list[str] | None) -> list[Voice]:
    """Voices whose id matches any glob in ``patterns`` (``espeak-ng:en-us*``, ``piper:*``).

    A bare engine name selects all its voices. Raises :class:`SynthesisError` when a pattern
    matches nothing (naming the pattern) or nothing is selected.
    """
    if not patterns:
        chosen = list(voices)
    else:
        chosen, seen = [], set()
        for pat in patterns:
            glob = pat if ":" in pat else pat + ":*"  # a bare name selects an engine
            hits = [v for v in voices if fnmatch.fnmatchcase(v.id, glob)]
            if not hits:
                raise SynthesisError(f"voice pattern {pat!r} matches none of the {len(voices)} voices found "
                                     "(see `speechrnn synth voices`)")
            for v in hits:
                if v.id not in seen:
                    seen.add(v.id)
                    chosen.append(v)
    if not chosen:
        raise SynthesisError("no voices available: install espeak-ng, flite, festival or piper-tts "
                             "(scripts/setup.sh)")
    return chosen


def voice_by_id(voice_id: str, voices: list[Voice] | None = None) -> Voice:
    """Find a voice by ``engine:name``; :class:`SynthesisError` when unknown."""
    engine, _, name = voice_id.partition(":")
    if voices is None:
        if engine not in ENGINES:
            raise SynthesisError(f"unknown engine {engine!r} in voice {voice_id!r} (known: {sorted(ENGINES)})")
        return ENGINES[engine].voice(name)
    for v in voices:
        if v.id == voice_id:
            return v
    raise SynthesisError(f"unknown voice {voice_id!r}")


# the lines of an espeak-ng variant file that shape the voice itself (vocal tract and source);
# echo, roughness, intonation and pitch ranges are left out (room and prosody, which the
# speaker preset draws per speaker anyway)
_TIMBRE_KEYS = ("formant", "klatt", "tone", "breath", "breathw", "voicing")
# a human recorded by several engines: flite kal/kal16 and festival kal_diphone are one man
_HUMAN_NAME = re.compile(r"^(?:cmu_us_)?([a-z]+?)\d*(?:_arctic)?(?:_(?:diphone|hts|clunits|cg))*$")


@functools.lru_cache(maxsize=None)
def _espeak_variant_timbre(variant_file: str) -> str:
    """A short signature of an espeak-ng variant's timbre lines; the file name if unreadable."""
    data = espeak_data_dir()
    path = data / "voices" / "!v" / variant_file if data else None
    if path is None or not path.is_file():
        return variant_file.lower()
    lines = sorted(" ".join(line.split("//")[0].split()) for line in
                   path.read_text(encoding="utf-8", errors="replace").splitlines())
    timbre = [ln for ln in lines if ln and ln.split()[0].lower() in _TIMBRE_KEYS]
    return "timbre-" + hashlib.sha1("\n".join(timbre).encode()).hexdigest()[:10] if timbre else variant_file.lower()


def speaker_identity(voice) -> str:
    """Who a voice *is*, so that one person never counts as two speakers.

    * espeak-ng: the variant's timbre. ``en-gb+travis`` and ``en-us+travis`` differ only in
      accent; variants whose files give the same formant/voice-source lines (``RicishayMax2``,
      ``RicishayMax3`` and ``robosoft7``; ``Gene``/``Gene2``...) are one timbre; a base voice
      without a variant speaks with espeak-ng's default timbre.
    * flite / festival: the recorded human (``flite:kal``, ``flite:kal16`` and
      ``festival:kal_diphone`` are all Kal; ``flite:slt`` and ``festival:cmu_us_slt_arctic_hts``
      are SLT).
    * piper: the model's speaker (``en_US-joe-medium`` -> joe, ``en_US-libritts-high#12``).
    """
    if voice.engine == "espeak-ng":
        if "+" not in voice.name:
            return "espeak-ng+default"
        return "espeak-ng+" + _espeak_variant_timbre(voice.arg.split("+", 1)[1] if "+" in voice.arg
                                                     else voice.name.split("+", 1)[1])
    if voice.engine in ("flite", "festival"):
        m = _HUMAN_NAME.match(voice.name.lower())
        return "human:" + (m.group(1) if m else voice.name.lower())
    if voice.engine == "piper":
        stem, _, spk = voice.name.partition("#")
        parts = stem.split("-")
        return "human:" + (parts[1] if len(parts) >= 3 else stem) + (f"#{spk}" if spk else "")
    return voice.id


def split_voices(voices: list[Voice], held_out: float | int, seed: int = 0,
                 min_speakers: int = 2) -> tuple[list[Voice], list[Voice]]:
    """Split into (training voices, held-out voices) by *speaker*, per engine, deterministically.

    Whole speakers (:func:`speaker_identity`) are held out, never single voices: an espeak-ng
    timbre held out in one accent is held out in every accent, and a human recorded by two
    engines is on one side only, so "unseen voice" figures are about voices never heard.

    Parameters
    ----------
    held_out : float or int
        Fraction of each engine's speakers (float in ``[0, 1)``) or a total count of speakers
        (int). An engine with at least ``min_speakers`` speakers keeps at least one on each
        side; an engine with fewer stays in training. A speaker spanning engines is filed under
        the first of them alphabetically.
    min_speakers : int
        Smallest engine (in speakers) that gives any speaker to the held-out side. The default
        2 holds out one of two; a validation split taken from training speakers uses a larger
        value so that engines with only a few recorded humans keep them all for training.
    """
    rng = np.random.default_rng(seed)
    by_who: dict[str, list[Voice]] = {}
    for v in sorted(voices, key=lambda v: v.id):
        by_who.setdefault(speaker_identity(v), []).append(v)
    groups: dict[str, list[str]] = {}
    for who in sorted(by_who):
        groups.setdefault(min(v.engine for v in by_who[who]), []).append(who)
    total = sum(len(g) for g in groups.values())
    train, held = [], []
    for name in sorted(groups):
        g = groups[name]
        order = rng.permutation(len(g))
        if isinstance(held_out, float):
            k = int(round(held_out * len(g)))
        else:
            k = int(round(held_out * len(g) / max(total, 1)))
        if len(g) >= max(min_speakers, 2) and held_out:
            k = min(max(k, 1), len(g) - 1)
        else:
            k = 0
        held += [v for i in sorted(order[:k]) for v in by_who[g[i]]]
        train += [v for i in sorted(order[k:]) for v in by_who[g[i]]]
    return sorted(train, key=lambda v: v.id), sorted(held, key=lambda v: v.id)


def generated_voices(count: int, seed: int, bases: list) -> list:
    """``count`` new speakers: generated timbre ``i`` of ``seed`` speaking one base accent.

    Parameters
    ----------
    bases : list of Voice
        espeak-ng base voices (no variant) to draw the accent from, e.g. the installed English
        ones; a timbre keeps one accent, as a person does.
    """
    if count <= 0:
        return []
    bases = [b for b in bases if b.engine == "espeak-ng" and "+" not in b.name and not b.arg.startswith("mb/")]
    if not bases:
        raise SynthesisError("generated timbres need an installed espeak-ng English voice")
    rng = np.random.default_rng([int(seed), 104729])
    voices = []
    for i in range(count):
        b = bases[int(rng.integers(len(bases)))]
        voices.append(ENGINES["espeak-ng"].voice(f"{b.name}+{timbre_name(seed, i)}"))
    return voices
