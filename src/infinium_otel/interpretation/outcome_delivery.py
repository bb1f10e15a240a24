"""From a finished run to its outcome in every sink.

Kept apart from the poll loop because its rules are about the sinks, not
about polling: each run's outcome is delivered at most once, a sink that
raises never stops the others or later outcomes (its first failure is a
warning, the rest DEBUG), and ``flush`` learns when delivery is over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from infinium_otel.interpretation.outcome import InterpretationOutcome, OutcomeStatus
from infinium_otel.interpretation.pending import PendingRun, PendingRuns
from infinium_otel.interpretation.sinks import LogSink, Sink

__all__ = ["OutcomeDelivery"]

# The poller's one logger, the same name since before its parts had modules.
logger = logging.getLogger("infinium_otel.interpretation.processor")


class OutcomeDelivery:
    """Finishes pending runs: one outcome each, handed to every sink in order."""

    def __init__(self, runs: PendingRuns, sinks: Sequence[Sink]) -> None:
        self._runs = runs
        self._sinks = sinks
        self._sink_errors: set[str] = set()

    def finish(
        self,
        entry: PendingRun,
        status: OutcomeStatus,
        result: Any,
        message: str,
        *,
        quiet: bool = False,
        error_type: str | None = None,
    ) -> None:
        """Deliver ``entry``'s outcome, unless it was dropped or the processor stops.

        ``quiet``: the log sink writes its Python line at DEBUG, because the
        caller already logged one line for many runs.
        """
        runs = self._runs
        with runs.lock:
            if not runs.take_locked(entry, status):
                return
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
            runs.release()

    def _deliver(self, outcome: InterpretationOutcome, *, quiet: bool) -> None:
        for sink in self._sinks:
            try:
                if quiet and isinstance(sink, LogSink):
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
