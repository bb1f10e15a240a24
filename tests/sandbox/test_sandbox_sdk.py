"""The platform's own SDK talks to the sandbox as it would to Infinium."""

from __future__ import annotations

import pytest

from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Fault, Sandbox

infinium = pytest.importorskip("infinium")


def test_sdk_sends_a_trace_and_reads_the_interpretation() -> None:
    with Sandbox(interpretation_delay=0.0, not_ready_status=200) as sb:
        client = infinium.InfiniumClient(
            SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, base_url=sb.url, max_retries=0
        )
        try:
            sent = client.send_task(
                name="sdk run",
                description="sent by the platform SDK",
                duration=0.5,
            )
            assert sent.success
            trace_id = sent.data["traceId"]
            assert sb.trace(trace_id) is not None
            result = client.wait_for_interpretation(trace_id, timeout=5, poll_interval=0.1)
            assert result.data["interpretedTraceResult"]["source"].startswith("infinium-otel")
        finally:
            client.close()
    sb.close()


def test_sdk_sees_authentication_and_server_errors(sandbox: Sandbox) -> None:
    from infinium.exceptions import AuthenticationError, ServerError

    wrong = infinium.InfiniumClient(
        SANDBOX_AGENT_ID, "not-the-secret", base_url=sandbox.url, max_retries=0
    )
    with pytest.raises(AuthenticationError):
        wrong.send_task(name="x", description="y", duration=1.0)
    wrong.close()

    sandbox.faults.push("trace", Fault(503))
    client = infinium.InfiniumClient(
        SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, base_url=sandbox.url, max_retries=0
    )
    with pytest.raises(ServerError):
        client.send_task(name="x", description="y", duration=1.0)
    client.close()
    sent_keys = [r.headers.get("x-agent-key") for r in sandbox.requests]
    assert sent_keys == ["<redacted>", "<redacted>"]
