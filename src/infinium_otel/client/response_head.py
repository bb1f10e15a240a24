"""The status line and headers of an HTTP answer, read for less than ``http.client`` does.

``http.client`` hands every answer's headers to the ``email`` package's feed
parser, which costs about a sixth of a small POST's CPU. The headers of an
ordinary answer (one ``Name: value`` per line, printable ASCII, no folded
lines, no multipart or message content type) are taken here line by line into
the same ``HTTPMessage`` the parser would build, through the same policy call;
anything else is given to the parser, as before. The limits are
``http.client``'s (line length, number of headers).
"""

from __future__ import annotations

import email.parser
import http.client
import re
from typing import Any

__all__ = ["LeanHeadResponse"]

# A header line the feed parser reads as one plain header: a name of printable ASCII
# without ':' or spaces, then a value of printable ASCII and tabs (no byte the parser
# would split a line at), then the line's end.
_PLAIN_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:[\t\x20-\x7e]*\r?\n")
# Content types the feed parser reads a body for (parts, an enclosed message).
_PARSED_TYPE = re.compile(rb"content-type:[\t ]*(multipart|message)/", re.IGNORECASE)
_MAXLINE = 65536  # http.client's limits
_MAXHEADERS = 100


def _read_lines(fp: Any) -> list[bytes]:
    """The header lines up to the blank one (included), as ``http.client`` reads them."""
    lines: list[bytes] = []
    while True:
        line = fp.readline(_MAXLINE + 1)
        if len(line) > _MAXLINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAXHEADERS:
            raise http.client.HTTPException(f"got more than {_MAXHEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            return lines


def parse_head(lines: list[bytes]) -> http.client.HTTPMessage:
    """The ``HTTPMessage`` ``http.client.parse_headers`` makes of these lines."""
    fields = lines[:-1]
    plain = lines[-1] in (b"\r\n", b"\n") and all(_PLAIN_LINE.fullmatch(line) for line in fields)
    if not plain or any(_PARSED_TYPE.match(line) for line in fields):
        text = b"".join(lines).decode("iso-8859-1")
        parsed: http.client.HTTPMessage = email.parser.Parser(
            _class=http.client.HTTPMessage
        ).parsestr(text)
        return parsed
    message = http.client.HTTPMessage()
    source = message.policy.header_source_parse
    for line in fields:
        message.set_raw(*source([line.decode("ascii")]))
    message.set_payload("")
    return message


class LeanHeadResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` whose ``begin`` reads the headers with ``parse_head``."""

    def begin(self) -> None:
        if getattr(self, "headers", None) is not None:
            return  # already begun
        while True:
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status != http.client.CONTINUE:
                break
            _read_lines(self.fp)  # the headers of a 100 Continue: skipped
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = parse_head(_read_lines(self.fp))
        transfer = self.headers.get("transfer-encoding")
        if transfer and transfer.lower() == "chunked":
            self.chunked = True
            self.chunk_left = None
        else:
            self.chunked = False
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = None
        length = self.headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if (
            status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED)
            or 100 <= status < 200
            or self._method == "HEAD"  # type: ignore[attr-defined]
        ):
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True
