"""Plain OpenTelemetry API spans with GenAI attributes, exported to Infinium.

No helpers and no auto-instrumentation: any span tree that follows the
OpenTelemetry GenAI conventions (or OpenInference, or OpenLLMetry) becomes an
Infinium run. Here the exporter is added by hand beside a console exporter.
"""

from __future__ import annotations

import json

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from infinium_otel import InfiniumSpanExporter
from infinium_otel.sandbox import Sandbox


def main() -> int:
    with Sandbox(interpretation_delay=0.5) as sandbox:
        provider = TracerProvider(resource=Resource.create({"service.name": "billing-agent"}))
        exporter = InfiniumSpanExporter(
            base_url=sandbox.url, agent_id=sandbox.agent_id, agent_secret=sandbox.agent_secret
        )
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
        tracer = provider.get_tracer("billing")

        with tracer.start_as_current_span(
            "invoke_agent billing",
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "billing"},
        ):
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 310,
                    "gen_ai.usage.output_tokens": 42,
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "Refund #881?"}]}]
                    ),
                },
            ):
                pass
            with tracer.start_as_current_span(
                "execute_tool issue_refund",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "issue_refund",
                    "gen_ai.tool.call.arguments": '{"invoice": 881}',
                    "gen_ai.tool.call.result": '{"status": "refunded"}',
                },
            ):
                pass

        provider.force_flush()
        delivered = exporter.force_flush(10_000)
        stored = sandbox.wait_for_traces(1, timeout=10)
        payload = stored[0].payload
        print(f"delivered={delivered} name={payload['name']} steps={len(payload['steps'])}")
        print("llm_usage:", json.dumps(payload["llm_usage"], sort_keys=True))
        provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
