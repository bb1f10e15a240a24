"""Soak: many thousands of runs through ``configure()`` against a flaky endpoint; memory stays flat.

The sandbox runs in a child process (``python benchmarks/soak.py --serve``)
so the payloads it stores are not counted in this process's memory; it
injects a 503 every ``--fail-every`` requests and drops the connection every
``--drop-every`` requests. This process creates runs of ``--spans`` spans in
batches, waits for each batch to be delivered, and prints its resident
memory (VmRSS) every ``--report-every`` runs, then the first, middle and last
readings, the growth after warm-up and the exporter's counters.

    python benchmarks/soak.py                      # 20,000 runs x 10 spans
    python benchmarks/soak.py --runs 2000          # a quick look
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import threading
import time
from typing import Any

AGENT = {"gen_ai.operation.name": "invoke_agent"}


def rss_kib() -> int:
    """Resident memory of this process in KiB (Linux /proc; ``resource`` elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# --------------------------------------------------------------------------- the server


def serve(fail_every: int, drop_every: int) -> int:
    """A sandbox that fails every Nth request; prints its URL and serves until stdin closes."""
    from infinium_otel.sandbox import Fault, Sandbox, server

    # Without TCP_NODELAY every answer waits ~40 ms for a delayed ACK (headers and
    # body go out as two writes), which would make this a benchmark of Nagle.
    server._Handler.disable_nagle_algorithm = True
    sandbox = Sandbox(port=0, interpretation_delay=3600).start()
    print(sandbox.url, flush=True)
    stop = threading.Event()

    injected = {"503": 0, "drop": 0}

    def inject() -> None:
        while not stop.wait(0.005):
            seen = sum(1 for r in sandbox.requests if r.endpoint == "trace")
            if sandbox.faults.pending("trace"):
                continue
            if drop_every and seen // drop_every > injected["drop"]:
                injected["drop"] += 1
                sandbox.faults.push("trace", Fault(drop=True))
            elif fail_every and seen // fail_every > injected["503"]:
                injected["503"] += 1
                sandbox.faults.push("trace", Fault(status=503))

    threading.Thread(target=inject, daemon=True).start()
    sys.stdin.read()  # the parent closes our stdin when it is done
    stop.set()
    requests = sum(1 for r in sandbox.requests if r.endpoint == "trace")
    print(
        f"{len(sandbox.traces())} traces from {requests} requests;"
        f" injected {injected['503']} x 503 and {injected['drop']} connection resets",
        flush=True,
    )
    sandbox.close()
    return 0


def start_server(fail_every: int, drop_every: int) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(fail_every), str(drop_every)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url.startswith("http://"):
        child.kill()
        raise SystemExit(f"the sandbox did not start: {url!r}")
    return child, url


# --------------------------------------------------------------------------- the load


def one_run(tracer: Any, number: int, spans: int) -> None:
    """An agent run of ``spans`` spans: the root, then LLM calls and tool calls in turn."""
    name = f"soak-{number}"
    with tracer.start_as_current_span(
        f"invoke_agent {name}", attributes={**AGENT, "gen_ai.agent.name": name}
    ):
        for index in range(spans - 1):
            if index % 2 == 0:
                attributes = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "soak-model",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 40,
                    "gen_ai.output.messages": '[{"role":"assistant","parts":'
                    '[{"type":"text","content":"' + "answer " * 40 + '"}]}]',
                }
                span_name = "chat soak-model"
            else:
                attributes = {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup",
                    "gen_ai.tool.call.arguments": f'{{"q": "{index}"}}',
                    "gen_ai.tool.call.result": "result " * 30,
                }
                span_name = "execute_tool lookup"
            with tracer.start_as_current_span(span_name, attributes=attributes):
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--spans", type=int, default=10, help="spans per run")
    parser.add_argument("--batch", type=int, default=500, help="runs between delivery waits")
    parser.add_argument("--report-every", type=int, default=1_000)
    parser.add_argument("--fail-every", type=int, default=400, help="503 every N requests")
    parser.add_argument("--drop-every", type=int, default=1_500, help="reset every N requests")
    parser.add_argument(
        "--serve", nargs=2, type=int, metavar=("FAIL", "DROP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve:
        return serve(*args.serve)

    from opentelemetry.sdk.trace import TracerProvider

    from infinium_otel import configure
    from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET

    server, url = start_server(args.fail_every, args.drop_every)
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=url,
        interpretation="off",
        timeout=5.0,
    )
    tracer = provider.get_tracer("soak")
    readings: list[tuple[int, int, float]] = []
    started = time.monotonic()
    print(f"{'runs':>8} {'RSS MiB':>9} {'seconds':>8} {'delivered':>10} {'failed':>7}")
    try:
        done = 0
        while done < args.runs:
            for _ in range(min(args.batch, args.runs - done)):
                one_run(tracer, done, args.spans)
                done += 1
            handle.flush(120)
            if done % args.report_every == 0 or done == args.runs:
                gc.collect()
                readings.append((done, rss_kib(), time.monotonic() - started))
                stats = handle.stats()
                print(
                    f"{done:>8} {readings[-1][1] / 1024:>9.1f} {readings[-1][2]:>8.1f}"
                    f" {stats['delivery_delivered']:>10} {stats['delivery_failed']:>7}",
                    flush=True,
                )
        delivered_all = handle.shutdown(60)
    finally:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.close()
        stored = server.stdout.readline().strip()
        server.wait(30)
    provider.shutdown()

    stats = handle.stats()
    first, middle, last = readings[0], readings[len(readings) // 2], readings[-1]
    warm = readings[min(len(readings) - 1, max(1, len(readings) // 5))]
    print()
    print(f"runs {args.runs} x {args.spans} spans in {last[2]:.1f} s; shutdown ok: {delivered_all}")
    print(f"server: {stored}")
    print(
        f"RSS MiB: first {first[1] / 1024:.1f} (after {first[0]} runs), "
        f"middle {middle[1] / 1024:.1f} (after {middle[0]}), last {last[1] / 1024:.1f}"
    )
    print(
        f"growth after warm-up ({warm[0]} runs -> {last[0]}): "
        f"{100.0 * (last[1] - warm[1]) / warm[1]:+.1f} %; "
        f"middle -> last: {100.0 * (last[1] - middle[1]) / middle[1]:+.1f} %"
    )
    keys = [
        "runs_exported",
        "runs_partial",
        "spans_received",
        "spans_buffered",
        "delivery_delivered",
        "delivery_failed",
        "delivery_dropped_queue_full",
        "delivery_pending",
    ]
    print("stats:", ", ".join(f"{k}={stats.get(k)}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
