"""Incremental decoders for live streams: bytes in, float32 mono blocks at the model's rate out.

Two encodings (:data:`ENCODINGS`):

* ``"pcm16"``: raw little-endian signed 16-bit mono PCM at a stated rate (:data:`MIN_RATE` to
  :data:`MAX_RATE` Hz). Chunks may have any length, odd byte counts included (a dangling byte
  waits for the next chunk). Samples are ``int16 / 32768``, as libsndfile reads 16-bit WAV.
* ``"container"``: an encoded stream (WAV, FLAC, Ogg, MP3, WebM/Opus as MediaRecorder sends,
  ...), decoded *incrementally* by FFmpeg (PyAV) in a helper thread that reads from an in-memory
  pipe. After each :meth:`ContainerDecoder.decode` call every sample FFmpeg can produce from the
  bytes so far has been produced; only the demuxer's own read-ahead delays them (the WAV
  demuxer reads 64 KB, about 2 s of 16-kHz PCM, before its first sample; WebM/Opus and Ogg
  decode page by page). The same demuxer whitelist and no-nested-open rule as
  :mod:`spoofscope.audio_av` apply to this untrusted input.

Both resample with the soxr streaming resampler at :data:`spoofscope.audio.RESAMPLE_QUALITY`,
the resampler :func:`spoofscope.inference_stream.stream_audio` uses, so a stream gives the
samples the detector gets from the same audio as a file.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import numpy as np

from spoofscope.audio import RESAMPLE_QUALITY
from spoofscope.audio_errors import AudioDecodeError, InvalidSamplesError

__all__ = ["ENCODINGS", "MAX_RATE", "MIN_RATE", "ContainerDecoder", "Pcm16Decoder", "make_decoder"]

ENCODINGS = ("pcm16", "container")
MIN_RATE = 8000
MAX_RATE = 48000
#: Bytes FFmpeg asks for per read (small, so that decoding follows the bytes closely).
AV_BUFFER = 1 << 12
#: Seconds a decode call waits for the decoder thread before giving up.
DECODE_TIMEOUT_S = 30.0


class Resampler:
    """Streaming conversion of float32 blocks at any (possibly changing) rate to ``rate_out``."""

    def __init__(self, rate_out: int) -> None:
        self.rate_out = int(rate_out)
        self.rate_in: int | None = None
        self._soxr: Any = None

    def _tail(self) -> list[np.ndarray]:
        if self._soxr is None:
            return []
        tail = np.asarray(self._soxr.resample_chunk(np.empty(0, np.float32), last=True))
        self._soxr = None
        return [tail.astype(np.float32)] if len(tail) else []

    def __call__(self, block: np.ndarray, rate: int) -> list[np.ndarray]:
        """Resample one ``(n,)`` block at ``rate``; returns the output blocks (maybe none)."""
        out: list[np.ndarray] = []
        if rate != self.rate_in:
            import soxr

            out += self._tail()
            self.rate_in = rate
            if rate != self.rate_out:
                self._soxr = soxr.ResampleStream(
                    rate, self.rate_out, 1, dtype="float32", quality=RESAMPLE_QUALITY
                )
        block = np.asarray(block, np.float32)
        if self._soxr is not None:
            block = np.asarray(self._soxr.resample_chunk(block), np.float32)
        if len(block):
            out.append(block)
        return out

    def flush(self) -> list[np.ndarray]:
        """The resampler's delayed last samples (call once at the end)."""
        return self._tail()


class Pcm16Decoder:
    """Raw little-endian int16 mono PCM at ``rate`` -> float32 at ``rate_out``.

    Raises:
        ValueError: ``rate`` outside ``[MIN_RATE, MAX_RATE]``.
    """

    def __init__(self, rate: int, rate_out: int) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(
                f"pcm16 sample rate must be an integer from {MIN_RATE} to {MAX_RATE} Hz, "
                f"got {rate!r}"
            )
        self.rate = rate
        self._carry = b""
        self._resample = Resampler(rate_out)

    def decode(self, data: bytes) -> list[np.ndarray]:
        """Float32 blocks for the whole samples in ``carry + data``."""
        data = self._carry + bytes(data)
        n = len(data) // 2 * 2
        self._carry = data[n:]
        if n == 0:
            return []
        samples = np.frombuffer(data[:n], dtype="<i2").astype(np.float32) / np.float32(32768)
        return self._resample(samples, self.rate)

    def flush(self) -> list[np.ndarray]:
        """The resampler's tail (a dangling odd byte is dropped)."""
        self._carry = b""
        return self._resample.flush()

    def close(self) -> None:
        """Nothing to release."""


class _Pipe:
    """A blocking, non-seekable byte source for FFmpeg fed from another thread."""

    def __init__(self) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._waiting = False
        self.done = False  # set by the decoder thread when it stops reading

    def write(self, data: bytes) -> None:
        with self._cond:
            self._chunks.append(bytes(data))
            self._cond.notify_all()

    def close_input(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def read(self, n: int) -> bytes:
        with self._cond:
            while not self._chunks and not self._closed:
                self._waiting = True
                self._cond.notify_all()
                self._cond.wait()
            self._waiting = False
            if not self._chunks:
                return b""
            data = self._chunks.popleft()
            if len(data) > n:
                self._chunks.appendleft(data[n:])
                data = data[:n]
            return data

    def stop(self) -> None:
        with self._cond:
            self.done = True
            self._cond.notify_all()

    def wait_starved(self, timeout: float) -> bool:
        """Wait until every byte written was read and the reader waits for more (or stopped)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self.done or (self._waiting and not self._chunks), timeout
            )


class ContainerDecoder:
    """Encoded bytes (any container FFmpeg demuxes) -> float32 mono at ``rate_out``, as they come.

    Args:
        rate_out: the output rate (the model's).
        desc: how error messages name the stream.
    """

    def __init__(self, rate_out: int, desc: str = "<stream>") -> None:
        self.desc = desc
        self._pipe = _Pipe()
        self._lock = threading.Lock()
        self._out: list[tuple[np.ndarray, int, bool]] = []
        self._error: Exception | None = None
        self._resample = Resampler(rate_out)
        self._thread = threading.Thread(target=self._run, name="stream-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import av

        from spoofscope.audio_av import (
            _DECODE_ERRORS,
            ALLOWED_FORMATS,
            _refuse_nested_open,
            describe_exc,
            frame_to_mono,
        )

        try:
            try:
                container = av.open(
                    self._pipe,
                    mode="r",
                    container_options={"format_whitelist": ALLOWED_FORMATS, "probesize": "4096"},
                    metadata_errors="ignore",
                    io_open=_refuse_nested_open,
                    buffer_size=AV_BUFFER,
                )
            except _DECODE_ERRORS as exc:
                raise AudioDecodeError(
                    f"{self.desc}: not a readable audio stream (FFmpeg: {describe_exc(exc)})"
                ) from exc
            with container:
                stream = container.streams.best("audio")
                if stream is None:
                    raise AudioDecodeError(f"{self.desc}: the stream has no audio track")
                try:
                    for packet in container.demux(stream):
                        for frame in packet.decode():
                            mono, is_float = frame_to_mono(frame)
                            with self._lock:
                                self._out.append((mono, frame.sample_rate, is_float))
                except _DECODE_ERRORS as exc:
                    raise AudioDecodeError(
                        f"{self.desc}: corrupt or truncated stream ({describe_exc(exc)})"
                    ) from exc
        except Exception as exc:  # handed to the caller of decode / flush
            self._error = exc
        finally:
            self._pipe.stop()

    def _take(self) -> list[np.ndarray]:
        with self._lock:
            frames, self._out = self._out, []
        out: list[np.ndarray] = []
        for mono, rate, is_float in frames:
            if is_float and not np.isfinite(mono).all():
                raise InvalidSamplesError(f"{self.desc}: NaN/Inf sample values")
            out += self._resample(mono, rate)
        if self._error is not None:
            raise self._error
        return out

    def decode(self, data: bytes) -> list[np.ndarray]:
        """Hand ``data`` to the decoder; returns every block it could decode so far.

        Raises:
            AudioDecodeError: the bytes are not a decodable stream.
        """
        if self._pipe.done:
            return self._take()  # the decoder ended (an error, or the container's end)
        self._pipe.write(data)
        if not self._pipe.wait_starved(DECODE_TIMEOUT_S):
            raise AudioDecodeError(f"{self.desc}: the decoder stalled")
        return self._take()

    def flush(self) -> list[np.ndarray]:
        """Signal the end of the bytes; returns the rest of the samples."""
        self._pipe.close_input()
        self._thread.join(DECODE_TIMEOUT_S)
        return self._take() + self._resample.flush()

    def close(self) -> None:
        """Stop the decoder thread (an abandoned stream)."""
        self._pipe.close_input()


def make_decoder(encoding: str, rate: int, rate_out: int) -> Pcm16Decoder | ContainerDecoder:
    """A decoder for ``encoding`` (see :data:`ENCODINGS`); ``rate`` applies to ``pcm16``.

    Raises:
        ValueError: unknown encoding or a pcm16 rate out of range.
    """
    if encoding == "pcm16":
        return Pcm16Decoder(rate, rate_out)
    if encoding == "container":
        return ContainerDecoder(rate_out)
    raise ValueError(f"unknown encoding {encoding!r}; valid choices: {', '.join(ENCODINGS)}")
