"""Added CPU time per instrumented OpenAI chat call: ours versus openai-v2.

Runs a loopback fake OpenAI endpoint in a child process (so its CPU is not
counted), then measures ``time.process_time()`` over many chat calls made by a
real ``openai`` client in three modes, alternating: uninstrumented (baseline),
our ``OpenAIInstrumentor``, and ``opentelemetry-instrumentation-openai-v2``.
Both record message content, on a real TracerProvider whose exporter drops
every span. Added cost = median(mode) - median(baseline).

    python benchmarks/instrumentation.py [--calls 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Both instrumentations read these when instrumenting: content on, latest conventions.
os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "span_only"

TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Summarise the plot of Hamlet in one sentence."},
]


def serve(connection: Any) -> None:
    """Child process: run the fake endpoint until the parent closes the pipe."""
    sys.path.insert(0, str(TESTS_DIR))
    from fakes.fake_openai import FakeOpenAI

    with FakeOpenAI(model="gpt-bench") as fake:
        connection.send(fake.base_url)
        with contextlib.suppress(EOFError):
            connection.recv()


class DroppingExporter:
    """A SpanExporter that accepts and discards everything."""

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def measure(call: Callable[[], object], calls: int) -> float:
    """CPU seconds per call over ``calls`` calls (after a short warm-up)."""
    for _ in range(20):
        call()
    start = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per measured run")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per mode")
    options = parser.parse_args()

    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as Theirs
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from infinium_otel.instrumentation.openai import OpenAIInstrumentor as Ours

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(child,), daemon=True)
    server.start()
    base_url = parent.recv()

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(DroppingExporter()))  # type: ignore[arg-type]
    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)

    def call() -> object:
        return client.chat.completions.create(
            model="gpt-bench", messages=MESSAGES, temperature=0.1, max_tokens=64
        )

    modes: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "baseline": (lambda: None, lambda: None),
        "ours": (
            lambda: Ours().instrument(tracer_provider=provider, capture_content=True),
            lambda: Ours().uninstrument(),
        ),
        "openai-v2": (
            lambda: Theirs().instrument(tracer_provider=provider),
            lambda: Theirs().uninstrument(),
        ),
    }
    results: dict[str, list[float]] = {name: [] for name in modes}
    order = list(modes)
    try:
        for round_index in range(options.rounds):
            rotated = order[round_index % 3 :] + order[: round_index % 3]
            for name in rotated:
                instrument, uninstrument = modes[name]
                instrument()
                try:
                    results[name].append(measure(call, options.calls))
                finally:
                    uninstrument()
    finally:
        parent.send("stop")
        server.join(timeout=5)

    medians = {name: statistics.median(values) for name, values in results.items()}
    ours = medians["ours"] - medians["baseline"]
    theirs = medians["openai-v2"] - medians["baseline"]
    print(f"calls per run: {options.calls}, rounds: {options.rounds}")
    for name, value in medians.items():
        spread = max(results[name]) - min(results[name])
        print(f"  {name:<10} {value * 1e6:9.1f} us CPU/call (spread {spread * 1e6:.1f} us)")
    print(f"added by ours:      {ours * 1e6:8.1f} us CPU/call")
    print(f"added by openai-v2: {theirs * 1e6:8.1f} us CPU/call")
    if theirs > 0:
        print(f"ratio ours/openai-v2: {ours / theirs:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
