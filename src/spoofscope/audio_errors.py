"""The errors ``spoofscope.audio`` raises; every one is an :class:`AudioError`.

Each message names the source (a path, ``<bytes, N bytes>`` or ``<file object ...>``) and the
cause, so the CLI and the service can show it to the user as is.
"""

from __future__ import annotations

from spoofscope.errors import SpoofscopeError

__all__ = [
    "AudioDecodeError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioTooLongError",
    "AudioTypeError",
    "EmptyAudioError",
    "InvalidSamplesError",
]


class AudioError(SpoofscopeError):
    """Base class of every error raised while reading audio."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The path does not exist, or names a directory rather than a file."""


class AudioDecodeError(AudioError):
    """Not audio, an unsupported or corrupt/truncated stream, or a container without audio."""


class EmptyAudioError(AudioError):
    """The file (or the requested time range) holds zero samples."""


class AudioTooLongError(AudioError):
    """The audio (or the requested range) is longer than ``max_duration_s``."""


class InvalidSamplesError(AudioError):
    """The decoded samples contain NaN or infinite values."""


class AudioTypeError(AudioError, TypeError):
    """``src`` is not a path, a bytes-like object or a binary file object."""
