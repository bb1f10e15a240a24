"""Sending traces, polling interpretations and checking credentials against the sandbox."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from infinium_otel import __version__
from infinium_otel.client.response import ApiResponse
from infinium_otel.errors import AuthenticationError, InfiniumTimeoutError, ValidationError
from infinium_otel.sandbox import Fault, Sandbox

from .conftest import VALID_PAYLOAD, ClientFactory, assert_secret_free, recorded


def test_send_returns_the_trace_id_and_the_server_stores_the_payload(
    client: Any, sandbox: Sandbox
) -> None:
    response = client.send_task_data(VALID_PAYLOAD)
    assert isinstance(response, ApiResponse)
    assert response.success is True
    assert response.status_code == 201
    assert response.data is not None
    assert response.trace_id == response.data["traceId"]
    stored = sandbox.wait_for_traces(1)
    assert [t.trace_id for t in stored] == [response.trace_id]
    assert stored[0].payload == VALID_PAYLOAD


def test_every_call_carries_the_agent_headers(client: Any, sandbox: Sandbox) -> None:
    client.send_task_data(VALID_PAYLOAD)
    client.check_credentials()
    seen = recorded(sandbox, "trace", 1) + recorded(sandbox, "interpretation", 1)
    assert len(seen) == 2
    for request in seen:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["x-agent-id"] == sandbox.agent_id
        assert "x-agent-key" in headers  # the sandbox redacts its value
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith(f"infinium-otel/{__version__} python/3.")


def test_send_trace_bytes_posts_the_bytes_unchanged(client: Any, sandbox: Sandbox) -> None:
    body = b'{"name":"pre-serialised","description":"d",' + (
        b'"current_datetime":"2025-01-31T12:00:00Z","duration":0.5}'
    )
    response = client.send_trace_bytes(body)
    assert response.success
    (stored,) = sandbox.wait_for_traces(1)
    assert stored.trace_id == response.trace_id
    assert stored.payload["name"] == "pre-serialised"
    assert recorded(sandbox, "trace", 1)[0].body_bytes == len(body)


def test_lone_surrogates_are_replaced_not_fatal(client: Any, sandbox: Sandbox) -> None:
    payload = {**VALID_PAYLOAD, "description": "broken \ud800 text", "name": "ok \U0001f600"}
    assert client.send_task_data(payload).success
    (stored,) = sandbox.wait_for_traces(1)
    assert stored.payload["description"] == "broken \ufffd text"
    assert stored.payload["name"] == "ok \U0001f600"


def test_non_finite_numbers_are_refused_locally(client: Any, sandbox: Sandbox) -> None:
    with pytest.raises(ValidationError) as info:
        client.send_task_data({**VALID_PAYLOAD, "duration": float("nan")})
    assert info.value.field == "payload"
    assert sandbox.requests == []


def test_sync_client_reuses_one_connection(sandbox: Sandbox, caplog: Any) -> None:
    from infinium_otel.client.sync_client import InfiniumClient

    with InfiniumClient(sandbox.agent_id, sandbox.agent_secret, sandbox.url) as client:
        for _ in range(3):
            client.send_task_data(VALID_PAYLOAD)
        client.check_credentials()
    opened = [r for r in caplog.records if "Starting new HTTP connection" in r.getMessage()]
    assert len(opened) == 1


# Single polls --------------------------------------------------------------------------


def test_poll_404_is_not_ready_then_ready_after_make_ready(client: Any, sandbox: Sandbox) -> None:
    sandbox.interpretation_delay = 60.0
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    not_ready = client.get_interpreted_task_result(trace_id)
    assert not_ready.success is False
    assert not_ready.status_code == 404
    assert "not ready" in not_ready.message
    assert sandbox.make_ready(trace_id)
    ready = client.get_interpreted_task_result(trace_id)
    assert ready.success is True
    assert ready.data is not None and ready.data["interpretedTraceResult"]
    assert ready.interpreted_result == ready.data["interpretedTraceResult"]


def test_poll_200_without_result_is_not_ready(client_factory: ClientFactory) -> None:
    with Sandbox(interpretation_delay=60.0, not_ready_status=200) as sb:
        client = client_factory(base_url=sb.url)
        trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
        response = client.get_interpreted_task_result(trace_id)
        assert response.success is False
        assert response.status_code == 200
        assert response.data is not None and not response.data["interpretedTraceResult"]
        assert response.interpreted_result is None


# Waiting ---------------------------------------------------------------------------------


def test_wait_returns_at_once_when_ready(client: Any, sandbox: Sandbox) -> None:
    sandbox.interpretation_delay = 0.0
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    response = client.wait_for_interpretation(trace_id, timeout=30.0, poll_interval=5.0)
    assert response.success is True
    assert response.data is not None and response.data["interpretedTraceResult"]
    assert len(recorded(sandbox, "interpretation", 1)) == 1


def test_wait_polls_until_ready(client: Any, sandbox: Sandbox) -> None:
    # The fixture's sandbox grades after 0.5 s: the first poll misses, the second finds it.
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    response = client.wait_for_interpretation(trace_id, timeout=10.0, poll_interval=1.0)
    assert response.success is True
    polls = recorded(sandbox, "interpretation", 2)
    assert [p.status for p in polls] == [404, 200]
    assert polls[1].at - polls[0].at >= 0.9  # the poll interval was respected


@pytest.mark.parametrize("not_ready_status", [404, 200])
def test_wait_timeout_returns_the_last_response_without_raising(
    client_factory: ClientFactory, not_ready_status: int
) -> None:
    with Sandbox(interpretation_delay=60.0, not_ready_status=not_ready_status) as sb:
        client = client_factory(base_url=sb.url)
        trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
        started = time.monotonic()
        response = client.wait_for_interpretation(trace_id, timeout=1.2, poll_interval=1.0)
        elapsed = time.monotonic() - started
        assert response.success is False
        assert response.status_code == not_ready_status
        assert "not ready after 1.2 s" in response.message
        assert elapsed < 1.2 + 3.0
        polls = recorded(sb, "interpretation", 2)
        assert len(polls) == 2  # at 0 s and 1 s; never two polls less than 1 s apart


def test_wait_never_sleeps_past_its_timeout(client: Any, sandbox: Sandbox) -> None:
    sandbox.interpretation_delay = 60.0
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    started = time.monotonic()
    response = client.wait_for_interpretation(trace_id, timeout=1.0, poll_interval=30.0)
    elapsed = time.monotonic() - started
    assert response.success is False
    assert elapsed < 1.0 + 3.0  # far less than one 30 s poll interval
    polls = recorded(sandbox, "interpretation", 2)
    assert len(polls) == 2
    assert polls[1].at - polls[0].at == pytest.approx(1.0, abs=0.5)


def test_wait_raises_on_a_network_level_timeout(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    client = client_factory(timeout=0.3, max_retries=0)
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    sandbox.faults.push("interpretation", Fault(status=200, delay=1.5))
    with pytest.raises(InfiniumTimeoutError) as info:
        client.wait_for_interpretation(trace_id, timeout=10.0, poll_interval=1.0)
    assert info.value.timeout_duration == pytest.approx(0.3)
    assert_secret_free(info.value)


@pytest.mark.parametrize("interval", [0.0, 0.5, 0.999, -1.0, float("nan")])
def test_poll_interval_under_one_second_is_refused(
    client: Any, sandbox: Sandbox, interval: float
) -> None:
    with pytest.raises(ValidationError) as info:
        client.wait_for_interpretation(
            "123e4567-e89b-12d3-a456-426614174000", timeout=5.0, poll_interval=interval
        )
    assert info.value.field == "poll_interval"
    assert sandbox.requests == []


def test_wait_with_a_cancel_event_returns_promptly(client: Any, sandbox: Sandbox) -> None:
    import threading

    sandbox.interpretation_delay = 60.0
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    response = client.wait_for_interpretation(
        trace_id, timeout=60.0, poll_interval=30.0, cancel=cancel
    )
    assert response.success is False
    assert "cancelled" in response.message
    assert time.monotonic() - started < 5.0


# Credentials -----------------------------------------------------------------------------


def test_check_credentials_accepts_good_ones_without_sending_a_trace(
    client: Any, sandbox: Sandbox
) -> None:
    response = client.check_credentials()
    assert response.success is True
    assert sandbox.traces() == []


def test_check_credentials_raises_on_a_wrong_secret(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    client = client_factory(agent_secret="not-the-right-secret")
    with pytest.raises(AuthenticationError) as info:
        client.check_credentials()
    assert info.value.status_code == 401
    assert len(recorded(sandbox, "interpretation", 1)) == 1  # never retried
    assert_secret_free(info.value)


def test_debug_log_names_each_retry(client: Any, sandbox: Sandbox, caplog: Any) -> None:
    sandbox.faults.push("trace", Fault(status=503))
    assert client.send_task_data(VALID_PAYLOAD).success
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "infinium_otel.client" and r.levelno == logging.DEBUG
    ]
    assert any("attempt 1 failed" in line and "503" in line for line in lines)


def test_wait_returns_not_ready_when_its_time_ends_during_poll_retries(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    client = client_factory(max_retries=100, backoff_base=0.2)
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    sandbox.faults.push("interpretation", Fault(status=503, repeat=100))
    started = time.monotonic()
    response = client.wait_for_interpretation(trace_id, timeout=1.0, poll_interval=1.0)
    assert time.monotonic() - started < 1.0 + 2.0
    assert response.success is False
    assert response.status_code == 503
    assert "the last poll failed" in response.message
    sandbox.faults.clear()


def test_wait_raises_when_poll_retries_are_exhausted(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    from infinium_otel.errors import ServerError

    client = client_factory(max_retries=1)
    trace_id = client.send_task_data(VALID_PAYLOAD).trace_id
    sandbox.faults.push("interpretation", Fault(status=500, repeat=2))
    with pytest.raises(ServerError) as info:
        client.wait_for_interpretation(trace_id, timeout=30.0, poll_interval=1.0)
    assert info.value.details["gave_up"] == "retries_exhausted"


def test_wait_raises_on_bad_credentials(client_factory: ClientFactory) -> None:
    client = client_factory(agent_secret="wrong-secret-value")
    with pytest.raises(AuthenticationError):
        client.wait_for_interpretation(
            "123e4567-e89b-12d3-a456-426614174000", timeout=30.0, poll_interval=1.0
        )


def test_a_connection_pool_closed_under_the_client_is_replaced(sandbox: Sandbox) -> None:
    import json

    from infinium_otel.client.sync_client import InfiniumClient

    client = InfiniumClient(
        agent_id=sandbox.agent_id, agent_secret=sandbox.agent_secret, base_url=sandbox.url
    )
    body = json.dumps(VALID_PAYLOAD).encode()
    try:
        assert client.send_trace_bytes(body).success
        assert client.send_trace_bytes(body).success
        session = client._core.transport._session
        assert session is not None
        adapter = session.get_adapter(sandbox.url)
        # A pool evicted from the pool manager and closed (as urllib3 1.x closes them).
        (old,) = adapter._pools.values()  # the one pool the adapter remembers
        adapter.poolmanager.clear()
        old.close()
        assert client.send_trace_bytes(body).success
        assert client.send_task_data(VALID_PAYLOAD).success  # the general path too
        assert len(sandbox.wait_for_traces(4)) == 4
    finally:
        client.close()
