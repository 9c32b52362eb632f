"""Streaming keyword detection with a window classifier: windows -> posteriors -> events.

Pipeline
--------
1. Sliding windows of ``window_s`` seconds every ``hop_s`` seconds over the audio; all windows
   that are ready are classified in one batch (equal lengths, no padding).
2. Posterior smoothing: a causal moving average over the last ``smooth_windows`` posteriors
   of each class (:func:`smooth_posteriors`).
3. Events (:class:`EventDetector`): a run of consecutive hops where a keyword's smoothed
   posterior is ``>= threshold`` is one event; it is reported when the run ends, with the
   run's peak as its score and the peak window as its time span. An event whose peak lies
   within ``refractory_s`` of the previous reported detection (any keyword) is suppressed.

Window ``k`` covers samples ``[k * hop, k * hop + window)``; shorter audio is zero-padded to one
window, and the tail is covered by one last window ending at the end of the audio.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass
class DetectorConfig:
    """Settings of the sliding-window detector."""

    window_s: float = 1.0
    """Classifier window length in seconds (the training clip length)."""
    hop_s: float = 0.1
    """Seconds between window starts."""
    smooth_windows: int = 3
    """Causal moving average over this many window posteriors (1 = no smoothing)."""
    threshold: float = 0.5
    """Smoothed posterior a keyword must reach to fire, in [0, 1]."""
    thresholds: dict[str, float] | None = None
    """Per-keyword thresholds overriding ``threshold`` for the keywords they name (a model
    calibrated per keyword stores them as ``extra["kws_thresholds"]``)."""
    refractory_s: float = 1.0
    """No new detection whose peak lies this close after the previous detection's peak."""
    batch_windows: int = 64
    """Windows classified per forward pass."""

    def validate(self) -> None:
        if self.window_s <= 0 or self.hop_s <= 0 or self.hop_s > self.window_s:
            raise ConfigError(f"detector: need 0 < hop_s <= window_s, got hop_s={self.hop_s}, "
                              f"window_s={self.window_s}")
        if self.smooth_windows < 1 or self.batch_windows < 1:
            raise ConfigError("detector: smooth_windows and batch_windows must be >= 1")
        if not 0.0 <= self.threshold <= 1.0 or self.refractory_s < 0:
            raise ConfigError(f"detector: threshold must be in [0, 1] and refractory_s >= 0, got "
                              f"{self.threshold}, {self.refractory_s}")
        bad = {k: v for k, v in (self.thresholds or {}).items() if not 0.0 <= float(v) <= 1.0}
        if bad:
            raise ConfigError(f"detector: per-keyword thresholds must be in [0, 1], got {bad}")


def stored_detector(task: str, extra: dict, threshold: float | None,
                    detector: DetectorConfig | None) -> tuple[float | None, DetectorConfig | None]:
    """The threshold and detector settings a spotter loads a model file with.

    An explicit ``threshold`` wins for every keyword. Otherwise a keyword model's calibrated
    ``extra["kws_threshold"]`` (and its per-keyword ``kws_thresholds``, unless ``detector``
    names its own), or a transcription model's ``open_vocab_threshold``; ``None`` where the
    file stores none (the spotter's default then).

    >>> t, d = stored_detector("keywords", {"kws_threshold": 0.7, "kws_thresholds": {"yes": 0.8}}, None, None)
    >>> t, d.thresholds
    (0.7, {'yes': 0.8})
    >>> stored_detector("keywords", {"kws_threshold": 0.7}, 0.4, None)
    (0.4, None)
    """
    if threshold is not None:
        return threshold, detector
    if task != "keywords":
        return extra.get("open_vocab_threshold"), detector
    per = extra.get("kws_thresholds")
    if per and not (detector is not None and detector.thresholds):
        detector = dataclasses.replace(detector or DetectorConfig(), thresholds=dict(per))
    return extra.get("kws_threshold"), detector


@dataclass(frozen=True)
class KeywordDetection:
    """One detected keyword.

    Attributes
    ----------
    keyword : str
    start, end : float
        Seconds from the start of the audio (the peak window, or the CTC match span).
    score : float
        Peak smoothed posterior (classifier) or ``exp`` of the mean token log-posterior
        (open-vocabulary CTC search); in [0, 1].
    """

    keyword: str
    start: float
    end: float
    score: float

    def to_dict(self) -> dict:
        return {"keyword": self.keyword, "start": round(self.start, 3), "end": round(self.end, 3),
                "score": round(self.score, 4)}


def smooth_posteriors(posteriors: np.ndarray, n: int, history: np.ndarray | None = None) -> np.ndarray:
    """Causal moving average over the last ``n`` rows.

    Parameters
    ----------
    posteriors : np.ndarray, shape (N, C)
    n : int
        Window of the average; the first rows average over what exists (or over ``history``).
    history : np.ndarray, shape (H, C), optional
        Rows preceding ``posteriors`` (a streaming state); only the last ``n - 1`` are used.

    Returns
    -------
    np.ndarray, shape (N, C)
    """
    p = np.asarray(posteriors, dtype=np.float64)
    if n <= 1 or p.shape[0] == 0:
        return p.copy()
    h = np.zeros((0, p.shape[1])) if history is None else np.asarray(history, dtype=np.float64)[-(n - 1):]
    full = np.concatenate([h, p])  # (H+N, C)
    csum = np.concatenate([np.zeros((1, p.shape[1])), np.cumsum(full, axis=0)])  # (H+N+1, C)
    idx = np.arange(h.shape[0], full.shape[0])  # rows of `p` inside `full`
    lo = np.maximum(idx + 1 - n, 0)
    return (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)[:, None]  # (N, C)


class EventDetector:
    """Turn smoothed posteriors into keyword events (threshold, peak, refractory period).

    Feed posteriors hop by hop with :meth:`update`; call :meth:`flush` at the end of the audio.

    Parameters
    ----------
    class_names : list[str]
        Names of the posterior columns.
    keywords : list[str]
        Columns that can fire (e.g. every class but ``_unknown_``/``_silence_``).
    threshold, refractory_s : float
    window_s, hop_s : float
        Window ``k`` spans ``[k * hop_s, k * hop_s + window_s)`` seconds.
    thresholds : dict[str, float], optional
        Per-keyword thresholds (keywords not named use ``threshold``).

    Example
    -------
    >>> det = EventDetector(["yes", "_unknown_"], ["yes"], 0.5, 1.0, 1.0, 0.1)
    >>> p = np.array([[0.1, 0.9], [0.8, 0.2], [0.9, 0.1], [0.2, 0.8]])
    >>> [(d.keyword, d.start, d.score) for d in det.update(p, first_window=0)]
    [('yes', 0.2, 0.9)]
    """

    def __init__(self, class_names, keywords, threshold: float, refractory_s: float,
                 window_s: float, hop_s: float, thresholds: dict[str, float] | None = None):
        self.names = list(class_names)
        self.cols = [self.names.index(k) for k in keywords]
        self.threshold = threshold
        self.col_threshold = {c: float((thresholds or {}).get(self.names[c], threshold)) for c in self.cols}
        self.refractory_s = refractory_s
        self.window_s, self.hop_s = window_s, hop_s
        self._open: dict[int, tuple[int, float]] = {}  # column -> (peak window, peak score)
        self._last_peak = -np.inf  # seconds of the last reported detection's peak

    def _report(self, col: int, k: int, score: float) -> KeywordDetection | None:
        t = round(k * self.hop_s, 6)
        if t < self._last_peak + self.refractory_s - 1e-9:
            return None
        self._last_peak = t
        return KeywordDetection(self.names[col], t, round(t + self.window_s, 6), float(score))

    def update(self, smoothed: np.ndarray, first_window: int) -> list[KeywordDetection]:
        """Process rows ``(N, C)`` for windows ``first_window .. first_window + N - 1``."""
        out = []
        for r in range(smoothed.shape[0]):
            k = first_window + r
            closed = []
            for col in self.cols:
                s = smoothed[r, col]
                if s >= self.col_threshold[col]:
                    peak = self._open.get(col)
                    if peak is None or s > peak[1]:
                        self._open[col] = (k, s)
                elif col in self._open:
                    closed.append((col, *self._open.pop(col)))
            for col, pk, ps in sorted(closed, key=lambda c: c[1]):  # in time order of the peaks
                d = self._report(col, pk, ps)
                if d is not None:
                    out.append(d)
        return out

    def flush(self) -> list[KeywordDetection]:
        """Close every open event (end of audio)."""
        closed = sorted(((c, k, s) for c, (k, s) in self._open.items()), key=lambda c: c[1])
        self._open = {}
        return [d for d in (self._report(*c) for c in closed) if d is not None]


def detect_events(smoothed: np.ndarray, class_names, keywords, threshold: float, refractory_s: float,
                  window_s: float, hop_s: float) -> list[KeywordDetection]:
    """All events of a whole posterior sequence ``(N, C)`` (one :class:`EventDetector` pass)."""
    det = EventDetector(class_names, keywords, threshold, refractory_s, window_s, hop_s)
    return det.update(np.asarray(smoothed), 0) + det.flush()


class WindowClassifier:
    """Class posteriors of fixed-length windows with a keyword classifier model.

    Parameters
    ----------
    model : AcousticModel
        Classifier model (``forward`` -> logits ``(B, C)``), eval mode.
    window : int
        Window length in samples.
    batch : int
        Windows per forward pass.
    """

    def __init__(self, model, window: int, batch: int = 64):
        self.model = model.eval()
        self.window = window
        self.batch = batch

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """``(N, window)`` float32 samples -> posteriors ``(N, C)`` float64."""
        import torch  # here, so the rest of this module (reused by speechrnn.runtime) needs no torch

        out = []
        for i in range(0, windows.shape[0], self.batch):
            x = torch.from_numpy(np.ascontiguousarray(windows[i:i + self.batch]))  # (b, S)
            n = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)  # (b,)
            with torch.inference_mode():
                logits, _ = self.model(x, n)  # (b, C)
            out.append(torch.softmax(logits.float(), dim=-1).numpy().astype(np.float64))
        if not out:
            return np.zeros((0, self.model.num_outputs))
        return np.concatenate(out)  # (N, C)


class StreamingDetector:
    """Chunk-by-chunk keyword detection over a stream of 16 kHz samples.

    ``feed(samples)`` returns the detections finalized so far; ``finish()`` returns the rest.
    Memory is bounded by one window plus one chunk. ``posteriors`` (when ``keep_posteriors``)
    collects the smoothed posteriors ``(N, C)`` for evaluation and plots.

    Parameters
    ----------
    classifier : WindowClassifier
    class_names, keywords : list[str]
    cfg : DetectorConfig
    sample_rate : int
    """

    def __init__(self, classifier: WindowClassifier, class_names, keywords, cfg: DetectorConfig,
                 sample_rate: int = 16000, keep_posteriors: bool = False):
        cfg.validate()
        self.clf = classifier
        self.cfg = cfg
        self.sr = sample_rate
        self.window = int(round(cfg.window_s * sample_rate))
        self.hop = int(round(cfg.hop_s * sample_rate))
        # times follow the rounded sample counts
        self.events = EventDetector(class_names, keywords, cfg.threshold, cfg.refractory_s,
                                    self.window / sample_rate, self.hop / sample_rate, cfg.thresholds)
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # global sample index of _buf[0]
        self._next = 0  # index of the next window to classify
        self._history = np.zeros((0, len(class_names)))  # last raw posteriors, for smoothing
        self._total = 0  # samples fed
        self.keep_posteriors = keep_posteriors
        self.posteriors: list[np.ndarray] = []

    def _classify(self, starts: list[int]) -> list[KeywordDetection]:
        if not starts:
            return []
        idx = np.asarray(starts)[:, None] - self._buf_start + np.arange(self.window)[None]  # (N, W)
        post = self.clf(self._buf[idx])  # (N, W) -> (N, C)
        smoothed = smooth_posteriors(post, self.cfg.smooth_windows, self._history)
        self._history = np.concatenate([self._history, post])[-max(self.cfg.smooth_windows - 1, 1):]
        if self.keep_posteriors:
            self.posteriors.append(smoothed)
        first = self._next
        self._next += len(starts)
        return self.events.update(smoothed, first)

    def feed(self, samples) -> list[KeywordDetection]:
        """Append samples ``(S,)``; classify every complete window; return new detections."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, x])
        self._total += x.shape[0]
        end = self._buf_start + self._buf.shape[0]
        starts = []
        k = self._next
        while k * self.hop + self.window <= end:
            starts.append(k * self.hop)
            k += 1
        dets = self._classify(starts)
        # keep what the next window needs, and at least one window for the tail in finish()
        keep_from = min(self._next * self.hop, end - self.window)
        drop = min(max(keep_from - self._buf_start, 0), self._buf.shape[0])
        self._buf = self._buf[drop:]
        self._buf_start += drop
        return dets

    def finish(self) -> list[KeywordDetection]:
        """Classify the uncovered tail and close open events.

        The tail window ends at the end of the audio (audio shorter than one window is
        zero-padded); it is reported at the next hop index, up to ``hop_s`` after its true start.
        """
        dets = []
        end = self._buf_start + self._buf.shape[0]
        covered = (self._next - 1) * self.hop + self.window if self._next else 0
        if self._total > 0 and covered < end:
            start = max(end - self.window, 0)
            pad = start + self.window - end
            if pad > 0:
                self._buf = np.concatenate([self._buf, np.zeros(pad, dtype=np.float32)])
            dets += self._classify([start])
        return dets + self.events.flush()

    def smoothed_posteriors(self) -> np.ndarray:
        """All smoothed posteriors so far ``(N, C)`` (needs ``keep_posteriors=True``)."""
        if not self.posteriors:
            return np.zeros((0, self._history.shape[1]))
        return np.concatenate(self.posteriors)
