"""Metrics as pure functions: WER/CER, keyword spotting, speaker identification/verification.

- ASR: :func:`error_rates`, :func:`error_report` (jiwer).
- Keywords: :func:`accuracy`, :func:`confusion_matrix`, :func:`threshold_for_fa_rate`,
  :func:`frr_at_fa_per_hour`, :func:`kws_det_curve`.
- Speakers: :func:`top_k_accuracy`, :func:`eer`, :func:`min_dcf`, :func:`det_points`,
  :func:`z_norm`, :func:`s_norm`.
"""
from .asr import ErrorRates, MetricsError, UtteranceErrors, error_rates, error_report
from .kws import (
    accuracy, confusion_matrix, frr_at_fa_per_hour, kws_det_curve, threshold_for_fa_rate,
)
from .speaker import cohort_stats, det_points, eer, min_dcf, s_norm, top_k_accuracy, z_norm

__all__ = [
    "ErrorRates", "MetricsError", "UtteranceErrors", "accuracy", "cohort_stats", "confusion_matrix",
    "det_points", "eer", "error_rates", "error_report", "frr_at_fa_per_hour", "kws_det_curve",
    "min_dcf", "s_norm", "threshold_for_fa_rate", "top_k_accuracy", "z_norm",
]
