"""Which teacher labels to trust: pure functions, one reason per dropped segment.

Defaults follow Whisper's own thresholds (no-speech probability 0.6 with mean log-probability
below -1; compression ratio 2.4) and the hallucination filters used on large pseudo-labelled
corpora (a share of unique words <= 0.4, a word of >= 25 characters, known phrases Whisper
invents on silence). Two checks tie the text to the audio: too many characters per second
(text the audio cannot hold) and too few words for a long stretch of speech (speech the teacher
skipped; a CTC student would learn to drop it).

>>> check_label(TeacherLabel("Thank you.", -0.3, 0.2, 0.7), duration=2.0)
'known hallucination'
>>> check_label(TeacherLabel("Turn left at the light.", -0.2, 0.01, 0.9), duration=2.0) is None
True
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..text import normalize_text
from .teacher import TeacherLabel

__all__ = ["FilterConfig", "check_label", "DEFAULT_HALLUCINATIONS"]

# Phrases Whisper is known to produce on silence, music or noise (subtitle credits etc.),
# compared after normalize_text().
DEFAULT_HALLUCINATIONS = (
    "thank you", "thanks for watching", "thank you for watching", "thank you so much for watching",
    "please subscribe", "subscribe to my channel", "like and subscribe", "you",
    "subtitles by the amara org community", "bye", "bye bye", "so",
)
_NON_SPEECH = re.compile(r"^\s*[\[(][^\])]*[\])]\s*$")  # "[Music]", "(applause)"


@dataclass
class FilterConfig:
    """Thresholds of :func:`check_label`; set one to None to switch its check off."""

    max_no_speech_prob: float | None = 0.6    # together with avg_logprob < silence_logprob: silence
    silence_logprob: float = -1.0
    min_avg_logprob: float | None = -1.0      # below: low confidence
    max_compression_ratio: float | None = 2.4  # above: repetition loop
    min_unique_word_share: float | None = 0.4  # at or below (texts of >= 3 words): repeated words
    max_word_chars: int | None = 25           # at or above: hallucinated word
    max_chars_per_s: float | None = 25.0      # more text than the audio can hold
    min_words_per_s: float | None = 0.4       # for segments >= min_words_check_s: skipped speech
    min_words_check_s: float = 4.0
    min_language_probability: float | None = 0.7  # multilingual teachers only
    hallucinations: list[str] = field(default_factory=lambda: list(DEFAULT_HALLUCINATIONS))


def check_label(label: TeacherLabel, duration: float, cfg: FilterConfig | None = None,
                multilingual: bool = False) -> str | None:
    """``None`` when the label is trusted, else the reason it is dropped."""
    cfg = cfg or FilterConfig()
    raw = label.text.strip()
    if "♪" in raw or (raw and _NON_SPEECH.match(raw)):
        return "music or non-speech"
    text = normalize_text(raw)
    if not text:
        return "no speech heard"
    if (cfg.max_no_speech_prob is not None and label.no_speech_prob > cfg.max_no_speech_prob
            and label.avg_logprob < cfg.silence_logprob):
        return "silence"
    if multilingual and cfg.min_language_probability is not None and (
            label.language != "en" or label.language_probability < cfg.min_language_probability):
        return "other language"
    if text in {normalize_text(h) for h in cfg.hallucinations}:
        return "known hallucination"
    words = text.split()
    if cfg.max_word_chars is not None and max(len(w) for w in words) >= cfg.max_word_chars:
        return "hallucinated long word"
    if cfg.max_compression_ratio is not None and label.compression_ratio > cfg.max_compression_ratio:
        return "repetition"
    if (cfg.min_unique_word_share is not None and len(words) >= 3
            and len(set(words)) / len(words) <= cfg.min_unique_word_share):
        return "repetition"
    if cfg.min_avg_logprob is not None and label.avg_logprob < cfg.min_avg_logprob:
        return "low confidence"
    if cfg.max_chars_per_s is not None and len(text) / max(duration, 1e-3) > cfg.max_chars_per_s:
        return "more text than the audio holds"
    if (cfg.min_words_per_s is not None and duration >= cfg.min_words_check_s
            and len(words) / duration < cfg.min_words_per_s):
        return "speech the teacher skipped"
    return None
