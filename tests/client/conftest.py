"""Client test helpers: one client factory for both flavours, and a secret-leak guard.

Every test here runs against the real sandbox over loopback HTTP. The
``client_factory`` fixture is parametrised over the sync client and the async
client (each coroutine call driven by ``asyncio.run``), so one test body checks
both.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from infinium_otel.client.async_client import AsyncInfiniumClient
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import InfiniumError
from infinium_otel.sandbox import SANDBOX_AGENT_SECRET, Sandbox

VALID_PAYLOAD: dict[str, Any] = {
    "name": "client test run",
    "description": "a run sent by the client tests",
    "current_datetime": "2025-01-31T12:00:00.000Z",
    "duration": 1.5,
}

# Fast but still exponential backoff for tests.
FAST_BACKOFF = 0.01


class AsyncDriver:
    """Calls an ``AsyncInfiniumClient`` like a sync one: each coroutine in ``asyncio.run``."""

    def __init__(self, client: AsyncInfiniumClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if inspect.iscoroutinefunction(attr):

            def run(*args: Any, **kwargs: Any) -> Any:
                return asyncio.run(attr(*args, **kwargs))

            return run
        return attr

    def close(self) -> None:
        asyncio.run(self.client.aclose())

    def __repr__(self) -> str:
        return repr(self.client)


ClientFactory = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client_factory(sandbox: Sandbox, flavour: str) -> Iterator[ClientFactory]:
    """Build clients (sync, or async behind ``AsyncDriver``) pointed at the sandbox."""
    made: list[Any] = []

    def make(**overrides: Any) -> Any:
        kwargs: dict[str, Any] = {
            "agent_id": sandbox.agent_id,
            "agent_secret": sandbox.agent_secret,
            "base_url": sandbox.url,
            "timeout": 5.0,
            "max_retries": 3,
            "backoff_base": FAST_BACKOFF,
        }
        kwargs.update(overrides)
        if flavour == "sync":
            client: Any = InfiniumClient(**kwargs)
        else:
            client = AsyncDriver(AsyncInfiniumClient(**kwargs))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(client_factory: ClientFactory) -> Any:
    return client_factory()


def assert_secret_free(error: BaseException, secret: str = SANDBOX_AGENT_SECRET) -> None:
    """No text reachable from an error (message, repr, details, chained cause) holds the secret."""
    texts = [str(error), repr(error)]
    if isinstance(error, InfiniumError):
        texts.append(repr(error.details))
        texts.append(error.message)
    original = getattr(error, "original_error", None)
    for linked in (original, error.__cause__, error.__context__):
        if linked is not None:
            texts += [str(linked), repr(linked)]
            assert getattr(linked, "request", None) is None, "a chained error keeps our headers"
    for text in texts:
        assert secret not in text


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every client test runs with DEBUG logging on; no record may carry the secret."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += repr(record.exc_info[1])
        assert SANDBOX_AGENT_SECRET not in text, f"secret logged by {record.name}"


def requests_to(sandbox: Sandbox, endpoint: str) -> list[Any]:
    """The sandbox's recorded requests for one endpoint ("trace" or "interpretation")."""
    return [r for r in sandbox.requests if r.endpoint == endpoint]


def recorded(sandbox: Sandbox, endpoint: str, at_least: int, timeout: float = 5.0) -> list[Any]:
    """The recorded requests for ``endpoint`` once at least ``at_least`` arrived.

    The sandbox records a request after answering it, so a client can see the
    answer a moment before the record exists.
    """
    end = time.monotonic() + timeout
    while True:
        seen = requests_to(sandbox, endpoint)
        if len(seen) >= at_least or time.monotonic() > end:
            return seen
        time.sleep(0.01)
