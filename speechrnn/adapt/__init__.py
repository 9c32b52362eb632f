"""Adapt to the user's own audio without transcripts: a teacher labels it, speechrnn learns it.

- :mod:`.teacher`: Whisper via faster-whisper (the ``teacher`` extra), offline default tiny.en;
- :mod:`.segment`: VAD cuts of long recordings into training-sized manifest slices;
- :mod:`.filters`: which teacher labels to trust (one reason per drop);
- :mod:`.pseudolabel`: recordings -> labelled manifest, resumable;
- :mod:`.pipeline`: label -> hold out -> fine-tune -> LM -> tune decoding -> int8 export.

This room imports downwards only (audio, data, text, lm, training, tasks, inference, export);
nothing below imports it, and only it needs the ``teacher`` extra.
"""
from .pipeline import AdaptConfig, adapt
from .pseudolabel import PseudoLabelConfig, pseudo_label

__all__ = ["AdaptConfig", "adapt", "PseudoLabelConfig", "pseudo_label"]
