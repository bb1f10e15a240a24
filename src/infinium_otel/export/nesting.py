"""Which ended agent spans were nested inside another live agent span.

A span exporter only sees spans after they end, and a parent ends after its
children, so when an agent span arrives the exporter cannot tell from it alone
whether it is the outermost agent (a run root) or a sub-agent. This span
processor watches span starts on the application thread, where the parent is
still live, and records the answer for the exporter. It costs one dict lookup
per span start and end, and holds only bounded state.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from infinium_otel.conventions import classify

__all__ = ["TRACKER", "NestingTracker", "attach_tracker"]

_MAX_LIVE = 200_000
_MAX_NESTED = 200_000


class NestingTracker(SpanProcessor):
    """Remembers live spans inside an agent, and which agent spans ended nested."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # span id -> the live span, for spans that are agent-like or inside one.
        self._live_in_agent: dict[int, ReadableSpan] = {}
        # (trace id, span id) of agent-like spans that ended inside a live agent.
        self._nested: OrderedDict[tuple[int, int], None] = OrderedDict()
        # Weak: a provider's id can be reused once it is gone, so ids alone would lie.
        self._providers: weakref.WeakSet[TracerProvider] = weakref.WeakSet()

    @property
    def attached(self) -> bool:
        """True once the tracker watches at least one tracer provider."""
        return bool(self._providers)

    def attach(self, provider: TracerProvider) -> None:
        """Add the tracker to ``provider`` once (idempotent)."""
        with self._lock:
            if provider in self._providers:
                return
            self._providers.add(provider)
        provider.add_span_processor(self)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        context = span.context
        if context is None:
            return
        parent = span.parent
        inside = (
            parent is not None and not parent.is_remote and parent.span_id in self._live_in_agent
        )
        if (inside or classify(span.attributes).is_agent_like) and len(
            self._live_in_agent
        ) < _MAX_LIVE:
            self._live_in_agent[context.span_id] = span

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None or context.span_id not in self._live_in_agent:
            return
        self._live_in_agent.pop(context.span_id, None)
        parent = span.parent
        if (
            parent is not None
            and not parent.is_remote
            and parent.span_id in self._live_in_agent
            and classify(span.attributes).is_agent_like
        ):
            with self._lock:
                self._nested[(context.trace_id, context.span_id)] = None
                while len(self._nested) > _MAX_NESTED:
                    self._nested.popitem(last=False)

    def pop_nested(self, trace_id: int, span_id: int) -> bool:
        """True (once) when this agent span ended inside another live agent span.

        An exporter behind a synchronous processor that runs before this one sees
        the span while it is still marked live here: then its parent decides.
        """
        with self._lock:
            if (trace_id, span_id) in self._nested:
                del self._nested[(trace_id, span_id)]
                return True
        live = self._live_in_agent.pop(span_id, None)
        if live is None:
            return False
        parent = live.parent
        return parent is not None and not parent.is_remote and parent.span_id in self._live_in_agent

    def live_snapshot(self, span_id: int) -> ReadableSpan | None:
        """A still-open span as it is now (no end time), when it is agent-like or inside one.

        A partial run whose root has not ended yet uses it as its root, so the
        payload keeps the run's real name, attributes and span id.
        """
        live = self._live_in_agent.get(span_id)
        if live is None:
            return None
        try:
            return ReadableSpan(
                name=live.name,
                context=live.context,
                parent=live.parent,
                resource=live.resource,
                attributes=dict(live.attributes or {}),
                events=tuple(live.events),
                links=tuple(live.links),
                kind=live.kind,
                status=live.status,
                start_time=live.start_time,
                end_time=None,
                instrumentation_scope=live.instrumentation_scope,
            )
        except Exception:  # a span changing under us: fall back to no snapshot
            return None

    def forget_all(self) -> None:
        """Drop all state (after fork, the child starts clean).

        A fork can copy the lock while another thread holds it, so the child
        gets a new lock rather than waiting forever on the copy.
        """
        self._lock = threading.Lock()
        self._live_in_agent = {}
        self._nested = OrderedDict()

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


TRACKER = NestingTracker()


def attach_tracker(provider: object) -> bool:
    """Attach the shared tracker to an SDK tracer provider; False for any other kind."""
    if isinstance(provider, TracerProvider):
        TRACKER.attach(provider)
        return True
    return False
