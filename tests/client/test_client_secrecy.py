"""No part of the agent secret reaches a message, ``details``, a log line, or the locals of
the frames an error carries, even when a server echoes our headers back in any form.

The servers are real loopback servers whose error pages echo the request
headers: raw in a long HTML page (the secret late in it, across the point where
messages are cut), JSON-escaped, ``\\uXXXX``-escaped, URL-encoded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

from infinium_otel.client.redact import Redactor
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import (
    InfiniumError,
    NetworkError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)
from secret_scan import register_secret

from .servers import AGENT_ID, echoing_headers, free_port

# 27 characters, with some that JSON and URLs escape.
SECRET = 'sk-live"4f<9a>b&c/d\\e f8Zq7'
assert len(SECRET) == 27


@pytest.fixture(autouse=True)
def _register() -> None:
    register_secret(SECRET)


def forms_of(secret: str) -> list[str]:
    """The secret's echoed forms and its leading 8 characters in each."""
    forms = [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=True)[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in secret),
        quote(secret, safe=""),
    ]
    prefixes = [secret[:8], json.dumps(secret[:8])[1:-1], quote(secret[:8], safe="")]
    return forms + prefixes


def texts_of(error: BaseException) -> list[str]:
    texts = [str(error), repr(error)]
    if isinstance(error, InfiniumError):
        texts += [error.message, repr(error.details)]
    return texts


def assert_hidden(texts: list[str]) -> None:
    for text in texts:
        for form in forms_of(SECRET):
            assert form not in text, "a form of the secret was shown"


def frame_locals(error: BaseException) -> Iterator[tuple[str, str, Any]]:
    """(function, name, value) of every local in the frames of ``error`` and what it chains."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        tb: types.TracebackType | None = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in frame.f_locals.items():
                yield frame.f_code.co_name, name, value
            tb = tb.tb_next
        pending += [
            current.__cause__,
            current.__context__,
            getattr(current, "original_error", None),
        ]


def _holds_secret(value: Any, depth: int = 0) -> bool:
    """Whether a local shows the secret: as text, bytes, in a container or a dataclass."""
    if isinstance(value, str):
        return any(form in value for form in forms_of(SECRET))
    if isinstance(value, (bytes, bytearray)):
        return _holds_secret(bytes(value).decode("utf-8", "replace"), depth)
    if depth < 3 and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return any(
            _holds_secret(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)
        )
    if depth < 3 and isinstance(value, dict):
        return any(
            _holds_secret(k, depth + 1) or _holds_secret(v, depth + 1) for k, v in value.items()
        )
    if depth < 3 and isinstance(value, (list, tuple, set)):
        return any(_holds_secret(item, depth + 1) for item in value)
    return SECRET in repr(value)


def assert_frames_clean(error: BaseException) -> None:
    for function, name, value in frame_locals(error):
        assert name not in ("secret", "agent_secret", "key"), f"{function}() keeps {name!r}"
        assert not _holds_secret(value), f"{function}() keeps the secret in {name!r}"


def _client(url: str, **options: Any) -> InfiniumClient:
    return InfiniumClient(
        AGENT_ID, SECRET, url + "/api/v1", timeout=5.0, backoff_base=0.01, **options
    )


def _long_html(headers: dict[str, str]) -> bytes:
    """A 500 page listing the request headers after 470 characters of text."""
    rows = "".join(f"{name}: {value}\n" for name, value in sorted(headers.items(), reverse=True))
    filler = "Internal error. Request dump follows. " * 12  # ~456 characters
    return f"<pre>{filler}\n{rows}</pre>".encode()


def _json_dump(headers: dict[str, str]) -> bytes:
    return json.dumps({"error": "bad request", "echo": json.dumps(headers)}).encode()


def _ascii_escaped(headers: dict[str, str]) -> bytes:
    text = json.dumps({"message": "denied", "headers": headers}, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def _url_encoded(headers: dict[str, str]) -> bytes:
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in headers.items())
    return f"bad request; replay at /debug?{query}".encode()


@pytest.mark.parametrize(
    ("status", "render", "content_type", "error_type", "quoted"),
    [
        (500, _long_html, "text/html", ServerError, True),
        (400, _json_dump, "application/json", ValidationError, True),
        (400, _ascii_escaped, "application/json", ValidationError, True),
        (400, _url_encoded, "text/plain", ValidationError, True),
        # Only the first 200 characters of an unexpected page are quoted: the echo is past them.
        (200, _long_html, "text/html", UnexpectedResponseError, False),
    ],
)
def test_an_echoed_secret_is_masked_before_any_cut(
    status: int,
    render: Callable[[dict[str, str]], bytes],
    content_type: str,
    error_type: type[InfiniumError],
    quoted: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        echoing_headers(status, render, content_type) as url,
        _client(url, max_retries=1) as client,
    ):
        with pytest.raises(error_type) as info:
            client.send_trace_bytes(b'{"name":"n"}')
    if quoted:  # the echo was within what the error shows, and shows masked
        assert "********" in info.value.message + repr(info.value.details)
    assert_hidden(texts_of(info.value))
    assert_hidden([record.getMessage() for record in caplog.records])
    assert_frames_clean(info.value)


def test_a_network_error_keeps_no_frames_holding_our_headers() -> None:
    with _client(f"http://127.0.0.1:{free_port()}", max_retries=0) as client:
        with pytest.raises(NetworkError) as info:
            client.send_trace_bytes(b'{"name":"n"}')
    assert_hidden(texts_of(info.value))
    assert_frames_clean(info.value)


def test_a_refused_construction_keeps_no_secret_in_its_frames() -> None:
    with pytest.raises(InfiniumError) as info:
        InfiniumClient(AGENT_ID, SECRET, "http://127.0.0.1:1/api/v1", timeout=-1.0)
    assert_hidden(texts_of(info.value))
    assert_frames_clean(info.value)


@pytest.mark.parametrize(
    "shown",
    [
        SECRET,
        json.dumps(SECRET)[1:-1],
        json.dumps(json.dumps(SECRET))[1:-1],
        "".join(f"\\u{ord(c):04X}" for c in SECRET),
        quote(SECRET, safe=""),
        quote(SECRET, safe="").lower(),
        SECRET[:16],
        "&#x73;&#107;" + SECRET[2:].replace("&", "&amp;").replace("<", "&lt;"),
    ],
)
def test_the_redactor_masks_every_form_and_leading_part(shown: str) -> None:
    redactor = Redactor(SECRET)
    masked = redactor.text(f"before {shown} after")
    assert masked.startswith("before ") and masked.endswith(" after")
    assert "********" in masked
    assert SECRET[:8] not in masked
    assert SECRET not in repr(redactor)


def test_masking_happens_before_the_cut() -> None:
    redactor = Redactor(SECRET)
    text = "x" * 490 + SECRET + "y" * 100
    shown = redactor.shorten(text, 500)
    assert len(shown) == 500
    assert SECRET[:8] not in shown and SECRET[:10] not in shown
