"""Turn any ``src`` into a reader: libsndfile when it recognises the data, else PyAV.

Internal to ``spoofscope.audio``. Both readers expose ``sample_rate``, ``channels``,
``duration_s``, ``format`` and ``blocks(start_s, duration_s)``, which yields
``(samples (n,) float32 mono, sample_rate, is_float)``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf

from spoofscope.audio_av import SEEK_PREROLL_S, AvReader
from spoofscope.audio_errors import AudioDecodeError, AudioFileNotFoundError, AudioTypeError

_BLOCK_FRAMES = 1 << 18  # frames per read when decoding in blocks
_ONE_SHOT_FRAMES = 1 << 26  # mono files up to this long are read in one call
_SF_ERRORS = (sf.SoundFileError, RuntimeError, OSError, ValueError, TypeError)
# libsndfile subtypes decoded from integers: they cannot hold NaN/Inf, so need no check
_LOSSY_SUBTYPES = ("VORBIS", "OPUS")  # decoders that need a pre-roll before a seek target
_SF_BYPASS = ("MPEG_LAYER_",)  # subtypes left to FFmpeg even though libsndfile opens them
_INT_SUBTYPES = ("PCM_", "ULAW", "ALAW", "ALAC_", "DWVW_", "DPCM_", "G72", "GSM", "IMA_", "MS_")


def resolve_source(src: Any) -> tuple[str, str | BinaryIO]:
    """Return ``(description, path or seekable binary file object)``; check paths exist."""
    if isinstance(src, bytes | bytearray | memoryview):
        view = memoryview(src)
        data = view if view.c_contiguous else view.tobytes()
        return f"<bytes, {view.nbytes} bytes>", io.BytesIO(data)
    if isinstance(src, str | os.PathLike):
        path = os.fsdecode(os.fspath(src))
        if os.path.isdir(path):
            raise AudioFileNotFoundError(f"{path}: is a directory, not an audio file")
        if not os.path.exists(path):
            raise AudioFileNotFoundError(f"{path}: no such file")
        return path, path
    if callable(getattr(src, "read", None)):
        name = getattr(src, "name", None)
        desc = f"<file object {name!r}>" if isinstance(name, str) else "<file object>"
        if isinstance(src, io.TextIOBase):
            raise AudioTypeError(f"{desc}: opened in text mode; open it with mode 'rb'")
        if _at_start_and_seekable(src):
            return desc, src
        data = src.read()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise AudioTypeError(f"{desc}: read() returned {type(data).__name__}, not bytes")
        return desc, io.BytesIO(data)
    raise AudioTypeError(
        f"cannot read audio from a {type(src).__name__}; pass a path (str or os.PathLike), "
        "bytes/bytearray/memoryview, or a binary file object with .read()"
    )


def _at_start_and_seekable(fileobj: Any) -> bool:
    try:
        return bool(fileobj.seekable()) and fileobj.tell() == 0
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def open_reader(desc: str, source: str | BinaryIO) -> Iterator[SfReader | AvReader]:
    """Open ``source`` with libsndfile, or with PyAV when libsndfile cannot read it.

    A file libsndfile opens with zero frames (e.g. a WAV streamed with its data size left
    at 0) is handed to PyAV as well, which reads to the end of the data. Everything opened
    here is closed on exit; a caller's file object is left open.

    Raises:
        AudioDecodeError: neither library can open the data (the message gives both causes).
    """
    with contextlib.ExitStack() as stack:
        note = ""
        try:
            sfile = stack.enter_context(sf.SoundFile(source))
        except _SF_ERRORS as exc:
            note = f"libsndfile: {exc}; "
            sfile = None
        if sfile is not None and str(sfile.subtype).startswith(_SF_BYPASS):
            # libsndfile 1.2's MPEG decoder garbles audio read in more than one call or
            # after a seek; FFmpeg decodes MP1/2/3 correctly
            note = f"libsndfile's {sfile.subtype} decoder is not used; "
            sfile.close()
            sfile = None
        if sfile is not None and sfile.frames > 0:
            yield SfReader(sfile, desc)
            return
        fileobj = _rewound(stack, source, desc)
        if sfile is None:
            yield stack.enter_context(AvReader(fileobj, desc, note))
            return
        # libsndfile sees no frames; a streamed WAV with a zero data size still has samples.
        try:
            av_reader = stack.enter_context(AvReader(fileobj, desc))
        except AudioDecodeError:
            av_reader = None
        if av_reader is not None and av_reader.duration_s:
            yield av_reader
        else:
            yield SfReader(sfile, desc)


def _rewound(stack: contextlib.ExitStack, source: str | BinaryIO, desc: str) -> BinaryIO:
    if not isinstance(source, str):
        source.seek(0)
        return source
    try:
        return stack.enter_context(open(source, "rb"))  # noqa: SIM115
    except OSError as exc:
        raise AudioDecodeError(f"{desc}: cannot read the file ({exc})") from exc


class SfReader:
    """An open ``soundfile.SoundFile`` with the reader interface ``load_audio`` uses."""

    def __init__(self, sfile: sf.SoundFile, desc: str) -> None:
        self.sfile = sfile
        self.desc = desc
        self.sample_rate = int(sfile.samplerate)
        self.channels = int(sfile.channels)
        self.frames = int(sfile.frames)
        self.duration_s = self.frames / self.sample_rate
        self.format = f"{sfile.format}/{sfile.subtype}"
        self.is_float = not str(sfile.subtype).startswith(_INT_SUBTYPES)
        self.lossy = str(sfile.subtype).startswith(_LOSSY_SUBTYPES)

    def blocks(
        self, start_s: float, duration_s: float | None
    ) -> Iterator[tuple[np.ndarray, int, bool]]:
        """Yield ``(samples (n,) float32 mono, sample_rate, is_float)`` for the range."""
        f, rate = self.sfile, self.sample_rate
        start = round(start_s * rate)
        todo = self.frames - start
        if duration_s is not None:
            todo = min(todo, round(duration_s * rate))
        done = 0
        try:
            if start:
                # lossy decoders need some frames before the cut to settle
                pre = min(start, round(SEEK_PREROLL_S * rate)) if self.lossy else 0
                f.seek(start - pre)
                if pre:
                    f.read(pre, dtype="float32")
            while todo > 0:
                if self.channels == 1:
                    size = todo if todo <= _ONE_SHOT_FRAMES else _BLOCK_FRAMES
                    block = f.read(size, dtype="float32")
                else:
                    block = f.read(min(todo, _BLOCK_FRAMES), dtype="float32").mean(axis=1)
                if len(block) == 0:
                    break
                todo -= len(block)
                done += len(block)
                yield block, rate, self.is_float
        except _SF_ERRORS as exc:
            raise AudioDecodeError(
                f"{self.desc}: corrupt or truncated {self.format} data near "
                f"{(start + done) / rate:.2f} s (libsndfile: {exc})"
            ) from exc
