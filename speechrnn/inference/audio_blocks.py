"""Read a long audio file as a sequence of 16 kHz mono blocks, in bounded memory."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import audio_info
from ..errors import CorruptAudioError, InvalidSamplesError


def iter_file_blocks(path: str | Path, sample_rate: int, block_s: float = 10.0):
    """Yield float32 ``(N,)`` blocks of ``path`` downmixed and resampled to ``sample_rate``.

    Resampling is stateful across blocks (``soxr.ResampleStream``), so the concatenated blocks
    equal a whole-file resampling up to the resampler's precision. Raises the same errors as
    :func:`speechrnn.audio.load_audio` for unusable files.
    """
    info = audio_info(path)  # missing / not audio / unsupported -> AudioError
    src_rate = int(info.sample_rate)
    resampler = None
    if src_rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(src_rate, sample_rate, 1, dtype="float32", quality="HQ")
    block = max(1, int(block_s * src_rate))
    read = 0
    try:
        for data in sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True):
            x = data.mean(axis=1, dtype=np.float32)  # (N,C) -> (N,)
            if not np.isfinite(x).all():
                raise InvalidSamplesError(path, f"NaN/infinite samples after sample {read}")
            read += x.shape[0]
            yield resampler.resample_chunk(x) if resampler is not None else x
    except sf.SoundFileError as e:
        raise CorruptAudioError(path, f"decoding failed after {read} frames: {e}") from None
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)
