"""Hard negatives for keyword classifiers: 1 s windows cut from running, keyword-free speech.

A classifier trained only on isolated words has never seen the middle of a sentence, so over a
stream it fires on fragments that sound like a keyword ("go" inside "going", "on" inside
"online"). Windows of keyword-free sentences labelled ``_unknown_`` teach it otherwise; the
streaming false-alarm rate is measured on *other* sentences (:mod:`speechrnn.kws.evaluate`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data.manifest import Utterance
from ..errors import ConfigError
from .evaluate import keyword_free

UNKNOWN = "_unknown_"


def speech_windows(utts: Sequence[Utterance], keywords: Sequence[str], *, window_s: float = 1.0,
                   per_utterance: int = 2, seed: int = 0, label: str = UNKNOWN) -> list[Utterance]:
    """Random ``window_s`` slices of the utterances whose text holds none of ``keywords``.

    Parameters
    ----------
    utts : sequence of Utterance
        Speech with ``text`` and ``duration`` (e.g. a transcription manifest).
    keywords : sequence of str
        Words that must not occur in a sentence for it to be cut (matched as whole words after
        :func:`speechrnn.text.normalize_text`).
    per_utterance : int
        Windows per sentence (fewer when the sentence is short; none when shorter than a window).

    Returns
    -------
    list[Utterance]
        ``id`` = ``<id>__neg<k>``, same audio with ``offset``/``duration`` set, ``label`` =
        ``label``, ``speaker`` kept, ``extra.negative_of`` = the source id. Deterministic in
        ``seed``.
    """
    if window_s <= 0 or per_utterance < 1:
        raise ConfigError(f"window_s must be > 0 and per_utterance >= 1, got {window_s}, {per_utterance}")
    if any(u.duration is None for u in utts):
        raise ConfigError("speech_windows needs durations in the manifest")
    rng = np.random.default_rng(seed)
    keep, _ = keyword_free([u for u in utts if u.text], keywords)
    out = []
    for u in keep:
        room = u.duration - window_s
        if room < 0:
            continue
        n = min(per_utterance, 1 + int(room / window_s))
        for k, start in enumerate(sorted(rng.uniform(0.0, room, size=n))):
            out.append(Utterance(id=f"{u.id}__neg{k}", audio=u.audio, offset=round(u.offset + start, 4),
                                 duration=window_s, speaker=u.speaker, label=label,
                                 extra={"negative_of": u.id}))
    return out
