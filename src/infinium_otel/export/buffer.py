"""The run assembler behind its lock, shared by two threads without callbacks.

``export()`` (the batch processor's thread) adds spans and gets finished runs
back; the delivery thread, while spans are buffered, asks it now and then for
trees past their time-to-live. Neither thread calls into the other's object:
the delivery worker holds this buffer as its ``source`` of expired runs, so
the exporter needs no timer of its own and the worker never calls the exporter.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel.export.assembly import RunAssembler
from infinium_otel.payload.run import Run

__all__ = ["RunBuffer"]


class RunBuffer:
    """Thread-safe face of a ``RunAssembler``; every method returns quickly (no I/O)."""

    def __init__(self, assembler: RunAssembler) -> None:
        self._assembler = assembler
        self._lock = threading.Lock()

    def add(
        self, spans: Sequence[ReadableSpan], now: float, sizes: Sequence[int] | None = None
    ) -> tuple[list[Run], bool]:
        """Buffer spans (``sizes``: their estimates, when known); the runs they finish
        (or that expired), and whether spans remain."""
        with self._lock:
            runs = self._assembler.add(spans, now, sizes)
            runs.extend(self._assembler.expire(now))
            return runs, self._assembler.buffered_spans > 0

    def take_expired(self, now: float) -> tuple[list[Run], bool]:
        """Trees idle past their time-to-live (as partial runs), and whether spans remain."""
        with self._lock:
            return self._assembler.expire(now), self._assembler.buffered_spans > 0

    def drain(self, reason: str) -> list[Run]:
        """Everything still buffered, as partial runs (shutdown)."""
        with self._lock:
            return self._assembler.drain(reason)

    @property
    def buffered_spans(self) -> int:
        """How many spans the assembler holds (one number read: no lock needed)."""
        return self._assembler.buffered_spans

    def stats(self) -> dict[str, int]:
        """The assembler's counters and how many spans it holds."""
        with self._lock:
            result = dict(vars(self._assembler.stats))
            result["spans_buffered"] = self._assembler.buffered_spans
        return result

    def reset_after_fork(self) -> None:
        """The child forgets the parent's spans (never resends them) and gets a new lock."""
        self._lock = threading.Lock()
        self._assembler.clear()
