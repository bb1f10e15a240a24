"""Runs per second the exporter delivers when every answer takes a while, by the number of
sends in flight (``INFINIUM_MAX_CONCURRENT_SENDS``).

Run: ``PYTHONPATH=src python benchmarks/concurrent_sends.py`` (loopback; under a minute).
The in-process sandbox answers each trace POST after ``--latency`` seconds (an injected
``201``, as a distant endpoint would), so the figure is how well sends overlap the wait.
"""

from __future__ import annotations

import argparse
import time

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.sandbox import Fault, Sandbox


def prebuilt_runs(count: int) -> list[list[ReadableSpan]]:
    """Finished spans of ``count`` small agent runs (an agent span and two model calls)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    batches = []
    for index in range(count):
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"a{index}"}
        with tracer.start_as_current_span(f"invoke_agent a{index}", attributes=agent):
            for _ in range(2):
                chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
                with tracer.start_as_current_span("chat m", attributes=chat):
                    pass
        batches.append(list(memory.get_finished_spans()))
        memory.clear()
    provider.shutdown()
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per answer")
    options = parser.parse_args()
    batches = prebuilt_runs(options.runs)
    for concurrency in (1, 2, 4, 8):
        sandbox = Sandbox()
        sandbox.start()
        try:
            sandbox.faults.push(
                "trace", Fault(status=201, delay=options.latency, repeat=len(batches))
            )
            exporter = InfiniumSpanExporter(
                agent_id=sandbox.agent_id,
                agent_secret=sandbox.agent_secret,
                base_url=sandbox.url,
                interpretation=False,
                max_concurrent_sends=concurrency,
            )
            started = time.perf_counter()
            for batch in batches:
                exporter.export(batch)
            accepted = exporter.force_flush(120_000)
            took = time.perf_counter() - started
            delivered = exporter.stats()["delivery_delivered"]
            exporter.shutdown()
        finally:
            sandbox.close()
        print(
            f"{concurrency} in flight: {len(batches) / took:,.0f} runs/s "
            f"({delivered} of {len(batches)} delivered, flush {accepted}; "
            f"{options.latency * 1000:.0f} ms per answer)"
        )


if __name__ == "__main__":
    main()
