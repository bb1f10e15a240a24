"""Many agents at once, on threads and asyncio tasks: every run arrives, with its own spans."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from infinium_otel import configure
from infinium_otel.instrumentation.helpers import agent, configure_helpers, tool
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox
from infinium_otel.setup import InfiniumHandle

from .support import check_own_steps, names_received

THREADS = 32
RUNS_PER_THREAD = 3
TASKS = 200

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 2}


@pytest.fixture
def handle(sandbox: Sandbox) -> Iterator[tuple[InfiniumHandle, trace.Tracer]]:
    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox.url,
        interpretation="off",
        timeout=5.0,
    )
    configure_helpers(tracer_provider=provider)
    try:
        yield handle, provider.get_tracer("concurrency")
    finally:
        configure_helpers(None)
        handle.shutdown(10)
        provider.shutdown()


def _check_all_arrived(sandbox: Sandbox, names: set[str]) -> None:
    sandbox.wait_for_traces(len(names), timeout=30)
    received = names_received(sandbox)
    assert set(received) == names
    assert all(count == 1 for count in received.values()), received
    for stored in sandbox.traces():
        check_own_steps(stored.payload)


def test_32_threads_running_agents(
    sandbox: Sandbox, handle: tuple[InfiniumHandle, trace.Tracer]
) -> None:
    infinium, tracer = handle
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            barrier.wait()
            for index in range(RUNS_PER_THREAD):
                name = f"thread{number}-run{index}"
                with agent(name):
                    with tracer.start_as_current_span(
                        f"chat m-{name}", attributes={**CHAT, "gen_ai.request.model": f"m-{name}"}
                    ):
                        pass
                    with tool(f"lookup-{name}-0"):
                        pass
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert infinium.flush(30)
    _check_all_arrived(
        sandbox, {f"thread{n}-run{i}" for n in range(THREADS) for i in range(RUNS_PER_THREAD)}
    )
    stats = infinium.stats()
    assert stats["runs_partial"] == 0
    assert stats["delivery_delivered"] == THREADS * RUNS_PER_THREAD


def test_200_asyncio_tasks_running_agents(
    sandbox: Sandbox, handle: tuple[InfiniumHandle, trace.Tracer]
) -> None:
    infinium, tracer = handle

    async def one(name: str) -> None:
        async with agent(name):
            await asyncio.sleep(0)
            with tracer.start_as_current_span(
                f"chat m-{name}", attributes={**CHAT, "gen_ai.request.model": f"m-{name}"}
            ):
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)
            async with tool(f"lookup-{name}-0"):
                await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(one(f"task{n}") for n in range(TASKS)))

    asyncio.run(main())
    assert infinium.flush(30)
    _check_all_arrived(sandbox, {f"task{n}" for n in range(TASKS)})
    assert infinium.stats()["runs_partial"] == 0
