"""Fixtures for the interpretation processor: a client on the sandbox, in-memory
OpenTelemetry log and span pipelines, and a helper that delivers a run."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.interpretation import InterpretationProcessor, InterpretationRequest
from infinium_otel.sandbox import Sandbox

MINIMAL_PAYLOAD = {
    "name": "run",
    "description": "d",
    "current_datetime": "2026-01-01T00:00:00.000Z",
    "duration": 1.0,
}


@dataclass
class Logs:
    provider: LoggerProvider
    exporter: InMemoryLogRecordExporter

    def named(self, event_name: str) -> list[ReadableLogRecord]:
        """Finished records of one event, in emission order."""
        return [
            r for r in self.exporter.get_finished_logs() if r.log_record.event_name == event_name
        ]

    def interpretations(self) -> list[ReadableLogRecord]:
        """The ``infinium.interpretation`` records (the evaluation records aside)."""
        return self.named("infinium.interpretation")

    def evaluations(self) -> list[ReadableLogRecord]:
        """The ``gen_ai.evaluation.result`` records."""
        return self.named("gen_ai.evaluation.result")


@dataclass
class Spans:
    provider: TracerProvider
    exporter: InMemorySpanExporter


def client_for(sandbox: Sandbox) -> InfiniumClient:
    return InfiniumClient(
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
        base_url=sandbox.url,
        timeout=5.0,
        max_retries=0,
    )


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[InfiniumClient]:
    with client_for(sandbox) as c:
        yield c


@pytest.fixture
def deliver(client: InfiniumClient) -> Callable[..., InterpretationRequest]:
    """Send a minimal run to the sandbox; the request ties it to a random run root."""

    def _deliver(agent_name: str | None = "support-bot") -> InterpretationRequest:
        response = client.send_task_data(MINIMAL_PAYLOAD)
        assert response.success and response.trace_id
        return InterpretationRequest(
            infinium_trace_id=response.trace_id,
            otel_trace_id=random.getrandbits(128) | 1,
            otel_span_id=random.getrandbits(64) | 1,
            agent_name=agent_name,
            service_name="checkout" if agent_name else None,
        )

    return _deliver


@pytest.fixture
def logs() -> Iterator[Logs]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    yield Logs(provider, exporter)
    provider.shutdown()


@pytest.fixture
def spans() -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Spans(provider, exporter)
    provider.shutdown()


@pytest.fixture
def make_processor(client: InfiniumClient) -> Iterator[Callable[..., InterpretationProcessor]]:
    """Processors on the sandbox client (poll_interval 1.0), shut down after the test."""
    made: list[InterpretationProcessor] = []

    def _make(**kwargs: object) -> InterpretationProcessor:
        kwargs.setdefault("client", client)
        kwargs.setdefault("poll_interval", 1.0)
        kwargs.setdefault("poll_timeout", 15.0)
        kwargs.setdefault("sinks", [])
        processor = InterpretationProcessor(**kwargs)  # type: ignore[arg-type]
        made.append(processor)
        return processor

    yield _make
    for processor in made:
        processor.shutdown(timeout=2.0)


@pytest.fixture
def result_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="infinium_otel")
    return caplog
