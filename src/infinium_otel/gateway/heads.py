"""A request's head read with a strict fast path; anything unusual goes to the
standard library's parser, on the very same bytes.

The standard library parses headers with the email package's feed parser: about
20 us for an ordinary OTLP request, more than the rest of the head and the answer
together. An ordinary request's head is simple: ``Name: value`` lines of printable
ASCII, each name a token, no folding, no name given twice. Such a head is read here
into a message that answers ``get`` from a dict; the same lines are what the email
parser would see, and it would give the same values (the first of each name, with
the leading blanks of the value dropped and trailing ones kept). Any other head,
and one cut short by the end of the stream, an over-long line or too many lines,
is left to the standard library, which answers it as it always did.
"""

from __future__ import annotations

import http.client
import re
from typing import IO, Any

__all__ = ["MAX_HEADERS", "MAX_LINE", "FastHeaders", "fast_headers", "read_head_lines"]

# The standard library's own bounds (``http.client``): past them it answers 431.
MAX_LINE = 65536
MAX_HEADERS = 100

# Lines of a token name, a colon, a value of printable ASCII or tabs; then a blank line.
_HEAD = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t -~]*\r?\n)*\r?\n")
_END = (b"\r\n", b"\n")


def read_head_lines(stream: IO[bytes]) -> list[bytes]:
    """The head's lines as the standard library reads them, with its terminator, but
    without raising: an over-long line or one line too many ends the list (as they
    would end the standard library's read, with its error)."""
    lines: list[bytes] = []
    while True:
        line = stream.readline(MAX_LINE + 1)
        lines.append(line)
        if len(line) > MAX_LINE or len(lines) > MAX_HEADERS or line in _END or not line:
            return lines


class FastHeaders(http.client.HTTPMessage):
    """An ``HTTPMessage`` whose ``get`` is one dict lookup (names are case-insensitive)."""

    def __init__(self, pairs: list[tuple[str, str]], index: dict[str, str]) -> None:
        super().__init__()
        self._headers = pairs
        self._index = index

    def get(self, name: str, failobj: Any = None) -> Any:
        return self._index.get(name.lower(), failobj)

    def __getitem__(self, name: str) -> Any:
        return self._index.get(name.lower())


def fast_headers(lines: list[bytes]) -> FastHeaders | None:
    """The head of ``read_head_lines`` when it is ordinary; None: let the standard
    library parse it (so it keeps deciding every unusual case)."""
    if len(lines) > MAX_HEADERS or lines[-1] not in _END:
        return None
    head = b"".join(lines)
    if _HEAD.fullmatch(head) is None:  # one check of every line, in C
        return None
    pairs: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    for line in head.decode("ascii").splitlines()[:-1]:
        name, _, value = line.partition(":")  # a name holds no colon
        value = value.lstrip(" \t")
        key = name.lower()
        if key in index:  # a repeated name (Content-Length twice, ...): the slow path decides
            return None
        index[key] = value
        pairs.append((name, value))
    return FastHeaders(pairs, index)
