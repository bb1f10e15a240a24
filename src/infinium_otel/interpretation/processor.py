"""``InterpretationProcessor``: one background thread polls Infinium for many runs.

Pending runs sit in a heap ordered by their next poll time. The thread sleeps
on a condition until the earliest one is due (or forever when nothing is
pending), makes one HTTP call per due run with no client-side retries and a
deadline, reschedules it per ``schedule.plan_next``, and hands every finished
outcome to the sinks. ``submit`` only takes a lock and appends; it never waits
on the network.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from infinium_otel.errors import (
    AuthenticationError,
    ConfigurationError,
    InfiniumError,
    NetworkError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from infinium_otel.interpretation.at_exit import (
    interpreter_exiting,
    pending_line,
    register_exit_hook,
)
from infinium_otel.interpretation.history import RunHistory, new_record, parse_history_setting
from infinium_otel.interpretation.outcome import (
    InterpretationOutcome,
    InterpretationRequest,
    OutcomeStatus,
)
from infinium_otel.interpretation.schedule import backoff_delay, plan_next
from infinium_otel.interpretation.sinks import LOGGER_NAME, LogSink, Sink, build_sinks
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
CALL_BUDGET = 10.0
"""Longest one poll may hold the shared thread (the client's timeout applies too)."""
MIN_CALL_WINDOW = 2.0
"""Time a poll gets even when its run's give-up time is nearer than that."""

_STAT_KEYS = (
    "submitted",
    "ready",
    "timed_out",
    "failed",
    "dropped_overflow",
    "abandoned",
    "requests",
    "pending",
)


@dataclass(eq=False)
class _Pending:
    """One run being polled; mutated only under the processor's lock or by its thread."""

    request: InterpretationRequest
    submitted_at: float
    deadline: float
    next_at: float
    poll: bool = True
    attempts: int = 0
    failures: int = 0
    last_message: str = "no answer yet"
    rate_limited: bool = False
    dropped: bool = False
    reported_at_exit: bool = False
    seq: int = 0


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
        self._poll_interval = _check_number(
            interval, "poll_interval", minimum=MIN_POLL_INTERVAL, maximum=3600.0
        )
        self._poll_timeout = _check_number(timeout, "poll_timeout", minimum=0.0, maximum=86_400.0)
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ConfigurationError(
                f"max_pending must be a positive whole number, got {max_pending!r}",
                config_key="max_pending",
            )
        self._max_pending = max_pending
        if wait_at_exit is None:
            wait_at_exit = getattr(settings, "wait_at_exit", 0.0)
        self._wait_at_exit = _check_number(
            wait_at_exit, "wait_at_exit", minimum=0.0, maximum=3600.0
        )
        if history is None:
            history = getattr(settings, "history", None)
        history_path = parse_history_setting(history, "history")
        self._history = RunHistory(history_path) if history_path is not None else None
        names = _check_sinks(sinks, settings)
        # With a routing table each run is polled as the agent that submitted it.
        self._agents: AgentClients | None = None
        if settings.routes is not None:
            from infinium_otel.client.agents import AgentClients

            self._agents = AgentClients(settings, default=client)
            # Without default credentials every run is routed: any agent's client will do.
            client = (
                client or self._agents.get(None) or self._agents.get(settings.routes.agent_ids[0])
            )
        if client is None:
            from infinium_otel.client.sync_client import InfiniumClient

            client = InfiniumClient.from_settings(settings)
        self._client = client
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
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._heap: list[tuple[float, int, _Pending]] = []
        self._pending: dict[int, _Pending] = {}
        self._busy = 0  # outcomes being delivered right now
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        # Agent (None: the default one) -> why its credentials were refused.
        self._auth_failures: dict[str | None, str] = {}
        self._sink_errors: set[str] = set()
        self._stats = dict.fromkeys(_STAT_KEYS, 0)
        self._overflow_warned = False
        self._exit_deadline: float | None = None
        self._unreported_abandoned = 0
        if self._closed:
            self._stop.set()

    def _route_polls(self, agents: AgentClients) -> None:
        """Poll each routed run as the agent that submitted it (set by the exporter)."""
        self._agents = agents

    def _client_for(self, request: InterpretationRequest) -> InfiniumClient | None:
        """The client of the agent that submitted ``request``; None when there is none."""
        if self._agents is None or request.agent_id is None:
            return self._client
        return self._agents.get(request.agent_id)

    def _reset_after_fork(self) -> None:
        """In a forked child: nothing pending, no thread, zeroed counts, own session."""
        self._init_state()
        if self._agents is not None and not self._closed:
            try:
                self._agents = self._agents.clone()
            except Exception:
                logger.debug("could not rebuild the agents' clients after fork", exc_info=True)
        clone = getattr(self._client, "clone", None)
        if callable(clone) and not self._closed:
            try:
                self._client = clone()
            except Exception:  # the parent's session still works for a child that never polls
                logger.debug("could not rebuild the client after fork", exc_info=True)

    def __repr__(self) -> str:
        return (
            f"InterpretationProcessor(sinks={sorted(self._sink_names)}, "
            f"poll_interval={self._poll_interval:g}, poll_timeout={self._poll_timeout:g}, "
            f"pending={len(self._pending)})"
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
            self._record_history(self._history, request)
        return queued

    def _record_history(self, history: RunHistory, request: InterpretationRequest) -> None:
        try:
            agent_id = request.agent_id or getattr(self._client, "agent_id", None)
            base_url = getattr(self._client, "base_url", None)
            if not isinstance(agent_id, str) or not isinstance(base_url, str):
                return
            history.append(
                new_record(
                    name=request.agent_name,
                    trace_id=request.infinium_trace_id,
                    agent_id=agent_id,
                    base_url=base_url,
                    otel_trace_id=request.otel_trace_id,
                )
            )
        except Exception:  # best effort: the history never costs a run its verdict
            logger.debug("could not record a run in the history", exc_info=True)

    def _submit(self, request: InterpretationRequest) -> bool:
        if not isinstance(cast(object, request), InterpretationRequest):
            logger.warning("ignored an interpretation request of type %s", type(request).__name__)
            return False
        warn_overflow = False
        with self._lock:
            if self._closed:
                return False
            now = time.monotonic()
            deadline = now + self._poll_timeout
            refused = self._auth_failures.get(request.agent_id)
            if refused is not None:
                plan_at, poll = now, False  # credentials were refused: fail without a request
            else:
                plan = plan_next(now, deadline, self._poll_interval)
                plan_at, poll = plan.at, plan.poll
            seq = next(self._seq)
            entry = _Pending(
                request=request,
                submitted_at=now,
                deadline=deadline,
                next_at=plan_at,
                poll=poll,
                seq=seq,
            )
            if refused is not None:
                entry.last_message = refused
            while len(self._pending) >= self._max_pending:
                oldest = self._pending.pop(next(iter(self._pending)))
                oldest.dropped = True
                self._stats["dropped_overflow"] += 1
                if not self._overflow_warned:
                    self._overflow_warned = warn_overflow = True
            self._pending[seq] = entry
            heapq.heappush(self._heap, (plan_at, seq, entry))
            if len(self._heap) > 2 * self._max_pending + 64:
                self._compact_heap()
            if not self._ensure_thread():
                self._pending.pop(seq, None)
                entry.dropped = True
                return False
            self._stats["submitted"] += 1
            if self._heap[0][2] is entry:  # only an earlier first poll changes the wait
                self._wakeup.notify()
        if warn_overflow:
            logger.warning(
                "more than %d interpretations pending: dropping the oldest ones "
                "(counted in stats()['dropped_overflow']; warned once)",
                self._max_pending,
            )
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted run's outcome reached the sinks (or ``timeout``)."""
        end = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._lock:
            while self._pending or self._busy:
                if self._stop.is_set():
                    return False
                if end is None:
                    self._idle.wait()
                else:
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
            return True

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Stop the thread; pending runs are abandoned (counted). True when it stopped in time.

        At interpreter exit, pending runs first get the ``wait_at_exit`` wait.
        """
        if not self._closed and interpreter_exiting():
            self._settle_at_exit()
        with self._lock:
            self._closed = True
            self._stop.set()
            self._stats["abandoned"] += len(self._pending)
            for entry in self._pending.values():
                entry.dropped = True
                if not entry.reported_at_exit:
                    self._unreported_abandoned += 1
            self._pending.clear()
            self._heap.clear()
            thread = self._thread
            self._wakeup.notify_all()
            self._idle.notify_all()
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(timeout, 0.0))
        return not thread.is_alive()

    def stats(self) -> dict[str, int]:
        """Counts since construction: submitted, ready, timed_out, failed,
        dropped_overflow, abandoned, requests (HTTP polls made), pending."""
        with self._lock:
            result = dict(self._stats)
            result["pending"] = len(self._pending)
            return result

    def _settle_at_exit(self) -> None:
        """At exit: wait up to ``wait_at_exit`` for pending outcomes, then say what is left.

        Called by the ``atexit`` hook and by a ``shutdown`` during exit, in either
        order; one wait budget serves both, and no run is reported twice. Never raises.
        """
        try:
            with self._lock:
                waiting = any(not e.reported_at_exit for e in self._pending.values())
                if waiting and self._exit_deadline is None:
                    self._exit_deadline = time.monotonic() + self._wait_at_exit
                deadline = self._exit_deadline
            waited = 0.0
            if waiting and deadline is not None:
                budget = deadline - time.monotonic()
                if budget > 0 and not self.flush(budget):
                    waited = budget  # the whole budget went by without every outcome
            with self._lock:
                left = [e for e in self._pending.values() if not e.reported_at_exit]
                for entry in left:
                    entry.reported_at_exit = True
                count = len(left) + self._unreported_abandoned
                self._unreported_abandoned = 0
            if count:
                history = str(self._history.path) if self._history is not None else None
                logging.getLogger(LOGGER_NAME).warning(
                    "%s", pending_line(count, waited=waited, history=history)
                )
        except Exception:  # exit must go on whatever happens here
            logger.debug("could not report pending interpretations at exit", exc_info=True)

    # ---------------------------------------------------------------- the thread

    def _ensure_thread(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return True
        thread = threading.Thread(target=self._run, name="infinium-interpretation", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            logger.debug("could not start the interpretation thread", exc_info=True)
            return False
        self._thread = thread
        return True

    def _compact_heap(self) -> None:
        self._heap = [item for item in self._heap if not item[2].dropped]
        heapq.heapify(self._heap)

    def _next_due(self) -> _Pending | None:
        """Wait (under the lock) for the earliest due run; None when stopping."""
        while not self._stop.is_set():
            while self._heap and self._heap[0][2].dropped:
                heapq.heappop(self._heap)
            if not self._heap:
                self._wakeup.wait()
                continue
            at, _, entry = self._heap[0]
            delay = at - time.monotonic()
            if delay > 0:
                self._wakeup.wait(delay)
                continue
            heapq.heappop(self._heap)
            return entry
        return None

    def _run(self) -> None:
        stop = self._stop
        while True:
            try:
                with self._lock:
                    if self._stop is not stop:  # forked child: this thread is a ghost
                        return
                    entry = self._next_due()
                if entry is None:
                    return
                self._step(entry)
            except Exception:  # never let the thread die; a bug here must not go silent
                logger.exception("interpretation processor error (continuing)")
                time.sleep(0.05)

    def _step(self, entry: _Pending) -> None:
        if not entry.poll:
            refused = self._auth_failures.get(entry.request.agent_id)
            if refused is not None and entry.last_message == refused:
                self._finish(
                    entry,
                    "failed",
                    None,
                    refused,
                    quiet=True,
                    error_type=AuthenticationError.__qualname__,
                )
            else:
                self._finish(
                    entry, "timed_out", None, self._timeout_message(entry), error_type="timeout"
                )
            return
        now = time.monotonic()
        call_deadline = now + min(CALL_BUDGET, max(entry.deadline - now, MIN_CALL_WINDOW))
        entry.attempts += 1
        with self._lock:
            self._stats["requests"] += 1
        client = self._client_for(entry.request)
        if client is None:
            message = f"no credentials for agent {entry.request.agent_id} to poll with"
            self._finish(entry, "failed", None, message, error_type="unroutable")
            return
        try:
            response = client.get_interpreted_task_result(
                entry.request.infinium_trace_id,
                max_retries=0,
                deadline=call_deadline,
                cancel=self._stop,
            )
        except AuthenticationError as error:
            self._stop_on_auth_failure(entry, error)
            return
        except RateLimitError as error:
            entry.failures = 0
            entry.last_message = f"rate limited (HTTP 429), retry after {error.retry_after:g} s"
            self._reschedule(entry, max(error.retry_after, self._poll_interval), hard=True)
            return
        except (ServerError, NetworkError) as error:
            entry.failures += 1
            entry.last_message = error.message
            delay = backoff_delay(entry.failures, self._poll_interval, rng=self._rng)
            self._reschedule(entry, delay)
            return
        except ValidationError as error:
            self._finish(entry, "failed", None, error.message, error_type=type(error).__qualname__)
            return
        except InfiniumError as error:
            entry.failures += 1
            entry.last_message = error.message
            delay = backoff_delay(entry.failures, self._poll_interval, rng=self._rng)
            self._reschedule(entry, delay)
            return
        except Exception as error:  # a bug or an unexpected library error: do not loop on it
            logger.warning("interpretation poll failed unexpectedly", exc_info=True)
            self._finish(
                entry,
                "failed",
                None,
                f"unexpected error: {type(error).__name__}",
                error_type=type(error).__qualname__,
            )
            return
        entry.failures = 0
        result = response.interpreted_result if response.success else None
        if result:
            self._finish(entry, "ready", result, response.message or "interpretation ready")
            return
        entry.last_message = response.message or f"not ready (HTTP {response.status_code})"
        self._reschedule(entry, self._poll_interval)

    def _timeout_message(self, entry: _Pending) -> str:
        polls = "1 poll" if entry.attempts == 1 else f"{entry.attempts} polls"
        return (
            f"no interpretation after {self._poll_timeout:g} s ({polls}); "
            f"last answer: {entry.last_message}"
        )

    def _reschedule(self, entry: _Pending, delay: float, *, hard: bool = False) -> None:
        now = time.monotonic()
        plan = plan_next(now, entry.deadline, delay, hard=hard)
        with self._lock:
            if entry.dropped or self._stop.is_set():
                return
            entry.next_at, entry.poll = plan.at, plan.poll
            heapq.heappush(self._heap, (plan.at, entry.seq, entry))

    def _stop_on_auth_failure(self, entry: _Pending, error: AuthenticationError) -> None:
        status = error.status_code or (403 if "403" in error.message else 401)
        agent = entry.request.agent_id
        if agent is None:
            message = (
                f"Infinium refused the agent credentials (HTTP {status}) while polling for "
                "interpretations; polling stopped for every pending run. Check "
                "INFINIUM_AGENT_ID and INFINIUM_AGENT_SECRET."
            )
        else:
            message = (
                f"Infinium refused the credentials of agent {agent} (HTTP {status}) while "
                "polling for interpretations; polling stopped for that agent's pending runs. "
                "Check the secret its route names."
            )
        with self._lock:
            self._auth_failures[agent] = message
            stopped = [
                e for e in self._pending.values() if e is not entry and e.request.agent_id == agent
            ]
            for other in stopped:
                other.poll = False
                other.last_message = message
            if len(stopped) + 1 >= len(self._pending):
                self._heap.clear()
        logger.error("%s (%d pending run(s) marked failed)", message, len(stopped) + 1)
        error_type = type(error).__qualname__
        self._finish(entry, "failed", None, message, quiet=True, error_type=error_type)
        for other in stopped:
            self._finish(other, "failed", None, message, quiet=True, error_type=error_type)

    # ---------------------------------------------------------------- delivery

    def _finish(
        self,
        entry: _Pending,
        status: OutcomeStatus,
        result: Any,
        message: str,
        *,
        quiet: bool = False,
        error_type: str | None = None,
    ) -> None:
        with self._lock:
            if entry.dropped or self._stop.is_set():
                return
            self._pending.pop(entry.seq, None)
            entry.dropped = True
            self._busy += 1
            self._stats[status] += 1
        try:
            outcome = InterpretationOutcome.for_request(
                entry.request,
                status=status,
                result=result,
                message=message,
                attempts=entry.attempts,
                elapsed=time.monotonic() - entry.submitted_at,
                error_type=error_type,
            )
            self._deliver(outcome, quiet=quiet)
        finally:
            with self._lock:
                self._busy -= 1
                if not self._pending and not self._busy:
                    self._idle.notify_all()

    def _deliver(self, outcome: InterpretationOutcome, *, quiet: bool) -> None:
        for sink in self._sinks:
            try:
                if quiet and isinstance(sink, LogSink):
                    # The processor already logged one line for all of these.
                    sink.emit(outcome, python_level=logging.DEBUG)
                else:
                    sink.emit(outcome)
            except Exception:
                self._report_sink_error(sink)

    def _report_sink_error(self, sink: Sink) -> None:
        name = getattr(sink, "name", type(sink).__name__)
        if name in self._sink_errors:
            logger.debug("interpretation sink %r failed again", name, exc_info=True)
            return
        self._sink_errors.add(name)
        logger.warning(
            "interpretation sink %r raised; other sinks and later outcomes are unaffected "
            "(further errors from it are logged at DEBUG)",
            name,
            exc_info=True,
        )


def _check_number(value: object, key: str, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{key} must be a number, got {value!r}", config_key=key)
    number = float(value)
    if not minimum <= number <= maximum:  # also refuses NaN
        raise ConfigurationError(
            f"{key} must be between {minimum:g} and {maximum:g} seconds, got {value!r}",
            config_key=key,
        )
    return number


def _check_sinks(sinks: Iterable[str] | None, settings: Settings) -> frozenset[str]:
    from infinium_otel.settings import INTERPRETATION_SINKS

    if sinks is None:
        return settings.interpretation or frozenset({"log"})
    if isinstance(sinks, str):
        sinks = [part.strip() for part in sinks.split(",") if part.strip()]
    names = frozenset(str(name).strip().lower() for name in sinks)
    unknown = names - INTERPRETATION_SINKS
    if unknown:
        raise ConfigurationError(
            f"unknown interpretation sink(s) {sorted(unknown)}; use any of log, span_event",
            config_key="sinks",
        )
    return names
