"""Export cost and burst behaviour: InfiniumSpanExporter against the OTLP/HTTP exporter.

Run: ``python benchmarks/export.py`` (loopback only; about half a minute).

1. CPU per span. The same pre-built spans (agent runs with realistic GenAI
   attributes) go through each exporter in batches of 512, as a batch span
   processor would hand them over. Ours assembles, converts, serialises and
   POSTs each run from its delivery thread (``force_flush`` waits for it); the
   OTLP exporter encodes protobuf and POSTs each batch. Both post to a sink in
   a separate process, so ``time.process_time()`` (all threads of this
   process) counts the exporter's work and not the server's. Repetitions
   alternate; the table shows medians and the ratio ours / OTLP.
2. A burst of 10,000 agent spans through the SDK's default
   ``BatchSpanProcessor`` (queue 2048, batch 512, 5 s delay): spans that never
   reached each exporter, i.e. dropped by the processor's full queue.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.nesting import attach_tracker
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload

AGENT_ID = "00000000-0000-4000-8000-000000000001"
AGENT_SECRET = "benchmark-secret-key"
BATCH = 512

# A sink in its own process: 200 with a trace id for Infinium, 200 for OTLP, and
# GET /stats with what it received (OTLP spans are counted by decoding protobuf).
SINK = r"""
import json, sys, threading, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

lock = threading.Lock()
stats = {"traces": 0, "otlp_spans": 0}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, no delayed-ACK stall

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            body = json.dumps(stats).encode()
        self._send(200, body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/v1/traces"):
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            count = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            with lock:
                stats["otlp_spans"] += count
            self._send(200, b"", "application/x-protobuf")
            return
        with lock:
            stats["traces"] += 1
        self._send(200, json.dumps({"traceId": str(uuid.uuid4()), "message": "ok"}).encode())

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Sink:
    """The sink process; ``stats()`` asks it what it received."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())
        self.root = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.root + "/stats", timeout=10) as response:
            return dict(json.loads(response.read()))

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)


# ---------------------------------------------------------------- spans


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def emit_run(tracer: Tracer, index: int, spans_per_run: int) -> None:
    """One agent run: the root, then LLM calls and tool calls alternating."""
    question = f"Customer {index} asks where parcel {index * 7} is. " * 8
    answer = f"Parcel {index * 7} left the Lyon hub this morning and arrives Tuesday. " * 5
    with tracer.start_as_current_span(
        f"invoke_agent support-{index % 10}",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": f"support-{index % 10}",
            "gen_ai.provider.name": "openai",
        },
    ):
        for step in range(spans_per_run - 1):
            if step % 2 == 0:
                with tracer.start_as_current_span(
                    "chat gpt-4o-mini",
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                        "gen_ai.response.id": f"chatcmpl-{index}-{step}",
                        "gen_ai.response.finish_reasons": ("stop",),
                        "gen_ai.request.temperature": 0.2,
                        "gen_ai.usage.input_tokens": 420 + step,
                        "gen_ai.usage.output_tokens": 96,
                        "server.address": "api.openai.com",
                        "server.port": 443,
                        "gen_ai.input.messages": _messages("user", question),
                        "gen_ai.output.messages": _messages("assistant", answer),
                    },
                ):
                    pass
            else:
                with tracer.start_as_current_span(
                    "execute_tool track_parcel",
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": "track_parcel",
                        "gen_ai.tool.call.id": f"call_{index}_{step}",
                        "gen_ai.tool.call.arguments": json.dumps({"parcel": index * 7}),
                        "gen_ai.tool.call.result": json.dumps(
                            {"status": "in transit", "hub": "Lyon", "eta": "Tuesday"}
                        ),
                    },
                ):
                    pass


def prebuilt_spans(runs: int, spans_per_run: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "export-benchmark"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("benchmark.agent")
    for index in range(runs):
        emit_run(tracer, index, spans_per_run)
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


# ---------------------------------------------------------------- exporters


def ours(sink: Sink) -> InfiniumSpanExporter:
    return InfiniumSpanExporter(
        agent_id=AGENT_ID,
        agent_secret=AGENT_SECRET,
        base_url=sink.root + "/api/v1",
        interpretation=False,
        max_retries=0,
    )


def otlp(sink: Sink) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=sink.root + "/v1/traces", timeout=30)


def cpu_seconds(exporter: SpanExporter, spans: Sequence[ReadableSpan]) -> float:
    """Process CPU (all threads) to export ``spans`` in batches and finish delivery."""
    started = time.process_time()
    for offset in range(0, len(spans), BATCH):
        exporter.export(spans[offset : offset + BATCH])
    assert exporter.force_flush(60_000)
    used = time.process_time() - started
    exporter.shutdown()
    return used


def measure_cpu(sink: Sink, spans: list[ReadableSpan], repetitions: int) -> dict[str, float]:
    makers: dict[str, Callable[[Sink], SpanExporter]] = {"infinium": ours, "otlp": otlp}
    samples: dict[str, list[float]] = {name: [] for name in makers}
    cpu_seconds(ours(sink), spans[:500])  # warm up both paths (imports, connections)
    cpu_seconds(otlp(sink), spans[:500])
    for repetition in range(repetitions):
        order = list(makers) if repetition % 2 == 0 else list(reversed(makers))
        for name in order:
            exporter = makers[name](sink)  # built outside the measured span
            samples[name].append(cpu_seconds(exporter, spans))
    return {name: statistics.median(values) for name, values in samples.items()}


def stage_costs(sink: Sink, spans: list[ReadableSpan]) -> dict[str, float]:
    """Our path taken apart on one thread: CPU seconds of each stage for all ``spans``."""
    costs: dict[str, float] = {}
    started = time.process_time()
    assembler = RunAssembler()
    runs = []
    for offset in range(0, len(spans), BATCH):
        runs.extend(assembler.add(spans[offset : offset + BATCH], 0.0))
    costs["assembly"] = time.process_time() - started
    started = time.process_time()
    payloads = [convert_run(run) for run in runs]
    costs["conversion"] = time.process_time() - started
    started = time.process_time()
    bodies = [encode_payload(payload).body for payload in payloads]
    costs["encoding"] = time.process_time() - started
    client = InfiniumClient(
        agent_id=AGENT_ID, agent_secret=AGENT_SECRET, base_url=sink.root + "/api/v1"
    )
    started = time.process_time()
    for body in bodies:
        client.send_trace_bytes(body)
    costs["POST"] = time.process_time() - started
    client.close()
    return costs


# ---------------------------------------------------------------- burst


def burst(sink: Sink, kind: str, total_spans: int, spans_per_run: int) -> tuple[int, int]:
    """Emit ``total_spans`` as fast as possible through a default BatchSpanProcessor.

    Returns (emitted, reached the exporter).
    """
    provider = TracerProvider()
    before = sink.stats()
    exporter: SpanExporter
    if kind == "infinium":
        infinium = ours(sink)
        attach_tracker(provider, infinium)
        exporter = infinium
    else:
        exporter = otlp(sink)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("benchmark.burst")
    runs = total_spans // spans_per_run
    for index in range(runs):
        emit_run(tracer, index, spans_per_run)
    emitted = runs * spans_per_run
    if isinstance(exporter, InfiniumSpanExporter):
        provider.force_flush()
        received = exporter.stats()["spans_received"]
        exporter.force_flush(60_000)
        provider.shutdown()
    else:
        provider.shutdown()
        received = sink.stats()["otlp_spans"] - before["otlp_spans"]
    return emitted, received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--spans-per-run", type=int, default=25)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--burst", type=int, default=10_000)
    args = parser.parse_args(argv)

    sink = Sink()
    try:
        spans = prebuilt_spans(args.runs, args.spans_per_run)
        medians = measure_cpu(sink, spans, args.repetitions)
        per_span = {name: seconds / len(spans) * 1e6 for name, seconds in medians.items()}
        ratio = medians["infinium"] / medians["otlp"]
        print(
            f"CPU per span, {args.runs} runs x {args.spans_per_run} spans = {len(spans)} spans, "
            f"median of {args.repetitions} alternating repetitions"
        )
        print(f"{'exporter':<12}{'CPU s':>10}{'us/span':>10}")
        for name in ("infinium", "otlp"):
            print(f"{name:<12}{medians[name]:>10.3f}{per_span[name]:>10.1f}")
        print(f"ratio infinium/otlp: {ratio:.2f} (target <= 0.3)")
        print()
        stage_costs(sink, spans[:500])  # warm up
        samples = [stage_costs(sink, spans) for _ in range(3)]
        print("Our path by stage, one thread, median of 3")
        print(f"{'stage':<12}{'us/span':>10}")
        for stage in samples[0]:
            seconds = statistics.median(sample[stage] for sample in samples)
            print(f"{stage:<12}{seconds / len(spans) * 1e6:>10.1f}")
        print()
        print(f"Burst of {args.burst} agent spans through a default BatchSpanProcessor")
        print(f"{'exporter':<12}{'emitted':>10}{'exported':>10}{'dropped':>10}")
        for kind in ("infinium", "otlp"):
            emitted, received = burst(sink, kind, args.burst, args.spans_per_run)
            print(f"{kind:<12}{emitted:>10}{received:>10}{emitted - received:>10}")
    finally:
        sink.close()


if __name__ == "__main__":
    main()
