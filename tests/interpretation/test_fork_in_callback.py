"""A process forked from inside an ``on_result`` callback, on the poller thread itself.

The forking thread is the one thread the child keeps. When the callback
returns, that thread must not carry on polling the parent's runs (they belong
to the parent, and the child's processor starts empty): it ends, and the
child's own submissions get a thread of their own.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable

import pytest

from infinium_otel.interpretation import (
    InterpretationOutcome,
    InterpretationProcessor,
    InterpretationRequest,
)
from infinium_otel.sandbox import Sandbox

Make = Callable[..., InterpretationProcessor]
Deliver = Callable[..., InterpretationRequest]


def _child_report(
    processor: InterpretationProcessor,
    poller: threading.Thread,
    child_request: InterpretationRequest,
    write_end: int,
) -> None:
    """In the child, on a thread of its own: how the inherited poller thread ended."""
    try:
        poller.join(timeout=5.0)
        ghost_alive = poller.is_alive()
        accepted = processor.submit(child_request)
        flushed = processor.flush(timeout=10)
        stats = processor.stats()
        report = (
            f"ghost_alive={ghost_alive} accepted={accepted} flushed={flushed} "
            f"ready={stats['ready']} pending={stats['pending']}"
        )
        os.write(write_end, report.encode())
    finally:
        os._exit(0)


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_child_forked_in_a_callback_leaves_the_parents_runs_alone(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver
) -> None:
    sandbox.interpretation_delay = 60
    first, still_pending, child_request = deliver(), deliver(), deliver()
    sandbox.make_ready(first.infinium_trace_id)
    sandbox.make_ready(child_request.infinium_trace_id)
    read_end, write_end = os.pipe()
    forked: list[int] = []
    processor: InterpretationProcessor | None = None

    def on_result(outcome: InterpretationOutcome) -> None:
        if forked or outcome.infinium_trace_id != first.infinium_trace_id:
            return
        poller = threading.current_thread()
        pid = os.fork()
        if pid == 0:
            assert processor is not None
            threading.Thread(
                target=_child_report, args=(processor, poller, child_request, write_end)
            ).start()
            return  # back into the processor, as any callback would
        forked.append(pid)

    processor = make_processor(on_result=on_result, poll_timeout=30)
    processor.submit(first)
    processor.submit(still_pending)
    deadline = time.monotonic() + 20
    while not forked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert forked, "the callback never ran"
    pid = forked[0]
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        report = os.read(read_end, 4096).decode() if ready else "no report"
    finally:
        os.close(read_end)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # The inherited thread ended instead of polling the parent's pending run;
    # the child's own run was polled on a new thread and delivered.
    assert report == "ghost_alive=False accepted=True flushed=True ready=1 pending=0"
    # The parent still polls its own run, and delivered the first outcome once.
    stats = processor.stats()
    assert stats["pending"] == 1 and stats["ready"] == 1
