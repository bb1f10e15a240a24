"""Shared pieces for the exporter tests: a real SDK pipeline aimed at a sandbox.

``Pipeline`` is a real ``TracerProvider`` with the nesting tracker attached and
an ``InfiniumSpanExporter`` behind a real span processor, delivering over
loopback HTTP to the test's sandbox. ``checked_payloads`` returns what the
sandbox stored, each payload having passed the contract and SDK checks.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanProcessor
from opentelemetry.trace import Tracer

from conversion.checks import check_payload
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.nesting import attach_tracker
from infinium_otel.sandbox import Sandbox

AGENT = {"gen_ai.operation.name": "invoke_agent"}
TOOL = {"gen_ai.operation.name": "execute_tool"}


def agent_attributes(name: str) -> dict[str, Any]:
    return {**AGENT, "gen_ai.agent.name": name}


def chat_attributes(
    model: str = "gpt-test", tokens_in: int = 10, tokens_out: int = 5
) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
    }


def tool_attributes(name: str) -> dict[str, Any]:
    return {**TOOL, "gen_ai.tool.name": name}


def exporter_for(sandbox: Sandbox, **overrides: Any) -> InfiniumSpanExporter:
    """An exporter delivering to ``sandbox`` with quick retries and no interpretation."""
    settings: dict[str, Any] = {
        "agent_id": sandbox.agent_id,
        "agent_secret": sandbox.agent_secret,
        "base_url": sandbox.url,
        "timeout": 5.0,
        "max_retries": 0,
        "interpretation": False,
    }
    settings.update(overrides)
    return InfiniumSpanExporter(**settings)


class Pipeline:
    """A real provider -> processor -> InfiniumSpanExporter -> sandbox."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        batch: bool = True,
        processor_options: dict[str, Any] | None = None,
        **exporter_overrides: Any,
    ) -> None:
        self.sandbox = sandbox
        self.exporter = exporter_for(sandbox, **exporter_overrides)
        self.provider = TracerProvider()
        attach_tracker(self.provider, self.exporter)
        self.processor: SpanProcessor
        if batch:
            options = {"schedule_delay_millis": 50, **(processor_options or {})}
            self.processor = BatchSpanProcessor(self.exporter, **options)
        else:
            self.processor = SimpleSpanProcessor(self.exporter)
        self.provider.add_span_processor(self.processor)
        self.tracer: Tracer = self.provider.get_tracer("tests.exporter")

    def flush(self, timeout: float = 10.0) -> bool:
        """Push spans through the processor, then deliver what the exporter holds."""
        pushed = self.processor.force_flush(int(timeout * 1000))
        return bool(pushed and self.exporter.force_flush(int(timeout * 1000)))

    def close(self) -> None:
        self.provider.shutdown()


def checked_payloads(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Every payload the sandbox stored, in arrival order, each passing the checks."""
    return [check_payload(stored.payload) for stored in sandbox.traces()]


def trace_posts(sandbox: Sandbox) -> int:
    """How many trace POSTs reached the sandbox."""
    return sum(1 for request in sandbox.requests if request.endpoint == "trace")


def step_names(payload: dict[str, Any]) -> list[str]:
    return [step["description"] for step in payload.get("steps", [])]


def tags(payload: dict[str, Any]) -> dict[str, str]:
    return dict(payload.get("environment", {}).get("custom_tags", {}))
