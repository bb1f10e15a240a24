"""What the reliability tests share: an exporter wired to a sandbox, and runs to send."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Tracer

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.nesting import attach_tracker
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox
from infinium_otel.settings import Settings

AGENT = {"gen_ai.operation.name": "invoke_agent"}
BACKOFF = 0.05


def settings_for(sandbox: Sandbox, **overrides: Any) -> Settings:
    """Settings pointing at ``sandbox`` with short timeouts (quick tests, fast retries)."""
    values: dict[str, Any] = {
        "agent_id": SANDBOX_AGENT_ID,
        "agent_secret": SANDBOX_AGENT_SECRET,
        "base_url": sandbox.url,
        "timeout": 0.5,
        "max_retries": 6,
        "interpretation": "off",
    }
    values.update(overrides)
    return Settings.load({}, **values)


class Pipeline:
    """A real TracerProvider whose spans go synchronously to an InfiniumSpanExporter."""

    def __init__(self, sandbox: Sandbox, *, secret: str = SANDBOX_AGENT_SECRET, **overrides: Any):
        self.settings = settings_for(sandbox, agent_secret=secret, **overrides)
        self.client = InfiniumClient(settings=self.settings, backoff_base=BACKOFF)
        self.exporter = InfiniumSpanExporter(
            settings=self.settings, client=self.client, interpretation=False
        )
        self.provider = TracerProvider()
        attach_tracker(self.provider, self.exporter)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("reliability-tests")

    def run(self, name: str, *, tools: int = 1, output: str = "done") -> None:
        """One agent run: an LLM call and ``tools`` tool calls under an agent root."""
        emit_run(self.tracer, name, tools=tools, output=output)

    def close(self, timeout: float = 10.0) -> bool:
        delivered = self.exporter.shutdown_report(timeout)
        self.provider.shutdown()
        return delivered


def emit_run(tracer: Tracer, name: str, *, tools: int = 1, output: str = "done") -> None:
    """An agent run whose every step names the run, so payloads can be tied back to it."""
    with tracer.start_as_current_span(
        f"invoke_agent {name}", attributes={**AGENT, "gen_ai.agent.name": name}
    ):
        with tracer.start_as_current_span(
            f"chat m-{name}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": f"m-{name}",
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.usage.output_tokens": 5,
            },
        ):
            pass
        for index in range(tools):
            with tracer.start_as_current_span(
                f"execute_tool lookup-{name}",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": f"lookup-{name}-{index}",
                    "gen_ai.tool.call.result": output,
                },
            ):
                pass


def names_received(sandbox: Sandbox) -> Counter[str]:
    """How many times the server accepted each run name."""
    return Counter(str(t.payload.get("name")) for t in sandbox.traces())


def trace_attempts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.endpoint == "trace")


def check_own_steps(payload: dict[str, Any]) -> None:
    """Every step of a run's payload belongs to that run (tool and model carry its name)."""
    name = payload["name"]
    steps = payload.get("steps", [])
    actions = Counter(step["action"] for step in steps)
    assert actions == {"llm_call": 1, "tool_use": 1}, (name, actions)
    for step in steps:
        if "llm_call" in step:
            assert step["llm_call"]["model"] == f"m-{name}", (name, step)
        if "tool_call" in step:
            assert step["tool_call"]["tool_name"] == f"lookup-{name}-0", (name, step)


def payload_json(sandbox: Sandbox) -> list[str]:
    return [json.dumps(t.payload, ensure_ascii=False) for t in sandbox.traces()]
