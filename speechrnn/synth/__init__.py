"""Synthetic speech corpora from offline text-to-speech engines.

Modules: ``engines`` (espeak-ng, flite, festival, piper behind one interface), ``voices``
(discovery, selection, held-out splits), ``timbres`` (generated espeak-ng timbres: new
training-only speakers), ``augment`` (seeded noise/reverb/telephone/speed/
gain/silence, recorded per utterance), ``textsource`` (freely licensed sentences from Debian
packages), ``build`` (parallel, resumable, deterministic rendering) and ``presets``
(transcription, keywords in the Speech Commands layout, speakers).

Example
-------
>>> from speechrnn.synth import TranscriptionConfig, build_transcription      # doctest: +SKIP
>>> build_transcription("data/tts", TranscriptionConfig(hours=2.0, jobs=2))    # doctest: +SKIP
"""
from .augment import AugmentConfig, augment
from .engines import ENGINES, Voice, synthesize
from .presets import (KeywordConfig, SpeakerConfig, TranscriptionConfig, build_keywords,
                      build_speakers, build_transcription)
from .voices import generated_voices, list_voices, select_voices, split_voices

__all__ = ["AugmentConfig", "augment", "ENGINES", "Voice", "synthesize", "KeywordConfig",
           "SpeakerConfig", "TranscriptionConfig", "build_keywords", "build_speakers",
           "build_transcription", "generated_voices", "list_voices", "select_voices", "split_voices"]
