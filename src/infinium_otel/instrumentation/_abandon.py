"""Stream spans end no later than the span they were opened under.

A caller may stop reading a streamed completion half way (``break``) and keep
the stream object; its span would then stay open until the object is
collected, after the run had been sent without it. So each open stream span
is noted on its parent span, and when the parent ends, the streams still open
under it end first, with what they had seen so far.

The parent's ``end`` is wrapped on that span object only (not on its class),
for as long as a stream under it is open; the wrapper ends the open streams,
then calls the original ``end``. Only SDK spans that are still recording are
watched, at most ``MAX_OPEN_PER_PARENT`` streams each; anything else keeps the
old behaviour (the stream span ends when it is read to the end, closed or collected).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from opentelemetry.sdk.trace import Span as SdkSpan

from infinium_otel.instrumentation._common import log_failure

__all__ = ["MAX_OPEN_PER_PARENT", "Abandonable", "watch"]

MAX_OPEN_PER_PARENT = 256

_LOCK = threading.Lock()


class Abandonable(Protocol):
    def abandon(self) -> None:
        """End the stream's span now, with what it has seen, marked abandoned."""


class _OpenStreams:
    """The streams still open under one parent span; its ``end`` while any are."""

    __slots__ = ("enders", "original_end", "parent")

    def __init__(self, parent: SdkSpan) -> None:
        self.parent = parent
        self.original_end = parent.end
        self.enders: dict[int, Abandonable] = {}

    def end(self, end_time: int | None = None) -> None:
        """The parent's ``end``: the open streams end first, then the parent as before."""
        with _LOCK:
            enders = list(self.enders.values())
            self.enders.clear()
            self._unwrap()
        for ender in enders:
            try:
                ender.abandon()
            except Exception as exc:
                log_failure("ending an abandoned stream span", exc)
        self.original_end(end_time)

    def forget(self, ender: Abandonable) -> None:
        """A stream ended on its own: stop watching it (and the parent, when it was the last)."""
        with _LOCK:
            self.enders.pop(id(ender), None)
            if not self.enders:
                self._unwrap()

    def _unwrap(self) -> None:
        # Caller holds _LOCK.
        if self.parent.__dict__.get("end") == self.end:
            del self.parent.__dict__["end"]


def _open_streams(parent: SdkSpan) -> _OpenStreams | None:
    """The parent's watch, installed on first use; None when its ``end`` is not ours to wrap."""
    current = parent.__dict__.get("end")
    if current is None:
        streams = _OpenStreams(parent)
        parent.__dict__["end"] = streams.end
        return streams
    owner = getattr(current, "__self__", None)
    return owner if isinstance(owner, _OpenStreams) else None


def watch(parent: Any, ender: Abandonable) -> _OpenStreams | None:
    """End ``ender``'s span when ``parent`` ends; the watch to ``forget`` it with, or None."""
    if not isinstance(parent, SdkSpan) or not parent.is_recording():
        return None
    try:
        with _LOCK:
            streams = _open_streams(parent)
            if streams is None or len(streams.enders) >= MAX_OPEN_PER_PARENT:
                return None
            streams.enders[id(ender)] = ender
            return streams
    except Exception as exc:
        log_failure("watching a stream's parent span", exc)
        return None
