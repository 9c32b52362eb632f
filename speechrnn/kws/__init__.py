"""Keyword spotting beyond the task class: streaming detector, open-vocabulary search,
evaluation harness (accuracy, confusion, FRR at false alarms per hour, DET) and the
custom-keyword builder.

- :mod:`.detector` - sliding windows over a classifier, smoothing, threshold, refractory period.
- :mod:`.openvocab` - any word or phrase with a CTC transcription model.
- :mod:`.evaluate` - ``speechrnn kws evaluate``: JSON report + PNGs.
- :mod:`.custom` - ``speechrnn kws train-custom WORD``: synthesize, train, save in a time budget
  (optionally on a pretrained encoder, with examples mined from the user's audio).
- :mod:`.mining` - keyword examples, hard negatives and a calibrated threshold from unlabeled
  recordings, found by a teacher's word timestamps (the teacher is passed in).
- :mod:`.nearmiss` - words that sound like a keyword (espeak-ng phonemes or letters).
"""
from .detector import (DetectorConfig, EventDetector, KeywordDetection, StreamingDetector,
                       WindowClassifier, detect_events, smooth_posteriors)
from .openvocab import OpenVocabularyStream, search_log_probs

__all__ = ["DetectorConfig", "EventDetector", "KeywordDetection", "OpenVocabularyStream",
           "StreamingDetector", "WindowClassifier", "detect_events", "search_log_probs",
           "smooth_posteriors"]
