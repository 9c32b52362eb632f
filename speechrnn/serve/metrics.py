"""Prometheus metrics of one server (own registry, so several apps can live in one process).

Exposed at ``/metrics`` in the text format. Names:

``speechrnn_requests_total{endpoint,status}``, ``speechrnn_request_seconds{endpoint}`` (histogram),
``speechrnn_active_streams``, ``speechrnn_streams_total{outcome}``,
``speechrnn_stream_final_seconds`` (end of audio -> final result sent, histogram),
``speechrnn_audio_seconds_total{kind}`` (``http`` | ``stream``),
``speechrnn_inference_seconds_total{kind}`` (worker time), ``speechrnn_rtf{kind}`` (per request or
stream: inference seconds / audio seconds, histogram), ``speechrnn_pending_jobs`` (worker queue).
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_RTF = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class Metrics:
    """The server's counters, gauges and histograms."""

    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("speechrnn_requests", "HTTP requests", ["endpoint", "status"], registry=r)
        self.request_seconds = Histogram("speechrnn_request_seconds", "HTTP request latency",
                                         ["endpoint"], buckets=_LATENCY, registry=r)
        self.active_streams = Gauge("speechrnn_active_streams", "open WebSocket streams", registry=r)
        self.streams = Counter("speechrnn_streams", "finished WebSocket streams", ["outcome"], registry=r)
        self.final_seconds = Histogram("speechrnn_stream_final_seconds",
                                       "end of audio -> final result sent", buckets=_LATENCY, registry=r)
        self.audio_seconds = Counter("speechrnn_audio_seconds", "audio processed", ["kind"], registry=r)
        self.inference_seconds = Counter("speechrnn_inference_seconds", "worker time spent",
                                         ["kind"], registry=r)
        self.rtf = Histogram("speechrnn_rtf", "real-time factor (inference / audio seconds)",
                             ["kind"], buckets=_RTF, registry=r)
        self.pending_jobs = Gauge("speechrnn_pending_jobs", "inference jobs queued or running", registry=r)

    def audio(self, kind: str, audio_s: float, compute_s: float) -> None:
        """Count ``audio_s`` seconds processed with ``compute_s`` seconds of worker time."""
        self.audio_seconds.labels(kind).inc(audio_s)
        self.inference_seconds.labels(kind).inc(compute_s)
        if audio_s > 0:
            self.rtf.labels(kind).observe(compute_s / audio_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
