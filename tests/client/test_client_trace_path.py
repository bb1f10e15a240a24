"""The prepared trace path reads answers as the full ``requests`` path does.

Its answers are built without ``requests``' header copy and cookie jar, and its
request line is worked out once per route: headers must still read whatever
their case, a cookie the answer sets must still reach the session (and the next
call), and a gzip body must still be decoded.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator

import pytest

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import UnexpectedResponseError

from .servers import AGENT_ID, _Quiet, _serve

SECRET = "trace-path-secret-0123456789"
TRACE_ID = "11111111-2222-4333-8444-555555555555"


class _Recorder(_Quiet):
    """Answers every trace POST with a trace id, in the way ``answer`` says."""

    answer = "plain"
    seen: list[dict[str, str]]
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.lock:
            self.seen.append({key.lower(): value for key, value in self.headers.items()})
        body = json.dumps({"traceId": TRACE_ID, "message": "ok"}).encode()
        self.send_response(200)
        if self.answer == "html":
            body = b"<html><body>hello</body></html>"
            self.send_header("CONTENT-TYPE", "text/html")
        else:
            self.send_header("CONTENT-TYPE", "application/json")
        if self.answer == "cookie":
            self.send_header("Set-Cookie", "route=blue; Path=/")
        if self.answer == "gzip":
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen, "answer": request.param})
    with _serve(handler) as url:
        yield url, seen


def _client(url: str) -> InfiniumClient:
    return InfiniumClient(
        agent_id=AGENT_ID, agent_secret=SECRET, base_url=url + "/api/v1", max_retries=0
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize("server", ["plain", "gzip"], indirect=True)
def test_repeated_trace_posts_read_their_answer(server: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = server
    with _client(url) as client:
        answers = [client.send_trace_bytes(b'{"name":"run"}') for _ in range(3)]
    assert [answer.trace_id for answer in answers] == [TRACE_ID] * 3
    assert all(answer.success for answer in answers)
    assert len(seen) == 3
    assert all(headers["content-length"] == str(len(b'{"name":"run"}')) for headers in seen)
    assert all(headers["x-agent-id"] == AGENT_ID for headers in seen)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("server", ["cookie"], indirect=True)
def test_a_cookie_the_trace_answer_sets_is_sent_with_the_next_call(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = server
    with _client(url) as client:
        client.send_trace_bytes(b'{"name":"one"}')
        client.send_trace_bytes(b'{"name":"two"}')
    assert "cookie" not in seen[0]
    assert seen[1].get("cookie") == "route=blue"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("server", ["html"], indirect=True)
def test_a_web_page_answering_the_trace_path_is_named_by_its_content_type(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    url, _ = server
    messages = []
    with _client(url) as client:
        for body in (b'{"name":"one"}', b'{"name":"two"}'):  # a route made, then reused
            with pytest.raises(UnexpectedResponseError) as raised:
                client.send_trace_bytes(body)
            messages.append(str(raised.value))
    assert all("text/html" in message for message in messages)
