"""Proxies from the environment are honoured on every call, the fast trace path included."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.sandbox import Sandbox

from .conftest import VALID_PAYLOAD


class _ForwardProxy(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy that remembers each absolute URL it relayed."""

    protocol_version = "HTTP/1.1"
    seen: list[str]

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _relay(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        path = target.path + (f"?{target.query}" if target.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = _relay
    do_POST = _relay


@pytest.fixture
def proxy() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_ForwardProxy,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_http_proxy_from_the_environment_carries_trace_posts_and_polls(
    sandbox: Sandbox, proxy: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with InfiniumClient(
        agent_id=sandbox.agent_id, agent_secret=sandbox.agent_secret, base_url=sandbox.url
    ) as client:
        first = client.send_task_data(VALID_PAYLOAD)
        second = client.send_task_data(VALID_PAYLOAD)  # the prepared, fast path
        client.get_interpreted_task_result(str(first.trace_id))
    assert first.success and second.success
    posts = [line for line in seen if line.startswith("POST ")]
    gets = [line for line in seen if line.startswith("GET ")]
    assert len(posts) == 2 and all(sandbox.url in line for line in posts)
    assert len(gets) == 1 and str(first.trace_id) in gets[0]
    assert len(sandbox.traces()) == 2
