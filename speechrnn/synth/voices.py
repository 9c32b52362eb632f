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
from dataclasses import dataclass, field

import numpy as np

from ..errors import SynthesisError
from .engines import ENGINES, Voice

__all__ = ["VoiceReport", "list_voices", "select_voices", "split_voices", "voice_by_id"]


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


def split_voices(voices: list[Voice], held_out: float | int, seed: int = 0) -> tuple[list[Voice], list[Voice]]:
    """Split into (training voices, held-out voices), per engine, deterministically.

    Parameters
    ----------
    held_out : float or int
        Fraction of each engine's voices (float in ``[0, 1)``) or a total count (int).
        Each engine with at least two voices keeps at least one on each side; an engine
        with a single voice stays in training.
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[Voice]] = {}
    for v in sorted(voices, key=lambda v: v.id):
        groups.setdefault(v.engine, []).append(v)
    total = sum(len(g) for g in groups.values())
    train, held = [], []
    for name in sorted(groups):
        g = [g_ for g_ in groups[name]]
        order = rng.permutation(len(g))
        if isinstance(held_out, float):
            k = int(round(held_out * len(g)))
        else:
            k = int(round(held_out * len(g) / max(total, 1)))
        if len(g) >= 2 and held_out:
            k = min(max(k, 1), len(g) - 1)
        else:
            k = 0
        held += [g[i] for i in sorted(order[:k])]
        train += [g[i] for i in sorted(order[k:])]
    return train, held
