"""Request bodies read with bounds: a size limit checked after decompression, chunked
transfer (the OpenTelemetry JS exporter sends no Content-Length), and a deadline so a
client that sends half a body and stalls is cut."""

from __future__ import annotations

import time
import zlib
from typing import BinaryIO

__all__ = ["BodyError", "inflate", "read_body"]

_CHUNK = 64 * 1024


class BodyError(Exception):
    """A body that cannot be taken; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_body(
    stream: BinaryIO,
    *,
    length: str | None,
    transfer_encoding: str | None,
    limit: int,
    deadline: float,
) -> bytes:
    """The raw body (still compressed, if it is), at most ``limit`` bytes."""
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        return _read_chunked(stream, limit, deadline)
    if length is None:
        raise BodyError(411, "a Content-Length or chunked transfer encoding is required")
    try:
        size = int(length)
    except ValueError:
        raise BodyError(400, "Content-Length is not a number") from None
    if size < 0:
        raise BodyError(400, "Content-Length is negative")
    if size > limit:
        raise BodyError(413, f"body of {size} bytes is over the limit of {limit}")
    return _read_exact(stream, size, deadline)


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body decoded per ``Content-Encoding``; the limit is checked while inflating,
    so a gzip bomb is refused after ``limit`` bytes, never inflated whole."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name not in ("gzip", "x-gzip"):
        raise BodyError(415, f"unsupported Content-Encoding {name!r} (gzip or identity)")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    total = 0
    data = body
    try:
        while data:
            part = inflater.decompress(data, limit + 1 - total)
            total += len(part)
            parts.append(part)
            if total > limit:
                raise BodyError(413, f"body is over the limit of {limit} bytes once inflated")
            data = inflater.unconsumed_tail
            if not part and not data:
                break
        if not inflater.eof:
            raise BodyError(400, "gzip body is truncated")
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from None
    return b"".join(parts)


def _read_exact(stream: BinaryIO, size: int, deadline: float) -> bytes:
    parts: list[bytes] = []
    left = size
    while left > 0:
        if time.monotonic() > deadline:
            raise BodyError(408, "the body did not arrive in time")
        part = (
            stream.read1(min(left, _CHUNK))
            if hasattr(stream, "read1")
            else stream.read(min(left, _CHUNK))
        )
        if not part:
            raise BodyError(400, f"body ended {left} bytes early")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _read_chunked(stream: BinaryIO, limit: int, deadline: float) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = _line(stream, deadline)
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyError(400, "malformed chunk size") from None
        if size == 0:
            while _line(stream, deadline):  # trailers, up to the blank line
                pass
            return b"".join(parts)
        total += size
        if total > limit:
            raise BodyError(413, f"body is over the limit of {limit} bytes")
        parts.append(_read_exact(stream, size, deadline))
        if _read_exact(stream, 2, deadline) != b"\r\n":
            raise BodyError(400, "malformed chunk ending")


def _line(stream: BinaryIO, deadline: float) -> bytes:
    if time.monotonic() > deadline:
        raise BodyError(408, "the body did not arrive in time")
    line = stream.readline(1024)
    if not line.endswith(b"\n"):
        raise BodyError(400, "body ended inside a chunk header")
    return line.rstrip(b"\r\n")
