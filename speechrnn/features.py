"""MFCC / log-mel front-end as an ``nn.Module`` that lives inside the model.

The front-end turns a padded batch of waveforms into padded feature frames:
``(B, S) + lengths -> (B, T, F) + frame lengths``. Everything constant (window,
mel filterbank, DCT with liftering, global CMVN statistics) is a buffer computed in
``__init__``, so the module is fast, moves with ``.to(device)``, is saved in the
model's ``state_dict`` and scripts with ``torch.jit.script``.

Two styles reproduce two reference implementations:

``style="kaldi"``
    ``torchaudio.compliance.kaldi.mfcc`` / ``fbank``: ``snip_edges`` framing
    (``1 + (S - win) // hop`` frames), per-frame DC removal and pre-emphasis, Povey
    window, FFT size rounded up to a power of two, Kaldi mel banks, natural log
    floored at float32 epsilon, DCT-II with Kaldi's cepstral liftering.
``style="librosa"``
    ``librosa.feature.mfcc`` / ``melspectrogram``: centred frames with zero padding
    (``1 + S // hop`` frames; librosa >= 0.10's ``pad_mode="constant"``), periodic
    Hann window, Slaney mel filters, ``power_to_db`` with ``top_db`` clipping,
    orthonormal DCT-II and librosa's liftering.

Then, in this order: deltas / delta-deltas (edge frames replicated per item),
CMVN (per utterance over its valid frames, or global statistics), SpecAugment
(training mode only; masks stay inside each item's valid frames), and padded frames
are set to zero. Padding never changes an item's features.

Example
-------
>>> import torch
>>> fe = MFCCFrontend(FeatureConfig(n_mfcc=13, n_mels=23, deltas=2))
>>> feats, n = fe(torch.randn(2, 16000), torch.tensor([16000, 8000]))
>>> feats.shape, n.tolist(), fe.output_dim
(torch.Size([2, 98, 39]), [98, 48], 39)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Literal

import torch
from torch import Tensor, nn

from .errors import ConfigError

__all__ = ["FeatureConfig", "SpecAugmentConfig", "MFCCFrontend", "compute_global_cmvn", "vtlp_warp_factors"]

# Kaldi floors mel energies at float32 epsilon before the log.
_KALDI_EPS = float(torch.finfo(torch.float32).eps)
# librosa.power_to_db's default amin.
_DB_AMIN = 1e-10


@dataclass
class SpecAugmentConfig:
    """SpecAugment masking, applied only when the front-end is in ``.train()`` mode.

    Masks are drawn independently per item and per mask, inside each item's valid
    frames, and filled with 0 (the mean after CMVN). Set counts to 0 to disable.
    """

    freq_masks: int = 0  # number of frequency bands masked per item
    freq_width: int = 8  # maximum band width in coefficients (of the static block)
    time_masks: int = 0  # number of time spans masked per item
    time_width: int = 40  # maximum span width in frames
    time_ratio: float = 0.2  # also cap a span at this fraction of the item's frames

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the bad field."""
        for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, name) < 0:
                raise ConfigError(f"SpecAugmentConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.time_ratio <= 1.0:
            raise ConfigError(f"SpecAugmentConfig.time_ratio must be in (0, 1], got {self.time_ratio}")

    @property
    def enabled(self) -> bool:
        """True if any mask would be applied."""
        return (self.freq_masks > 0 and self.freq_width > 0) or (
            self.time_masks > 0 and self.time_width > 0
        )


@dataclass
class FeatureConfig:
    """Settings of :class:`MFCCFrontend`; saved in checkpoints so a model rebuilds its input.

    Load from a mapping with ``speechrnn.config.from_dict(FeatureConfig, d)`` (unknown
    keys fail). Defaults are Kaldi's MFCC settings with 40 coefficients.
    """

    sample_rate: int = 16000  # Hz of the input waveforms
    kind: Literal["mfcc", "fbank"] = "mfcc"  # cepstra, or log-mel filterbank energies
    style: Literal["kaldi", "librosa"] = "kaldi"  # which reference implementation to match
    n_mfcc: int = 40  # cepstral coefficients kept (kind="mfcc"); <= n_mels
    n_mels: int = 40  # mel filters
    win_ms: float = 25.0  # analysis window length in milliseconds
    hop_ms: float = 10.0  # frame shift in milliseconds
    n_fft: int | None = None  # FFT size; None = next power of two >= window length
    preemphasis: float = 0.97  # y[n] = x[n] - a*x[n-1]; 0 disables
    dither: float = 0.0  # std of Gaussian noise added in training mode (waveform units)
    f_min: float = 20.0  # lowest mel filter edge in Hz
    f_max: float | None = None  # highest mel filter edge in Hz; None = Nyquist
    lifter: float = 22.0  # cepstral liftering coefficient (kind="mfcc"); 0 disables
    top_db: float | None = 80.0  # librosa style: clip dB this far below each item's peak
    deltas: int = 0  # 0 = static only, 1 = + deltas, 2 = + deltas and delta-deltas
    delta_window: int = 2  # N in the regression formula (window of 2N+1 frames)
    cmvn: Literal["none", "utterance", "global"] = "utterance"  # mean/variance normalization
    cmvn_variance: bool = True  # also divide by the standard deviation
    # training only: vocal tract length perturbation, each item's frequency axis warped by a
    # factor drawn from [1 - vtlp, 1 + vtlp] (0 = off); makes voices the model never heard
    # less foreign. Leave it off for speaker models: the warp changes who is speaking.
    vtlp: float = 0.0
    vtlp_steps: int = 9  # warp factors precomputed over that range (odd: 1.0 is one of them)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)

    # ------------------------------------------------------------------ derived
    @property
    def win_length(self) -> int:
        """Window length in samples (Kaldi's truncating rule)."""
        return int(self.sample_rate * self.win_ms * 0.001)

    @property
    def hop_length(self) -> int:
        """Frame shift in samples (Kaldi's truncating rule)."""
        return int(self.sample_rate * self.hop_ms * 0.001)

    @property
    def fft_size(self) -> int:
        """FFT size in samples."""
        if self.n_fft is not None:
            return self.n_fft
        return 1 << max(self.win_length - 1, 1).bit_length()

    @property
    def base_dim(self) -> int:
        """Features per frame before deltas."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def output_dim(self) -> int:
        """Features per frame after deltas."""
        return self.base_dim * (1 + self.deltas)

    def validate(self) -> None:
        """Check every field; raise :class:`ConfigError` naming the bad one."""
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"FeatureConfig.{name}: {why} (got {getattr(self, name)!r})")

        if self.kind not in ("mfcc", "fbank"):
            raise bad("kind", "must be 'mfcc' or 'fbank'")
        if self.style not in ("kaldi", "librosa"):
            raise bad("style", "must be 'kaldi' or 'librosa'")
        if self.cmvn not in ("none", "utterance", "global"):
            raise bad("cmvn", "must be 'none', 'utterance' or 'global'")
        if self.sample_rate <= 0:
            raise bad("sample_rate", "must be positive")
        if self.n_mels < (4 if self.style == "kaldi" else 1):
            raise bad("n_mels", "too few mel filters (Kaldi style needs at least 4)")
        if self.kind == "mfcc" and not 1 <= self.n_mfcc <= self.n_mels:
            raise bad("n_mfcc", f"must be between 1 and n_mels={self.n_mels}")
        if self.win_ms <= 0 or self.win_length < 2:
            raise bad("win_ms", "window must span at least 2 samples")
        if self.hop_ms <= 0 or self.hop_length < 1:
            raise bad("hop_ms", "frame shift must span at least 1 sample")
        if self.n_fft is not None and self.n_fft < self.win_length:
            raise bad("n_fft", f"must be >= the window length ({self.win_length} samples)")
        if not 0.0 <= self.preemphasis < 1.0:
            raise bad("preemphasis", "must be in [0, 1)")
        if self.dither < 0:
            raise bad("dither", "must be >= 0")
        nyquist = self.sample_rate / 2
        f_max = nyquist if self.f_max is None else self.f_max
        if not 0.0 <= self.f_min < f_max <= nyquist:
            raise bad("f_min", f"need 0 <= f_min < f_max <= {nyquist:g} Hz (f_max={f_max:g})")
        if self.lifter < 0:
            raise bad("lifter", "must be >= 0")
        if self.top_db is not None and self.top_db <= 0:
            raise bad("top_db", "must be positive or None")
        if self.deltas not in (0, 1, 2):
            raise bad("deltas", "must be 0, 1 or 2")
        if self.delta_window < 1:
            raise bad("delta_window", "must be >= 1")
        if not 0.0 <= self.vtlp < 0.5:
            raise bad("vtlp", "must be in [0, 0.5) (0 = off; 0.1 = warp factors 0.9-1.1)")
        if self.vtlp_steps < 2:
            raise bad("vtlp_steps", "must be >= 2")
        if not isinstance(self.spec_augment, SpecAugmentConfig):
            raise bad("spec_augment", "must be a SpecAugmentConfig")
        self.spec_augment.validate()


# --------------------------------------------------------------------------- #
# Constant matrices (built once, stored as buffers)
# --------------------------------------------------------------------------- #
def _mel_filterbank(cfg: FeatureConfig) -> Tensor:
    """Mel filters as a ``(n_fft // 2 + 1, n_mels)`` matrix for the chosen style."""
    n_freqs = cfg.fft_size // 2 + 1
    f_max = cfg.sample_rate / 2 if cfg.f_max is None else cfg.f_max
    if cfg.style == "kaldi":
        from torchaudio.compliance.kaldi import get_mel_banks

        banks, _ = get_mel_banks(
            cfg.n_mels, cfg.fft_size, float(cfg.sample_rate), cfg.f_min, f_max, 100.0, -500.0, 1.0
        )  # (n_mels, n_fft // 2): Kaldi ignores the Nyquist bin
        banks = torch.nn.functional.pad(banks, (0, 1))  # (n_mels, n_freqs)
        return banks.t().contiguous().float()
    from torchaudio.functional import melscale_fbanks

    return melscale_fbanks(
        n_freqs, cfg.f_min, f_max, cfg.n_mels, cfg.sample_rate, norm="slaney", mel_scale="slaney"
    ).float()  # (n_freqs, n_mels)


def vtlp_warp_factors(cfg: FeatureConfig) -> Tensor:
    """The ``(K,)`` VTLP warp factors, evenly spaced over ``[1 - vtlp, 1 + vtlp]``."""
    return torch.linspace(1.0 - cfg.vtlp, 1.0 + cfg.vtlp, cfg.vtlp_steps, dtype=torch.float64)


def _vtlp_filterbanks(cfg: FeatureConfig, base: Tensor) -> Tensor:
    """Mel filterbanks on warped frequency axes, ``(K, n_freqs, n_mels)``.

    VTLP (Jaitly & Hinton, 2013): filter ``m`` of the warped bank answers at frequency ``f``
    as the plain filter answers at ``g(f)``, ``g`` piecewise linear: ``g(f) = a f`` up to
    ``f0 = 0.85 * nyquist * min(a, 1) / a``, then the straight line to ``(nyquist, nyquist)``,
    so the band edges stay put. A formant at ``F`` lands in the filters centred near ``a F``:
    ``a > 1`` moves formants up (a shorter vocal tract), ``a < 1`` down. ``base`` is the
    ``(n_freqs, n_mels)`` plain bank; its rows are linearly interpolated at ``g(f)``.
    """
    n_freqs = base.shape[0]
    nyquist = cfg.sample_rate / 2
    f = torch.linspace(0.0, nyquist, n_freqs, dtype=torch.float64)  # bin centre frequencies
    b = base.double()
    banks = []
    for a in vtlp_warp_factors(cfg).tolist():
        f0 = 0.85 * nyquist * min(a, 1.0) / a
        g = torch.where(f <= f0, a * f, a * f0 + (nyquist - a * f0) * (f - f0) / (nyquist - f0))
        pos = (g / nyquist * (n_freqs - 1)).clamp(0, n_freqs - 1)  # fractional source bin
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=n_freqs - 1)
        w = (pos - lo.to(pos.dtype))[:, None]
        banks.append(b[lo] * (1 - w) + b[hi] * w)  # (n_freqs, n_mels)
    return torch.stack(banks).float()  # (K, n_freqs, n_mels)


def _dct_matrix(cfg: FeatureConfig) -> Tensor:
    """Orthonormal DCT-II with liftering folded in, ``(n_mels, n_mfcc)``."""
    from torchaudio.functional import create_dct

    dct = create_dct(cfg.n_mfcc, cfg.n_mels, "ortho")  # (n_mels, n_mfcc)
    if cfg.lifter > 0:
        q = torch.arange(cfg.n_mfcc, dtype=torch.float64)
        if cfg.style == "librosa":
            q = q + 1  # librosa counts coefficients from 1
        lift = 1.0 + 0.5 * cfg.lifter * torch.sin(math.pi * q / cfg.lifter)
        dct = dct * lift.to(dct.dtype)  # scale column j by lift[j]
    return dct.float()


def _window(cfg: FeatureConfig) -> Tensor:
    """Analysis window zero-padded to ``n_fft``, ``(n_fft,)``.

    Kaldi: Povey window at the start of the FFT buffer (frames are zero-padded at the
    end). librosa: periodic Hann centred in the FFT buffer.
    """
    win, n_fft = cfg.win_length, cfg.fft_size
    if cfg.style == "kaldi":
        w = torch.hann_window(win, periodic=False, dtype=torch.float64).pow(0.85)
        return torch.nn.functional.pad(w, (0, n_fft - win)).float()
    w = torch.hann_window(win, periodic=True, dtype=torch.float64)
    left = (n_fft - win) // 2
    return torch.nn.functional.pad(w, (left, n_fft - win - left)).float()


# --------------------------------------------------------------------------- #
# Length-aware helpers (vectorized over the batch)
# --------------------------------------------------------------------------- #
def _frame_mask(lengths: Tensor, num_frames: int) -> Tensor:
    """``(B, T)`` bool, True on valid frames."""
    return torch.arange(num_frames, device=lengths.device)[None, :] < lengths[:, None]


def _deltas(x: Tensor, lengths: Tensor, n: int) -> Tensor:
    """Regression deltas over time, replicating each item's own edge frames.

    Parameters
    ----------
    x : Tensor
        ``(B, T, F)`` features (values past an item's length are ignored).
    lengths : Tensor
        ``(B,)`` valid frames per item.
    n : int
        Half window: ``d[t] = sum_k k (x[t+k] - x[t-k]) / (2 sum_k k^2)``, k = 1..n.

    Returns
    -------
    Tensor
        ``(B, T, F)``; equals ``torchaudio.functional.compute_deltas`` (replicate mode,
        ``win_length = 2n + 1``) on each item's valid frames.
    """
    B, T, F = x.shape
    if T == 0:
        return torch.zeros_like(x)
    # One gather builds each item's edge-replicated copy: ext[:, n + t] = x[:, clamp(t)]
    t = torch.arange(-n, T + n, device=x.device)[None, :]  # (1, T + 2n)
    last = (lengths - 1).clamp(min=0)[:, None]  # (B, 1)
    idx = torch.minimum(t.clamp(min=0), last)  # (B, T + 2n)
    ext = x.gather(1, idx[:, :, None].expand(B, T + 2 * n, F))  # (B, T + 2n, F)
    out = ext[:, n + 1 : n + 1 + T] - ext[:, n - 1 : n - 1 + T]
    denom = 2
    for k in range(2, n + 1):
        out = out + k * (ext[:, n + k : n + k + T] - ext[:, n - k : n - k + T])
        denom += 2 * k * k
    return out / float(denom)


class MFCCFrontend(nn.Module):
    """Waveforms to MFCC (or log-mel) frames, padding-invariant and scriptable.

    Parameters
    ----------
    cfg : FeatureConfig
        Settings; validated here.

    Attributes
    ----------
    output_dim : int
        Features per frame ``F`` (static * (1 + deltas)).
    window : Tensor
        ``(n_fft,)`` analysis window buffer.
    mel_fb : Tensor
        ``(n_fft // 2 + 1, n_mels)`` mel filterbank buffer.
    dct : Tensor
        ``(n_mels, n_mfcc)`` DCT-II with liftering and, for librosa style, the
        natural-log-to-dB factor (empty for ``kind="fbank"``).
    cmvn_mean, cmvn_std : Tensor
        ``(F,)`` global statistics used when ``cfg.cmvn == "global"``.

    Example
    -------
    >>> fe = MFCCFrontend(FeatureConfig(style="librosa", cmvn="none"))
    >>> feats, n = fe(torch.zeros(1, 16000), torch.tensor([16000]))
    >>> tuple(feats.shape), n.tolist()
    ((1, 101, 40), [101])
    """

    def __init__(self, cfg: FeatureConfig | None = None):
        super().__init__()
        cfg = cfg or FeatureConfig()
        cfg.validate()
        self.cfg = cfg
        # Plain attributes typed for TorchScript.
        self.kaldi: bool = cfg.style == "kaldi"
        self.mfcc: bool = cfg.kind == "mfcc"
        self.win_length: int = cfg.win_length
        self.hop_length: int = cfg.hop_length
        self.n_fft: int = cfg.fft_size
        self.mean_block: int = math.gcd(cfg.win_length, cfg.hop_length)
        self.preemphasis: float = float(cfg.preemphasis)
        self.dither: float = float(cfg.dither)
        self.log_floor: float = _KALDI_EPS if self.kaldi else _DB_AMIN
        # librosa works in dB = 10/ln(10) * ln(power); Kaldi in natural log.
        self.db_scale: float = 1.0 if self.kaldi else 10.0 / math.log(10.0)
        self.top_db: float = -1.0 if self.kaldi or cfg.top_db is None else float(cfg.top_db)
        self.deltas: int = cfg.deltas
        self.delta_window: int = cfg.delta_window
        self.cmvn: str = cfg.cmvn
        self.cmvn_variance: bool = cfg.cmvn_variance
        self.base_dim: int = cfg.base_dim
        self.output_dim: int = cfg.output_dim
        sa = cfg.spec_augment
        self.freq_masks: int = sa.freq_masks if sa.freq_width > 0 else 0
        self.freq_width: int = min(sa.freq_width, cfg.base_dim)
        self.time_masks: int = sa.time_masks if sa.time_width > 0 else 0
        self.time_width: int = sa.time_width
        self.time_ratio: float = float(sa.time_ratio)

        window = _window(cfg)
        self.register_buffer("window", window, persistent=False)
        mel_fb = _mel_filterbank(cfg)
        self.register_buffer("mel_fb", mel_fb, persistent=False)
        self.vtlp: bool = cfg.vtlp > 0
        vtlp_fb = _vtlp_filterbanks(cfg, mel_fb) if self.vtlp else torch.zeros(0, 0, 0)
        self.register_buffer("vtlp_fb", vtlp_fb, persistent=False)  # (K, n_freqs, n_mels)
        dct = _dct_matrix(cfg) * self.db_scale if self.mfcc else torch.zeros(0, 0)
        self.register_buffer("dct", dct, persistent=False)
        # Kaldi removes each frame's mean before pre-emphasis and windowing. By
        # linearity that is the spectrum of the raw frame minus mean * (1 - a) * W(f),
        # W = FFT of the window, real and imaginary parts (n_freqs,).
        window_dft = torch.fft.rfft(window.double())
        self.register_buffer("window_dft_re", window_dft.real.float(), persistent=False)
        self.register_buffer("window_dft_im", window_dft.imag.float(), persistent=False)
        self.register_buffer("cmvn_mean", torch.zeros(cfg.output_dim))
        self.register_buffer("cmvn_std", torch.ones(cfg.output_dim))

    # ------------------------------------------------------------------ lengths
    def num_frames(self, lengths: Tensor) -> Tensor:
        """Frames produced for waveforms of ``lengths`` samples.

        Parameters
        ----------
        lengths : Tensor
            ``(B,)`` int64 samples.

        Returns
        -------
        Tensor
            ``(B,)`` int64: ``1 + (S - win) // hop`` (0 if ``S < win``) for Kaldi style,
            ``1 + S // hop`` for librosa style.
        """
        if self.kaldi:
            n = torch.div(lengths - self.win_length, self.hop_length, rounding_mode="floor") + 1
            return torch.where(lengths >= self.win_length, n, torch.zeros_like(n))
        return torch.div(lengths, self.hop_length, rounding_mode="floor") + 1

    # ------------------------------------------------------------------ stages
    def _power_spectrum(self, x: Tensor) -> Tensor:
        """``(B, S)`` valid-masked waveforms -> power spectrum ``(B, T, n_fft//2+1)``."""
        if self.kaldi:
            return self._kaldi_power(x)
        spec = torch.stft(
            x, self.n_fft, self.hop_length, self.n_fft, self.window,
            center=True, pad_mode="constant", return_complex=True,
        ).transpose(1, 2)  # (B, n_freqs, T) -> (B, T, n_freqs), contiguous in memory
        re, im = spec.real, spec.imag
        return torch.addcmul(re * re, im, im)  # |X|^2, 3x faster than abs().pow(2)

    def _kaldi_power(self, x: Tensor) -> Tensor:
        """Kaldi framing with per-frame DC removal and pre-emphasis, via one STFT."""
        B, S = x.shape
        if S < self.win_length:  # no complete frame: keep shapes valid
            x = torch.nn.functional.pad(x, (0, self.win_length - S))
        # Per-frame pre-emphasis equals global pre-emphasis except at each frame's
        # first sample, which the Povey window zeroes anyway.
        # Frames are win_length samples zero-padded to n_fft at the end; the samples
        # added past S only ever meet zeros of the window.
        padded = torch.nn.functional.pad(x, (1, self.n_fft - self.win_length))  # (B, S+1+pad)
        padded = torch.sub(padded[:, 1:], padded[:, :-1], alpha=self.preemphasis)  # (B, S+pad)
        spec = torch.stft(
            padded, self.n_fft, self.hop_length, self.n_fft, self.window,
            center=False, return_complex=True,
        ).transpose(1, 2)  # (B, n_freqs, T) -> (B, T, n_freqs)
        scale = self._frame_means(x) * (1.0 - self.preemphasis)  # (B, T, 1)
        if S < self.win_length:
            spec = spec[:, :0]  # the padding made a frame that Kaldi would not
            scale = scale[:, :0]
        # Remove the DC offset: X(f) - scale * W(f), on real and imaginary parts.
        re = torch.addcmul(spec.real, scale, self.window_dft_re, value=-1.0)  # (B, T, n_freqs)
        im = torch.addcmul(spec.imag, scale, self.window_dft_im, value=-1.0)
        return torch.addcmul(re * re, im, im)

    def _frame_means(self, x: Tensor) -> Tensor:
        """Mean of each Kaldi frame of ``x (B, S)``, ``S >= win``: ``(B, T, 1)``."""
        if torch.compiler.is_compiling():  # export cannot prove the block identity below
            means = torch.nn.functional.avg_pool1d(x[:, None, :], self.win_length, self.hop_length)
            return means.transpose(1, 2)  # (B, 1, T) -> (B, T, 1)
        # Sums over blocks of gcd(win, hop) samples, then over each frame's blocks
        # (4x cheaper than avg_pool1d): (B, S) -> (B, nb, g) -> (B, nb) -> (B, T)
        g = self.mean_block
        nb = x.shape[1] // g
        blocks = x[:, : nb * g].reshape(x.shape[0], nb, g).sum(dim=2)
        sums = blocks.unfold(1, self.win_length // g, self.hop_length // g).sum(dim=2)
        return sums[:, :, None] / float(self.win_length)

    def _log_mel(self, power: Tensor, valid: Tensor) -> Tensor:
        """``(B, T, n_freqs)`` power -> natural-log mel energies ``(B, T, n_mels)``.

        librosa's decibels are ``10 / ln(10)`` times these; that factor is folded into
        the DCT (or applied in :meth:`_features` for fbank) to save a pass.
        """
        if self.training and self.vtlp and power.shape[0] > 0:
            pick = torch.randint(0, self.vtlp_fb.shape[0], (power.shape[0],), device=power.device)
            mel = torch.bmm(power, self.vtlp_fb[pick])  # (B, T, n_freqs) @ (B, n_freqs, M)
        else:
            mel = torch.matmul(power, self.mel_fb)  # (B, T, n_freqs) @ (n_freqs, M)
        logmel = torch.log(mel.clamp(min=self.log_floor))
        if self.top_db > 0:  # librosa: clip at top_db below each item's peak
            peak = logmel.masked_fill(~valid, -1e30).amax(dim=(1, 2), keepdim=True)  # (B, 1, 1)
            logmel = torch.maximum(logmel, peak - self.top_db / self.db_scale)
        return logmel

    def _normalize(self, x: Tensor, valid: Tensor, lengths: Tensor) -> Tensor:
        """CMVN on ``(B, T, F)`` using only frames where ``valid (B, T, 1)`` is True."""
        if self.cmvn == "global":
            x = x - self.cmvn_mean
            if self.cmvn_variance:
                x = x / self.cmvn_std
            return x
        if self.cmvn == "utterance":
            w = valid.to(x.dtype).transpose(1, 2)  # (B, T, 1) -> (B, 1, T)
            count = lengths.clamp(min=1).to(x.dtype)[:, None, None]  # (B, 1, 1)
            mean = torch.bmm(w, x) / count  # masked sum over time: (B, 1, F)
            x = x - mean
            if self.cmvn_variance:
                var = torch.bmm(w, x * x) / count  # (B, 1, F)
                x = x * torch.rsqrt(var.clamp(min=1e-10))
        return x

    def _spec_augment(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Random time/frequency masks on ``(B, T, F)``, inside each item's frames."""
        B, T, F = x.shape
        keep = torch.ones(B, T, F, dtype=torch.bool, device=x.device)
        if self.freq_masks > 0:
            f = torch.arange(self.base_dim, device=x.device)[None, :]  # (1, base)
            for _ in range(self.freq_masks):
                width = torch.randint(0, self.freq_width + 1, (B, 1), device=x.device)
                start = (torch.rand(B, 1, device=x.device) * (self.base_dim - width + 1)).long()
                band = (f >= start) & (f < start + width)  # (B, base)
                band = band.repeat(1, self.deltas + 1)  # same band in every delta block
                keep = keep & ~band[:, None, :]
        if self.time_masks > 0:
            t = torch.arange(T, device=x.device)[None, :]  # (1, T)
            cap = torch.minimum(
                torch.full_like(lengths, self.time_width),
                (lengths.to(torch.float32) * self.time_ratio).long(),
            )[:, None]  # (B, 1) max width per item
            for _ in range(self.time_masks):
                width = (torch.rand(B, 1, device=x.device) * (cap + 1).to(torch.float32)).long()
                room = (lengths[:, None] - width + 1).clamp(min=1)  # valid start positions
                start = (torch.rand(B, 1, device=x.device) * room.to(torch.float32)).long()
                span = (t >= start) & (t < start + width)  # (B, T)
                keep = keep & ~span[:, :, None]
        return x * keep.to(x.dtype)

    # ------------------------------------------------------------------ public
    def _features(self, waveforms: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Static features + deltas ``(B, T, F)`` (garbage past each item), lengths, valid."""
        B, S = waveforms.shape
        lengths = lengths.to(waveforms.device).long().clamp(min=0, max=S)
        x = waveforms.to(torch.float32)
        if self.training and self.dither > 0:
            x = x + self.dither * torch.randn_like(x)
        if not self.kaldi and B > 0:
            # Centred frames reach n_fft/2 past an item's end: that must read zeros.
            # (Kaldi's frames never leave the item, so its padding needs no cleaning.)
            # Only the tail past the shortest item needs masking (a data-dependent
            # size, which torch.export cannot trace: it masks everything instead).
            shortest = 0 if torch.compiler.is_compiling() else int(lengths.min())
            if shortest < S:
                keep = torch.arange(shortest, S, device=x.device)[None, :] < lengths[:, None]
                tail = x[:, shortest:].masked_fill(~keep, 0.0)  # (B, S - shortest)
                x = torch.cat([x[:, :shortest], tail], dim=1)  # (B, S)
        feat_lengths = self.num_frames(lengths)
        power = self._power_spectrum(x)  # (B, T, n_freqs)
        valid = _frame_mask(feat_lengths, power.shape[1])[:, :, None]  # (B, T, 1)
        feats = self._log_mel(power, valid)  # (B, T, n_mels)
        if self.mfcc:
            feats = torch.matmul(feats, self.dct)  # (B, T, n_mels) @ (n_mels, n_mfcc)
        elif self.db_scale != 1.0:
            feats = feats * self.db_scale  # natural log -> dB
        if self.deltas > 0:
            d1 = _deltas(feats, feat_lengths, self.delta_window)
            if self.deltas > 1:
                d2 = _deltas(d1, feat_lengths, self.delta_window)
                feats = torch.cat([feats, d1, d2], dim=2)  # (B, T, 3F)
            else:
                feats = torch.cat([feats, d1], dim=2)  # (B, T, 2F)
        return feats, feat_lengths, valid

    def extract(self, waveforms: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Static features plus deltas, before CMVN/SpecAugment.

        Parameters
        ----------
        waveforms : Tensor
            ``(B, S)`` float32, padded (padding content is ignored).
        lengths : Tensor
            ``(B,)`` int64 valid samples per item.

        Returns
        -------
        feats : Tensor
            ``(B, T, F)``, padded frames zero.
        feat_lengths : Tensor
            ``(B,)`` int64.
        """
        feats, feat_lengths, valid = self._features(waveforms, lengths)
        return feats * valid.to(feats.dtype), feat_lengths

    def forward(self, waveforms: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Compute normalized features.

        Parameters
        ----------
        waveforms : Tensor
            ``(B, S)`` float32 at ``cfg.sample_rate``, padded.
        lengths : Tensor
            ``(B,)`` int64 valid samples per item.

        Returns
        -------
        feats : Tensor
            ``(B, T, F)`` with ``T = num_frames(S)`` and ``F = output_dim``; frames past
            an item's length are zero.
        feat_lengths : Tensor
            ``(B,)`` int64 ``num_frames(lengths)``.
        """
        feats, feat_lengths, valid = self._features(waveforms, lengths)
        feats = self._normalize(feats, valid, feat_lengths)
        if self.training and (self.freq_masks > 0 or self.time_masks > 0):
            feats = self._spec_augment(feats, feat_lengths)
        return feats * valid.to(feats.dtype), feat_lengths

    def set_global_cmvn(self, mean: Tensor, std: Tensor) -> None:
        """Store global statistics ``mean (F,)`` and ``std (F,)`` (floored at 1e-5)."""
        if mean.shape != self.cmvn_mean.shape or std.shape != self.cmvn_std.shape:
            raise ConfigError(
                f"global CMVN stats must have shape ({self.output_dim},), "
                f"got {tuple(mean.shape)} and {tuple(std.shape)}"
            )
        self.cmvn_mean.copy_(mean)
        self.cmvn_std.copy_(std.clamp(min=1e-5))

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"style={c.style}, kind={c.kind}, dim={self.output_dim}, win={self.win_length}, "
            f"hop={self.hop_length}, n_fft={self.n_fft}, cmvn={c.cmvn}"
        )


@torch.no_grad()
def compute_global_cmvn(
    frontend: MFCCFrontend, batches: Iterable[tuple[Tensor, Tensor]]
) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of un-normalized features over all valid frames.

    Parameters
    ----------
    frontend : MFCCFrontend
        Used in eval mode (no dither, no SpecAugment); its mode is restored.
    batches : iterable of (waveforms (B, S), lengths (B,))
        The training data.

    Returns
    -------
    mean, std : Tensor
        ``(F,)`` float32 each; pass to :meth:`MFCCFrontend.set_global_cmvn`.
    """
    was_training = frontend.training
    frontend.eval()
    total = torch.zeros(frontend.output_dim, dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    count = 0
    try:
        for waveforms, lengths in batches:
            feats, n = frontend.extract(waveforms, lengths)  # (B, T, F), padding zero
            feats = feats.double().cpu()
            total += feats.sum(dim=(0, 1))
            total_sq += (feats * feats).sum(dim=(0, 1))
            count += int(n.sum())
    finally:
        frontend.train(was_training)
    if count == 0:
        raise ConfigError("compute_global_cmvn: the batches hold no complete frame (utterances "
                          "shorter than one analysis window?)")
    mean = total / count
    var = (total_sq / count - mean * mean).clamp(min=0.0)
    return mean.float(), var.sqrt().float()
