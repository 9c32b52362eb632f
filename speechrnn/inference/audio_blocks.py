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


MAX_STREAM_CHANNELS = 8


class StreamInput:
    """Chunks of a live stream -> float32 mono blocks at ``model_rate`` (stateful resampling).

    What microphone and network sources give is accepted as is:

    * numpy arrays / torch tensors, ``(N,)`` mono or ``(N, C)`` interleaved frames with
      ``C <= 8`` channels (averaged); float in ``[-1, 1]``, or integer PCM (``int16``,
      ``int32``: scaled by ``2**15`` / ``2**31``; ``uint8``: offset 128);
    * ``bytes`` / ``bytearray`` / ``memoryview``: 16-bit little-endian mono PCM (what a
      WebSocket client sends); an odd byte is kept for the next chunk.

    Resampling from ``sample_rate`` is stateful (``soxr.ResampleStream``), so the blocks
    concatenated equal resampling the whole recording at once; :meth:`flush` returns the
    resampler's tail at the end of the stream.

    Parameters
    ----------
    sample_rate : int or None
        Rate of the chunks in Hz (default: ``model_rate``).
    model_rate : int
        Rate of the blocks returned.

    Raises
    ------
    AudioError
        For a non-positive rate, a chunk of another shape or sample type; ``InvalidSamplesError``
        for NaN/infinite samples (the chunk is dropped, the stream stays usable).
    """

    def __init__(self, sample_rate: int | None, model_rate: int):
        from ..errors import AudioError

        rate = model_rate if sample_rate is None else sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise AudioError(None, f"stream sample_rate must be a positive integer (Hz), got {sample_rate!r}")
        self.sample_rate = int(rate)
        self.model_rate = model_rate
        self._odd = b""  # a dangling byte of 16-bit PCM
        self._fed = 0  # input samples accepted so far
        self._resampler = None
        if self.sample_rate != model_rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.sample_rate, model_rate, 1, dtype="float32",
                                                  quality="HQ")

    def _to_float(self, chunk) -> np.ndarray:
        from ..errors import AudioError

        if isinstance(chunk, (bytes, bytearray, memoryview)):
            data = self._odd + bytes(chunk)
            cut = len(data) - len(data) % 2
            self._odd = data[cut:]
            return np.frombuffer(data[:cut], dtype="<i2").astype(np.float32) / 32768.0
        if hasattr(chunk, "detach"):  # torch.Tensor, without importing torch here
            chunk = chunk.detach().cpu().numpy()
        x = np.asarray(chunk)
        if x.ndim == 2 and x.shape[0] == 1 and x.shape[1] > MAX_STREAM_CHANNELS:
            x = x[0]  # (1, N): one channel, torch style
        if x.ndim == 0 or x.ndim > 2 or (x.ndim == 2 and x.size and not 1 <= x.shape[1] <= MAX_STREAM_CHANNELS):
            raise AudioError(None, f"stream chunks must be (N,) mono or (N, C) frames with C <= "
                                   f"{MAX_STREAM_CHANNELS}, got shape {x.shape}")
        if x.dtype == np.uint8:
            x = (x.astype(np.float32) - 128.0) / 128.0
        elif np.issubdtype(x.dtype, np.signedinteger):
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        elif np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32, copy=False)
        else:
            raise AudioError(None, f"unsupported sample type {x.dtype} in a stream chunk "
                                   "(use float, int16, int32 or uint8 samples, or 16-bit PCM bytes)")
        if x.ndim == 2:
            x = x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]  # (N,C) -> (N,)
        return x.reshape(-1)

    def convert(self, chunk) -> np.ndarray:
        """One chunk -> float32 ``(M,)`` at ``model_rate`` (``M`` may be 0 while resampling)."""
        x = self._to_float(chunk)
        bad = ~np.isfinite(x)
        if bad.any():
            raise InvalidSamplesError(None, f"{int(bad.sum())} NaN/infinite sample(s) in a stream "
                                            f"chunk, first at stream sample {self._fed + int(np.argmax(bad))}")
        self._fed += x.shape[0]
        if self._resampler is None:
            return np.ascontiguousarray(x, dtype=np.float32)
        return self._resampler.resample_chunk(np.ascontiguousarray(x, dtype=np.float32))

    def flush(self) -> np.ndarray:
        """The resampler's remaining output at the end of the stream, float32 ``(M,)``."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
