"""A defect while preparing a run costs that run only: it is settled, counted and logged.

The preparing thread runs the ``prepare`` callable (the exporter's conversion,
hook and encoding). If it raises, the run can never be sent: a flush must learn
so at once instead of waiting for its deadline, and the next run still goes out.
"""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.items import Delivery, RunMeta
from infinium_otel.delivery.worker import DeliveryWorker
from infinium_otel.payload.run import Run
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

from .support import names_received


def finished_roots(*names: str) -> list[ReadableSpan]:
    """One finished root span per name, from a real provider."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("preparing-defects")
    for name in names:
        with tracer.start_as_current_span(name, attributes={"gen_ai.operation.name": "chat"}):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def prepare(run: Run) -> Delivery:
    """A minimal payload per run; a run named ``defect`` meets a bug."""
    name = run.root.name
    if name == "defect":
        raise RuntimeError("a bug in preparing")
    body = {
        "name": name,
        "description": "preparing defects",
        "current_datetime": "2025-01-01T00:00:00Z",
        "duration": 1.0,
    }
    meta = RunMeta(otel_trace_id=run.trace_id, otel_span_id=0, run_name=name)
    return Delivery(body=json.dumps(body).encode(), meta=meta)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("senders", [1, 4])
def test_a_run_that_cannot_be_prepared_is_settled_at_once(senders: int, sandbox: Sandbox) -> None:
    client = InfiniumClient(
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox.url,
        max_retries=0,
        timeout=5.0,
    )
    worker = DeliveryWorker(client, prepare=prepare, max_concurrent_sends=senders)
    defect, good, after = (
        Run(root=s, spans=(s,)) for s in finished_roots("defect", "good", "after")
    )
    assert worker.submit_all([defect, good]) == 2
    started = time.monotonic()
    assert worker.flush(20.0) is False  # one run was lost
    assert time.monotonic() - started < 10.0  # told at once, not at the deadline
    assert worker.pending == 0
    assert (worker.stats.delivered, worker.stats.failed) == (1, 1)
    assert worker.submit(after)  # the thread lived through it
    assert worker.flush(20.0) is True
    assert names_received(sandbox) == {"good": 1, "after": 1}
    assert worker.shutdown(5.0) is True
