"""An HTTP/1.1 request head written, and an ordinary answer's head read, as plain bytes.

Pure: no sockets. ``http.client`` spends about as much CPU on one small
request (a regex check per header, the ``email`` parser for the answer's
headers, a buffered file per answer) as the kernel spends carrying it over
loopback. The transport's direct path writes the head worked out here once per
route, and reads an answer with ``parse_head`` when it is an ordinary one: a
status line, one ``Name: value`` of printable ASCII per line, and a body framed
by one ``Content-Length``. Anything else (``None`` from ``parse_head``) is read
by ``http.client`` as before.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

__all__ = ["Head", "host_header", "parse_head", "request_head"]

# A header name of token characters and a value of printable ASCII and tabs: what
# ``http.client`` sends unchanged (it refuses CR, LF and NUL in either).
_SAFE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SAFE_VALUE = re.compile(r"[\t\x20-\x7e]*")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([2-5][0-9][0-9])(?: ([\t\x20-\x7e]*))?")
_PLAIN_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):[\t ]*([\t\x20-\x7e]*)")
_DIGITS = re.compile(rb"[0-9]{1,18}")


@dataclasses.dataclass(frozen=True)
class Head:
    """An ordinary answer's status, headers (in order) and body framing."""

    status: int
    reason: str
    fields: tuple[tuple[str, str], ...]
    length: int
    keep_alive: bool

    def headers(self) -> dict[str, str]:
        """Name -> value (the first spelling of a name; repeated values joined by ", ")."""
        found: dict[str, str] = {}
        spelling: dict[str, str] = {}
        for name, value in self.fields:
            lower = name.lower()
            first = spelling.get(lower)
            if first is None:
                spelling[lower] = name
                found[name] = value
            else:
                found[first] = f"{found[first]}, {value}"
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


def parse_head(head: bytes, method: str) -> Head | None:
    """The answer's head (up to, not including, its blank line), or None when unusual.

    Unusual: an interim (1xx) or malformed status line, a folded or non-ASCII
    header line, a chunked or encoded transfer, no ``Content-Length`` (a body
    read up to the close), or several of them. ``http.client`` reads those.
    """
    lines = head.split(b"\r\n")
    status_line = _STATUS_LINE.fullmatch(lines[0])
    if status_line is None or len(lines) > 101:  # http.client's limit: 100 headers
        return None
    fields: list[tuple[str, str]] = []
    length: int | None = None
    keep_alive = status_line.group(1) == b"1"
    for line in lines[1:]:
        field = _PLAIN_LINE.fullmatch(line)
        if field is None:
            return None
        name, value = field.group(1).decode("ascii"), field.group(2).decode("ascii")
        lower = name.lower()
        if lower == "content-length":
            digits = value.strip().encode("ascii")
            if length is not None or not _DIGITS.fullmatch(digits):
                return None
            length = int(digits)
        elif lower == "transfer-encoding":
            return None
        elif lower == "connection":
            tokens = {token.strip().lower() for token in value.split(",")}
            if "close" in tokens:
                keep_alive = False
            elif "keep-alive" in tokens:
                keep_alive = True
        fields.append((name, value))
    status = int(status_line.group(2))
    if status in (204, 304) or method == "HEAD":
        length = 0
    if length is None:
        return None
    reason = (status_line.group(3) or b"").decode("ascii").strip()
    return Head(status, reason, tuple(fields), length, keep_alive)
