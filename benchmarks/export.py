"""Export cost, memory, latency and bursts: InfiniumSpanExporter against the OTLP/HTTP exporter.

Run: ``python benchmarks/export.py`` (loopback only; a few minutes; ``--quick`` for a
short look).

1. CPU per span, on three shapes (see ``shapes.py``): the benchmark run (25 spans),
   a 50-span run, and a 25-span agent run whose chat spans carry a message history
   of up to 20 messages with tool calls and results (content capture on). The same
   pre-built spans go through each exporter in batches of 512, as a batch span
   processor would hand them over. Ours assembles, converts, serialises and
   POSTs each run from its delivery thread (``force_flush`` waits for it); the
   OTLP exporter encodes protobuf and POSTs each batch. Both post to a sink in
   a separate process, so ``time.process_time()`` (all threads of this
   process) counts the exporter's work and not the server's. Repetitions
   alternate; the table shows medians and the ratio ours / OTLP. Then our path
   taken apart by stage on one thread.
2. The application thread: CPU on the thread that ends the spans with
   ``configure()``, with a ``BatchSpanProcessor`` and the OTLP exporter, and with
   no processor at all (``time.thread_time()``); then ``configure()``'s processor
   and a plain ``BatchSpanProcessor`` behind an exporter that does nothing, which
   shows the processors' own cost apart from the exporters' work elsewhere.
3. Memory (tracemalloc): bytes the exporter holds per buffered span (children of
   runs whose root has not ended) and per open span the nesting tracker tracks.
4. Latency: from a root's end to its POST reaching the sink, through ``configure()``
   (median and p99).
5. A burst of 10,000 agent spans through the SDK's default
   ``BatchSpanProcessor`` (queue 2048, batch 512, 5 s delay): spans that never
   reached each exporter, i.e. dropped by the processor's full queue.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Sequence

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from shapes import emit, emit_run, prebuilt

from infinium_otel import configure
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.nesting import attach_tracker

try:  # older versions: no such names
    from infinium_otel.export.nesting import MAX_ANSWERS, MAX_LIVE
except ImportError:  # pragma: no cover
    MAX_LIVE, MAX_ANSWERS = 200_000, 100_000
from infinium_otel.export.nesting import NestingTracker
from infinium_otel.export.tracked_batch import TrackedBatchSpanProcessor
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.settings import Settings

AGENT_ID = "00000000-0000-4000-8000-000000000001"
AGENT_SECRET = "benchmark-secret-key"
BATCH = 512
try:  # the encoder's own module; older versions: payload/encode.py, or json only
    from infinium_otel.payload.json_encoder import ENCODER
except ImportError:  # pragma: no cover
    from infinium_otel.payload import encode

    ENCODER = getattr(encode, "ENCODER", "json")

# A sink in its own process: 200 with a trace id for Infinium, 200 for OTLP, and
# GET /stats with what it received (OTLP spans are counted by decoding protobuf).
SINK = r"""
import json, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

lock = threading.Lock()
stats = {"traces": 0, "otlp_spans": 0}
arrivals = {}

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
            body = json.dumps(arrivals if self.path == "/arrivals" else stats).encode()
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
        arrived = time.time()
        try:
            name = json.loads(body).get("name")
        except ValueError:
            name = None
        with lock:
            stats["traces"] += 1
            if name:
                arrivals[name] = arrived
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

    def arrivals(self) -> dict[str, float]:
        """When each run (by name) reached the sink (``time.time()`` of the sink's process)."""
        with urllib.request.urlopen(self.root + "/arrivals", timeout=10) as response:
            return dict(json.loads(response.read()))

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(10)


# ---------------------------------------------------------------- spans

SHAPES = {
    # label: (runs, spans per run, shape, history)
    "benchmark run (25 spans)": (200, 25, "simple", 2),
    "50-span run": (100, 50, "simple", 2),
    "agent run, history <= 20": (200, 25, "history", 20),
}


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
    bodies = [encode_payload(payload, ordered=True).body for payload in payloads]  # as the exporter
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


# ---------------------------------------------------------------- latency


def latency(sink: Sink, runs: int) -> list[float]:
    """Seconds from each root's end to its POST reaching the sink, through ``configure()``."""
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        agent_id=AGENT_ID,
        agent_secret=AGENT_SECRET,
        base_url=sink.root + "/api/v1",
        interpretation=False,
    )
    tracer = provider.get_tracer("benchmark.latency")
    ended: dict[str, float] = {}
    for index in range(runs):
        name = f"latency-{index}"
        with tracer.start_as_current_span(
            f"invoke_agent {name}",
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name},
        ):
            for _ in range(4):
                with tracer.start_as_current_span(
                    "execute_tool lookup",
                    attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "x"},
                ):
                    pass
        ended[name] = time.time()
        time.sleep(0.05)  # runs arrive one by one, as an application's would
    handle.flush(30)
    arrivals = sink.arrivals()
    handle.shutdown(30)
    provider.shutdown()
    return [arrivals[name] - at for name, at in ended.items() if name in arrivals]


# ---------------------------------------------------------------- application thread


QUEUE = {"max_queue_size": 100_000}


class IdleExporter(SpanExporter):
    """Takes batches and does nothing with them but the tracker's end bookkeeping.

    The "idle" rows measure what a processor costs the thread that ends spans by
    itself: an exporter doing real work on another thread takes the interpreter
    lock from that thread at times, which shows there too.
    """

    def __init__(self) -> None:
        self.nesting_tracker = NestingTracker()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ended_all = getattr(self.nesting_tracker, "ended_all", None)  # older: at span end
        if ended_all is not None:
            ended_all(spans)
        return SpanExportResult.SUCCESS


class ThreadSetup:
    """One application-thread setup (a provider and its processors), kept for many rounds."""

    def __init__(self, sink: Sink, kind: str) -> None:
        self.provider = TracerProvider()
        self.handle = None
        if kind == "configure()":
            self.handle = configure(
                tracer_provider=self.provider,
                instrument=False,
                agent_id=AGENT_ID,
                agent_secret=AGENT_SECRET,
                base_url=sink.root + "/api/v1",
                interpretation=False,
            )
        elif kind == "OTLP batch":
            self.provider.add_span_processor(BatchSpanProcessor(otlp(sink)))
        elif kind == "configure() processor, idle":
            idle = IdleExporter()
            TrackedBatchSpanProcessor(idle, **QUEUE).add_to(self.provider)  # type: ignore[arg-type]
        elif kind == "batch processor, idle":
            self.provider.add_span_processor(BatchSpanProcessor(IdleExporter(), **QUEUE))
        self.tracer = self.provider.get_tracer("benchmark.thread")
        emit(self.tracer, 1, 25, "simple")  # the first span of a provider pays lazy set-up
        self.settle()

    def settle(self) -> None:
        """Everything emitted so far exported (and delivered), outside any measure."""
        self.provider.force_flush()
        if self.handle is not None:
            self.handle.flush(60)

    def round(self, runs: int) -> float:
        """CPU seconds on this thread (``time.thread_time()``) to make and end ``runs`` runs.

        A full collection due by now would land on whichever setup crosses its threshold:
        collected before, outside the measure, it is billed to none. The processors' own
        threads work while the round is measured, as they would in the application; the
        flush after it keeps one round's exports out of the next and no queue overflows.
        """
        gc.collect()
        started = time.thread_time()
        emit(self.tracer, runs, 25, "simple")
        used = time.thread_time() - started
        self.settle()
        return used

    def close(self) -> None:
        if self.handle is not None:
            self.handle.shutdown(60)
        self.provider.shutdown()


def app_thread_costs(sink: Sink, runs: int, cycles: int) -> dict[str, list[float]]:
    """Per setup, the CPU seconds of each of ``cycles`` rounds of ``runs`` runs.

    Every setup lives for the whole measure and the setups take turns round by round
    (in an order that rotates), so a busy spell of a shared machine falls on all of
    them alike and the rows can be compared cycle by cycle.
    """
    setups = {kind: ThreadSetup(sink, kind) for kind in THREAD_KINDS}
    samples: dict[str, list[float]] = {kind: [] for kind in THREAD_KINDS}
    try:
        for cycle in range(cycles):
            shift = cycle % len(THREAD_KINDS)
            order = THREAD_KINDS[shift:] + THREAD_KINDS[:shift]
            for kind in order if cycle % 2 == 0 else order[::-1]:
                samples[kind].append(setups[kind].round(runs))
    finally:
        for setup in setups.values():
            setup.close()
    return samples


# ---------------------------------------------------------------- memory


def buffered_bytes(sink: Sink, spans: list[ReadableSpan]) -> tuple[float, int]:
    """Bytes the exporter holds per buffered span: the children of runs whose root is open."""
    children = [span for span in spans if span.parent is not None]
    exporter = ours(sink)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for offset in range(0, len(children), BATCH):
        exporter.export(children[offset : offset + BATCH])
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    buffered = exporter.stats().get("spans_buffered", len(children))
    exporter.shutdown()
    return held / len(children), buffered


def tracked_bytes(sink: Sink, count: int) -> float:
    """Bytes the nesting tracker holds per open span it tracks."""
    results = []
    for tracked in (False, True):
        provider = TracerProvider()
        exporter = ours(sink)
        if tracked:
            attach_tracker(provider, exporter)
        tracer = provider.get_tracer("benchmark.memory")
        root = tracer.start_span(
            "invoke_agent memory", attributes={"gen_ai.operation.name": "invoke_agent"}
        )
        context = trace.set_span_in_context(root)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        open_spans = [
            tracer.start_span("execute_tool x", context=context, attributes=TOOL)
            for _ in range(count)
        ]
        gc.collect()
        results.append(tracemalloc.get_traced_memory()[0] - before)
        tracemalloc.stop()
        for span in open_spans:
            span.end()
        root.end()
        exporter.shutdown()
        provider.shutdown()
    return (results[1] - results[0]) / count


TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "x"}


# ---------------------------------------------------------------- report


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="a short run: fewer spans and rounds")
    parser.add_argument(
        "--only", choices=("thread",), help="thread: only the application thread's table"
    )
    args = parser.parse_args(argv)
    repetitions = 3 if args.quick else args.repetitions
    scale = 4 if args.quick else 1
    print(f"JSON encoder: {ENCODER}; {os.cpu_count()} CPUs (shared)")
    print()

    sink = Sink()
    try:
        by_shape: dict[str, list[ReadableSpan]] = {}
        if args.only is None:
            print(
                "Export CPU per span (assembly + conversion + encoding + POST, all threads), "
                f"median of {repetitions} alternating repetitions"
            )
            print(f"{'shape':<28}{'spans':>7}{'ours us':>10}{'OTLP us':>10}{'ratio':>8}")
            for label, (runs, size, shape, history) in SHAPES.items():
                spans = prebuilt(max(1, runs // scale), size, shape, history)
                by_shape[label] = spans
                medians = measure_cpu(sink, spans, repetitions)
                ours_us = medians["infinium"] / len(spans) * 1e6
                otlp_us = medians["otlp"] / len(spans) * 1e6
                print(
                    f"{label:<28}{len(spans):>7}{ours_us:>10.1f}{otlp_us:>10.1f}"
                    f"{medians['infinium'] / medians['otlp']:>8.2f}"
                )
            print("targets: ratio <= 0.5 (json), <= 0.35 (orjson)")
            print()

            print("Our path by stage, one thread, median of 3")
            print(f"{'shape':<28}" + "".join(f"{stage:>13}" for stage in STAGES))
            for label, spans in by_shape.items():
                stage_costs(sink, spans[:500])  # warm up
                samples = [stage_costs(sink, spans) for _ in range(3)]
                cells = "".join(
                    f"{statistics.median(s[stage] for s in samples) / len(spans) * 1e6:>13.1f}"
                    for stage in STAGES
                )
                print(f"{label:<28}{cells}")
            print("(us per span)")
            print()

        # 60 runs (1,500 spans) a round: under the queue sizes, nothing dropped.
        runs, cycles = 60, (15 if args.quick else 40)
        print(
            f"Application thread: CPU on the thread that ends the spans, {runs} runs x 25 spans "
            f"a round, {cycles} rounds of each setup taking turns"
        )
        samples = app_thread_costs(sink, runs, cycles)
        per_span = {
            kind: [value / (runs * 25) * 1e6 for value in values]
            for kind, values in samples.items()
        }
        baseline = per_span["no processor"]
        print(f"{'setup':<28}{'us/span':>10}{'added us':>10}{'(q1':>7}{'q3)':>6}")
        for kind in THREAD_KINDS:
            # What a setup adds: the median of its differences with the bare provider's
            # round of the same cycle, with the quartiles of those differences.
            added = [ours - bare for ours, bare in zip(per_span[kind], baseline, strict=True)]
            q1, _, q3 = statistics.quantiles(added, n=4)
            print(
                f"{kind:<28}{statistics.median(per_span[kind]):>10.1f}"
                f"{statistics.median(added):>10.1f}{q1:>7.1f}{q3:>6.1f}"
            )
        print()

        if args.only == "thread":
            return
        spans = by_shape["benchmark run (25 spans)"]
        per_buffered, buffered = buffered_bytes(sink, spans)
        per_tracked = tracked_bytes(sink, 2000 // scale)
        buffered_bound = Settings.load(agent_id=AGENT_ID, agent_secret=AGENT_SECRET)
        max_buffered = buffered_bound.max_buffered_spans
        print("Memory (tracemalloc)")
        print(f"bytes held per buffered span (exporter, {buffered} spans): {per_buffered:,.0f}")
        print(
            f"  bound: max_buffered_spans={max_buffered:,} -> about "
            f"{per_buffered * max_buffered / 1e6:,.1f} MB"
        )
        print(f"bytes held per span tracked by the nesting tracker: {per_tracked:,.0f}")
        print(
            f"  bound: {MAX_LIVE:,} live spans -> about {per_tracked * MAX_LIVE / 1e6:,.1f} MB"
            f" (and at most {MAX_ANSWERS:,} answers waiting)"
        )
        print()

        delays = latency(sink, 50 if args.quick else 200)
        print(f"Root end to POST received, {len(delays)} runs through configure()")
        print(
            f"median {statistics.median(delays) * 1000:.0f} ms, "
            f"p99 {_percentile(delays, 0.99) * 1000:.0f} ms"
        )
        print()

        print(f"Burst of {args.burst} agent spans through a default BatchSpanProcessor")
        print(f"{'exporter':<12}{'emitted':>10}{'exported':>10}{'dropped':>10}")
        for kind in ("infinium", "otlp"):
            emitted, received = burst(sink, kind, args.burst, 25)
            print(f"{kind:<12}{emitted:>10}{received:>10}{emitted - received:>10}")
    finally:
        sink.close()


STAGES = ("assembly", "conversion", "encoding", "POST")
THREAD_KINDS = (
    "no processor",
    "configure()",
    "OTLP batch",
    "configure() processor, idle",
    "batch processor, idle",
)


if __name__ == "__main__":
    main()
