"""View Maestro's interpretation through an OpenTelemetry log pipeline.

The ``log`` sink emits an OTel log record correlated to the run's trace and
span ids; here a ConsoleLogRecordExporter prints it. In production the same
record goes to your OTLP logs backend, next to the run's trace.
"""

from __future__ import annotations

from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor

import infinium_otel
from infinium_otel import agent, tool
from infinium_otel.sandbox import Sandbox


@tool("translate")
def translate(text: str) -> str:
    return text.upper()


def main() -> int:
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogRecordExporter()))
    set_logger_provider(logger_provider)
    with Sandbox(interpretation_delay=0.5) as sandbox:
        handle = infinium_otel.configure(
            base_url=sandbox.url,
            agent_id=sandbox.agent_id,
            agent_secret=sandbox.agent_secret,
            interpretation=["log"],
            poll_interval=1.0,
            instrument=False,
        )
        with agent("translator"):
            translate("hello")
        handle.flush(timeout=10)
        ok = handle.wait_for_interpretations(timeout=20)
        handle.shutdown(timeout=5)
    logger_provider.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
