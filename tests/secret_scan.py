"""A pytest plugin: no agent secret in any log record, failure text, warning or stored payload.

Loaded from tests/conftest.py. For the whole session a handler on the root
logger captures every record (our ``infinium_otel`` loggers are set to DEBUG
so that debug lines are produced and checked too): the formatted message,
the exception text and the stack. After each test's call and teardown the
plugin looks through what was captured, and through every ``Sandbox`` the test
used as a fixture (stored payloads and recorded requests), for each known
secret: the sandbox's, ``INFINIUM_AGENT_SECRET`` whenever a test set it, and
any value a test registers with ``register_secret``. A hit fails that test,
naming where the secret was found but never the secret itself.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from infinium_otel.sandbox import SANDBOX_AGENT_SECRET, Sandbox

__all__ = ["Leak", "SecretCollector", "find_leaks", "register_secret"]

_MIN_SECRET = 8  # the settings refuse shorter secrets; shorter strings would match by chance
_SECRETS: set[str] = {SANDBOX_AGENT_SECRET}
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Add a secret a test uses; from then on it must never show up anywhere either."""
    if isinstance(value, str) and len(value.strip()) >= _MIN_SECRET:
        with _lock:
            _SECRETS.add(value.strip())


def known_secrets() -> frozenset[str]:
    env = os.environ.get("INFINIUM_AGENT_SECRET")
    if env:
        register_secret(env)
    with _lock:
        return frozenset(_SECRETS)


@dataclass(frozen=True)
class Leak:
    where: str
    secret_length: int

    def __str__(self) -> str:
        return f"a {self.secret_length}-character secret appeared in {self.where}"


def find_leaks(texts: Iterable[tuple[str, str]], secrets: Iterable[str]) -> list[Leak]:
    """Every (where, text) pair that contains one of ``secrets``."""
    wanted = [s for s in secrets if s]
    leaks: list[Leak] = []
    for where, text in texts:
        for secret in wanted:
            if secret in text:
                leaks.append(Leak(where, len(secret)))
    return leaks


class SecretCollector(logging.Handler):
    """Keeps the text of every log record until the plugin scans it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self._texts: list[tuple[str, str]] = []
        self._texts_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)  # message, exc_text and stack_info
            extra = repr(record.args) if record.args else ""
        except Exception as exc:  # a record that cannot format is not ours to fail on
            text, extra = f"<unformattable record: {type(exc).__name__}>", ""
        with self._texts_lock:
            self._texts.append((f"a log record from {record.name!r}", text + extra))

    def take(self) -> list[tuple[str, str]]:
        with self._texts_lock:
            texts, self._texts = self._texts, []
        return texts

    def take_leaks(self) -> list[Leak]:
        """Scan and forget what was captured so far (a self-check test uses this)."""
        return find_leaks(self.take(), known_secrets())


COLLECTOR = SecretCollector()
_OUR_LOGGER = logging.getLogger("infinium_otel")


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(COLLECTOR)
    if _OUR_LOGGER.level == logging.NOTSET or _OUR_LOGGER.level > logging.DEBUG:
        _OUR_LOGGER.setLevel(logging.DEBUG)


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(COLLECTOR)


def _sandbox_texts(item: pytest.Item) -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    funcargs: dict[str, Any] = getattr(item, "funcargs", {}) or {}
    for name, value in funcargs.items():
        if not isinstance(value, Sandbox):
            continue
        try:
            traces = value.traces()
            requests = value.requests
        except Exception:  # closed early by the test itself
            continue
        for trace in traces:
            texts.append(
                (
                    f"a payload stored by fixture {name!r}",
                    json.dumps(trace.payload, ensure_ascii=False),
                )
            )
        for request in requests:
            headers = {k: v for k, v in request.headers.items() if k.lower() != "x-agent-key"}
            texts.append((f"a request recorded by fixture {name!r}", f"{request.path} {headers}"))
    return texts


def _fail_on(leaks: list[Leak], phase: str) -> None:
    if leaks:
        listed = "; ".join(sorted({str(leak) for leak in leaks}))
        raise AssertionError(f"secret scan ({phase}): {listed}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    COLLECTOR.take()  # setup-time records belong to the fixtures; scanned at teardown
    try:
        return (yield)
    finally:
        texts = COLLECTOR.take() + _sandbox_texts(item)
        _fail_on(find_leaks(texts, known_secrets()), "test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        _fail_on(COLLECTOR.take_leaks(), "teardown")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.longrepr is not None:
        text = str(report.longrepr)
        leaks = find_leaks([("a failure report", text)], known_secrets())
        if leaks:  # never print a secret in the terminal
            report.longrepr = f"secret scan: {leaks[0]}; the failure text was withheld"
    return report


def pytest_warning_recorded(warning_message: Any, when: str, nodeid: str, location: Any) -> None:
    text = str(getattr(warning_message, "message", warning_message))
    _LATE_LEAKS.extend(find_leaks([(f"a warning in {nodeid or when}", text)], known_secrets()))


_LATE_LEAKS: list[Leak] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = _LATE_LEAKS + COLLECTOR.take_leaks()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for leak in leaks:
                reporter.write_line(f"secret scan: {leak}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
