"""The sandbox accepts a valid trace over real HTTP and serves its interpretation."""

from __future__ import annotations

import requests

from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

HEADERS = {"x-agent-id": SANDBOX_AGENT_ID, "x-agent-key": SANDBOX_AGENT_SECRET}
VALID = {
    "name": "smoke",
    "description": "a run",
    "current_datetime": "2025-01-31T12:00:00.000Z",
    "duration": 1.5,
}


def test_trace_round_trip(sandbox: Sandbox) -> None:
    answer = requests.post(
        f"{sandbox.url}/agents/{SANDBOX_AGENT_ID}/trace", json=VALID, headers=HEADERS, timeout=5
    )
    assert answer.status_code == 201
    trace_id = answer.json()["traceId"]
    stored = sandbox.wait_for_traces(1, timeout=5)
    assert [t.trace_id for t in stored] == [trace_id]
    assert stored[0].payload == VALID
    sandbox.make_ready(trace_id)
    result = requests.get(
        f"{sandbox.url}/agents/{SANDBOX_AGENT_ID}/interpreted-result/{trace_id}",
        headers=HEADERS,
        timeout=5,
    )
    assert result.status_code == 200
    assert "smoke" in result.json()["interpretedTraceResult"]["summary"]
