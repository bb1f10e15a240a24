"""An HTTP/1.1 request head written, and an ordinary answer's head read, as plain bytes.

Pure: no sockets. ``http.client`` spends about as much CPU on one small
request (a regex check per header, the ``email`` parser for the answer's
headers, a buffered file per answer) as the kernel spends carrying it over
loopback. The transport's direct path writes the head worked out here once per
route, and reads an answer with ``parse_head`` when it is an ordinary one: a
status line, one ``Name: value`` of printable ASCII per line, and a body framed
by one ``Content-Length`` or sent in chunks. Anything else (``None`` from ``parse_head``) is read
by ``http.client`` as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

__all__ = [
    "CHUNKED",
    "Head",
    "chunk_size",
    "header_map",
    "host_header",
    "parse_head",
    "request_head",
]

CHUNKED = -1

# A header name of token characters and a value of printable ASCII and tabs: what
# ``http.client`` sends unchanged (it refuses CR, LF and NUL in either).
_SAFE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SAFE_VALUE = re.compile(r"[\t\x20-\x7e]*")
# A final status line, then header lines each of one name (printable ASCII without
# ':' or spaces), ':' and a value of printable ASCII and tabs: what the email parser
# that http.client uses reads as plain headers, and nothing it would read otherwise.
_PLAIN_HEAD = re.compile(
    rb"HTTP/1\.([01]) ([2-5][0-9][0-9])(?: ([\t\x20-\x7e]*))?"
    rb"((?:\r\n[\x21-\x39\x3b-\x7e]+:[\t\x20-\x7e]*)*)"
)
# One header line of a head ``_PLAIN_HEAD`` matched: its name, and its value less leading blanks.
_FIELD = re.compile(r"\r\n([^:]*):[\t ]*([^\r]*)")
_DIGITS = re.compile(r"[0-9]{1,18}")
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection"))


class Head(NamedTuple):
    """An ordinary answer's status, headers (in order, and by lower-cased name) and framing."""

    status: int
    reason: str
    fields: tuple[tuple[str, str], ...]
    length: int  # CHUNKED: the body comes in chunks
    keep_alive: bool
    headers: Mapping[str, str]  # what ``header_map(fields)`` gives, read-only (heads are shared)


def header_map(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased name -> value (repeated values joined by ", ", as urllib3 joins them)."""
    found: dict[str, str] = {}
    for name, value in fields:
        lower = name.lower()
        before = found.get(lower)
        found[lower] = value if before is None else f"{before}, {value}"
    return found


def host_header(host: str, port: int | None, default_port: int) -> str:
    """The ``Host`` value ``http.client`` sends for a connection to ``host``:``port``."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if port is None or port == default_port:
        return shown
    return f"{shown}:{port}"


def request_head(
    method: str, target: str, host: str, headers: Iterable[tuple[str, str]]
) -> bytes | None:
    """The request line and headers as ``http.client`` writes them (``Host`` first).

    None when a name or value is one ``http.client`` would refuse or encode
    differently: the caller then takes ``requests``' own path, which raises.
    """
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers:
        if not _SAFE_NAME.fullmatch(name) or not _SAFE_VALUE.fullmatch(value):
            return None
        lines.append(f"{name}: {value}")
    if not all(_SAFE_VALUE.fullmatch(part) for part in (method, target, host)):
        return None
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii")


# Heads read lately, by head and whether the method was HEAD: at most this many, each
# at most this long (bounded memory, whatever the server sends).
_MAX_REMEMBERED_HEADS = 32
_MAX_REMEMBERED_HEAD = 1024
_UNKNOWN = object()
_heads: dict[tuple[bytes, bool], Head | object | None] = {}


def parse_head(head: bytes, method: str) -> Head | None:
    """The answer's head (up to, not including, its blank line), or None when unusual.

    Unusual: an interim (1xx) or malformed status line, a folded or non-ASCII
    header line, a transfer coding other than chunked alone, neither a
    ``Content-Length`` nor chunks (a body read up to the close), several
    lengths, or both. ``http.client`` reads those.

    A server repeats its heads (most change only with their ``Date``, once a
    second): a short head read lately is looked up, not read again. The result
    depends only on the head and whether the method is HEAD, and is read-only.
    """
    if len(head) > _MAX_REMEMBERED_HEAD:
        return _read_head(head, method)
    key = (head, method == "HEAD")
    known = _heads.get(key, _UNKNOWN)
    if known is _UNKNOWN:
        known = _read_head(head, method)
        if len(_heads) >= _MAX_REMEMBERED_HEADS:
            _heads.clear()
        _heads[key] = known
    return known if isinstance(known, Head) else None


def _read_head(head: bytes, method: str) -> Head | None:
    """``parse_head``'s reading of a head, every time."""
    plain = _PLAIN_HEAD.fullmatch(head)
    if plain is None or head.count(b"\r\n") > 100:  # http.client's limit: 100 headers
        return None
    version, code, reason, lines = plain.groups()
    # Each line is known to be ``name:value`` of printable ASCII: cut at its first ':'.
    fields = tuple(_FIELD.findall(lines.decode("ascii")))
    headers: dict[str, str] = {}
    length: int | None = None
    chunked = False
    keep_alive = version == b"1"
    for name, value in fields:
        lower = name.lower()
        before = headers.get(lower)
        headers[lower] = value if before is None else f"{before}, {value}"
        if lower not in _FRAMING:
            continue
        if lower == "content-length":
            digits = value.strip()
            if length is not None or not _DIGITS.fullmatch(digits):
                return None
            length = int(digits)
        elif lower == "transfer-encoding":
            if chunked or value.strip().lower() != "chunked":
                return None
            chunked = True
        else:
            tokens = {token.strip() for token in value.lower().split(",")}
            if "close" in tokens:
                keep_alive = False
            elif "keep-alive" in tokens:
                keep_alive = True
    status = int(code)
    if chunked:
        if length is not None:
            return None
        length = CHUNKED
    if status in (204, 304) or method == "HEAD":
        length = 0
    if length is None:
        return None
    shown = reason.decode("ascii").strip() if reason else ""
    return Head(status, shown, fields, length, keep_alive, MappingProxyType(headers))


def chunk_size(line: bytes) -> int | None:
    """The size a chunk's line gives (extensions ignored), or None when it is no size."""
    size = line.split(b";", 1)[0].strip()
    if not size or len(size) > 16 or not all(c in b"0123456789abcdefABCDEF" for c in size):
        return None
    return int(size, 16)
