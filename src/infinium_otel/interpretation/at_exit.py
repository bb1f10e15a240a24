"""What a short script hears at exit about interpretations that have not arrived.

A script that delivers a run and ends is usually gone before Maestro is done
(5 to 30 s). Each processor registers one ``atexit`` hook (through a weak
reference, so the hook keeps nothing alive) that may wait a bounded time for
the pending outcomes and then says in one line how many never arrived and
where to see them later.
"""

from __future__ import annotations

import atexit
import threading
import weakref
from typing import Protocol

__all__ = ["interpreter_exiting", "pending_line", "register_exit_hook"]


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
