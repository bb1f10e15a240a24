"""Only requests addressed to the sandbox's own address see what it stored (DNS rebinding)."""

from __future__ import annotations

import http.client
import json

import pytest

from infinium_otel.sandbox import SANDBOX_AGENT_ID, Fault, Sandbox
from infinium_otel.sandbox.host_check import allowed_hosts, host_allowed

from .support import AUTH, Api, payload

NAME = "rebinding-target-run"


def raw_request(
    sandbox: Sandbox,
    path: str,
    host: str | None,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request over loopback with exactly the given ``Host`` (None: no Host header)."""
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.fixture
def stored(api: Api) -> str:
    """The id of a stored trace whose payload names ``NAME``."""
    return str(api.post_trace(payload(name=NAME)).json()["traceId"])


PAGES = ["/", "/traces/{id}", "/api/sandbox/traces", "/api/sandbox/traces/{id}"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}", "127.0.0.1:1", None],
)
def test_pages_refuse_a_foreign_host(
    sandbox: Sandbox, stored: str, page: str, host: str | None
) -> None:
    header = None if host is None else host.format(port=sandbox.port)
    status, body = raw_request(sandbox, page.format(id=stored), header)
    assert status == 421
    assert NAME.encode() not in body
    assert sandbox.requests[-1].status == 421


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_pages_answer_their_own_addresses(
    sandbox: Sandbox, stored: str, page: str, host: str
) -> None:
    status, body = raw_request(sandbox, page.format(id=stored), host.format(port=sandbox.port))
    assert status == 200
    assert NAME.encode() in body


def test_the_api_refuses_a_foreign_host_before_anything_else(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(503))
    body = json.dumps(payload()).encode()
    path = f"/api/v1/agents/{SANDBOX_AGENT_ID}/trace"
    status, _ = raw_request(
        sandbox,
        path,
        f"evil.example:{sandbox.port}",
        method="POST",
        body=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert status == 421
    assert sandbox.traces() == []
    assert sandbox.faults.pending("trace") == 1  # the misdirected request consumed nothing
    status, _ = raw_request(
        sandbox,
        path,
        f"127.0.0.1:{sandbox.port}",
        method="POST",
        body=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert status == 503  # the fault is still there for a real request


def test_html_pages_forbid_scripts_and_framing(sandbox: Sandbox, stored: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    try:
        connection.request("GET", f"/traces/{stored}")
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    assert answer.status == 200
    policy = answer.getheader("Content-Security-Policy", "")
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert answer.getheader("X-Content-Type-Options") == "nosniff"


def test_the_allowed_names_follow_the_bound_address() -> None:
    names = allowed_hosts("127.0.0.2", 8765)
    assert host_allowed("127.0.0.2:8765", names)
    assert host_allowed("localhost:8765", names)
    assert not host_allowed("127.0.0.2", names)  # the port is part of the name
    assert not host_allowed("127.0.0.2:8766", names)
    assert host_allowed("[::1]:80", allowed_hosts("::1", 80))
    assert host_allowed("localhost", allowed_hosts("127.0.0.1", 80))
    assert not host_allowed(None, names)
