"""The payload hook is user code: it runs on the delivery thread only, and however
slow or broken it is, flush, shutdown and interpreter exit keep their deadlines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from infinium_otel import InfiniumHandle, configure
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

from .support import emit_run, names_received, settings_for

DELIVERY_THREAD = "infinium-otel-delivery"


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    made = TracerProvider()
    yield made
    made.shutdown()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of a test, so a blocked hook lets its daemon thread finish."""
    event = threading.Event()
    yield event
    event.set()


def configured(sandbox: Sandbox, provider: TracerProvider, hook: Any) -> InfiniumHandle:
    return configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=False,
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox.url,
        timeout=2.0,
        max_retries=0,
        payload_hook=hook,
    )


def watched(call: Callable[[], Any], limit: float) -> tuple[Any, float]:
    """``call()`` on another thread; its result and duration, or a failure if it hangs."""
    box: dict[str, Any] = {}

    def target() -> None:
        started = time.monotonic()
        try:
            box["result"] = call()
        except BaseException as error:  # reported below
            box["error"] = error
        box["took"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"still running after {limit} s"
    assert "error" not in box, box.get("error")
    return box["result"], box["took"]


@pytest.mark.timeout(60)
def test_flush_keeps_its_deadline_while_the_hook_sleeps_8_seconds(
    sandbox: Sandbox, provider: TracerProvider, release: threading.Event
) -> None:
    threads: list[str] = []

    def slow(payload: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        release.wait(8.0)
        return payload

    handle = configured(sandbox, provider, slow)
    emit_run(provider.get_tracer("hooks"), "slow-hook")
    flushed, took = watched(lambda: handle.flush(1.0), limit=10.0)
    assert flushed is False  # the run is still in the hook: not delivered
    assert took < 2.5, took
    assert threads == [DELIVERY_THREAD]
    release.set()  # the hook returns: the run still goes out
    assert handle.flush(10.0) is True
    assert names_received(sandbox) == {"slow-hook": 1}
    assert handle.shutdown(5.0) is True


@pytest.mark.timeout(60)
def test_shutdown_keeps_its_deadline_while_the_hook_never_returns(
    sandbox: Sandbox, provider: TracerProvider, release: threading.Event
) -> None:
    handle = configured(sandbox, provider, lambda payload: release.wait(3600) and payload)
    emit_run(provider.get_tracer("hooks"), "stuck-hook")
    delivered, took = watched(lambda: handle.shutdown(1.0), limit=10.0)
    assert delivered is False
    assert took < 2.5, took
    assert sandbox.traces() == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "failure",
    [KeyboardInterrupt, SystemExit, RuntimeError, "list"],
    ids=["keyboard-interrupt", "system-exit", "runtime-error", "returns-list"],
)
def test_a_failing_hook_never_raises_into_flush_and_the_run_is_counted(
    failure: Any, sandbox: Sandbox, provider: TracerProvider
) -> None:
    def hook(payload: dict[str, Any]) -> Any:
        if payload["name"] != "bad":
            return payload
        if failure == "list":
            return [payload]
        raise failure()

    handle = configured(sandbox, provider, hook)
    tracer = provider.get_tracer("hooks")
    emit_run(tracer, "bad")
    flushed, _ = watched(lambda: handle.flush(5.0), limit=10.0)
    assert flushed is False
    stats = handle.stats()
    assert stats["runs_dropped_by_hook"] == 1
    assert stats["runs_hook_failed"] == 1
    # The delivery thread lived through it: the next run goes out.
    emit_run(tracer, "good")
    assert handle.flush(5.0) is True
    assert names_received(sandbox) == {"good": 1}
    assert handle.shutdown(5.0) is True


@pytest.mark.timeout(60)
def test_the_hook_runs_on_the_delivery_thread_even_when_flush_is_waiting(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    threads: list[str] = []

    def record(payload: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        time.sleep(0.2)
        return payload

    handle = configured(sandbox, provider, record)
    tracer = provider.get_tracer("hooks")
    names = [f"run-{index}" for index in range(5)]
    for name in names:
        emit_run(tracer, name)
    assert handle.flush(20.0) is True  # called while the runs wait for the hook
    assert threads == [DELIVERY_THREAD] * 5
    assert names_received(sandbox) == dict.fromkeys(names, 1)
    assert handle.shutdown(5.0) is True


@pytest.mark.timeout(60)
def test_a_full_queue_never_converts_on_the_exporting_thread(
    sandbox: Sandbox, release: threading.Event
) -> None:
    threads: list[str] = []

    def blocked(payload: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        release.wait(30.0)
        return payload

    exporter = InfiniumSpanExporter(
        settings=settings_for(sandbox, max_queued_payloads=2),
        interpretation=False,
        payload_hook=blocked,
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # export() on this thread
    tracer = provider.get_tracer("overflow")
    for index in range(10):
        emit_run(tracer, f"burst-{index}")
    stats = exporter.stats()
    assert set(threads) <= {DELIVERY_THREAD}, threads
    assert stats["delivery_pending"] <= 3  # the queue's two plus the one in the hook
    assert stats["delivery_dropped_queue_full"] >= 7
    release.set()
    assert exporter.force_flush(10_000) is False  # runs were dropped: flush says so
    assert set(threads) == {DELIVERY_THREAD}
    final = exporter.stats()
    assert final["delivery_delivered"] + final["delivery_dropped_queue_full"] == 10
    assert final["delivery_delivered"] >= 2
    provider.shutdown()


EXIT_CHILD = textwrap.dedent(
    """
    import sys, time
    from opentelemetry.sdk.trace import TracerProvider
    from infinium_otel import configure

    def hook(payload):
        time.sleep(45)
        return payload

    provider = TracerProvider()
    configure(tracer_provider=provider, instrument=False, agent_id=sys.argv[1],
              agent_secret=sys.argv[2], base_url=sys.argv[3], interpretation="off",
              timeout=2.0, payload_hook=hook)
    tracer = provider.get_tracer("exit")
    with tracer.start_as_current_span("invoke_agent exit",
            attributes={"gen_ai.operation.name": "invoke_agent"}):
        with tracer.start_as_current_span("chat", attributes={"gen_ai.operation.name": "chat"}):
            pass
    print("run ended", flush=True)
    """
)

# The SDK's atexit shutdown gives the batch processor, and through it the exporter, 30 s.
SDK_SHUTDOWN_BUDGET = 30.0


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("INFINIUM_", "OTEL_"))}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_interpreter_exit_keeps_the_shutdown_deadline_with_a_45_second_hook(
    sandbox: Sandbox,
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", EXIT_CHILD, SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, sandbox.url],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=SDK_SHUTDOWN_BUDGET + 30,
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "run ended" in result.stdout
    assert took < SDK_SHUTDOWN_BUDGET + 8, took
    assert sandbox.traces() == []  # the hook never finished: nothing unredacted went out


CTRL_C_CHILD = textwrap.dedent(
    """
    import json, sys, time
    from opentelemetry.sdk.trace import TracerProvider
    from infinium_otel import configure

    def hook(payload):
        time.sleep(1.0)
        return payload

    provider = TracerProvider()
    handle = configure(tracer_provider=provider, instrument=False, agent_id=sys.argv[1],
                       agent_secret=sys.argv[2], base_url=sys.argv[3], interpretation="off",
                       timeout=2.0, payload_hook=hook)
    tracer = provider.get_tracer("ctrl-c")
    for name in ("first", "second", "third"):
        with tracer.start_as_current_span("invoke_agent " + name,
                attributes={"gen_ai.operation.name": "invoke_agent",
                            "gen_ai.agent.name": name}):
            with tracer.start_as_current_span("chat",
                    attributes={"gen_ai.operation.name": "chat"}):
                pass
    interrupted = False
    print("flushing", flush=True)
    try:
        handle.flush(30.0)
    except KeyboardInterrupt:
        interrupted = True
    print(json.dumps({"interrupted": interrupted, "shutdown": handle.shutdown(15.0),
                      "stats": handle.stats()}), flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ctrl_c_while_flush_waits_loses_no_run(sandbox: Sandbox) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_CHILD, SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, sandbox.url],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background job inherits SIGINT ignored (then Python installs no
        # KeyboardInterrupt handler): give the child the default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "flushing"
        time.sleep(0.5)  # flush is waiting; the hook is busy with the first run
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["interrupted"] is True
    assert report["shutdown"] is True
    assert report["stats"]["delivery_delivered"] == 3
    assert names_received(sandbox) == {"first": 1, "second": 1, "third": 1}
