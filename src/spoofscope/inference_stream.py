"""Bounded-memory plumbing of the detector: streamed decoding, fixed chunks, incremental windows.

A recording is never held whole: it is decoded block by block (the same readers and
resampler as :func:`spoofscope.audio.load_audio`, so the samples are the same), regrouped into
chunks of a fixed length, and cut into windows as the chunks arrive. At any time memory holds
one chunk, the tail of the previous one that windows still need (at most one window), and the
windows waiting for a batch. The windows are exactly those of
:func:`spoofscope.windows.window_bounds` over the whole recording.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from spoofscope.audio import (
    RESAMPLE_QUALITY,
    AudioTooLongError,
    AudioTypeError,
    EmptyAudioError,
    InvalidSamplesError,
    repeat_pad,
)
from spoofscope.windows import hop_samples

__all__ = [
    "Envelope",
    "SpeechTrack",
    "WindowCutter",
    "describe_source",
    "open_input",
    "rechunk",
    "stream_audio",
]

#: Seconds read from libsndfile per call (its one-shot read of whole mono files is avoided).
READ_BLOCK_S = 10.0


def _check_block(block: np.ndarray, is_float: bool, desc: str, at_s: float, rate: int) -> None:
    if is_float and not np.isfinite(block).all():
        bad = int(np.flatnonzero(~np.isfinite(block))[0])
        raise InvalidSamplesError(
            f"{desc}: NaN/Inf sample values, the first at {at_s + bad / rate:.3f} s; "
            "the file holds invalid float data"
        )


def _raw_blocks(reader: Any) -> Iterator[tuple[np.ndarray, int, bool]]:
    """``(mono block, rate, is_float)`` from the start, never more than a block at a time."""
    from spoofscope.audio_readers import SfReader

    if not isinstance(reader, SfReader):  # PyAV decodes frame by frame already
        yield from reader.blocks(0.0, None)
        return
    rate, step = reader.sample_rate, max(1, round(READ_BLOCK_S * reader.sample_rate))
    for start in range(0, reader.frames, step):
        got = 0
        for block in reader.blocks(start / rate, step / rate):
            got += len(block[0])
            yield block
        if got < min(step, reader.frames - start):  # truncated file: keep what there is
            return


def stream_audio(
    src: Any, sample_rate: int = 16000, *, max_duration_s: float | None = None
) -> Iterator[np.ndarray]:
    """Decode ``src`` (path, bytes or binary file object) as float32 mono blocks.

    Args:
        src: anything :func:`spoofscope.audio.load_audio` accepts.
        sample_rate: output rate in Hz (soxr streaming resampler, the quality of ``load_audio``).
        max_duration_s: refuse audio longer than this (header check, then while decoding);
            None = no limit.

    Yields:
        ``(n,)`` float32 blocks of varying length, in order; together they equal
        ``load_audio(src, sample_rate)``.

    Raises:
        AudioError: a subclass naming the source and the cause (also mid-stream).
    """
    import soxr

    from spoofscope.audio_readers import open_reader, resolve_source

    desc, source = resolve_source(src)
    with open_reader(desc, source) as reader:
        total = reader.duration_s
        if max_duration_s is not None and total is not None and total > max_duration_s:
            raise AudioTooLongError(
                f"{desc}: {total:.1f} s long by its header, over the limit "
                f"max_duration_s={max_duration_s:g} s"
            )
        limit = None if max_duration_s is None else max_duration_s * 1.01 + 0.5
        seconds, produced = 0.0, 0
        rate_in: int | None = None
        resampler = None
        for block, rate, is_float in _raw_blocks(reader):
            _check_block(block, is_float, desc, seconds, rate)
            seconds += len(block) / rate
            if limit is not None and seconds > limit:
                raise AudioTooLongError(
                    f"{desc}: over {limit:g} s decoded, over the limit "
                    f"max_duration_s={max_duration_s:g} s"
                )
            if rate != rate_in:
                if resampler is not None:
                    tail = resampler.resample_chunk(np.empty(0, np.float32), last=True)
                    produced += len(tail)
                    yield tail
                rate_in = rate
                resampler = None
                if rate != sample_rate:
                    resampler = soxr.ResampleStream(
                        rate, sample_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY
                    )
            out = block if resampler is None else resampler.resample_chunk(block)
            out = np.asarray(out, dtype=np.float32)
            if len(out):
                produced += len(out)
                yield out
        if resampler is not None:
            tail = resampler.resample_chunk(np.empty(0, np.float32), last=True)
            produced += len(tail)
            if len(tail):
                yield np.asarray(tail, dtype=np.float32)
    if produced == 0:
        raise EmptyAudioError(f"{desc}: has no audio samples")


def open_input(
    src: Any, rate: int, sample_rate: int | None = None, max_duration_s: float | None = None
) -> Iterator[np.ndarray]:
    """Blocks of float32 mono samples at ``rate`` from any input the detector accepts.

    Args:
        src: a path, bytes, a binary file object (decoded as a stream by
            :func:`stream_audio`), or a ``(T,)`` float waveform (numpy array, tensor, list).
        rate: the rate wanted (the model's).
        sample_rate: the waveform's rate (arrays only; default ``rate``).
        max_duration_s: refuse longer files (None = no limit).

    Raises:
        AudioError: unreadable audio, or an array that is not a finite non-empty 1-D waveform.
        ValueError: ``sample_rate`` given for a file.
    """
    if isinstance(src, str | Path | bytes | bytearray | memoryview) or callable(
        getattr(src, "read", None)
    ):
        if sample_rate is not None:
            raise ValueError("sample_rate applies to waveform arrays only")
        return stream_audio(src, rate, max_duration_s=max_duration_s)
    try:
        wave = np.asarray(src, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise AudioTypeError(
            f"cannot analyse a {type(src).__name__}: pass a path, bytes, a binary file "
            f"object or a 1-D float waveform ({exc})"
        ) from None
    if wave.ndim != 1:
        raise AudioTypeError(f"expected a 1-D waveform of shape (T,), got shape {wave.shape}")
    if wave.size == 0:
        raise EmptyAudioError("<array>: has no audio samples")
    if not np.isfinite(wave).all():
        raise InvalidSamplesError("<array>: NaN/Inf sample values")
    if sample_rate is not None and int(sample_rate) != rate:
        import soxr

        wave = soxr.resample(wave, int(sample_rate), rate, quality=RESAMPLE_QUALITY)
        wave = np.asarray(wave, np.float32)
    return iter([wave])


def rechunk(blocks: Iterable[np.ndarray], chunk_samples: int) -> Iterator[np.ndarray]:
    """Regroup blocks of any length into chunks of ``chunk_samples`` (the last may be shorter).

    Example:
        >>> [len(c) for c in rechunk([np.zeros(5), np.zeros(7)], 4)]
        [4, 4, 4]
    """
    if chunk_samples < 1:
        raise ValueError(f"chunk_samples must be >= 1, got {chunk_samples}")
    pending: list[np.ndarray] = []
    have = 0
    for block in blocks:
        pending.append(block)
        have += len(block)
        if have < chunk_samples:
            continue
        joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
        n_full = (have // chunk_samples) * chunk_samples
        for i in range(0, n_full, chunk_samples):
            yield joined[i : i + chunk_samples]
        rest = joined[n_full:]
        pending, have = ([rest.copy()] if len(rest) else []), len(rest)
    if have:
        yield np.concatenate(pending) if len(pending) > 1 else pending[0]


class WindowCutter:
    """Cuts windows from audio fed chunk by chunk, keeping at most a window of the past.

    The windows are those of :func:`spoofscope.windows.window_bounds` over the whole input:
    regular windows are released as soon as audio beyond their end has arrived; the last
    window (aligned to the end, or the repeat-padded input when it is shorter than a window)
    comes from :meth:`finish`.

    Args:
        segment: window length in samples.
        hop: hop as a fraction of the window, in ``(0, 1]``.
    """

    def __init__(self, segment: int, hop: float) -> None:
        self.segment = int(segment)
        self.step = hop_samples(self.segment, hop)
        self.buf = np.zeros(0, np.float32)
        self.buf_start = 0  # global index of buf[0]
        self.total = 0
        self.next = 0  # start of the next regular window
        self.max_buffer = 0  # largest buffer held, in samples (for tests)

    def feed(self, chunk: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        """Add ``(n,)`` samples; returns the ``(start, end, (segment,) window)`` now complete."""
        self.buf = np.concatenate([self.buf, np.asarray(chunk, np.float32)])
        self.total += len(chunk)
        self.max_buffer = max(self.max_buffer, len(self.buf))
        out = []
        seg = self.segment
        while self.next + seg < self.total:
            i = self.next - self.buf_start
            out.append((self.next, self.next + seg, self.buf[i : i + seg].copy()))
            self.next += self.step
        keep = max(0, min(self.next, self.total - seg))
        if keep > self.buf_start:
            self.buf = self.buf[keep - self.buf_start :].copy()
            self.buf_start = keep
        return out

    def finish(self) -> tuple[int, int, np.ndarray]:
        """The last window ``(start, end, (segment,) samples)``; call once, after every chunk.

        Raises:
            EmptyAudioError: nothing was fed.
        """
        if self.total == 0:
            raise EmptyAudioError("no audio samples to analyse")
        seg = self.segment
        if self.total <= seg:
            return 0, self.total, repeat_pad(self.buf, seg).astype(np.float32)
        last = self.total - seg
        i = last - self.buf_start
        return last, self.total, self.buf[i : i + seg].copy()


class SpeechTrack:
    """Voice activity of a recording, detected chunk by chunk; answers per-window fractions.

    Args:
        detect: ``wave (n,) -> SpeechMask`` (see :func:`spoofscope.vad.detect_speech`), or
            None when every sample counts as speech.
    """

    def __init__(self, detect: Callable[[np.ndarray], Any] | None) -> None:
        self.detect = detect
        self.offsets: list[int] = []
        self.lengths: list[int] = []
        self.masks: list[Any] = []

    def add(self, offset: int, chunk: np.ndarray) -> None:
        """Run voice activity detection on a chunk starting at sample ``offset``."""
        if self.detect is None:
            return
        self.offsets.append(offset)
        self.lengths.append(len(chunk))
        self.masks.append(self.detect(chunk))

    def fraction(self, start: int, end: int) -> float:
        """Share of speech in samples ``[start, end)`` (1.0 without a detector)."""
        if self.detect is None or end <= start:
            return 1.0
        i = max(0, bisect.bisect_right(self.offsets, start) - 1)
        speech = 0.0
        while i < len(self.offsets) and self.offsets[i] < end:
            c0, n = self.offsets[i], self.lengths[i]
            a, b = max(start, c0), min(end, c0 + n)
            if b > a:
                speech += self.masks[i].fraction(a - c0, b - c0) * (b - a)
            i += 1
        return float(min(1.0, max(0.0, speech / (end - start))))


class Envelope:
    """Min/max of the waveform per bin, built chunk by chunk (for plots of long files).

    Args:
        bin_samples: samples per bin.
    """

    def __init__(self, bin_samples: int) -> None:
        self.bin = int(bin_samples)
        self.parts: list[np.ndarray] = []

    def add(self, chunk: np.ndarray) -> None:
        """Add ``(n,)`` samples (chunk lengths should be multiples of the bin but the last)."""
        n_bins = math.ceil(len(chunk) / self.bin)
        padded = np.pad(chunk, (0, n_bins * self.bin - len(chunk)), mode="edge")
        rows = padded.reshape(n_bins, self.bin)
        self.parts.append(np.stack([rows.min(axis=1), rows.max(axis=1)]).astype(np.float32))

    def array(self) -> np.ndarray:
        """``(2, bins)`` float32: row 0 the minima, row 1 the maxima."""
        return np.concatenate(self.parts, axis=1) if self.parts else np.zeros((2, 0), np.float32)


def describe_source(src: Any) -> str:
    """A short description of an input for results and messages (a path as given)."""
    if isinstance(src, str | Path):
        return str(src)
    if isinstance(src, bytes | bytearray | memoryview):
        return f"<bytes, {memoryview(src).nbytes} bytes>"
    if callable(getattr(src, "read", None)):
        name = getattr(src, "name", None)
        return str(name) if isinstance(name, str) else "<file object>"
    shape = getattr(src, "shape", None)
    return f"<array, {shape[0] if shape else '?'} samples>"
