"""Payloads and a tiny HTTP client for the sandbox tests."""

from __future__ import annotations

import copy
from typing import Any

import requests

from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

AUTH = {"x-agent-id": SANDBOX_AGENT_ID, "x-agent-key": SANDBOX_AGENT_SECRET}

MINIMAL_PAYLOAD: dict[str, Any] = {
    "name": "support-agent",
    "description": "Answer a billing question",
    "current_datetime": "2025-01-31T12:00:00.000Z",
    "duration": 2.25,
}

RICH_PAYLOAD: dict[str, Any] = {
    **MINIMAL_PAYLOAD,
    "input_summary": "Why was I charged twice?",
    "output_summary": "Refunded the duplicate charge.",
    "expected_outcome": {
        "task_objective": "Resolve the billing question",
        "acceptance_criteria": ["customer told the outcome"],
    },
    "steps": [
        {
            "step_number": 1,
            "action": "llm_call",
            "description": "chat gpt-4o-mini",
            "duration_ms": 420,
            "input_preview": "Why was I charged twice?",
            "llm_call": {
                "model": "gpt-4o-mini",
                "provider": "openai",
                "prompt_tokens": 120,
                "completion_tokens": 30,
                "temperature": 0.2,
            },
            "metadata": {"depth": 1, "span_id": "00f067aa0ba902b7"},
        },
        {
            "step_number": 2,
            "action": "tool_use",
            "description": "refund_charge",
            "tool_call": {"tool_name": "refund_charge", "duration_ms": 80, "http_status": 200},
            "error": {"error_type": "TimeoutError", "message": "first try timed out"},
        },
    ],
    "errors": [
        {
            "error_type": "TimeoutError",
            "message": "first try timed out",
            "recoverable": True,
            "retry_count": 1,
        }
    ],
    "llm_usage": {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "api_calls_count": 1,
        "calls": [{"model": "gpt-4o-mini", "prompt_tokens": 120, "completion_tokens": 30}],
    },
    "sections": {
        "time_tracking": {
            "start_time": "2025-01-31T11:59:57.750Z",
            "end_time": "2025-01-31T12:00:00.000Z",
        },
        "general": {"tools_used": ["refund_charge"], "retries": 1},
    },
    "environment": {
        "framework": "opentelemetry",
        "python_version": "3.11.7",
        "custom_tags": {"otel.trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"},
    },
}


def payload(**changes: Any) -> dict[str, Any]:
    """A deep copy of the rich payload with top-level keys replaced (None removes a key)."""
    result = copy.deepcopy(RICH_PAYLOAD)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


class Api:
    """The two agent endpoints of one sandbox, over one keep-alive session."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()

    def trace_url(self, agent_id: str = SANDBOX_AGENT_ID) -> str:
        return f"{self.sandbox.url}/agents/{agent_id}/trace"

    def result_url(self, trace_id: str, agent_id: str = SANDBOX_AGENT_ID) -> str:
        return f"{self.sandbox.url}/agents/{agent_id}/interpreted-result/{trace_id}"

    def post_trace(
        self,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        agent_id: str = SANDBOX_AGENT_ID,
        timeout: float = 5.0,
    ) -> requests.Response:
        sent_headers = AUTH if headers is None else headers
        if data is not None:
            return self.session.post(
                self.trace_url(agent_id),
                data=data,
                headers={**sent_headers, "Content-Type": "application/json"},
                timeout=timeout,
                allow_redirects=False,
            )
        return self.session.post(
            self.trace_url(agent_id),
            json=MINIMAL_PAYLOAD if body is None else body,
            headers=sent_headers,
            timeout=timeout,
            allow_redirects=False,
        )

    def get_result(
        self,
        trace_id: str,
        *,
        headers: dict[str, str] | None = None,
        agent_id: str = SANDBOX_AGENT_ID,
        timeout: float = 5.0,
    ) -> requests.Response:
        return self.session.get(
            self.result_url(trace_id, agent_id),
            headers=AUTH if headers is None else headers,
            timeout=timeout,
            allow_redirects=False,
        )
