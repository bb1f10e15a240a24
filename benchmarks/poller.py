"""How the interpretation processor behaves with many runs pending at once.

Runs an in-process sandbox (loopback only), delivers N minimal runs, hands
them all to one InterpretationProcessor and reports: polls per run, threads
before/after, CPU used while waiting (whole process, which includes the
sandbox server, and the poller thread alone), wall time until every
interpretation arrived, CPU of an idle processor, and how long shutdown takes
with N runs still pending.

    python benchmarks/poller.py [--traces 1000] [--delay 3.0] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import time
import uuid

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.interpretation import (
    InterpretationOutcome,
    InterpretationProcessor,
    InterpretationRequest,
)
from infinium_otel.sandbox import Sandbox

PAYLOAD = {
    "name": "benchmark run",
    "description": "one of many runs waiting for an interpretation",
    "current_datetime": "2026-01-01T00:00:00.000Z",
    "duration": 1.0,
}


def thread_cpu_seconds(thread: threading.Thread | None) -> float:
    """CPU time (user + system) of one thread, from /proc (Linux); NaN elsewhere."""
    if thread is None or thread.native_id is None:
        return float("nan")
    try:
        with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def poller_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == "infinium-interpretation"), None)


def app_threads() -> int:
    """Live threads, not counting the sandbox server's per-connection handlers."""
    return sum(1 for t in threading.enumerate() if "process_request" not in t.name)


def serve_all(sandbox: Sandbox, client: InfiniumClient, n: int, interval: float) -> None:
    ready_after = sandbox.interpretation_delay
    sandbox.interpretation_delay = 3600  # nothing is ready until the timer below says so
    start = time.perf_counter()
    trace_ids = [client.send_task_data(PAYLOAD).trace_id for _ in range(n)]
    print(f"delivered {n} runs in {time.perf_counter() - start:.2f} s")

    def make_all_ready() -> None:
        for trace_id in trace_ids:
            if trace_id:
                sandbox.make_ready(trace_id)

    done = threading.Event()
    outcomes: list[InterpretationOutcome] = []

    def collect(outcome: InterpretationOutcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == n:
            done.set()

    processor = InterpretationProcessor(
        client=client, sinks=[], poll_interval=interval, poll_timeout=120.0, on_result=collect
    )
    threads_before = app_threads()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for i, trace_id in enumerate(trace_ids):
        assert trace_id
        processor.submit(InterpretationRequest(trace_id, i + 1, i + 1, agent_name="bench"))
    threads_during = app_threads()
    # Every interpretation becomes ready `ready_after` seconds after submission.
    timer = threading.Timer(ready_after, make_all_ready)
    timer.start()
    done.wait(300)
    timer.join()
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    thread = poller_thread()
    poller_cpu = thread_cpu_seconds(thread)
    stats = processor.stats()

    time.sleep(3.0)  # idle: nothing pending, the thread waits without a timeout
    idle_cpu = thread_cpu_seconds(thread) - poller_cpu
    processor.shutdown(timeout=2.0)

    ready = sum(1 for o in outcomes if o.status == "ready")
    print(f"ready: {ready}/{n}  outcomes: {len(outcomes)}  stats: {stats}")
    print(f"polls per run: {stats['requests'] / n:.2f}")
    print(f"threads (excluding sandbox handlers): before {threads_before}, after {threads_during}")
    print(f"wall time from first submit until all ready: {wall:.2f} s")
    print(f"CPU while waiting, whole process (includes the sandbox server): {cpu:.2f} s")
    print(f"CPU while waiting, poller thread only: {poller_cpu:.2f} s")
    print(f"CPU of the idle poller thread over 3 s: {idle_cpu:.3f} s")


def shutdown_latency(sandbox: Sandbox, client: InfiniumClient, n: int, interval: float) -> None:
    sandbox.interpretation_delay = 3600
    processor = InterpretationProcessor(
        client=client, sinks=[], poll_interval=interval, poll_timeout=120.0
    )
    for i in range(n):
        processor.submit(InterpretationRequest(str(uuid.uuid4()), i + 1, i + 1))
    time.sleep(interval + 0.5)  # the first round of polls is under way
    start = time.perf_counter()
    stopped = processor.shutdown(timeout=5.0)
    latency = time.perf_counter() - start
    stats = processor.stats()
    print(
        f"shutdown with {n} pending: {latency * 1000:.1f} ms (stopped={stopped}, "
        f"abandoned={stats['abandoned']}, polls made before it={stats['requests']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=3.0, help="sandbox interpretation delay")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval (>= 1.0)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with Sandbox(interpretation_delay=args.delay) as sandbox:
        client = InfiniumClient(
            agent_id=sandbox.agent_id,
            agent_secret=sandbox.agent_secret,
            base_url=sandbox.url,
            max_retries=0,
        )
        with client:
            serve_all(sandbox, client, args.traces, args.interval)
            shutdown_latency(sandbox, client, args.traces, args.interval)


if __name__ == "__main__":
    main()
