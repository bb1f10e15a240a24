"""Pre-fork servers: workers forked while the parent holds a half-finished run.

Each child starts with empty buffers and its own delivery thread, sends only
its own runs, and the parent still sends its run once its root ends: every
run arrives exactly once.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from opentelemetry import trace

from infinium_otel.sandbox import Fault, Sandbox

from .support import AGENT, Pipeline, check_own_steps, emit_run, names_received

WORKERS = 3
RUNS_PER_WORKER = 4


def _wait_exit(pid: int, timeout: float = 30.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError(f"worker {pid} did not exit within {timeout} s")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_workers_send_their_own_runs_and_the_parent_its_own(sandbox: Sandbox) -> None:
    pipeline = Pipeline(sandbox)
    tracer = pipeline.tracer
    root = tracer.start_span(
        "invoke_agent parent", attributes={**AGENT, "gen_ai.agent.name": "parent"}
    )
    with trace.use_span(root, end_on_exit=False):
        with tracer.start_as_current_span(
            "chat m-parent",
            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m-parent"},
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool lookup-parent",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup-parent-0",
            },
        ):
            pass
    assert pipeline.exporter.stats()["spans_buffered"] == 2  # live buffers at fork time

    pids = []
    for worker in range(WORKERS):
        pid = os.fork()
        if pid == 0:  # the child: its own runs, then flush and leave without cleanup
            code = 1
            try:
                assert pipeline.exporter.stats()["spans_buffered"] == 0
                for index in range(RUNS_PER_WORKER):
                    emit_run(tracer, f"worker{worker}-run{index}")
                code = 0 if pipeline.exporter.force_flush(20_000) else 2
            finally:
                os._exit(code)
        pids.append(pid)

    for pid in pids:
        assert _wait_exit(pid) == 0
    root.end()
    assert pipeline.exporter.force_flush(10_000)
    pipeline.close()

    expected = {"parent"} | {
        f"worker{w}-run{i}" for w in range(WORKERS) for i in range(RUNS_PER_WORKER)
    }
    received = names_received(sandbox)
    assert set(received) == expected
    assert all(count == 1 for count in received.values()), received
    for stored in sandbox.traces():
        check_own_steps(stored.payload)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_another_thread_holds_the_nesting_lock(sandbox: Sandbox) -> None:
    """A fork can land while another thread is inside the nesting tracker (a span ending)."""
    pipeline = Pipeline(sandbox)
    tracker = pipeline.exporter.nesting_tracker
    assert tracker.attached
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with tracker._lock:  # what on_end does while a nested agent span ends
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                emit_run(pipeline.tracer, "forked-while-locked")
                code = 0 if pipeline.exporter.force_flush(10_000) else 2
            finally:
                os._exit(code)
        assert _wait_exit(pid, timeout=15) == 0
    finally:
        release.set()
        holder.join()
    pipeline.close()
    assert names_received(sandbox) == {"forked-while-locked": 1}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_the_delivery_thread_is_logging(sandbox: Sandbox) -> None:
    """A fork can land while the delivery thread holds its rate-limited logger's lock."""
    pipeline = Pipeline(sandbox)
    assert pipeline.exporter._delivery is not None
    warn_lock = pipeline.exporter._delivery._warn._lock
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with warn_lock:  # what the delivery thread does while it logs a failed run
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    sandbox.faults.push("trace", Fault(status=401))  # the child's first run fails and is logged
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                emit_run(pipeline.tracer, "refused-in-child")
                emit_run(pipeline.tracer, "delivered-in-child")
                flushed = pipeline.exporter.force_flush(5_000)  # False: one run was refused
                stats = pipeline.exporter.stats()
                settled = (stats["delivery_failed_auth"], stats["delivery_delivered"]) == (1, 1)
                code = 0 if settled and flushed is False else 2
            finally:
                os._exit(code)
        assert _wait_exit(pid, timeout=15) == 0
    finally:
        release.set()
        holder.join()
    pipeline.close()
    assert names_received(sandbox) == {"delivered-in-child": 1}


@pytest.mark.timeout(90)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("senders", [1, 4])
def test_fork_while_the_send_pool_has_sends_in_flight(senders: int, sandbox: Sandbox) -> None:
    """The child starts with none of the parent's sends: an empty pipeline of its own,
    whatever the pool's size; the parent's sends in flight still end as delivered."""
    sandbox.faults.push("trace", Fault(status=201, delay=1.0, repeat=senders))
    pipeline = Pipeline(sandbox, timeout=5.0, max_concurrent_sends=senders)
    for index in range(senders):
        emit_run(pipeline.tracer, f"parent-{index}")
    deadline = time.monotonic() + 10.0
    while sandbox.faults.pending("trace") and time.monotonic() < deadline:
        time.sleep(0.01)  # every slow answer taken: the pool's sends are on the wire
    assert pipeline.exporter.stats()["delivery_pending"] == senders
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fresh = pipeline.exporter.stats()["delivery_pending"] == 0
            emit_run(pipeline.tracer, "child-0")
            emit_run(pipeline.tracer, "child-1")
            flushed = pipeline.exporter.force_flush(20_000)
            stats = pipeline.exporter.stats()
            settled = (stats["delivery_delivered"], stats["delivery_pending"]) == (2, 0)
            code = 0 if fresh and flushed and settled else 2
        finally:
            os._exit(code)
    assert _wait_exit(pid, timeout=30) == 0
    assert pipeline.exporter.force_flush(20_000)
    assert pipeline.exporter.stats()["delivery_delivered"] == senders
    assert pipeline.close() is True
    assert names_received(sandbox) == {"child-0": 1, "child-1": 1}  # a fault's 201 stores nothing
