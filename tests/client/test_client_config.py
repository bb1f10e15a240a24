"""Building a client: arguments, settings, environment, validation and lifecycle."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infinium_otel.client.async_client import AsyncInfiniumClient
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import ConfigurationError, InfiniumError, NetworkError, ValidationError
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox
from infinium_otel.settings import Settings

from .conftest import VALID_PAYLOAD, recorded

CLIENTS = [InfiniumClient, AsyncInfiniumClient]
ENV_NAMES = [name for name in os.environ if name.startswith("INFINIUM_")]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name)


@pytest.mark.parametrize("cls", CLIENTS)
def test_everything_can_come_from_the_environment(
    cls: type[Any], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFINIUM_AGENT_ID", SANDBOX_AGENT_ID)
    monkeypatch.setenv("INFINIUM_AGENT_SECRET", SANDBOX_AGENT_SECRET)
    monkeypatch.setenv("INFINIUM_BASE_URL", sandbox.url)
    monkeypatch.setenv("INFINIUM_TIMEOUT", "4.5")
    monkeypatch.setenv("INFINIUM_MAX_RETRIES", "1")
    client = cls()
    assert client.settings.timeout == 4.5
    assert client.settings.max_retries == 1
    assert client.base_url == sandbox.url
    if cls is InfiniumClient:
        assert client.check_credentials().success
        client.close()
    else:

        async def check() -> bool:
            async with client:
                return bool((await client.check_credentials()).success)

        assert asyncio.run(check())


@pytest.mark.parametrize("cls", CLIENTS)
def test_missing_credentials_fail_at_construction(cls: type[Any]) -> None:
    with pytest.raises(ConfigurationError) as info:
        cls(base_url="http://127.0.0.1:1/api/v1")
    assert info.value.config_key == "INFINIUM_AGENT_ID"
    with pytest.raises(ConfigurationError) as secret:
        cls(agent_id=SANDBOX_AGENT_ID)
    assert secret.value.config_key == "INFINIUM_AGENT_SECRET"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"agent_id": "not-a-uuid"}, "agent_id"),
        ({"agent_id": "../../etc"}, "agent_id"),
        ({"agent_secret": "short"}, "agent_secret"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "http://example.com/api/v1"}, "base_url"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, Any], key: str) -> None:
    base = {"agent_id": SANDBOX_AGENT_ID, "agent_secret": SANDBOX_AGENT_SECRET}
    with pytest.raises(ConfigurationError) as info:
        InfiniumClient(**{**base, **kwargs})
    assert info.value.config_key == key
    assert SANDBOX_AGENT_SECRET not in str(info.value)


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFINIUM_TIMEOUT", "forever")
    with pytest.raises(ConfigurationError) as info:
        InfiniumClient(agent_id=SANDBOX_AGENT_ID, agent_secret=SANDBOX_AGENT_SECRET)
    assert info.value.config_key == "INFINIUM_TIMEOUT"


def test_plain_http_off_loopback_needs_an_opt_in() -> None:
    client = InfiniumClient(
        SANDBOX_AGENT_ID,
        SANDBOX_AGENT_SECRET,
        "http://collector.internal/api/v1",
        allow_insecure_http=True,
    )
    assert client.base_url == "http://collector.internal/api/v1"
    client.close()


def test_settings_are_the_base_and_arguments_win(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFINIUM_TIMEOUT", "9")  # ignored: settings= replaces the environment
    settings = Settings.load(
        {},
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox.url,
        timeout=2.0,
        max_retries=5,
    )
    with InfiniumClient(max_retries=0, settings=settings) as client:
        assert client.settings.timeout == 2.0
        assert client.settings.max_retries == 0
        assert client.send_task_data(VALID_PAYLOAD).success
    with InfiniumClient.from_settings(settings) as same:
        assert same.settings == settings


def test_clone_makes_an_independent_working_client(sandbox: Sandbox) -> None:
    original = InfiniumClient(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, sandbox.url, backoff_base=0.5)
    copy = original.clone()
    original.close()
    assert copy is not original
    assert copy.settings == original.settings
    assert copy.send_task_data(VALID_PAYLOAD).success
    assert len(recorded(sandbox, "trace", 1)) == 1
    copy.close()


@pytest.mark.parametrize("cls", CLIENTS)
def test_repr_shows_id_and_url_but_never_the_secret(cls: type[Any], sandbox: Sandbox) -> None:
    client = cls(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, sandbox.url)
    text = repr(client) + str(client) + repr(client.settings) + f"{client!r}"
    assert SANDBOX_AGENT_ID in text
    assert sandbox.url in text
    assert SANDBOX_AGENT_SECRET not in text


def test_a_closed_client_refuses_calls(sandbox: Sandbox) -> None:
    with InfiniumClient(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, sandbox.url) as client:
        pass
    assert client.closed
    with pytest.raises(InfiniumError, match="closed"):
        client.send_task_data(VALID_PAYLOAD)
    assert sandbox.requests == []


def test_async_client_closes_on_exit(sandbox: Sandbox) -> None:
    async def run() -> AsyncInfiniumClient:
        async with AsyncInfiniumClient(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, sandbox.url) as c:
            assert (await c.send_task_data(VALID_PAYLOAD)).success
        return c

    client = asyncio.run(run())
    assert client.closed


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"backoff_base": -1.0}, "backoff_base"), ({"backoff_base": float("inf")}, "backoff_base")],
)
def test_bad_client_options_are_validation_errors(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        InfiniumClient(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("value", [-1, 1.5, True, "3"])
def test_bad_per_call_max_retries_is_refused(sandbox: Sandbox, value: Any) -> None:
    with InfiniumClient(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, sandbox.url) as client:
        with pytest.raises(ValidationError) as info:
            client.send_task_data(VALID_PAYLOAD, max_retries=value)
    assert info.value.field == "max_retries"
    assert sandbox.requests == []


def test_a_missing_ca_bundle_is_a_configuration_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        InfiniumClient(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, ca_bundle=tmp_path / "none.pem")
    assert info.value.config_key == "ca_bundle"


@pytest.fixture
def tls_server(tmp_path: Any) -> Iterator[tuple[str, str]]:
    """A tiny https server on loopback with a self-signed certificate: (base url, cert path)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )

    class NotReady(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"message": "not ready"}'
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotReady)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/api/v1", str(cert)
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_by_default_and_ca_bundle_trusts_a_certificate(
    tls_server: tuple[str, str],
) -> None:
    url, cert = tls_server
    with InfiniumClient(SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, url, max_retries=0) as client:
        with pytest.raises(NetworkError) as info:
            client.check_credentials()
    assert "TLS verification failed" in info.value.message
    with InfiniumClient(
        SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, url, max_retries=0, ca_bundle=cert
    ) as trusted:
        assert trusted.check_credentials().success
