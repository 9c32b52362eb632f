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


# Files up to this long are read whole (with load_audio's full validation); longer ones stream.
WHOLE_FILE_MAX_S = 120.0


def input_blocks(audio, sample_rate: int | None, model_rate: int, block_s: float = 10.0):
    """Any API input -> ``(path or None, iterator of float32 (N,) blocks at model_rate)``.

    ``audio`` is a file path (read whole up to :data:`WHOLE_FILE_MAX_S`, else streamed in
    ``block_s`` blocks) or samples (numpy/torch, ``(S,)``, ``(S,C)`` or ``(C,S)``) at
    ``sample_rate`` (default: ``model_rate``). Bad input raises the ``AudioError`` subclasses.
    """
    from ..audio import load_audio, prepare_waveform

    if isinstance(audio, (str, Path)):
        if audio_info(audio).duration <= WHOLE_FILE_MAX_S:
            return str(audio), iter([load_audio(audio, model_rate)])
        return str(audio), iter_file_blocks(audio, model_rate, block_s)
    x = prepare_waveform(audio, model_rate if sample_rate is None else sample_rate, model_rate)
    return None, iter([x])
