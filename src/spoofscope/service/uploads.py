"""Uploads: bodies read with a size cap into spooled temporary files, formats sniffed from bytes.

Nothing here trusts the client: the ``Content-Length`` header is checked first (413 at once
when it announces too much), and the bytes are counted as they arrive (a body without the
header, or one that lies, is cut off at the limit). Memory holds at most
:data:`SPOOL_BYTES` per upload; the rest goes to a temporary file. The audio format is
recognised from the first bytes (:func:`sniff_format`), never from ``Content-Type`` or a file
name.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from spoofscope.service.errors import ApiError

__all__ = [
    "FORMATS",
    "SPOOL_BYTES",
    "Upload",
    "read_upload",
    "read_uploads",
    "save_upload",
    "sniff_format",
]

#: Bytes of an upload kept in memory before it spills to a temporary file.
SPOOL_BYTES = 1024 * 1024
#: What :func:`sniff_format` recognises.
FORMATS = ("wav", "flac", "ogg", "mp3", "aac", "mp4", "webm", "aiff")
#: Slack for the multipart framing (boundaries, part headers) on top of the size limit.
MULTIPART_SLACK = 64 * 1024
_MAX_FILES = 100


def sniff_format(head: bytes) -> str | None:
    """The audio container of a file from its first bytes (at least 12), or None.

    Recognises RIFF/RF64 WAVE, FLAC (``fLaC``), Ogg (``OggS``), MP3 (an ``ID3`` tag or an
    MPEG audio frame sync), AAC in ADTS, ISO-BMFF MP4/M4A (``ftyp`` at offset 4), WebM /
    Matroska (EBML ``1A 45 DF A3``) and AIFF/AIFF-C (``FORM`` ... ``AIFF``/``AIFC``).

    Example:
        >>> sniff_format(b"RIFF\\x24\\x00\\x00\\x00WAVEfmt "), sniff_format(b"<html>hello!")
        ('wav', None)
    """
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0x3
        if layer != 0 and (head[1] >> 3) & 0x3 != 0x1:  # MPEG audio: a layer, a valid version
            return "mp3"
        if layer == 0 and head[1] & 0xF0 == 0xF0:  # ADTS: 12-bit sync, layer 00
            return "aac"
    return None


@dataclass
class Upload:
    """One uploaded file, read and checked.

    Attributes:
        name: the client's file name (``"upload"`` for a raw body), for display only.
        file: the bytes, a binary file rewound to the start (close it when done).
        size: bytes.
        sha256: hex digest of the bytes.
        format: what :func:`sniff_format` found.
    """

    name: str
    file: IO[bytes]
    size: int
    sha256: str
    format: str

    def close(self) -> None:
        """Release the temporary file."""
        self.file.close()


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload too large", f"the body is over the limit of {limit} bytes")


def _check_length(request: Request, limit: int, shown: int) -> None:
    header = request.headers.get("content-length")
    if header is None:
        return
    try:
        length = int(header)
    except ValueError:
        raise ApiError(400, "bad request", f"invalid Content-Length {header!r}") from None
    if length > limit:
        raise _too_large(shown)


async def _limited(
    stream: AsyncIterator[bytes], limit: int, shown: int | None = None
) -> AsyncIterator[bytes]:
    """Pass ``stream`` through; 413 (naming ``shown`` or ``limit``) once it exceeds ``limit``."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise _too_large(limit if shown is None else shown)
        yield chunk


def _checked(name: str, file: IO[bytes]) -> Upload:
    """Hash and sniff ``file`` (blocking: run it in a thread)."""
    file.seek(0)
    digest, size, head = hashlib.sha256(), 0, b""
    while block := file.read(1 << 20):
        if not head:
            head = block[:64]
        digest.update(block)
        size += len(block)
    file.seek(0)
    if size == 0:
        file.close()
        raise ApiError(400, "empty upload", f"{name!r} holds no bytes")
    kind = sniff_format(head)
    if kind is None:
        file.close()
        raise ApiError(
            415,
            "unsupported media type",
            f"{name!r} is not audio in a supported format (recognised from its first bytes: "
            f"{', '.join(FORMATS)}); the Content-Type header is not trusted",
        )
    return Upload(name, file, size, digest.hexdigest(), kind)


async def _raw(request: Request, limit: int, name: str) -> Upload:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
    try:
        async for chunk in _limited(request.stream(), limit):
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    return await run_in_threadpool(_checked, name, spool)


async def _multipart(request: Request, limit: int) -> list[tuple[str, UploadFile]]:
    parser = MultiPartParser(
        request.headers,
        _limited(request.stream(), limit + MULTIPART_SLACK, limit),
        max_files=_MAX_FILES,
        max_fields=100,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "malformed multipart body", exc.message) from None
    files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
    total = sum(v.size or 0 for _, v in files)
    if total > limit:
        for _, v in files:
            await v.close()
        raise _too_large(limit)
    return files


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def _checked_all(files: list[tuple[str, UploadFile]]) -> list[Upload]:
    out: list[Upload] = []
    try:
        for _, part in files:
            out.append(await run_in_threadpool(_checked, part.filename or "upload", part.file))
    except BaseException:
        for _, part in files:
            part.file.close()
        raise
    return out


async def read_upload(request: Request, limit: int, field: str = "file") -> Upload:
    """The audio of a request: the multipart part ``field``, or the raw body.

    Raises:
        ApiError: 413 over ``limit`` bytes, 400 malformed multipart / no such part / empty,
            415 not a recognised audio format.
    """
    multipart = _is_multipart(request)
    _check_length(request, limit + (MULTIPART_SLACK if multipart else 0), limit)
    if not multipart:
        return await _raw(request, limit, request.query_params.get("filename") or "upload")
    files = await _multipart(request, limit)
    chosen = [pair for pair in files if pair[0] == field]
    for _, part in files:
        if not chosen or part is not chosen[0][1]:
            await part.close()
    if not chosen:
        found = sorted({k for k, _ in files}) or "none"
        raise ApiError(
            400, "missing file", f"expected a multipart file field {field!r}; file fields: {found}"
        )
    return (await _checked_all(chosen[:1]))[0]


async def read_uploads(request: Request, limit: int) -> list[Upload]:
    """Every file of a multipart request (any field name), or the raw body as one file.

    Raises:
        ApiError: as :func:`read_upload`; 400 when a multipart body holds no file.
    """
    multipart = _is_multipart(request)
    _check_length(request, limit + (MULTIPART_SLACK if multipart else 0), limit)
    if not multipart:
        return [await _raw(request, limit, request.query_params.get("filename") or "upload")]
    files = await _multipart(request, limit)
    if not files:
        raise ApiError(400, "missing file", "the multipart body holds no file part")
    return await _checked_all(files)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name safe to use in a path: no directories, only ``[A-Za-z0-9._-]``."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._") or "audio"
    return base[:80]


def save_upload(upload: Upload, directory: Path, stem: str) -> Path:
    """Copy ``upload`` to ``directory/<stem>.<format>`` (blocking) and rewind it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.{upload.format}"
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    upload.file.seek(0)
    return path


def describe(upload: Upload) -> dict[str, Any]:
    """``{name, size, sha256, format}`` for logs and job inputs."""
    return {
        "name": upload.name,
        "size": upload.size,
        "sha256": upload.sha256,
        "format": upload.format,
    }
