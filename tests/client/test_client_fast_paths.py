"""The shortcuts of a trace POST answer exactly as the general way would.

Answer heads seen lately are looked up instead of read again; the secret is
searched for only in texts that could hold it, and a decoded answer is walked
only when its JSON text could; the suppressing context is made once per current
context; the direct path remembers its adapter and pool; the watchdog drops
finished watches as new ones come and is woken only for an earlier deadline. Each is checked here
against the general way on the same input: a copy of the head reader as it
was, a full regex scan, a full walk, a fresh lookup.
"""

from __future__ import annotations

import html
import json
import random
import re
import socket
import time
from typing import Any
from urllib.parse import quote

import pytest
import requests
from opentelemetry import context

from infinium_otel._suppress import _ALL_KEYS, instrumentation_suppressed, is_suppressed
from infinium_otel.client import answers, http1
from infinium_otel.client.http1 import CHUNKED, Head, header_map, parse_head
from infinium_otel.client.redact import MASK, Redactor
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.client.watchdog import AttemptWatch, WatchedAdapter, _Watchdog, watching
from infinium_otel.client.wire import RawResponse
from infinium_otel.sandbox import Sandbox

from .conftest import VALID_PAYLOAD

# --- answer heads --------------------------------------------------------------------

# The head reader as it was before heads were remembered and read in one scan.
_PLAIN_HEAD = re.compile(
    rb"HTTP/1\.([01]) ([2-5][0-9][0-9])(?: ([\t\x20-\x7e]*))?"
    rb"((?:\r\n[\x21-\x39\x3b-\x7e]+:[\t\x20-\x7e]*)*)"
)
_DIGITS = re.compile(r"[0-9]{1,18}")
_FRAMING = frozenset(("content-length", "transfer-encoding", "connection"))


def reference_parse_head(head: bytes, method: str) -> tuple[Any, ...] | None:
    plain = _PLAIN_HEAD.fullmatch(head)
    if plain is None or head.count(b"\r\n") > 100:
        return None
    fields: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    keep_alive = plain.group(1) == b"1"
    for line in plain.group(4).decode("ascii").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        value = value.lstrip(" \t")
        fields.append((name, value))
        lower = name.lower()
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
    status = int(plain.group(2))
    if chunked:
        if length is not None:
            return None
        length = CHUNKED
    if status in (204, 304) or method == "HEAD":
        length = 0
    if length is None:
        return None
    reason = (plain.group(3) or b"").decode("ascii").strip()
    return (status, reason, tuple(fields), length, keep_alive)


HEADS = [
    b"HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\n"
    b"Date: Mon, 30 Nov 2026 12:00:00 GMT\r\nContent-Type: application/json\r\n"
    b"Content-Length: 61",
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Spaces: \t  padded  \r\nContent-Length: 12",
    b"HTTP/1.1 200 OK\r\nX-Colons: a:b: c\r\nX-Empty:\r\nContent-Length:  7 ",
    b"HTTP/1.1 200\r\nContent-Length: 0",
    b"HTTP/1.1 200 \r\nContent-Length: 0",
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 2",
    b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive, Upgrade\r\nContent-Length: 2",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99",
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\ncontent-encoding: identity\r\nContent-Length: 1",
    b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 99 + b"Content-Length: 0",
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 2000 + b"\r\nContent-Length: 0",
    # Refused: each is left to http.client.
    b"HTTP/1.1 100 Continue\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1x",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked",
    b"HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\n: no name\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\nX-Ctl: a\x01b\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\nContent-Length: 0",
    b"HTTP/2 200\r\nContent-Length: 0",
    b"HTTP/1.1 20 OK\r\nContent-Length: 0",
    b"HTTP/1.1 600 Odd\r\nContent-Length: 0",
    b"ICY 200 OK\r\nContent-Length: 0",
    b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 100 + b"Content-Length: 0",
    b"",
]


def _as_tuple(head: Head | None) -> tuple[Any, ...] | None:
    if head is None:
        return None
    return (head.status, head.reason, head.fields, head.length, head.keep_alive)


@pytest.mark.parametrize("method", ["POST", "GET", "HEAD"])
@pytest.mark.parametrize("head", HEADS)
def test_a_head_reads_as_the_reader_before_it_first_and_when_seen_again(
    head: bytes, method: str
) -> None:
    expected = reference_parse_head(head, method)
    http1._heads.clear()
    first = parse_head(head, method)
    again = parse_head(head, method)
    assert _as_tuple(first) == expected
    assert _as_tuple(again) == expected
    for read in (first, again):
        if read is not None:
            assert dict(read.headers) == header_map(read.fields)


def test_a_remembered_head_is_not_given_for_another_method_nor_changed_by_a_caller() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5"
    posted = parse_head(head, "POST")
    headed = parse_head(head, "HEAD")
    assert posted is not None and headed is not None
    assert (posted.length, headed.length) == (5, 0)
    with pytest.raises(TypeError):
        posted.headers["content-length"] = "0"  # type: ignore[index]
    again = parse_head(head, "POST")
    assert again is not None and again.headers["content-length"] == "5"


def test_remembered_heads_stay_few_and_short() -> None:
    for number in range(500):
        parse_head(b"HTTP/1.1 200 OK\r\nX-Request-Id: %d\r\nContent-Length: 0" % number, "POST")
    long_head = b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 5000 + b"\r\nContent-Length: 0"
    read = parse_head(long_head, "POST")
    assert read is not None and read.fields[0] == ("X-Long", "v" * 5000)
    assert len(http1._heads) <= http1._MAX_REMEMBERED_HEADS
    assert all(len(head) <= http1._MAX_REMEMBERED_HEAD for head, _ in http1._heads)


# --- secret masking -------------------------------------------------------------------

SECRETS = [
    "fast-path-secret-0123456789",  # starts with a hex letter: trace ids often hold it
    "0123456789abcdef0123",
    "sk live & 50% + \\ \" / ' < > é 𝄞 end",  # every character an escape or entity has
    "%2B+&amp;\\u0041-odd-start",
    "short8ch",
]


def _forms(secret: str) -> list[str]:
    """The secret as an echo may show it, whole or its leading part."""
    dumped = json.dumps(secret)[1:-1]
    return [
        secret,
        dumped,
        json.dumps(dumped)[1:-1],
        json.dumps(secret, ensure_ascii=True)[1:-1],
        "".join(f"\\u{ord(c):04X}" for c in secret if ord(c) <= 0xFFFF),
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        quote(secret),
        html.escape(secret),
        "".join(f"&#{ord(c)};" for c in secret),
        secret.replace(" ", "+"),
        secret[:8],
        secret[:12],
        secret[1:],
        secret[:7],
    ]


def _texts(secret: str, rng: random.Random) -> list[str]:
    """Texts with and without the secret's forms, and random ones made of its pieces."""
    pieces = [*_forms(secret), *secret, "\\", "%", "&", "+", "x", " ", '"', "{", ":"]
    texts = [f"before {form} after" for form in _forms(secret)]
    texts += ["", "plain text", "a uuid 6f0b7c2e-1d3a-4b5c-9e8f-abcdefabcdef", secret[:1]]
    for _ in range(300):
        texts.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))))
    return texts


@pytest.mark.parametrize("secret", SECRETS)
def test_masking_a_text_gives_what_a_full_scan_gives(secret: str) -> None:
    redactor = Redactor(secret)
    pattern = redactor._pattern
    assert pattern is not None
    for text in _texts(secret, random.Random(secret)):
        masked = redactor.text(text)
        assert masked == pattern.sub(MASK, text), text
        if not redactor.may_hold(text):
            assert pattern.search(text) is None, text


@pytest.mark.parametrize("secret", SECRETS)
def test_a_decoded_answer_is_masked_as_a_full_walk_masks_it(secret: str) -> None:
    redactor = Redactor(secret)
    rng = random.Random(secret)
    for text in _texts(secret, rng):
        for value in (
            {"traceId": "6f0b7c2e-1d3a-4b5c-9e8f-abcdefabcdef", "message": text},
            {text: [1, 2.5, None, True, {"nested": [text, "x"]}]},
            {"echo": json.dumps({"x-agent-key": text})},
        ):
            for ascii_only in (True, False):
                source = json.dumps(value, ensure_ascii=ascii_only)
                decoded = json.loads(source)
                assert redactor.decoded(decoded, source) == redactor.value(json.loads(source))
                shown = json.dumps(redactor.decoded(decoded, source), ensure_ascii=False)
                assert secret not in shown and secret[:8] not in shown


def test_an_answer_that_cannot_hold_the_secret_is_not_copied() -> None:
    redactor = Redactor("fast-path-secret-0123456789")
    source = '{"traceId": "6f0b7c2e-1d3a-4b5c-9e8f-abcdefabcdef", "message": "ok"}'
    decoded = json.loads(source)
    assert redactor.decoded(decoded, source) is decoded
    echoed = '{"message": "fast-path-secret-0123456789"}'
    assert redactor.decoded(json.loads(echoed), echoed) == {"message": MASK}
    escaped = '{"message": "\\u0066ast-path-secret"}'
    assert redactor.decoded(json.loads(escaped), escaped) == {"message": MASK}


# --- suppression ----------------------------------------------------------------------

_OTHER_KEY = context.create_key("fast-path-test")


def test_suppression_keeps_the_current_values_and_restores_the_context() -> None:
    outside = context.get_current()
    for value in ("first", "second", "first"):
        token = context.attach(context.set_value(_OTHER_KEY, value))
        entered_from = context.get_current()
        try:
            with instrumentation_suppressed():
                assert is_suppressed()
                assert all(context.get_value(key) is True for key in _ALL_KEYS)
                assert context.get_value(_OTHER_KEY) == value
                with instrumentation_suppressed():  # already suppressed: nothing to attach
                    assert is_suppressed() and context.get_value(_OTHER_KEY) == value
                assert context.get_value(_OTHER_KEY) == value
            assert context.get_current() is entered_from
            assert not is_suppressed()
        finally:
            context.detach(token)
    assert context.get_current() is outside


def test_suppression_ends_even_when_the_block_raises() -> None:
    before = context.get_current()
    with pytest.raises(ValueError), instrumentation_suppressed():
        raise ValueError("inside")
    assert context.get_current() is before and not is_suppressed()


# --- the direct path's adapter and pool ---------------------------------------------


class CountingAdapter(WatchedAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        self.asked += 1
        return super().get_connection_with_tls_context(*args, **kwargs)


def _session(client: InfiniumClient) -> requests.Session:
    session = client._core.transport._get_session()
    assert isinstance(session, requests.Session)
    return session


def test_an_adapter_mounted_later_serves_the_next_call(sandbox: Sandbox) -> None:
    with InfiniumClient(sandbox.agent_id, sandbox.agent_secret, sandbox.url) as client:
        assert client.send_task_data(VALID_PAYLOAD).trace_id
        mounted = CountingAdapter()
        _session(client).mount(sandbox.root_url.rstrip("/"), mounted)
        assert client.send_task_data(VALID_PAYLOAD).trace_id
        assert client.send_task_data(VALID_PAYLOAD).trace_id
        assert mounted.asked == 1  # looked up once, then remembered
        replaced = CountingAdapter()
        _session(client).mount(sandbox.root_url.rstrip("/"), replaced)
        assert client.send_task_data(VALID_PAYLOAD).trace_id
        assert (mounted.asked, replaced.asked) == (1, 1)
    assert len(sandbox.traces()) == 4


def test_a_closed_pool_is_not_used_again(sandbox: Sandbox) -> None:
    with InfiniumClient(sandbox.agent_id, sandbox.agent_secret, sandbox.url) as client:
        assert client.send_task_data(VALID_PAYLOAD).trace_id
        adapter = _session(client).get_adapter(sandbox.url)
        adapter.close()  # closes its pools
        assert client.send_task_data(VALID_PAYLOAD).trace_id
        assert client.send_task_data(VALID_PAYLOAD).trace_id
    assert len(sandbox.traces()) == 3


# --- the attempt watchdog -------------------------------------------------------------


@pytest.mark.timeout(20)
def test_the_watchdog_holds_about_as_many_watches_as_attempts_running() -> None:
    # Finished watches are dropped from the front of its queue (the earliest deadlines)
    # as new ones come, past any running attempt's watch further back.
    dog = _Watchdog()  # its own: other tests' attempts do not count here
    running = AttemptWatch(time.monotonic() + 600.0)
    dog.add(running)
    for _ in range(2000):
        watch = AttemptWatch(time.monotonic() + 60.0)
        dog.add(watch)
        watch.finish()
    assert len(dog._heap) <= 3
    running.finish()


@pytest.mark.timeout(20)
def test_a_short_attempt_after_long_ones_is_still_cut_on_time() -> None:
    # The watchdog sleeps until the long attempts' deadlines; the short one must wake it.
    ours, server = socket.socketpair()
    with ours, server:
        with watching(time.monotonic() + 60.0), watching(time.monotonic() + 50.0):
            started = time.monotonic()
            with watching(time.monotonic() + 0.3) as watch:
                watch.attach(ours)
                ours.settimeout(5.0)
                assert ours.recv(1) == b""  # cut: end of stream
            assert watch.fired and time.monotonic() - started < 5.0


# --- the answer's JSON ----------------------------------------------------------------


def _loads_object(body: bytes) -> Any:
    """What ``json.loads`` makes of the body's stripped text, when it is an object."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


@pytest.mark.parametrize(
    "body",
    [
        b'{"traceId": "t", "message": "ok"}',
        b' \r\n\t{"traceId": "t"} \n',
        b'{"a": 1}{"b": 2}',
        b'{"a": 1} x',
        b'{"a": 1}\xc2\xa0',
        b'\xef\xbb\xbf{"a": 1}',
        b"[1, 2]",
        b'{"a": [1, {"b": null}], "c": 1.5e3}',
        b'{"a": NaN, "b": Infinity}',
        b'{"a": "\\ud834\\udd1e"}',
        b'{"a": 1',
        b"{}",
        b"not json",
        b"",
        b'{"a": "caf\xc3\xa9", "\xff": 1}',
    ],
)
def test_an_answer_body_decodes_as_json_loads_decodes_it(body: bytes) -> None:
    read = answers._Body(RawResponse(200, {}, body), Redactor("fast-path-secret-0123456789"))
    assert read.data == _loads_object(body)
