"""``InterpretationProcessor``: one background thread polls Infinium for many runs.

This module is the public face: it checks the arguments (``arguments``),
picks the client each run is polled with, accepts submissions and keeps the
history, and answers ``flush``, ``shutdown`` and ``stats``. The pending runs
and their lock are in ``pending``, the poller thread and what each answer
means in ``poll_loop``, the outcomes' way to the sinks in ``outcome_delivery``,
and the exit-time wait in ``at_exit``. ``submit`` only takes a lock and
appends; it never waits on the network.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, cast

from infinium_otel.interpretation.arguments import check_max_pending, check_seconds, check_sinks
from infinium_otel.interpretation.at_exit import (
    interpreter_exiting,
    register_exit_hook,
    settle_at_exit,
)
from infinium_otel.interpretation.history import (
    RunHistory,
    parse_history_setting,
    record_submission,
)
from infinium_otel.interpretation.outcome import InterpretationOutcome, InterpretationRequest
from infinium_otel.interpretation.outcome_delivery import OutcomeDelivery
from infinium_otel.interpretation.pending import PendingRuns
from infinium_otel.interpretation.poll_clients import PollClients
from infinium_otel.interpretation.poll_loop import PollLoop
from infinium_otel.interpretation.sinks import Sink, build_sinks
from infinium_otel.settings import MIN_POLL_INTERVAL, Settings

if TYPE_CHECKING:
    from opentelemetry._logs import LoggerProvider
    from opentelemetry.trace import TracerProvider

    from infinium_otel.client.agents import AgentClients
    from infinium_otel.client.sync_client import InfiniumClient

__all__ = ["InterpretationProcessor"]

logger = logging.getLogger("infinium_otel.interpretation.processor")

DEFAULT_POLL_INTERVAL = 3.0
DEFAULT_POLL_TIMEOUT = 120.0

_live_processors: weakref.WeakSet[InterpretationProcessor] = weakref.WeakSet()


def _reset_in_child() -> None:
    for processor in list(_live_processors):
        processor._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


class InterpretationProcessor:
    """Polls for Maestro's interpretation of delivered runs and emits the outcomes.

    ``sinks`` is a subset of ``{"log", "span_event"}`` (None: the settings'
    ``interpretation`` value, or ``{"log"}``); ``on_result`` is called with every
    outcome. Polls happen every ``poll_interval`` seconds (at least 1.0) from
    ``poll_interval`` after submission until ``poll_timeout`` seconds have passed.

    ``history`` keeps a local record of every submitted run for
    ``infinium-otel results``: True for the default file, a path, or None to
    follow ``settings.history`` when the settings have it (off otherwise).
    ``wait_at_exit`` is how long, at interpreter exit, to wait for outcomes
    still pending (None: ``settings.wait_at_exit`` when present, else 0); what
    is still pending then is reported in one log line.
    """

    def __init__(
        self,
        *,
        client: InfiniumClient | None = None,
        settings: Settings | None = None,
        sinks: Iterable[str] | None = None,
        poll_interval: float | None = None,
        poll_timeout: float | None = None,
        logger_provider: LoggerProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        on_result: Callable[[InterpretationOutcome], None] | None = None,
        max_pending: int = 10_000,
        history: str | os.PathLike[str] | bool | None = None,
        wait_at_exit: float | None = None,
    ) -> None:
        if settings is None and client is not None:
            settings = client.settings
        if settings is None:
            settings = Settings.load()
        interval = settings.poll_interval if poll_interval is None else poll_interval
        timeout = settings.poll_timeout if poll_timeout is None else poll_timeout
        self._poll_interval = check_seconds(
            interval, "poll_interval", minimum=MIN_POLL_INTERVAL, maximum=3600.0
        )
        self._poll_timeout = check_seconds(timeout, "poll_timeout", minimum=0.0, maximum=86_400.0)
        self._max_pending = check_max_pending(max_pending)
        if wait_at_exit is None:
            wait_at_exit = getattr(settings, "wait_at_exit", 0.0)
        self._wait_at_exit = check_seconds(
            wait_at_exit, "wait_at_exit", minimum=0.0, maximum=3600.0
        )
        if history is None:
            history = getattr(settings, "history", None)
        history_path = parse_history_setting(history, "history")
        self._history = RunHistory(history_path) if history_path is not None else None
        names = check_sinks(sinks, settings)
        self._clients = PollClients(settings, client)
        self._sink_names = names
        self._sinks: list[Sink] = build_sinks(
            names,
            logger_provider=logger_provider,
            tracer_provider=tracer_provider,
            on_result=on_result,
        )
        self._rng = random.Random()
        self._closed = False
        self._init_state()
        _live_processors.add(self)
        register_exit_hook(self)

    # ------------------------------------------------------------------ state

    def _init_state(self) -> None:
        """Fresh pending runs, delivery and loop: at construction and in a forked child."""
        self._runs = PendingRuns(max_pending=self._max_pending, stopped=self._closed)
        self._loop = PollLoop(
            self._runs,
            OutcomeDelivery(self._runs, self._sinks),
            client_for=self._clients.for_request,
            poll_interval=self._poll_interval,
            poll_timeout=self._poll_timeout,
            rng=self._rng,
        )

    def _route_polls(self, agents: AgentClients) -> None:
        """Poll each routed run as the agent that submitted it (set by the exporter)."""
        self._clients.route(agents)

    def _reset_after_fork(self) -> None:
        """In a forked child: nothing pending, no thread, zeroed counts, own session."""
        self._loop.retire()
        self._init_state()
        if not self._closed:
            self._clients.reset_after_fork()

    def __repr__(self) -> str:
        return (
            f"InterpretationProcessor(sinks={sorted(self._sink_names)}, "
            f"poll_interval={self._poll_interval:g}, poll_timeout={self._poll_timeout:g}, "
            f"pending={len(self._runs.pending)})"
        )

    @property
    def poll_interval(self) -> float:
        return self._poll_interval

    @property
    def poll_timeout(self) -> float:
        return self._poll_timeout

    @property
    def wait_at_exit(self) -> float:
        return self._wait_at_exit

    @property
    def history(self) -> RunHistory | None:
        """The local record of delivered runs, when one is kept."""
        return self._history

    # ---------------------------------------------------------------- public API

    def submit(self, request: InterpretationRequest) -> bool:
        """Queue ``request`` for polling; never blocks, never raises.

        False when the processor is shut down or the request is not an
        ``InterpretationRequest``. When ``max_pending`` runs are already pending
        the oldest is dropped (counted in ``dropped_overflow``, no outcome).
        Every delivered run is added to the history when one is kept.
        """
        try:
            queued = self._submit(request)
        except Exception:
            logger.exception("could not queue an interpretation request")
            queued = False
        if self._history is not None and isinstance(cast(object, request), InterpretationRequest):
            record_submission(self._history, request, self._clients.default)
        return queued

    def _submit(self, request: InterpretationRequest) -> bool:
        if not isinstance(cast(object, request), InterpretationRequest):
            logger.warning("ignored an interpretation request of type %s", type(request).__name__)
            return False
        runs, loop = self._runs, self._loop
        with runs.lock:
            if self._closed:
                return False
            entry = loop.new_run_locked(request)
            warn_overflow = runs.add_locked(entry)
            if not loop.ensure_thread_locked():
                runs.withdraw_locked(entry)
                return False
            runs.counts["submitted"] += 1
            if runs.is_first_locked(entry):  # only an earlier first poll changes the wait
                runs.wakeup.notify()
        if warn_overflow:
            logger.warning(
                "more than %d interpretations pending: dropping the oldest ones "
                "(counted in stats()['dropped_overflow']; warned once)",
                self._max_pending,
            )
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted run's outcome reached the sinks (or ``timeout``)."""
        return self._runs.wait_idle(timeout)

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Stop the thread; pending runs are abandoned (counted). True when it stopped in time.

        At interpreter exit, pending runs first get the ``wait_at_exit`` wait.
        """
        if not self._closed and interpreter_exiting():
            self._settle_at_exit()
        runs = self._runs
        with runs.lock:
            self._closed = True
            runs.abandon_all_locked()
            thread = runs.thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(timeout, 0.0))
        return not thread.is_alive()

    def stats(self) -> dict[str, int]:
        """Counts since construction: submitted, ready, timed_out, failed,
        dropped_overflow, abandoned, requests (HTTP polls made), pending."""
        return self._runs.snapshot()

    def _settle_at_exit(self) -> None:
        """At exit: wait up to ``wait_at_exit`` for pending outcomes, then say what is left."""
        history = str(self._history.path) if self._history is not None else None
        settle_at_exit(self._runs, wait=self._wait_at_exit, flush=self.flush, history=history)
