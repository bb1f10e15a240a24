"""Only the Infinium API's own answers count: deliveries, accepted credentials, refusals.

Every server here is real and on loopback: the sandbox, ``http.server``'s file
server, a web app answering HTML to every path, fixed JSON answers, and a port
with nothing listening.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporter.support import agent_attributes, chat_attributes, exporter_for
from infinium_otel.errors import (
    InfiniumError,
    InfiniumTimeoutError,
    NetworkError,
    UnexpectedResponseError,
)
from infinium_otel.sandbox import Fault, Sandbox

from .conftest import VALID_PAYLOAD, ClientFactory, assert_secret_free, recorded
from .servers import answering, free_port, html_everywhere, static_files

# Sends -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "shows"),
    [
        (Fault(status=200, body={"message": "ok"}), "200"),
        (Fault(status=201, body={"traceId": ""}), "201"),
        (Fault(status=200, body="<html>welcome</html>"), "text/plain"),
        (Fault(status=204, body=b""), "204"),
    ],
)
def test_a_2xx_without_a_trace_id_is_not_a_delivery(
    client: Any, sandbox: Sandbox, fault: Fault, shows: str
) -> None:
    sandbox.faults.push("trace", fault)
    with pytest.raises(UnexpectedResponseError) as info:
        client.send_task_data(VALID_PAYLOAD)
    assert shows in info.value.message
    assert info.value.status_code == fault.status
    assert info.value.details["gave_up"] == "not_retryable"
    time.sleep(0.2)
    assert len(recorded(sandbox, "trace", 1)) == 1  # never retried: it is not the API
    assert_secret_free(info.value)


def test_a_web_page_answering_a_trace_post_says_what_came_back(
    client_factory: ClientFactory,
) -> None:
    with html_everywhere(200) as url:
        client = client_factory(base_url=url + "/api/v1")
        with pytest.raises(UnexpectedResponseError) as info:
            client.send_trace_bytes(b'{"name":"n"}')
    message = info.value.message
    assert "this is not an Infinium API (got text/html)" in message
    assert "200" in message and "<!doctype html>" in message
    assert_secret_free(info.value)


# JSON nested past Python's recursion depth: json.loads raises RecursionError for it.
_DEEP_JSON = ('{"a":' * 100_000 + "1" + "}" * 100_000).encode()


@pytest.mark.parametrize("status", [200, 400, 503])
def test_an_answer_nested_past_python_s_depth_is_an_unexpected_answer_not_a_crash(
    client_factory: ClientFactory, status: int
) -> None:
    with answering(status, _DEEP_JSON, "application/json") as url:
        client = client_factory(base_url=url + "/api/v1", max_retries=0)
        with pytest.raises(InfiniumError) as info:
            client.send_trace_bytes(b'{"name":"n"}')
    assert info.value.status_code == status
    assert '{"a":{"a":' in info.value.message  # the body shown as text, cut short
    assert len(info.value.message) < 10_000
    assert_secret_free(info.value)


def _one_run() -> list[ReadableSpan]:
    """The finished spans of one agent run with one chat, from a real provider."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("answers")
    with tracer.start_as_current_span("invoke_agent triage", attributes=agent_attributes("triage")):
        with tracer.start_as_current_span("chat", attributes=chat_attributes()):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_the_exporter_counts_an_answer_without_a_trace_id_as_failed(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="infinium_otel")
    sandbox.faults.push("trace", Fault(status=200, body={"message": "ok"}))
    exporter = exporter_for(sandbox)
    try:
        exporter.export(_one_run())
        exporter.force_flush(10_000)  # the run was attempted; nothing is pending
        stats = exporter.stats()
        assert stats["delivery_delivered"] == 0
        assert stats["delivery_failed"] == 1
        warnings = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
        assert warnings and "without a trace id" in warnings[0]
    finally:
        exporter.shutdown()


# Credentials --------------------------------------------------------------------------------


@pytest.mark.parametrize("not_ready_status", [404, 200])
def test_the_sandbox_passes_the_credentials_check(
    client_factory: ClientFactory, not_ready_status: int
) -> None:
    with Sandbox(not_ready_status=not_ready_status) as sb:
        response = client_factory(base_url=sb.url).check_credentials()
    assert response.success is True
    assert response.status_code == not_ready_status
    assert "credentials accepted" in response.message


def test_a_static_file_server_is_not_infinium(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<html>files</html>")
    with static_files(tmp_path) as url:
        client = client_factory(base_url=url + "/api/v1")
        with pytest.raises(UnexpectedResponseError) as info:
            client.check_credentials()
    assert "this is not an Infinium API (got text/html)" in info.value.message
    assert info.value.status_code == 404


@pytest.mark.parametrize("status", [200, 404])
def test_a_web_app_answering_html_everywhere_is_not_infinium(
    client_factory: ClientFactory, status: int
) -> None:
    with html_everywhere(status) as url:
        client = client_factory(base_url=url + "/api/v1")
        with pytest.raises(UnexpectedResponseError) as info:
            client.check_credentials()
    assert "this is not an Infinium API (got text/html)" in info.value.message
    assert "missing /api/v1" not in info.value.message  # the URL has it: not the cause here


def test_a_base_url_missing_the_api_root_is_named_as_the_cause(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    root = sandbox.url.removesuffix("/api/v1")
    client = client_factory(base_url=root)
    with pytest.raises(UnexpectedResponseError) as info:
        client.check_credentials()
    assert "wrong path: is INFINIUM_BASE_URL missing /api/v1?" in info.value.message
    assert info.value.status_code == 404


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"{}"),
        (200, b'{"ok": true}'),
        (200, b"[1, 2]"),
        (404, b'{"detail": "Not Found"}'),
        (404, b'{"message": "Route GET:/api/v1/agents/x/interpreted-result/y not found"}'),
    ],
)
def test_other_json_apis_are_not_infinium(
    client_factory: ClientFactory, status: int, body: bytes
) -> None:
    with answering(status, body, "application/json") as url:
        client = client_factory(base_url=url + "/api/v1")
        with pytest.raises(UnexpectedResponseError):
            client.check_credentials()


def test_a_poll_answered_by_a_web_page_is_an_error_not_a_wait(
    client_factory: ClientFactory,
) -> None:
    with html_everywhere(200) as url:
        client = client_factory(base_url=url + "/api/v1")
        with pytest.raises(UnexpectedResponseError):
            client.get_interpreted_task_result("123e4567-e89b-12d3-a456-426614174000")


# Nothing listening --------------------------------------------------------------------------


def test_a_refused_connection_is_named_and_never_called_a_timeout(
    client_factory: ClientFactory,
) -> None:
    port = free_port()
    client = client_factory(base_url=f"http://127.0.0.1:{port}/api/v1", max_retries=1)
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        client.send_task_data(VALID_PAYLOAD)
    error = info.value
    assert not isinstance(error, InfiniumTimeoutError)
    assert f"connection refused: nothing is listening at 127.0.0.1:{port}" in error.message
    assert "timed out" not in error.message
    assert error.details["gave_up"] == "retries_exhausted"  # still transient: it was retried
    assert error.original_error is not None
    assert time.monotonic() - started < 5.0
    assert_secret_free(error)


def test_a_refused_credentials_check_is_a_network_error(client_factory: ClientFactory) -> None:
    client = client_factory(base_url=f"http://127.0.0.1:{free_port()}/api/v1", max_retries=0)
    with pytest.raises(NetworkError) as info:
        client.check_credentials()
    assert not isinstance(info.value, InfiniumTimeoutError)
    assert "connection refused" in info.value.message
