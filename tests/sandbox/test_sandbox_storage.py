"""Storage: restarts, file-backed persistence, many concurrent senders."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests

from infinium_otel.sandbox import Sandbox

from .support import AUTH, MINIMAL_PAYLOAD, RICH_PAYLOAD, Api


def test_stop_then_start_keeps_port_and_traces(api: Api, sandbox: Sandbox) -> None:
    first = api.post_trace().json()["traceId"]
    port = sandbox.port
    sandbox.stop()
    assert not sandbox.running
    with pytest.raises(requests.ConnectionError):
        api.post_trace(timeout=2)
    sandbox.start()
    assert sandbox.port == port
    second = api.post_trace().json()["traceId"]
    assert [t.trace_id for t in sandbox.traces()] == [first, second]


def test_stop_ends_keep_alive_connections(api: Api, sandbox: Sandbox) -> None:
    assert api.post_trace().status_code == 201  # opens a pooled keep-alive connection
    sandbox.stop()
    with pytest.raises(requests.ConnectionError):
        api.post_trace(timeout=2)
    assert len(sandbox.traces()) == 1


def test_start_and_stop_are_idempotent() -> None:
    sb = Sandbox()
    sb.stop()
    assert sb.start() is sb
    port = sb.port
    sb.start()
    assert sb.port == port
    sb.stop()
    sb.stop()
    sb.close()


def test_url_needs_a_started_server_when_port_is_zero() -> None:
    sb = Sandbox()
    with pytest.raises(RuntimeError):
        _ = sb.url
    sb.close()


def test_file_backed_store_survives_a_new_sandbox(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.db")
    with Sandbox(db=db, interpretation_delay=0.0) as first:
        client = Api(first)
        trace_id = client.post_trace(RICH_PAYLOAD).json()["traceId"]
        client.session.close()
    first.close()

    with Sandbox(db=db, interpretation_delay=0.0) as second:
        [stored] = second.traces()
        assert stored.trace_id == trace_id
        assert stored.payload == RICH_PAYLOAD
        client = Api(second)
        result = client.get_result(trace_id)
        assert result.status_code == 200
        assert result.json()["interpretedTraceResult"]["total_tokens"] == 150
        client.session.close()
    second.close()


def test_forced_ready_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.db")
    first = Sandbox(db=db, interpretation_delay=3600).start()
    client = Api(first)
    trace_id = client.post_trace().json()["traceId"]
    first.make_ready(trace_id)
    client.session.close()
    first.close()
    second = Sandbox(db=db, interpretation_delay=3600)
    stored = second.trace(trace_id)
    assert stored is not None and stored.forced_ready
    second.close()


def test_wait_for_traces_times_out_with_a_clear_error(sandbox: Sandbox) -> None:
    with pytest.raises(TimeoutError, match="expected at least 1"):
        sandbox.wait_for_traces(1, timeout=0.2)


def test_wait_for_traces_wakes_when_traces_arrive(api: Api, sandbox: Sandbox) -> None:
    results: list[int] = []

    def waiter() -> None:
        results.append(len(sandbox.wait_for_traces(2, timeout=10)))

    thread = threading.Thread(target=waiter)
    thread.start()
    api.post_trace()
    api.post_trace()
    thread.join(timeout=10)
    assert results == [2]


def test_concurrent_senders_lose_nothing(sandbox: Sandbox) -> None:
    senders, per_sender = 8, 50
    accepted: list[list[str]] = [[] for _ in range(senders)]
    failures: list[BaseException] = []

    def send(index: int) -> None:
        try:
            with requests.Session() as session:
                for n in range(per_sender):
                    body = {**MINIMAL_PAYLOAD, "name": f"sender-{index}-{n}"}
                    answer = session.post(
                        f"{sandbox.url}/agents/{sandbox.agent_id}/trace",
                        json=body,
                        headers=AUTH,
                        timeout=30,
                    )
                    answer.raise_for_status()
                    accepted[index].append(answer.json()["traceId"])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    stored = sandbox.wait_for_traces(senders * per_sender, timeout=10)
    all_ids = [trace_id for ids in accepted for trace_id in ids]
    assert len(all_ids) == senders * per_sender
    assert len(set(all_ids)) == len(all_ids)
    assert {t.trace_id for t in stored} == set(all_ids)
    names = {t.payload["name"] for t in stored}
    assert names == {f"sender-{i}-{n}" for i in range(senders) for n in range(per_sender)}
    # Each sender's traces are stored in the order it sent them.
    order = {t.trace_id: position for position, t in enumerate(stored)}
    for ids in accepted:
        assert [order[i] for i in ids] == sorted(order[i] for i in ids)
