"""What a short script hears at exit about interpretations that have not arrived.

A script that delivers a run and ends is usually gone before Maestro is done
(5 to 30 s). Each processor registers one ``atexit`` hook (through a weak
reference, so the hook keeps nothing alive) that may wait a bounded time for
the pending outcomes and then says in one line how many never arrived and
where to see them later.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from infinium_otel.interpretation.pending import PendingRuns
from infinium_otel.interpretation.sinks import LOGGER_NAME

__all__ = ["interpreter_exiting", "pending_line", "register_exit_hook", "settle_at_exit"]

# The poller's one logger, the same name since before its parts had modules.
logger = logging.getLogger("infinium_otel.interpretation.processor")


class _Settles(Protocol):
    def _settle_at_exit(self) -> None: ...


def interpreter_exiting() -> bool:
    """True once the main thread has finished (``atexit`` hooks are running)."""
    return not threading.main_thread().is_alive()


def register_exit_hook(processor: _Settles) -> None:
    """Call ``processor._settle_at_exit()`` at interpreter exit, while it still exists."""
    atexit.register(_run_hook, weakref.ref(processor))


def _run_hook(ref: weakref.ReferenceType[_Settles]) -> None:
    processor = ref()
    if processor is not None:
        processor._settle_at_exit()  # never raises


def pending_line(count: int, *, waited: float, history: str | None) -> str:
    """One line: how many interpretations had not arrived, and how to see them later."""
    runs = "1 run's interpretation has" if count == 1 else f"{count} runs' interpretations have"
    after = f" after waiting {waited:.1f} s" if waited > 0 else ""
    if history is not None:
        later = "see the verdicts later with `infinium-otel results`"
    else:
        later = (
            "the verdicts will be on the Infinium dashboard (with INFINIUM_HISTORY=true, "
            "`infinium-otel results` lists later runs' verdicts)"
        )
    return f"infinium-otel: {runs} not arrived{after} before the program exited; {later}"


def settle_at_exit(
    runs: PendingRuns,
    *,
    wait: float,
    flush: Callable[[float], bool],
    history: str | None,
) -> None:
    """Wait up to ``wait`` seconds for ``runs``' outcomes, then say in one line what is left.

    Called by the ``atexit`` hook and by a ``shutdown`` during exit, in either
    order; one wait budget serves both, and no run is reported twice. Never raises.
    """
    try:
        with runs.lock:
            waiting = any(not e.reported_at_exit for e in runs.pending.values())
            if waiting and runs.exit_deadline is None:
                runs.exit_deadline = time.monotonic() + wait
            deadline = runs.exit_deadline
        waited = 0.0
        if waiting and deadline is not None:
            budget = deadline - time.monotonic()
            if budget > 0 and not flush(budget):
                waited = budget  # the whole budget went by without every outcome
        with runs.lock:
            left = [e for e in runs.pending.values() if not e.reported_at_exit]
            for entry in left:
                entry.reported_at_exit = True
            count = len(left) + runs.unreported_abandoned
            runs.unreported_abandoned = 0
        if count:
            logging.getLogger(LOGGER_NAME).warning(
                "%s", pending_line(count, waited=waited, history=history)
            )
    except Exception:  # exit must go on whatever happens here
        logger.debug("could not report pending interpretations at exit", exc_info=True)
