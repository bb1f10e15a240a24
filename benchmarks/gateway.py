"""The OTLP gateway's figures: throughput, CPU per span against the in-process exporter,
and peak memory with many runs in flight.

Run: ``PYTHONPATH=src python benchmarks/gateway.py`` (loopback only; a minute or two).
Options: ``--clients 8 --runs 2000 --held-runs 10000``; ``--instructions`` instead
measures the intake in instructions (needs valgrind; about a minute), see 4.

1. Throughput. A sandbox (the Infinium stand-in) and the gateway
   (``infinium-otel gateway``) run as separate processes. ``--clients`` threads
   here POST pre-encoded OTLP/HTTP protobuf requests, one 20-span agent run
   each, as fast as the gateway answers (a 429/503 is retried after its
   ``Retry-After``, as the official exporters do; a full gateway first holds a
   request up to ``admission_wait`` for room). Spans per second is spans
   accepted over the sending time; "lost" is runs sent minus runs the gateway's
   exporter reports delivered (``/stats``) once everything settled. Also shown:
   the seconds the clients slept on ``Retry-After`` (the gateway hears nothing
   from a sleeping client), and the gateway's load while the clients sent as
   well as end to end (which includes the 1 s grouping wait at the end, when
   only delivery is left).
2. CPU per span. The gateway process's CPU time (``/proc``) over the spans it
   took, against the in-process exporter on the same runs as an application runs
   it: ``configure()`` on a tracer provider (its batch span processor carrying the
   nesting tracker, the exporter, its threads), the runs made here by the SDK, paced
   as an application makes them, and delivered to the same sandbox with the gateway's
   delivery settings (its sends in flight); the median of three measurements. From
   it is taken what the SDK's batch span processor costs with an exporter that does
   nothing (measured just before each): an application pays that for any batching
   exporter, the OTLP one that feeds the gateway too, so the figure is the exporter's
   own work. Also shown: the application's side of using the gateway (the official
   OTLP/HTTP exporter sending the same runs to it, less the same batching) and the
   whole of both against the in-process exporter; and the exporter alone, fed the
   gateway's decoded runs one ``export`` call each (no span processor, not the SDK's
   spans), the comparison of earlier figures. The gateway's CPU is also split by
   thread (the CLI here names the exporter's threads in ``/proc``): the exporter's
   share (assembly on the hand-over thread, conversion, sends), to compare with the
   exporter alone in this process, and the rest, the intake. Then the gateway's own
   work, in this process on the same bodies and with the gateway's collector
   settings: parsing the protobuf, decoding into spans and grouping them by trace.
3. Peak memory. A second gateway with a 600 s wait holds ``--held-runs`` runs
   at once; its peak resident set (``VmHWM``) after they are all accepted, and
   its CPU per span while taking them (the intake alone: HTTP, decoding,
   grouping, with no delivery competing for the GIL).
4. Instructions (``--instructions``; cachegrind counts them, so the figure has no
   noise). A gateway process under cachegrind takes held runs from one client:
   none, 500 requests of 20 spans, and 100 requests of 100 spans (the same spans,
   five runs to a request). The two differences from the first give what one
   request costs whatever it carries (HTTP, admission, answer) and what each span
   costs (parsing, decoding, grouping). Then the same 20-span bodies parsed,
   decoded and grouped in one process and one thread, without HTTP: the share of
   the intake's instructions that is the decoding itself.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from valgrind_counts import summary_count

import infinium_otel
from infinium_otel.cli.gateway import CONCURRENT_SENDS_ENV, GATEWAY_CONCURRENT_SENDS
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.gateway.collection import tune_for_gateway
from infinium_otel.gateway.decode import DecodeCache, decode_request
from infinium_otel.gateway.grouper import TraceGrouper
from infinium_otel.gateway.wire import new_request
from infinium_otel.sandbox.server import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET

SRC = str(Path(__file__).resolve().parents[1] / "src")
# The CLI, with each of the exporter's threads given its role as its name in /proc
# (Python does not name threads there), so the gateway's CPU can be split: the
# exporter's share against everything else, the intake (HTTP, decoding, grouping).
ROLE_NAMING = (
    "import ctypes, sys, threading\n"
    "ROLES = {'infinium-otel-delivery': 'conversion', 'infinium-otel-send': 'sends',\n"
    "         'infinium-otel-watchdog': 'sends', 'infinium-gateway-hand-over': 'assembly'}\n"
    "_run = threading.Thread.run\n"
    "def run(self):\n"
    "    role = ROLES.get(self.name)\n"
    "    try:\n"
    "        if role:  # PR_SET_NAME (Linux): the name /proc/<pid>/task/<tid>/comm shows\n"
    "            ctypes.CDLL(None).prctl(15, ('role:' + role).encode(), 0, 0, 0)\n"
    "    except (AttributeError, OSError):\n"
    "        pass  # no prctl here: the split by thread is left empty\n"
    "    _run(self)\n"
    "threading.Thread.run = run\n"
)
CLI = ROLE_NAMING + "from infinium_otel.cli import main\nsys.exit(main())\n"
EXPORTER_ROLES = ("assembly", "conversion", "sends")
SPANS_PER_RUN = 20
IN_PROCESS_REPEATS = 3
# An application makes its runs over time (each waits on its model calls), not in one
# tight loop: here PACE_RUNS at a time with a pause between, so the SDK's batch queue
# (8,192 spans) never fills and no span is dropped. A pause costs no CPU.
PACE_RUNS = 50
PACE_SECONDS = 0.05


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def record_run(tracer: Any) -> None:
    """One 20-span agent run, as an application's SDK makes it: an agent span, chat
    spans with tokens and their input messages, tool spans."""
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "bench-agent"}
    with tracer.start_as_current_span("invoke_agent bench", attributes=agent):
        for i in range(SPANS_PER_RUN - 1):
            if i % 2 == 0:
                attributes: dict[str, Any] = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-bench",
                    "gen_ai.response.model": "gpt-bench",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "x" * 200}]}]
                    ),
                }
            else:
                attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}
            with tracer.start_as_current_span(f"step {i}", attributes=attributes):
                pass


def new_provider() -> TracerProvider:
    return TracerProvider(resource=Resource.create({"service.name": "bench"}))


def template_run() -> tuple[bytes, bytes]:
    """One 20-span agent run encoded as OTLP protobuf, and its trace id bytes."""
    memory = InMemorySpanExporter()
    provider = new_provider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    record_run(provider.get_tracer("bench"))
    spans = memory.get_finished_spans()
    provider.shutdown()
    trace_id = spans[0].context.trace_id.to_bytes(16, "big")
    return encode_spans(spans).SerializeToString(), trace_id


def runs(count: int) -> list[bytes]:
    """``count`` copies of the template, each with its own trace id."""
    body, trace_id = template_run()
    return [body.replace(trace_id, os.urandom(16)) for _ in range(count)]


def start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    env.update(
        INFINIUM_AGENT_ID=SANDBOX_AGENT_ID,
        INFINIUM_AGENT_SECRET=SANDBOX_AGENT_SECRET,
        INFINIUM_INTERPRETATION="off",
    )
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, *args], env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    process.stdout.readline()  # the "listening" line
    return process


def gateway_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as answer:
        result: dict[str, int] = json.loads(answer.read())
        return result


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(pid: int) -> dict[str, float]:
    """CPU seconds of the process's live threads named ``role:...`` (see ``CLI``), by role."""
    result: dict[str, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
        if name.startswith("role:"):
            role = name[len("role:") :]
            result[role] = result.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return result


def waiting_for_a_core(pid: int) -> float:
    """Seconds the process's threads spent runnable but not running (``schedstat``), summed:
    time the machine's other load took from the gateway."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile, or no schedstat here
    return total / 1e9


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def send_all(port: int, bodies: list[bytes], clients: int) -> tuple[float, int, float]:
    """POST every body from ``clients`` threads; seconds taken, busy answers retried, and
    the seconds the clients slept on ``Retry-After`` in all (time the gateway did not get
    their requests)."""
    retried = [0]
    slept = [0.0]
    lock = threading.Lock()
    chunks = [bodies[i::clients] for i in range(clients)]

    def client(mine: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/x-protobuf"}
        for body in mine:
            while True:
                try:
                    connection.request("POST", "/v1/traces", body=body, headers=headers)
                    answer = connection.getresponse()
                    answer.read()
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    status, wait = 0, 0.05
                else:
                    status, wait = answer.status, float(answer.headers.get("Retry-After") or 0)
                if status == 200:
                    break
                with lock:
                    retried[0] += 1
                    slept[0] += wait
                time.sleep(wait)
        connection.close()

    threads = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, retried[0], slept[0]


def settle(port: int, runs_sent: int, timeout: float = 300.0) -> dict[str, int]:
    """The gateway's counters once every run sent was delivered or failed. Asked on one
    kept-alive connection: the asking is gateway CPU too (a new connection per look cost
    the gateway about twice as much, a thread started for each)."""
    deadline = time.monotonic() + timeout
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        while True:
            connection.request("GET", "/stats")
            stats: dict[str, int] = json.loads(connection.getresponse().read())
            done = stats.get("delivery_delivered", 0) + stats.get("delivery_failed", 0)
            if done >= runs_sent or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)  # the end-to-end time is at most this late
    finally:
        connection.close()


def sends_in_flight() -> int | None:
    """The gateway's sends in flight, chosen as its CLI chooses them: None (the setting
    read and checked from the environment) when given there, else the gateway's default.
    The in-process exporter uses the same, so both deliver alike (several senders cost
    more per run than one)."""
    return None if os.environ.get(CONCURRENT_SENDS_ENV) else GATEWAY_CONCURRENT_SENDS


def in_process_cpu_per_span(
    sandbox_url: str, bodies: list[bytes]
) -> tuple[float, dict[str, float]]:
    """CPU per span of the exporter alone, fed the gateway's decoded runs one ``export``
    call each (no span processor, not the SDK's own spans), and its split by role as
    the gateway's (assembly is ``export`` on the calling thread here)."""
    decoded = [decode_request(parse(body)).spans for body in bodies]
    exporter = InfiniumSpanExporter(
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox_url,
        interpretation=False,
        max_queued_payloads=len(bodies) + 1,  # every run is sent, none dropped
        max_concurrent_sends=sends_in_flight(),
    )
    roles_before = cpu_by_role(os.getpid())
    started, calling = time.process_time(), time.thread_time()
    for spans in decoded:
        exporter.export(spans)
    delivered = exporter.force_flush(300_000)
    cpu = time.process_time() - started
    assembly = time.thread_time() - calling  # ``export`` runs on the calling thread
    roles_after = cpu_by_role(os.getpid())
    roles = {
        role: roles_after.get(role, 0.0) - roles_before.get(role, 0.0) for role in EXPORTER_ROLES
    }
    roles["assembly"] = assembly
    sent = exporter.stats().get("delivery_delivered", 0)
    exporter.shutdown()
    if not delivered or sent != len(bodies):
        print(f"in-process exporter delivered {sent} of {len(bodies)} runs: CPU figure invalid")
    spans = len(bodies) * SPANS_PER_RUN
    return cpu / spans, {role: seconds / spans for role, seconds in roles.items()}


def make_runs(provider: TracerProvider, count: int) -> float:
    """``count`` runs made on ``provider``, paced (``PACE_RUNS``); the CPU seconds of
    the calling thread, the application's, while making them."""
    tracer = provider.get_tracer("bench")
    started = time.thread_time()
    for made in range(count):
        record_run(tracer)
        if made % PACE_RUNS == PACE_RUNS - 1:
            time.sleep(PACE_SECONDS)
    return time.thread_time() - started


class NothingExporter(SpanExporter):
    """Takes every span and does nothing with it."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def timed_runs(
    provider: TracerProvider, count: int, flush: Callable[[], bool]
) -> tuple[float, float, bool]:
    """``make_runs`` on ``provider``, then ``flush``: the process's CPU seconds over both,
    the application thread's while making the runs, and what ``flush`` said."""
    started = time.process_time()
    application = make_runs(provider, count)
    flushed = flush()
    return time.process_time() - started, application, flushed


def batched_runs(exporter: SpanExporter, count: int) -> tuple[float, float, bool]:
    """``timed_runs`` with ``exporter`` under the SDK's batch span processor."""
    provider = new_provider()
    processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    found = timed_runs(provider, count, lambda: processor.force_flush(300_000))
    provider.shutdown()
    return found


def batching(count: int) -> tuple[float, float]:
    """The process's and the application thread's CPU seconds for making ``count`` runs
    under the SDK's batch span processor with an exporter that does nothing: what any
    batching exporter costs an application (queueing each span, the worker thread),
    taken out of the figures below so that each counts its exporter's own work."""
    cpu, application, _ = batched_runs(NothingExporter(), count)
    return cpu, application


def configured_cpu_per_span(sandbox_url: str, count: int) -> tuple[float, float]:
    """CPU per span of the in-process exporter as ``configure()`` installs it (its batch
    span processor with the nesting tracker, the exporter and its threads) on the SDK's
    own spans of ``count`` runs made by this thread as an application makes them, less
    ``batching`` (measured just before); and the part of it on the application's thread."""
    base, base_application = batching(count)
    provider = new_provider()
    handle = infinium_otel.configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=False,
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox_url,
        max_queued_payloads=count + 1,  # every run is sent, none dropped
        max_concurrent_sends=sends_in_flight(),
    )
    cpu, application, delivered = timed_runs(provider, count, lambda: handle.flush(300.0))
    sent = handle.stats().get("delivery_delivered", 0)
    handle.shutdown()
    provider.shutdown()
    if not delivered or sent != count:
        print(f"configured exporter delivered {sent} of {count} runs: CPU figure invalid")
    spans = count * SPANS_PER_RUN
    return (cpu - base) / spans, (application - base_application) / spans


def otlp_application_cpu_per_span(port: int, count: int) -> float:
    """CPU per span the official OTLP/HTTP exporter costs an application sending ``count``
    runs to the gateway (the application's side of using it), less ``batching``, as
    ``configured_cpu_per_span``."""
    base, _ = batching(count)
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
    cpu, _, flushed = batched_runs(exporter, count)
    if not flushed:
        print("the OTLP exporter did not send every span: CPU figure invalid")
    return (cpu - base) / (count * SPANS_PER_RUN)


def median_of(found: list[tuple[float, Any]]) -> tuple[tuple[float, Any], str]:
    """The measurement with the median figure (the first item), and every figure in
    microseconds, lowest first, to print beside it."""
    ordered = sorted(found, key=lambda one: one[0])
    spread = ", ".join(f"{one[0] * 1e6:.1f}" for one in ordered)
    return ordered[len(ordered) // 2], spread


def parse(body: bytes) -> Message:
    """``body`` parsed as the gateway parses a protobuf request."""
    request = new_request()
    request.ParseFromString(body)
    return request


def gateway_own_cpu_per_span(bodies: list[bytes]) -> float:
    """Parse, decode and group ``bodies`` as the gateway does, with its collector
    settings (``tune_for_gateway``; this process's are restored after); best of three,
    per span."""
    best = float("inf")
    previous = tune_for_gateway()
    try:
        for _ in range(3):
            cache = DecodeCache()
            grouper = TraceGrouper(max_traces=len(bodies) + 1, max_spans=10**9, max_bytes=2**62)
            started = time.process_time()
            for body in bodies:
                decoded = decode_request(parse(body), cache=cache)
                grouper.add_batches(decoded.batches, 0.0)
            grouper.drain()
            best = min(best, time.process_time() - started)
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()
    return best / (len(bodies) * SPANS_PER_RUN)


# A gateway under cachegrind, ended by SIGUSR1 at once (``os._exit``): its counts are
# written without the shutdown's hand-over and delivery being counted too.
_COUNTED_GATEWAY = (
    "import os, signal, sys\n"
    "signal.signal(signal.SIGUSR1, lambda *_: os._exit(0))\n"
    "from infinium_otel.cli import main\n"
    "sys.exit(main())\n"
)


def requests_of(spans_per_request: int, count: int) -> list[bytes]:
    """``count`` requests of ``spans_per_request`` spans: whole 20-span runs, merged."""
    per = spans_per_request // SPANS_PER_RUN
    bodies = runs(count * per)
    made = []
    for index in range(count):
        merged: Any = parse(bodies[index * per])
        target = merged.resource_spans[0].scope_spans[0].spans
        for other in bodies[index * per + 1 : (index + 1) * per]:
            target.extend(parse(other).resource_spans[0].scope_spans[0].spans)
        made.append(merged.SerializeToString())
    return made


def counted_instructions(bodies: list[bytes], out: Path) -> int:
    """Instructions of a gateway process (held runs, nothing delivered) taking ``bodies``
    from one client, start-up included."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": SRC,
        "PYTHONHASHSEED": "0",  # the same dict layouts in every run: the same counts
        "INFINIUM_AGENT_ID": SANDBOX_AGENT_ID,
        "INFINIUM_AGENT_SECRET": SANDBOX_AGENT_SECRET,
        "INFINIUM_INTERPRETATION": "off",
        "INFINIUM_BASE_URL": f"http://127.0.0.1:{free_port()}/api/v1",  # never reached
        "INFINIUM_MAX_QUEUED_PAYLOADS": "20001",
        "INFINIUM_MAX_BUFFERED_SPANS": "400000",
    }
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--cachegrind-out-file={out}",
        sys.executable,
        "-c",
        _COUNTED_GATEWAY,
        *("gateway", "--http-port", str(port), "--grpc-port", "0", "--wait", "600"),
        *("--orphan-wait", "600", "--max-held-mib", "4096"),
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the "listening" line
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for body in bodies:
            connection.request("POST", "/v1/traces", body=body, headers=_PROTOBUF)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"the gateway answered {answer.status}")
        connection.close()
        process.send_signal(signal.SIGUSR1)
        process.wait(120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return summary_count(out)


_PROTOBUF = {"Content-Type": "application/x-protobuf"}

# Parse, decode and group the first N of the bodies in a file (each after its length,
# 4 bytes), with the gateway's collector settings, as the gateway does, in one thread.
_COUNTED_DECODING = (
    "import os, sys\n"
    "from infinium_otel.gateway.collection import tune_for_gateway\n"
    "from infinium_otel.gateway.decode import DecodeCache, decode_request\n"
    "from infinium_otel.gateway.grouper import TraceGrouper\n"
    "from infinium_otel.gateway.wire import new_request\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "bodies, at = [], 0\n"
    "while at < len(data):\n"
    "    size = int.from_bytes(data[at:at + 4], 'big')\n"
    "    bodies.append(data[at + 4:at + 4 + size])\n"
    "    at += 4 + size\n"
    "tune_for_gateway()\n"
    "cache = DecodeCache()\n"
    "grouper = TraceGrouper(wait=600, orphan_wait=600, max_traces=10**6, max_spans=10**9,\n"
    "                       max_bytes=2**62)\n"
    "for body in bodies[:int(sys.argv[2])]:\n"
    "    request = new_request()\n"
    "    request.ParseFromString(body)\n"
    "    grouper.add_batches(decode_request(request, cache=cache).batches, 0.0)\n"
    "os._exit(0)\n"
)


def counted_decoding(bodies: Path, count: int, out: Path) -> int:
    """Instructions of a process parsing, decoding and grouping the first ``count``
    bodies of the file ``bodies`` (start-up and reading included)."""
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONHASHSEED": "0"}
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--cachegrind-out-file={out}",
        sys.executable,
        "-c",
        _COUNTED_DECODING,
        str(bodies),
        str(count),
    ]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
    return summary_count(out)


def instructions() -> int:
    """Instructions per request and per span of the intake (see the module's 4.)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        bodies = requests_of(20, 500)
        idle = counted_instructions([], folder / "idle")
        small = counted_instructions(bodies, folder / "small")
        large = counted_instructions(requests_of(100, 100), folder / "large")
        written = folder / "bodies"
        written.write_bytes(b"".join(len(body).to_bytes(4, "big") + body for body in bodies))
        decoding = counted_decoding(written, len(bodies), folder / "decoding") - counted_decoding(
            written, 0, folder / "none"
        )
    per_request = (small - large) / 400  # the same 10,000 spans in 400 more requests
    per_span = (large - idle - 100 * per_request) / 10_000
    whole = per_span + per_request / SPANS_PER_RUN
    alone = decoding / (len(bodies) * SPANS_PER_RUN)
    print(
        f"intake instructions: {per_request:,.0f} per request, {per_span:,.0f} per span; "
        f"{whole:,.0f} per span of {SPANS_PER_RUN}-span requests (cachegrind; one client, "
        f"runs held); of which parsing, decoding and grouping alone (one process, one "
        f"thread, the same bodies): {alone:,.0f} per span ({100 * alone / whole:.0f} %)"
    )
    return 0


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the finally stops the servers
    exec(ROLE_NAMING, {})  # this process's exporter threads named by role too
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--held-runs", type=int, default=10_000)
    parser.add_argument("--instructions", action="store_true")
    options = parser.parse_args()
    if options.instructions:
        return instructions()

    sandbox_port = free_port()
    sandbox = start(["sandbox", "--port", str(sandbox_port), "--delay", "0"])
    sandbox_url = f"http://127.0.0.1:{sandbox_port}/api/v1"
    os.environ["INFINIUM_BASE_URL"] = sandbox_url
    processes = [sandbox]
    try:
        bodies = runs(options.runs)
        port = free_port()
        gateway = start(["gateway", "--http-port", str(port), "--grpc-port", "0"])
        processes.append(gateway)
        cpu_before = cpu_seconds(gateway.pid)
        roles_before = cpu_by_role(gateway.pid)
        waited_before = waiting_for_a_core(gateway.pid)
        started = time.perf_counter()
        seconds, retried, slept = send_all(port, bodies, options.clients)
        sending_cpu = cpu_seconds(gateway.pid) - cpu_before
        stats = settle(port, len(bodies))
        end_to_end = time.perf_counter() - started
        gateway_cpu = cpu_seconds(gateway.pid) - cpu_before
        roles_after = cpu_by_role(gateway.pid)
        roles = {
            role: roles_after.get(role, 0.0) - roles_before.get(role, 0.0)
            for role in EXPORTER_ROLES
        }
        waited = waiting_for_a_core(gateway.pid) - waited_before
        spans = len(bodies) * SPANS_PER_RUN
        lost = len(bodies) - stats.get("delivery_delivered", 0)
        # The application's side of using the gateway: its OTLP export of the same runs
        # (the gateway's CPU is already read; it delivers these before going on).
        application = otlp_application_cpu_per_span(port, len(bodies))
        settle(port, 2 * len(bodies))
        # The in-process figures move more between measurements than the gateway's
        # (their threads share the interpreter lock with the application's): the median
        # of three, each with an exporter of its own.
        (alone, our_roles), alone_spread = median_of(
            [in_process_cpu_per_span(sandbox_url, bodies) for _ in range(IN_PROCESS_REPEATS)]
        )
        (ours, on_application), spread = median_of(
            [configured_cpu_per_span(sandbox_url, len(bodies)) for _ in range(IN_PROCESS_REPEATS)]
        )
        print(
            f"accepted: {spans / seconds:,.0f} spans/s ({options.clients} clients, "
            f"{len(bodies)} runs of {SPANS_PER_RUN} spans in {seconds:.2f} s, "
            f"{retried} busy answers retried, the clients slept {slept:.1f} s in all on "
            f"Retry-After), runs lost: {lost}"
        )
        print(
            f"end to end: {spans / end_to_end:,.0f} spans/s (first request to last run "
            f"accepted by the sandbox: {end_to_end:.2f} s, with the 1 s grouping wait)"
        )
        per_span = gateway_cpu / spans
        print(
            f"gateway process busy {100 * sending_cpu / seconds:.0f} % of one core while the "
            f"clients sent, {100 * gateway_cpu / end_to_end:.0f} % end to end (one process, "
            f"one GIL: at 100 % it would take "
            f"{1 / per_span:,.0f} spans/s); its threads waited {waited:.1f} s in all for "
            f"a core ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})"
        )
        print(
            f"cpu per span: gateway {per_span * 1e6:.1f} us, in-process exporter as "
            f"configure() installs it {ours * 1e6:.1f} us (median of {spread}; on the SDK's "
            "spans of the same runs, over what the SDK's batch processor costs with an "
            f"exporter that does nothing; {on_application * 1e6:.1f} us of it on the "
            f"application's thread), ratio {per_span / ours:.2f}x"
        )
        print(
            "with the application's side counted: the official OTLP/HTTP exporter sending "
            f"the runs to the gateway {application * 1e6:.1f} us per span (the same way), "
            "(that + gateway) / in-process "
            f"{(application + per_span) / ours:.2f}x"
        )
        print(
            f"the exporter alone, fed the gateway's decoded runs one export() call each (no "
            f"span processor, not the SDK's spans): {alone * 1e6:.1f} us (median of "
            f"{alone_spread}), gateway / that {per_span / alone:.2f}x"
        )
        exporter_share = sum(roles.values()) / spans
        print(
            "gateway cpu per span by thread: the exporter's "
            f"{exporter_share * 1e6:.1f} us ("
            + ", ".join(f"{role} {roles[role] / spans * 1e6:.1f}" for role in EXPORTER_ROLES)
            + f"; in-process {sum(our_roles.values()) * 1e6:.1f}: "
            + ", ".join(f"{role} {our_roles[role] * 1e6:.1f}" for role in EXPORTER_ROLES)
            + f"), the rest (intake: HTTP, decoding, grouping) "
            f"{(per_span - exporter_share) * 1e6:.1f} us; "
            f"{stats.get('gateway_requests_waited_for_room', 0)} of {len(bodies)} requests "
            "waited for room in the delivery queue"
        )
        own = gateway_own_cpu_per_span(bodies)
        print(
            f"gateway's own work per span (parse, decode, group; in this process, with the "
            f"gateway's collector settings): {own * 1e6:.1f} us"
        )

        held_port = free_port()
        # Holding many runs needs a delivery queue (and span buffer) that can take them.
        os.environ["INFINIUM_MAX_QUEUED_PAYLOADS"] = str(options.held_runs + 1)
        os.environ["INFINIUM_MAX_BUFFERED_SPANS"] = str((options.held_runs + 1) * SPANS_PER_RUN)
        holder = start(
            [
                "gateway",
                "--http-port",
                str(held_port),
                "--grpc-port",
                "0",
                "--wait",
                "600",
                "--orphan-wait",
                "600",
                "--max-held-mib",
                "4096",
            ]
        )
        processes.append(holder)
        held = runs(options.held_runs)
        intake_before = cpu_seconds(holder.pid)
        held_seconds, _, _ = send_all(held_port, held, options.clients)  # never full
        held_spans = len(held) * SPANS_PER_RUN
        intake = (cpu_seconds(holder.pid) - intake_before) / held_spans
        held_stats = gateway_stats(held_port)
        print(
            f"intake alone (runs held, nothing handed over yet): {intake * 1e6:.1f} us of "
            f"gateway CPU per span, {held_spans / held_seconds:,.0f} spans/s accepted"
        )
        print(
            f"memory: {held_stats['gateway_traces_held']:,} runs "
            f"({held_stats['gateway_spans_held']:,} spans) held, peak RSS "
            f"{peak_rss_mib(holder.pid):.0f} MiB (estimated held bytes "
            f"{held_stats['gateway_bytes_held'] / 2**20:.0f} MiB)"
        )
    finally:
        for process in reversed(processes):
            process.kill()
            process.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
