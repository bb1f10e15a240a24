"""The poller thread: wait for the earliest due run, poll it once, act on the answer.

One thread serves every pending run. It sleeps on a condition until the
earliest run is due (or forever when nothing is pending), makes one HTTP call
with no client-side retries and a deadline, and either finishes the run or
reschedules it per ``schedule.plan_next``. Refused credentials stop polling
for every pending run of that agent at once. This module decides what an
answer means; the state it works on is in ``pending``, the outcomes go out
through ``outcome_delivery``.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from infinium_otel.errors import (
    AuthenticationError,
    InfiniumError,
    NetworkError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from infinium_otel.interpretation.outcome import InterpretationRequest
from infinium_otel.interpretation.outcome_delivery import OutcomeDelivery
from infinium_otel.interpretation.pending import PendingRun, PendingRuns
from infinium_otel.interpretation.schedule import backoff_delay, plan_next

if TYPE_CHECKING:
    from infinium_otel.client.sync_client import InfiniumClient

__all__ = ["CALL_BUDGET", "MIN_CALL_WINDOW", "PollLoop"]

# The poller's one logger, the same name since before its parts had modules.
logger = logging.getLogger("infinium_otel.interpretation.processor")

CALL_BUDGET = 10.0
"""Longest one poll may hold the shared thread (the client's timeout applies too)."""
MIN_CALL_WINDOW = 2.0
"""Time a poll gets even when its run's give-up time is nearer than that."""


class PollLoop:
    """Schedules and polls the runs in ``runs`` on one daemon thread.

    ``client_for`` names the client to poll a request with (None: no agent's
    credentials can poll it). A loop serves one ``PendingRuns`` for its whole
    life; after a fork the processor builds a new pair and retires this one.
    """

    def __init__(
        self,
        runs: PendingRuns,
        delivery: OutcomeDelivery,
        *,
        client_for: Callable[[InterpretationRequest], InfiniumClient | None],
        poll_interval: float,
        poll_timeout: float,
        rng: random.Random,
    ) -> None:
        self._runs = runs
        self._delivery = delivery
        self._client_for = client_for
        self._poll_interval = poll_interval
        self._poll_timeout = poll_timeout
        self._rng = rng
        self._retired = False

    def retire(self) -> None:
        """In a forked child: a thread still running this loop returns at its next turn."""
        self._retired = True

    # ---------------------------------------------------------------- admission

    def new_run_locked(self, request: InterpretationRequest) -> PendingRun:
        """A pending run for ``request``, first poll planned (fails at once if refused)."""
        now = time.monotonic()
        deadline = now + self._poll_timeout
        refused = self._runs.auth_failures.get(request.agent_id)
        if refused is not None:
            # Credentials were refused: fail without a request.
            return PendingRun(
                request=request,
                submitted_at=now,
                deadline=deadline,
                next_at=now,
                poll=False,
                last_message=refused,
            )
        plan = plan_next(now, deadline, self._poll_interval)
        return PendingRun(
            request=request, submitted_at=now, deadline=deadline, next_at=plan.at, poll=plan.poll
        )

    def ensure_thread_locked(self) -> bool:
        """Start the poller thread unless it runs; False when it cannot start (exiting)."""
        runs = self._runs
        if runs.thread is not None and runs.thread.is_alive():
            return True
        thread = threading.Thread(target=self._run, name="infinium-interpretation", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            logger.debug("could not start the interpretation thread", exc_info=True)
            return False
        runs.thread = thread
        return True

    # ---------------------------------------------------------------- the thread

    def _run(self) -> None:
        while True:
            try:
                if self._retired:  # forked child: this thread is a ghost
                    return
                with self._runs.lock:
                    entry = self._next_due_locked()
                if entry is None:
                    return
                self._step(entry)
            except Exception:  # never let the thread die; a bug here must not go silent
                logger.exception("interpretation processor error (continuing)")
                time.sleep(0.05)

    def _next_due_locked(self) -> PendingRun | None:
        """Wait for the earliest due run; None when stopping."""
        runs = self._runs
        while not runs.stop.is_set():
            while runs.heap and runs.heap[0][2].dropped:
                heapq.heappop(runs.heap)
            if not runs.heap:
                runs.wakeup.wait()
                continue
            at, _, entry = runs.heap[0]
            delay = at - time.monotonic()
            if delay > 0:
                runs.wakeup.wait(delay)
                continue
            heapq.heappop(runs.heap)
            return entry
        return None

    def _step(self, entry: PendingRun) -> None:
        """Poll ``entry`` once (or give it up) and act on the answer."""
        finish = self._delivery.finish
        if not entry.poll:
            refused = self._runs.auth_failures.get(entry.request.agent_id)
            if refused is not None and entry.last_message == refused:
                error_type = AuthenticationError.__qualname__
                finish(entry, "failed", None, refused, quiet=True, error_type=error_type)
            else:
                finish(entry, "timed_out", None, self._timeout_message(entry), error_type="timeout")
            return
        now = time.monotonic()
        call_deadline = now + min(CALL_BUDGET, max(entry.deadline - now, MIN_CALL_WINDOW))
        entry.attempts += 1
        with self._runs.lock:
            self._runs.counts["requests"] += 1
        client = self._client_for(entry.request)
        if client is None:
            message = f"no credentials for agent {entry.request.agent_id} to poll with"
            finish(entry, "failed", None, message, error_type="unroutable")
            return
        try:
            response = client.get_interpreted_task_result(
                entry.request.infinium_trace_id,
                max_retries=0,
                deadline=call_deadline,
                cancel=self._runs.stop,
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
            self._retry_later(entry, error)
            return
        except ValidationError as error:
            finish(entry, "failed", None, error.message, error_type=type(error).__qualname__)
            return
        except InfiniumError as error:
            self._retry_later(entry, error)
            return
        except Exception as error:  # a bug or an unexpected library error: do not loop on it
            logger.warning("interpretation poll failed unexpectedly", exc_info=True)
            message = f"unexpected error: {type(error).__name__}"
            finish(entry, "failed", None, message, error_type=type(error).__qualname__)
            return
        entry.failures = 0
        result = response.interpreted_result if response.success else None
        if result:
            finish(entry, "ready", result, response.message or "interpretation ready")
            return
        entry.last_message = response.message or f"not ready (HTTP {response.status_code})"
        self._reschedule(entry, self._poll_interval)

    def _retry_later(self, entry: PendingRun, error: InfiniumError) -> None:
        """A failure that may pass: back off, longer after each one in a row."""
        entry.failures += 1
        entry.last_message = error.message
        delay = backoff_delay(entry.failures, self._poll_interval, rng=self._rng)
        self._reschedule(entry, delay)

    def _timeout_message(self, entry: PendingRun) -> str:
        polls = "1 poll" if entry.attempts == 1 else f"{entry.attempts} polls"
        return (
            f"no interpretation after {self._poll_timeout:g} s ({polls}); "
            f"last answer: {entry.last_message}"
        )

    def _reschedule(self, entry: PendingRun, delay: float, *, hard: bool = False) -> None:
        plan = plan_next(time.monotonic(), entry.deadline, delay, hard=hard)
        with self._runs.lock:
            if entry.dropped or self._runs.stop.is_set():
                return
            entry.next_at, entry.poll = plan.at, plan.poll
            self._runs.push_locked(entry)

    def _stop_on_auth_failure(self, entry: PendingRun, error: AuthenticationError) -> None:
        """Fail ``entry`` and every pending run of its agent; later ones fail without a poll."""
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
        runs = self._runs
        with runs.lock:
            runs.auth_failures[agent] = message
            stopped = [
                e for e in runs.pending.values() if e is not entry and e.request.agent_id == agent
            ]
            for other in stopped:
                other.poll = False
                other.last_message = message
            if len(stopped) + 1 >= len(runs.pending):
                runs.heap.clear()
        logger.error("%s (%d pending run(s) marked failed)", message, len(stopped) + 1)
        error_type = type(error).__qualname__
        for run in (entry, *stopped):
            self._delivery.finish(run, "failed", None, message, quiet=True, error_type=error_type)
