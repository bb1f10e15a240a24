"""Whether an agent span started inside another agent: a fast path for run assembly.

A span exporter only sees spans after they end, children before parents, so
when an agent span arrives the exporter cannot tell from it alone whether it
is the outermost agent (a run root) or a sub-agent. Each exporter owns one
``NestingTracker``: a span processor that watches span starts on the
application thread, where the parent chain is still live, and answers for an
ended agent span:

- ``NESTED``: a span above it was agent-like (or a framework's chain, which
  invokes several agents in one run) when its child started; it is a sub-agent,
  whatever happens later.
- ``TOP``: the tracker saw every span of its local parent chain start, none of
  them agent-like or a chain, and the span itself was agent-like from its start.
- ``UNKNOWN``: anything else (attached late, a start missed, over its bound,
  or a kind set only at the span's end, as OpenInference's LangChain tracer
  does). Assembly then decides from the finished tree.

So the tracker is never needed for correctness, only for speed: with it a
top-level agent under a long-lived span goes out as soon as it ends. ``TOP``
trusts that the kinds of the spans above were known at their start; an agent
span set up at its start under one whose kind appears only at its end (two
different instrumentations mixed) is judged by that trust.

Memory: one small record per live span holding a weak reference to the span,
never the span itself, so a span that never ends (and that the application
dropped) is freed as usual, and its record is swept when the table is full.
The table holds at most ``max_live`` records (a fixed size each, so this bounds
bytes too), and at most ``max_answers`` answers wait for the exporter. Over the
bound new spans go untracked: their answers are ``UNKNOWN``, never wrong.
"""

from __future__ import annotations

import enum
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from infinium_otel.conventions import classify
from infinium_otel.export.span_context_layout import CONTEXT_IS_TUPLE

__all__ = ["Nesting", "NestingTracker", "attach_tracker", "feeds"]

MAX_LIVE = 200_000
MAX_ANSWERS = 100_000


class Nesting(enum.Enum):
    """What the tracker knows about an ended agent span."""

    NESTED = "nested"
    TOP = "top"
    UNKNOWN = "unknown"


class _Live(weakref.ref):  # type: ignore[type-arg]
    """A live span as the tracker saw it start: a weak reference to it (never the span
    itself) that carries three flags. One object per span, where a tuple of a
    reference and flags was two for the garbage collector to follow:

    - agent: it encloses agents (agent, workflow, chain) at its start, or later;
    - above: an agent-like span sits above it, as seen at its start;
    - known: the tracker saw its whole local parent chain start.
    """

    __slots__ = ("above", "agent", "known")
    agent: bool
    above: bool
    known: bool


class HasTracker(Protocol):
    """An exporter that owns a nesting tracker."""

    @property
    def nesting_tracker(self) -> NestingTracker: ...


class NestingTracker(SpanProcessor):
    """Records, at span start, which agent spans sit inside another agent span."""

    def __init__(self, *, max_live: int = MAX_LIVE, max_answers: int = MAX_ANSWERS) -> None:
        self._lock = threading.Lock()
        self._max_live = max_live
        self._max_answers = max_answers
        # span id -> the live span's record (every span started while attached, bounded).
        self._live: dict[int, _Live] = {}
        # (trace id, span id) -> the answer for an agent span that ended, until asked
        # (oldest first: a dict keeps insertion order).
        self._answers: dict[tuple[int, int], Nesting] = {}
        # New spans to refuse before the full table is swept again.
        self._sweep_countdown = 0
        # Spans not tracked because the table was full (their answers are UNKNOWN).
        self.untracked = 0
        # Weak: a provider's id can be reused once it is gone, so ids alone would lie.
        self._providers: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
        if not CONTEXT_IS_TUPLE:
            self.on_start = self._untracked_start  # type: ignore[method-assign]

    @property
    def attached(self) -> bool:
        """True once the tracker watches at least one tracer provider."""
        return bool(self._providers)

    @property
    def live_spans(self) -> int:
        """How many live spans the tracker holds a record for."""
        return len(self._live)

    @property
    def waiting_answers(self) -> int:
        """How many answers for ended agent spans wait for the exporter to ask."""
        return len(self._answers)

    def attach(self, provider: TracerProvider) -> None:
        """Add the tracker to ``provider`` once (idempotent)."""
        with self._lock:
            if provider in self._providers:
                return
            self._providers.add(provider)
        provider.add_span_processor(self)

    def watched_through(self, provider: TracerProvider) -> None:
        """``provider`` reaches the tracker through a processor that calls it (not added again)."""
        with self._lock:
            self._providers.add(provider)

    # -- SpanProcessor (application threads) -------------------------------

    # ``on_start`` runs on the application's threads for every span: plain dict operations
    # (atomic under the GIL), no lock, the span's context read from the tuple the API
    # declares (``span_context_layout``) rather than through five properties, and a span's
    # kind read only where it can change an answer.

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            context = span._context
            parent = span._parent
        except AttributeError:  # not the SDK's span: its public properties say the same
            context, parent = span.context, span.parent
        if context is None:
            return
        live = self._live
        # Literal indexes on the hot path: parent[2] is_remote, [5] is_valid, [1] span id.
        if parent is None or parent[2] or not parent[5]:
            above, known = False, True
        else:
            parent_id = parent[1]
            record = live.get(parent_id)
            if record is None:
                above, known = False, False
            elif record.above or record.agent:
                above, known = True, record.known
            else:
                # A kind set just after the parent started still counts.
                parent_span = record()
                known = record.known
                above = (
                    parent_span is not None and classify(_attributes(parent_span)).encloses_agents
                )
                if above:  # in place: a reader in between sees NESTED either way
                    record.above = True
                    record.agent = False
        if len(live) >= self._max_live and not self._make_room():
            self.untracked += 1
            return
        # Under an agent-like span a span's own kind changes nothing: it and every span
        # below it are nested whatever they are.
        record = _Live(span)
        record.agent = not above and classify(_attributes(span)).encloses_agents
        record.above = above
        record.known = known
        live[context[1]] = record

    def _untracked_start(self, span: Span, parent_context: Context | None = None) -> None:
        """``on_start`` where span contexts are not the API's tuple: counted, not tracked.

        The tracker is only a fast path: every answer is then ``UNKNOWN`` and
        assembly decides from the finished tree, as without a tracker.
        """
        self.untracked += 1

    def on_end(self, span: ReadableSpan) -> None:
        self.ended(span)

    def ended(self, span: ReadableSpan) -> None:
        """Turn an ended span's live record into an answer (when it is agent-like).

        Called at the span's end when the tracker is a processor of its own, or
        later on the exporter's thread for each span it receives when the tracker
        rides the batch processor (``ended_all``): the application thread then
        pays nothing at a span's end, and until then the live record answers the
        same. A span already done is skipped (one dict lookup).
        """
        context = span.context
        if context is None:
            return
        span_id = context.span_id
        record = self._live.get(span_id)
        if record is None:
            return
        nested_or_top = record.above or (record.known and record.agent)
        if nested_or_top and classify(_attributes(span)).is_agent_like:
            # Recorded before the live record goes, so an exporter asking from
            # another thread in between finds one or the other.
            answers = self._answers
            answers[(context.trace_id, span_id)] = _answer(record)
            if len(answers) > self._max_answers:
                _forget_oldest(answers, self._max_answers)
        self._live.pop(span_id, None)

    def ended_all(self, spans: Iterable[ReadableSpan]) -> None:
        """``ended`` for each span an exporter received, before it asks any question.

        With no live record at all (the tracker watches no provider, or every span it
        saw has been exported) there is nothing to do: a span is recorded at its start,
        before it ends and reaches an exporter, so none of these can be recorded."""
        if not self._live:
            return
        ended = self.ended
        for span in spans:
            ended(span)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # -- the exporter's questions --------------------------------------------

    def verdict(self, trace_id: int, span_id: int) -> Nesting:
        """What the tracker knows about this ended agent span (answered once).

        An exporter behind a synchronous processor that runs before this one sees
        the span while it is still live here: then its record answers.
        """
        answer = self._answers.pop((trace_id, span_id), None)
        if answer is not None:
            return answer
        record = self._live.get(span_id)
        return Nesting.UNKNOWN if record is None else _answer(record)

    def live_snapshot(self, span_id: int) -> ReadableSpan | None:
        """A span the tracker saw start and has not yet seen exported, as it is now.

        A partial run whose root has not reached the exporter uses it as its root, so
        the payload keeps the run's real name, attributes and span id. Span ends are
        tracked on the exporter's thread, so the root may have ended and still wait in
        the batch processor's queue: then its end time is kept.
        """
        record = self._live.get(span_id)
        live = record() if record is not None else None
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
                end_time=live.end_time,
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
        self._live = {}
        self._answers = {}
        self._sweep_countdown = 0

    # -- internals ---------------------------------------------------------

    def _make_room(self) -> bool:
        """Forget records of spans that were garbage collected without ending.

        A sweep costs one pass over the table, so after one that found no room
        the next waits for a quarter of the bound's worth of new spans; those
        go untracked (their answers are ``UNKNOWN``).
        """
        if self._sweep_countdown > 0:
            self._sweep_countdown -= 1
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            try:
                records = list(self._live.items())
            except RuntimeError:  # changed by another thread while copied: try later
                return False
            for span_id, record in records:
                if record() is None:
                    self._live.pop(span_id, None)
            room = len(self._live) < self._max_live
            if not room:
                self._sweep_countdown = max(1, self._max_live // 4)
            return room
        finally:
            self._lock.release()


def _attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes, read where the SDK keeps them when it can be seen.

    ``span.attributes`` wraps them in a read-only proxy over the SDK's bounded
    mapping, whose every ``get`` is two Python calls: three times the cost of a
    ``dict.get``, for every span the tracker looks at. A read needs no lock (one
    dict operation); any other SDK layout goes through ``span.attributes``.
    """
    held = getattr(getattr(span, "_attributes", None), "_dict", None)
    return held if isinstance(held, dict) else (span.attributes or {})


def _forget_oldest(answers: dict[tuple[int, int], Nesting], keep: int) -> None:
    """Drop the oldest answers down to ``keep``; safe beside threads adding and popping."""
    while len(answers) > keep:
        try:
            del answers[next(iter(answers))]
        except (KeyError, StopIteration, RuntimeError):  # another thread got there first
            return


def _answer(record: _Live) -> Nesting:
    if record.above:
        return Nesting.NESTED
    if record.known and record.agent:
        return Nesting.TOP
    return Nesting.UNKNOWN


def attach_tracker(provider: object, exporter: HasTracker | None = None) -> bool:
    """Attach an exporter's nesting tracker to the SDK tracer provider that feeds it.

    Without ``exporter``, the trackers of the Infinium exporters already added
    to ``provider`` are attached. True when a tracker now watches ``provider``;
    False for any other kind of provider or when there was nothing to attach.
    Optional: without it runs are still assembled right, only later at times.
    """
    if not isinstance(provider, TracerProvider):
        return False
    exporters = [exporter] if exporter is not None else _exporters_on(provider)
    for found in exporters:
        found.nesting_tracker.attach(provider)
    return bool(exporters)


def feeds(provider: object, exporter: object) -> bool:
    """True when ``exporter`` sits behind a span processor of the SDK ``provider``."""
    if not isinstance(provider, TracerProvider):
        return False
    return any(found is exporter for found in _exporters_on(provider))


def _exporters_on(provider: TracerProvider) -> list[HasTracker]:
    active = getattr(provider, "_active_span_processor", None)
    found: list[HasTracker] = []
    for processor in getattr(active, "_span_processors", ()):
        exporter: Any = getattr(processor, "span_exporter", None)
        if isinstance(getattr(exporter, "nesting_tracker", None), NestingTracker):
            found.append(exporter)
    return found
