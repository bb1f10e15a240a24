"""Shared pieces for the gateway tests: a gateway in front of the test's sandbox, real
OpenTelemetry providers sending to it with the official OTLP exporters."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from exporter.support import exporter_for
from infinium_otel.gateway import Gateway, GatewayOptions
from infinium_otel.sandbox import Sandbox


def start_gateway(
    sandbox: Sandbox, exporter_options: dict[str, Any] | None = None, **options: Any
) -> Gateway:
    """A gateway on free loopback ports delivering to ``sandbox`` (short waits for tests)."""
    settings = {"wait": 0.2, "orphan_wait": 2.0, "http_port": 0, "grpc_port": None, **options}
    exporter = exporter_for(sandbox, **(exporter_options or {}))
    return Gateway(exporter, GatewayOptions(**settings)).start()


@contextmanager
def provider(exporter: SpanExporter, service: str) -> Iterator[TracerProvider]:
    """A real provider for one "service", exporting each span as it ends."""
    made = TracerProvider(resource=Resource.create({"service.name": service}))
    made.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield made
    finally:
        made.shutdown()


def stop_on_sigterm(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """SIGTERM, as a service manager stops it; what it wrote by the time it exited."""
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=timeout)


def reap(process: subprocess.Popen[str]) -> None:
    """Kill the process if it still runs, so a failed test leaves nothing behind."""
    if process.poll() is None:
        process.kill()
        process.wait()


def get_json(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def accounted(stats: dict[str, int]) -> bool:
    """Every span the gateway accepted is held or was handed to the exporter."""
    accepted = stats["gateway_spans_received"] - stats["gateway_spans_rejected"]
    return (
        stats["gateway_spans_accepted"] == accepted
        and accepted == stats["gateway_spans_held"] + stats["gateway_spans_handed_over"]
    )
