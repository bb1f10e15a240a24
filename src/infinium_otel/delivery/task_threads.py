"""Daemon threads that take their tasks, one at a time, from a chooser under a lock.

Both delivery loops are this one loop: the preparing thread is a group of one,
the send pool a group of ``max_concurrent_sends``. The chooser runs with the
lock held and waits on its own condition until there is work, returning None
to end the thread. A task that raises is logged and the thread goes on, so a
defect cannot stop delivery. The threads are daemons: a hook or an endpoint
that never returns cannot hold up the interpreter's exit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Task", "TaskThreads"]

_log = logging.getLogger("infinium_otel.delivery")

Task = Callable[[], None]


class TaskThreads:
    """``size`` threads named ``name``, each running ``choose()``'s tasks until it says None."""

    def __init__(
        self,
        *,
        name: str,
        size: int,
        lock: threading.RLock,
        choose: Callable[[], Task | None],
    ) -> None:
        self._name = name
        self._size = max(1, size)
        self._lock = lock
        self._choose = choose
        self._threads: list[threading.Thread] = []

    def ensure_running(self) -> None:
        """Start the threads missing from the group (lock held): on first use, after a fork."""
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        while len(self._threads) < self._size:
            thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def owns(self, thread: threading.Thread) -> bool:
        return thread in self._threads

    def join(self, deadline: float) -> None:
        """Wait for the threads to end, up to ``deadline`` (monotonic) at most."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                task = self._choose()
                if task is None:  # leaves the group now, so ensure_running replaces it
                    if me in self._threads:
                        self._threads.remove(me)
                    return
            try:
                task()
            except Exception:  # never let the thread die
                _log.exception("Infinium delivery: unexpected failure")
