"""``infinium-otel gateway`` as a process: serves, drains on SIGTERM, exits truthfully."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from exporter.support import agent_attributes, chat_attributes
from exporter.test_concurrent_delivery import rendezvous_server
from infinium_otel.sandbox import Sandbox

from .otlp import request, span
from .support import provider, reap, stop_on_sigterm

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

SRC = str(Path(__file__).resolve().parents[2] / "src")
CLI = [sys.executable, "-c", "import sys; from infinium_otel.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gateway_process(
    sandbox: Sandbox, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    environ = {
        **os.environ,
        "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "INFINIUM_AGENT_ID": sandbox.agent_id,
        "INFINIUM_AGENT_SECRET": sandbox.agent_secret,
        "INFINIUM_BASE_URL": sandbox.url,
        "INFINIUM_INTERPRETATION": "off",
        **(env or {}),
    }
    return subprocess.Popen(
        [*CLI, "gateway", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serves_then_delivers_held_runs_on_sigterm(sandbox: Sandbox) -> None:
    port = free_port()
    # A long wait: the run is still held when SIGTERM comes, so only the drain sends it.
    process = gateway_process(sandbox, "--http-port", str(port), "--grpc-port", "0", "--wait", "30")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/v1/traces" in line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            assert answer.status == 200
        with provider(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"), "s") as p:
            tracer = p.get_tracer("cli")
            with tracer.start_as_current_span("agent", attributes=agent_attributes("held")):
                with tracer.start_as_current_span("chat", attributes=chat_attributes()):
                    pass
        time.sleep(0.3)
        assert sandbox.traces() == []
        out, err = stop_on_sigterm(process, timeout=30)
    finally:
        reap(process)
    assert process.returncode == 0, err
    assert "2 spans received, 1 runs delivered" in out
    assert [t.payload["name"] for t in sandbox.traces()] == ["held"]
    assert "Traceback" not in err


def test_exit_1_when_held_runs_cannot_be_delivered(sandbox: Sandbox) -> None:
    port = free_port()
    process = gateway_process(
        sandbox,
        "--http-port",
        str(port),
        "--grpc-port",
        "0",
        "--wait",
        "30",
        "--shutdown-timeout",
        "2",
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        with provider(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"), "s") as p:
            with p.get_tracer("cli").start_as_current_span("a", attributes=agent_attributes("x")):
                pass
        sandbox.stop()  # Infinium is gone: the drain cannot deliver
        out, err = stop_on_sigterm(process, timeout=30)
    finally:
        reap(process)
    assert process.returncode == 1, (out, err)
    assert "NOT delivered" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0", "--http-port", "0", "--grpc-port", "0"], "requires a bearer token"),
        (["--wait", "-1"], "--wait"),
        (["--http-port", "99999"], "port must be"),
        (["--admission-wait", "-1"], "--admission-wait"),
        (["--admission-wait", "soon"], "not a number of seconds"),
    ],
)
def test_user_mistakes_are_one_line_without_traceback(
    sandbox: Sandbox, args: list[str], message: str
) -> None:
    process = gateway_process(sandbox, *args)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_credentials_are_one_line(sandbox: Sandbox) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFINIUM_")}
    env["PYTHONPATH"] = SRC
    process = subprocess.run(
        [*CLI, "gateway", "--http-port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 2
    assert "INFINIUM_AGENT" in process.stderr and "Traceback" not in process.stderr


def test_concurrent_sends_out_of_range_is_a_mistake(sandbox: Sandbox) -> None:
    process = gateway_process(sandbox, "--concurrent-sends", "0", "--grpc-port", "0")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "--concurrent-sends" in err and "must be 1 to 8" in err
    assert "Traceback" not in err


def test_sends_four_runs_at_once_by_default(sandbox: Sandbox) -> None:
    port = free_port()
    with rendezvous_server() as url:  # answers only four POSTs open at once
        process = gateway_process(
            sandbox,
            *("--http-port", str(port), "--grpc-port", "0", "--wait", "0.2"),
            env={"INFINIUM_BASE_URL": url},
        )
        try:
            assert process.stdout is not None
            process.stdout.readline()
            exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
            with provider(exporter, "s") as p:
                tracer = p.get_tracer("cli")
                for index in range(4):
                    agent = agent_attributes(f"r{index}")
                    with tracer.start_as_current_span("agent", attributes=agent):
                        with tracer.start_as_current_span("chat", attributes=chat_attributes()):
                            pass
            time.sleep(1.0)  # handed over together, sent together
            out, err = stop_on_sigterm(process, timeout=30)
        finally:
            reap(process)
    assert process.returncode == 0, err
    assert "8 spans received, 4 runs delivered" in out


def test_holds_more_runs_than_the_exporters_default_queue_without_429(
    sandbox: Sandbox,
) -> None:
    """Held traces count against the delivery queue: the gateway's own default (4,000)
    takes more than the exporter's 1,000 before it answers 429 (``--admission-wait 0``:
    at once), so ordinary load does not make requests wait for room."""
    port = free_port()
    process = gateway_process(
        sandbox,
        *("--http-port", str(port), "--grpc-port", "0", "--wait", "30", "--orphan-wait", "30"),
        *("--admission-wait", "0"),
    )
    statuses: list[int] = []
    try:
        assert process.stdout is not None
        process.stdout.readline()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(1_100):
            body = request(
                span(1, attributes=agent_attributes("r"), trace_id=(n + 1).to_bytes(16, "big"))
            ).SerializeToString()
            connection.request(
                "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
            )
            answer = connection.getresponse()
            answer.read()
            statuses.append(answer.status)
        connection.close()
    finally:
        reap(process)
    assert statuses == [200] * 1_100


def post_run(port: int, trace_byte: int, timeout: float = 30.0) -> int:
    """POST one single-span run (its own trace) as OTLP protobuf; the answer's status."""
    body = request(
        span(1, attributes=agent_attributes(f"run {trace_byte}"), trace_id=bytes([trace_byte]) * 16)
    ).SerializeToString()
    post = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(post, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


@pytest.mark.parametrize(("admission_wait", "second_answer"), [("0", 429), ("30", 200)])
def test_admission_wait_reaches_the_gateway(
    sandbox: Sandbox, admission_wait: str, second_answer: int
) -> None:
    """A delivery queue of one run: while the first run is held (5 s wait), the gateway
    is full. With ``--admission-wait 0`` the second request is answered 429 at once; with
    30 it waits for the first run's delivery and is accepted (the default 1 s would have
    answered it 429 before the first run was even handed over)."""
    port = free_port()
    process = gateway_process(
        sandbox,
        *("--http-port", str(port), "--grpc-port", "0", "--wait", "5"),
        *("--admission-wait", admission_wait),
        env={"INFINIUM_MAX_QUEUED_PAYLOADS": "1"},
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        assert post_run(port, 1) == 200
        assert post_run(port, 2) == second_answer
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as answer:
            stats = json.loads(answer.read())
        assert stats["gateway_backpressure_answers"] == (1 if second_answer == 429 else 0)
        assert stats["gateway_requests_waited_for_room"] == (0 if second_answer == 429 else 1)
        out, err = stop_on_sigterm(process, timeout=30)
    finally:
        reap(process)
    assert process.returncode == 0, err
    delivered = 2 if second_answer == 200 else 1
    assert f"{delivered} runs delivered" in out
