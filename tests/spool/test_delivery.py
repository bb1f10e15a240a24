"""The delivery thread with a spool, over real HTTP to the sandbox."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from infinium_otel import configure
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.spool import REJECTED_DIR, Spool
from infinium_otel.delivery.worker import DeliveryWorker
from infinium_otel.errors import InfiniumError
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Fault, Sandbox

from .support import client_for, delivery, fill, stored_names, worker_for


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def trace_requests(sb: Sandbox) -> list[float]:
    return [r.at for r in sb.requests if r.endpoint == "trace"]


def test_a_failed_payload_stays_on_disk_and_is_retried_with_backoff(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    sandbox.faults.push("trace", Fault(status=503, repeat=2))
    spool = Spool(spool_dir)
    worker = worker_for(sandbox, spool)
    assert worker.submit(delivery("flaky"))
    [stored] = sandbox.wait_for_traces(1, timeout=15)
    assert stored.payload["name"] == "flaky"
    # The entry goes first, then the run is counted: wait for both.
    wait_until(lambda: spool.entries() == [] and worker.stats.delivered == 1)
    first, second, third = trace_requests(sandbox)
    assert second - first >= 0.2  # the first backoff
    assert third - second >= 0.4  # doubled
    stats = worker.stats
    assert (stats.spooled, stats.spool_deferred, stats.retried, stats.replayed) == (1, 2, 2, 1)
    assert stats.failed == 0
    assert worker.shutdown(5)


class _SlowRemovalSpool(Spool):
    """A spool whose files take a while to go, as on a slow or busy disk."""

    def remove(self, key: str) -> None:
        time.sleep(0.2)
        super().remove(key)


def test_a_replay_is_counted_only_once_its_entry_is_gone(sandbox: Sandbox, spool_dir: Path) -> None:
    fill(Spool(spool_dir), ["left-once"])
    worker = worker_for(sandbox, _SlowRemovalSpool(spool_dir))
    wait_until(lambda: worker.stats.replayed == 1)
    assert Spool(spool_dir).entries() == []
    assert worker.stats.delivered == 1
    assert worker.shutdown(5)


def test_entries_left_by_an_earlier_process_are_replayed_at_start(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    names = [f"left-{i}" for i in range(5)]
    fill(Spool(spool_dir), names)
    worker = worker_for(sandbox, Spool(spool_dir))  # nothing submitted
    sandbox.wait_for_traces(5, timeout=15)
    assert [t.payload["name"] for t in sandbox.traces()] == names
    wait_until(lambda: worker.stats.replayed == 5)
    assert Spool(spool_dir).entries() == []
    assert worker.shutdown(5)


def test_refused_credentials_stop_replays_and_keep_the_files(
    sandbox: Sandbox, spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fill(Spool(spool_dir), ["a", "b", "c"])
    with caplog.at_level(logging.ERROR, logger="infinium_otel.delivery"):
        worker = worker_for(sandbox, Spool(spool_dir), secret="wrong-secret-123")
        wait_until(lambda: len(trace_requests(sandbox)) >= 1)
        time.sleep(1.5)  # several backoff periods: no further attempt may follow
    assert len(trace_requests(sandbox)) == 1
    assert len(Spool(spool_dir).entries()) == 3
    assert worker.stats.failed_auth == 1
    assert worker.spool_retry_due is None
    assert any("credentials were refused" in r.getMessage() for r in caplog.records)
    assert not any("wrong-secret-123" in r.getMessage() for r in caplog.records)
    worker.shutdown(2)


def test_a_payload_refused_for_good_is_set_aside_not_retried(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    sandbox.faults.push("trace", Fault(status=422))
    spool = Spool(spool_dir)
    worker = worker_for(sandbox, spool)
    worker.submit(delivery("invalid"))
    assert worker.flush(10) is False  # refused: not delivered
    time.sleep(0.5)
    assert len(trace_requests(sandbox)) == 1
    assert spool.entries() == []
    assert len(list((spool_dir / REJECTED_DIR).iterdir())) == 1
    assert worker.stats.spool_rejected == 1
    worker.shutdown(2)


def test_two_threads_replaying_one_spool_send_each_payload_once(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    names = [f"shared-{i}" for i in range(40)]
    fill(Spool(spool_dir), names)
    errors: list[BaseException] = []

    def replay() -> None:
        spool = Spool(spool_dir)
        with client_for(sandbox) as client:
            while (claimed := spool.claim_next()) is not None:
                key, body = claimed
                try:
                    client.send_trace_bytes(body)
                except InfiniumError as error:  # pragma: no cover - reported below
                    errors.append(error)
                    spool.release(key)
                    return
                spool.remove(key)

    threads = [threading.Thread(target=replay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert stored_names(sandbox) == dict.fromkeys(names, 1)
    assert Spool(spool_dir).entries() == []


def test_two_delivery_workers_on_one_spool_send_each_payload_once(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    names = [f"both-{i}" for i in range(30)]
    fill(Spool(spool_dir), names)
    workers = [worker_for(sandbox, Spool(spool_dir)) for _ in range(2)]
    sandbox.wait_for_traces(30, timeout=30)
    wait_until(lambda: sum(w.stats.replayed for w in workers) == 30)
    time.sleep(0.3)
    assert stored_names(sandbox) == dict.fromkeys(names, 1)
    for worker in workers:
        worker.shutdown(2)


def test_runs_made_while_the_server_is_down_arrive_after_it_restarts(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=False,
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox.url,
        allow_insecure_http=True,
        spool_dir=str(spool_dir),
        max_retries=0,
        timeout=2.0,
    )
    tracer = provider.get_tracer("spool-tests")
    sandbox.stop()
    names = [f"outage-{i}" for i in range(3)]
    for name in names:
        attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        with tracer.start_as_current_span(f"invoke_agent {name}", attributes=attributes):
            pass
    handle.flush(10)
    spool = Spool(spool_dir)
    wait_until(lambda: len(spool.claimable()) == 3)
    for entry in spool.entries():
        assert json.loads((spool_dir / entry.name).read_bytes())["name"] in names
    sandbox.start()
    sandbox.wait_for_traces(3, timeout=30)  # the first spool retry comes after 5 s
    assert stored_names(sandbox) == dict.fromkeys(names, 1)
    wait_until(lambda: spool.entries() == [] and handle.stats()["delivery_replayed"] == 3)
    stats = handle.stats()
    assert stats["delivery_spooled"] == 3
    assert stats["delivery_replayed"] == 3
    assert handle.shutdown(5)


def test_flush_waits_for_the_replay_of_a_payload_kept_on_disk(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    sandbox.faults.push("trace", Fault(status=503))
    worker = worker_for(sandbox, Spool(spool_dir))
    assert worker.submit(delivery("kept-then-sent"))
    assert worker.flush(15) is True  # the live send failed; the spool's retry was accepted
    assert stored_names(sandbox) == {"kept-then-sent": 1}
    assert (worker.stats.spool_deferred, worker.stats.replayed) == (1, 1)
    assert worker.shutdown(5)


def test_flush_is_false_at_once_when_the_credentials_are_refused(
    sandbox: Sandbox, spool_dir: Path
) -> None:
    worker = worker_for(sandbox, Spool(spool_dir), secret="wrong-secret-456")
    assert worker.submit(delivery("refused"))
    started = time.monotonic()
    assert worker.flush(15) is False  # replays stop: nothing will settle it later
    assert time.monotonic() - started < 10
    assert len(Spool(spool_dir).entries()) == 1  # kept for `spool replay`
    worker.shutdown(2)


class _OpenRequests(BaseHTTPRequestHandler):
    """Accepts every trace POST after a short pause; records how many were open at once."""

    lock: threading.Lock
    state: dict[str, int]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.lock:
            self.state["open"] += 1
            self.state["most"] = max(self.state["most"], self.state["open"])
        time.sleep(0.05)  # long enough for a second sender to overlap, were there one
        with self.lock:
            self.state["open"] -= 1
            self.state["done"] += 1
        data = json.dumps({"traceId": "11111111-2222-3333-4444-555555555555"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def open_request_counter() -> Iterator[tuple[str, dict[str, int]]]:
    state = {"open": 0, "most": 0, "done": 0}
    handler = type("Handler", (_OpenRequests,), {"lock": threading.Lock(), "state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(60)
def test_with_one_sender_replays_and_live_sends_take_turns(spool_dir: Path) -> None:
    """A replay takes a free sender like any send: with one, never two requests at once."""
    left = [f"left-{i}" for i in range(6)]
    fill(Spool(spool_dir), left)
    with open_request_counter() as (url, state):
        client = InfiniumClient(
            agent_id=SANDBOX_AGENT_ID,
            agent_secret=SANDBOX_AGENT_SECRET,
            base_url=url,
            max_retries=0,
            timeout=5.0,
        )
        worker = DeliveryWorker(
            client,
            spool=Spool(spool_dir),
            spool_start_delay=0.0,
            spool_retry_initial=0.2,
            max_concurrent_sends=1,
        )
        live = [delivery(f"live-{i}") for i in range(6)]
        assert worker.submit_all(live) == 6
        assert worker.flush(30) is True
        wait_until(lambda: worker.stats.replayed == 6, timeout=30)
        assert state["done"] == 12
        assert state["most"] == 1
        assert worker.stats.delivered == 12
        assert Spool(spool_dir).entries() == []
        assert worker.shutdown(5)
