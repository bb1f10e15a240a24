"""Long-running commands (``sandbox``, ``gateway``) stop cleanly on Ctrl+C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["Handlers", "install_stop_handlers", "restore_handlers"]

Handlers = dict[int, object]


def install_stop_handlers(stop: threading.Event) -> Handlers:
    """Set ``stop`` on SIGINT and SIGTERM; the handlers replaced (none off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: Handlers = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, on_signal)
    return previous


def restore_handlers(previous: Handlers) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]
