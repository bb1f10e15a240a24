"""A finished run -> one Infinium trace payload.

Pure: no I/O, no threads, no clock (times come from the spans). Conversion
never raises for anything the OpenTelemetry SDK can hand it; see
docs/conventions.md and docs/payload-mapping.md for what comes from where.
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel._version import __version__
from infinium_otel.contract import (
    DESCRIPTION_MAX,
    INPUT_SUMMARY_MAX,
    MAX_DURATION_SECONDS,
    NAME_MAX,
    OUTPUT_SUMMARY_MAX,
)
from infinium_otel.conventions import infinium
from infinium_otel.conventions.common import common_facts as read_common  # facts, or None
from infinium_otel.conventions.facts import (
    SpanFacts,
    read_span,
    run_name,
    span_attributes,
)
from infinium_otel.conventions.facts import read_facts as read_facts  # still importable here
from infinium_otel.conventions.kind import LLM, TOOL, SpanKind
from infinium_otel.conventions.values import text
from infinium_otel.payload.cost import fill_estimated_costs
from infinium_otel.payload.encode import SHORT_TEXT_MAX, cap
from infinium_otel.payload.environment import environment
from infinium_otel.payload.order import clean_member, plain_text
from infinium_otel.payload.run import Run
from infinium_otel.payload.run_errors import span_errors, unique_errors
from infinium_otel.payload.shown import shown_text
from infinium_otel.payload.step_dicts import step_dict
from infinium_otel.payload.steps import RunTree, build_tree
from infinium_otel.payload.usage import llm_usage, usage_nodes

__all__ = ["convert_run"]

_LATEST_SECOND = 4_102_444_799  # 2099-12-31T23:59:59Z
_MAX_LISTED = 100

_FAILED = operator.attrgetter("failed")


def convert_run(
    run: Run, *, capture_content: bool = True, sdk_version: str = __version__
) -> dict[str, Any]:
    """The payload of ``run``: contract key order, no empties, caps applied, not size-fitted."""
    root_span = run.root
    # The commonest spans (without events) are read by read_common (common_facts: the facts
    # alone); it declines (None) any other, and the general reader reads it. One that declines
    # every span makes the general reader read them all (as the tests hold the two together).
    read = read_common(root_span, capture_content)
    with_events = False
    # A root read_common takes carries only the GenAI names it covers (COVERED_NAMES), never
    # an ``infinium.*`` one: no description, expected outcome or sections to look for.
    plain_root = read is not None
    if read is None:
        read, with_events = read_span(root_span, capture_content)
    root = read
    spans: dict[int, ReadableSpan] = {root.span_id: root_span}
    # Spans with events (an exception's): with the failed ones, they may tell of errors.
    evented: set[int] = {root.span_id} if with_events else set()
    others: list[SpanFacts] = []
    for span in run.spans:
        if span is root_span:
            continue
        facts = read_common(span, capture_content)
        if facts is None:
            facts, with_events = read_span(span, capture_content)
        else:
            with_events = False
        span_id = facts.span_id
        if span_id in spans:
            continue
        spans[span_id] = span
        others.append(facts)
        if with_events:
            evented.add(span_id)
    tree = build_tree(root, others)

    errors_by_span: dict[int, list[dict[str, Any]]] = {}
    # Nothing failed and no events (nearly every run): no span tells of an error.
    quiet = not evented and not root.failed and not any(map(_FAILED, others))
    for facts, _owner in () if quiet else tree.members:  # failed: read after merging
        if facts.failed or facts.span_id in evented:
            found = span_errors(spans[facts.span_id], facts, capture_content)
            if found:
                errors_by_span[facts.span_id] = found
    if errors_by_span:
        recoverable = not root.failed
        for found in errors_by_span.values():
            for error in found:
                error["recoverable"] = recoverable

    counted = usage_nodes(tree.steps)
    steps: list[dict[str, Any]] = []
    calls: list[SpanFacts] = []
    call_dicts: list[dict[str, Any]] = []
    for node in tree.steps:
        step = step_dict(node, counted, errors_by_span)
        steps.append(step)
        if "llm_call" in step:  # the counted calls: the steps' own objects, copied so the
            calls.append(node.facts)  # two places stay independent
            call_dicts.append(dict(step["llm_call"]))
    if not calls and root.has_usage:
        calls = [root]
        call_dicts = []
    fill_estimated_costs(calls)
    errors = (
        unique_errors(
            [
                (f.span_id, errors_by_span[f.span_id])
                for f, _ in tree.members
                if f.span_id in errors_by_span
            ],
            tree.parents,
        )
        if errors_by_span
        else []
    )

    attributes = span_attributes(root_span)
    step_facts = [node.facts for node in tree.steps]  # the run's name and environment read them
    name = cap(run_name(root_span, step_facts), NAME_MAX)
    kinds = _StepKinds(tree)
    start, end = root.start, _run_end(root, others)
    iso_start = _iso(start) if start is not None else None
    iso_end = _iso(end) if end is not None else None
    tags = _custom_tags(root, run)
    resource = _readable(root_span.resource.attributes) if root_span.resource is not None else {}
    # Built in the contract's key order without empty values, so only the parts that come
    # from user attributes (outcome, sections) still go through the general cleaning.
    description = _description(
        attributes, root, name, kinds, errors, run, from_attributes=not plain_root
    )
    payload: dict[str, Any] = {
        "name": name if type(name) is str else plain_text(name),
        "description": description if type(description) is str else plain_text(description),
        "current_datetime": iso_end if iso_end is not None else _iso(start),
    }
    duration = _duration(start, end)
    if duration == duration:  # not NaN
        payload["duration"] = duration
    speaker = _lead_agent(root, tree)
    said = speaker.input_text
    input_summary = (
        cap(said, INPUT_SUMMARY_MAX)
        if said
        else _summary(None, tree, first=True, limit=INPUT_SUMMARY_MAX)
    )
    if input_summary is not None:
        payload["input_summary"] = (
            input_summary if type(input_summary) is str else plain_text(input_summary)
        )
    said = speaker.output_text
    output_summary = (
        cap(said, OUTPUT_SUMMARY_MAX)
        if said
        else _summary(None, tree, first=False, limit=OUTPUT_SUMMARY_MAX)
    )
    if output_summary is not None:
        payload["output_summary"] = (
            output_summary if type(output_summary) is str else plain_text(output_summary)
        )
    if not plain_root:
        outcome = clean_member("expected_outcome", infinium.expected_outcome(attributes))
        if outcome:
            payload["expected_outcome"] = outcome
    if steps:
        payload["steps"] = steps
    if errors:
        payload["errors"] = errors
    usage = llm_usage(calls, call_dicts or None)
    if usage is not None:
        payload["llm_usage"] = usage
    sections = _sections(
        attributes, tree, iso_start, iso_end, tools=kinds.tools, from_attributes=not plain_root
    )
    if sections:
        payload["sections"] = sections
    payload["environment"] = environment([root, *step_facts], resource, sdk_version, tags)
    return payload


def _readable(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """The SDK's attribute mapping (a resource's) answers each lookup through Python-level
    methods: its inner dict is read instead, never changed."""
    inner = getattr(attributes, "_dict", None)
    return inner if type(inner) is dict else attributes


def _run_end(root: SpanFacts, others: list[SpanFacts]) -> int | None:
    if root.end is not None:
        return root.end
    ends = [f.end for f in others if f.end is not None]
    return max(ends) if ends else None


def _duration(start: int | None, end: int | None) -> float:
    if start is None or end is None:
        return 0.0
    seconds = (end - start) / 1e9
    if 0.0 <= seconds <= MAX_DURATION_SECONDS:  # within the bounds: max() and min() keep it
        return round(seconds, 6)
    return round(min(max(seconds, 0.0), MAX_DURATION_SECONDS), 6)


def _iso(ns: int | None) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, clamped to a date the platform accepts."""
    if ns is None or ns < 0:
        ns = 0
    seconds, rest = divmod(ns, 1_000_000_000)
    if seconds > _LATEST_SECOND:
        seconds, rest = _LATEST_SECOND, 999_999_999
    return _second(seconds) + _MILLISECONDS[rest // 1_000_000]


# ".000Z" to ".999Z": the end of every time, made once rather than formatted on every run.
_MILLISECONDS = tuple(f".{millisecond:03d}Z" for millisecond in range(1000))


@functools.lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    """The date and time of one second: a run's start and end share a few, so formatting
    each once saves the C library's conversions on every run (bounded, thread-safe)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _lead_agent(root: SpanFacts, tree: RunTree) -> SpanFacts:
    """Whose question and answer the run shows: the root's, unless the root is not an agent
    (a framework's chain, a request) and runs exactly one agent at the top, whose words are
    the user's question and the final answer (a CrewAI kickoff wraps its agent's task)."""
    if root.kind.is_agent_like:
        return root
    top = [node.facts for node in tree.steps if node.depth == 1 and node.facts.kind.is_agent_like]
    if len(top) == 1 and (top[0].input_text or top[0].output_text):
        return top[0]
    return root


def _summary(own: str | None, tree: RunTree, *, first: bool, limit: int) -> str | None:
    if not own:  # the first LLM step's input, or the last one's output
        for node in tree.steps if first else reversed(tree.steps):
            facts = node.facts
            if facts.kind is LLM:
                own = facts.input_text if first else facts.output_text
                if own:
                    break
    return cap(own, limit) if own else None


class _StepKinds:
    """What the description and sections need from the steps, gathered in one pass."""

    __slots__ = ("llm_calls", "steps", "tool_calls", "tools")

    def __init__(self, tree: RunTree) -> None:
        llm_calls = tool_calls = 0
        tools: list[str] = []  # distinct tool names as shown, in step order
        for node in tree.steps:
            facts = node.facts
            kind = facts.kind
            if kind is LLM:
                llm_calls += 1
            elif kind is TOOL:
                tool_calls += 1
                if len(tools) < _MAX_LISTED:
                    tool = facts.tool_name or facts.name
                    if type(tool) is not str or len(tool) > SHORT_TEXT_MAX:
                        tool = shown_text(tool, SHORT_TEXT_MAX)
                    if tool not in tools:
                        tools.append(tool)
        self.steps = len(tree.steps)
        self.llm_calls = llm_calls
        self.tool_calls = tool_calls
        self.tools = tools


_LABELS = {SpanKind.AGENT: "Agent run", SpanKind.WORKFLOW: "Workflow run"}


def _description(
    attributes: Mapping[str, Any],
    root: SpanFacts,
    name: str,
    kinds: _StepKinds,
    errors: list[dict[str, Any]],
    run: Run,
    *,
    from_attributes: bool = True,
) -> str:
    """``name``: the run's name, capped already. ``from_attributes``: whether the root may carry a
    description of its own (False: it carries no ``infinium.*`` attribute)."""
    if from_attributes:
        own = attributes.get(infinium.DESCRIPTION)
        if own is not None:  # nearly always absent: text() only for a given one
            own = text(own)
            if own:
                return cap(own, DESCRIPTION_MAX)
    label = _LABELS.get(root.kind, "Run")
    steps, llm_calls, tool_calls = kinds.steps, kinds.llm_calls, kinds.tool_calls
    described = (  # each count as _count writes it, in one string
        f"{label} '{name}': {steps} step{_PLURAL[steps != 1]}, "
        f"{llm_calls} LLM call{_PLURAL[llm_calls != 1]}, "
        f"{tool_calls} tool call{_PLURAL[tool_calls != 1]}"
    )
    if errors:
        described += ", " + _count(len(errors), "error")
    if root.failed:
        described += "; the run failed"
    if run.partial:
        reason = f" ({run.partial_reason})" if run.partial_reason else ""
        described += f"; partial run{reason}: not every span had ended when it was sent"
    return cap(described, DESCRIPTION_MAX)


_PLURAL = ("", "s")  # by whether a count is not 1


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _custom_tags(root: SpanFacts, run: Run) -> dict[str, str]:
    context = run.root.context  # run.trace_id, reading the SDK's context property once
    tags = {
        # %-formatting: cheaper than a format spec, the same digits
        "otel.trace_id": "%032x" % (context.trace_id if context else 0),
        "otel.span_id": "%016x" % root.span_id,  # noqa: UP031
    }
    if run.partial:
        tags["partial"] = "true"
        if run.partial_reason:
            tags["partial_reason"] = cap(str(run.partial_reason), SHORT_TEXT_MAX)
    return tags


def _hosts(tree: RunTree) -> list[str]:
    """The distinct hosts the run's transport spans called, as shown, in span order."""
    hosts: list[str] = []
    for facts, _owner in tree.members:
        host = facts.server_address
        if host and facts.transport and host not in hosts and len(hosts) < _MAX_LISTED:
            hosts.append(plain_text(cap(host, SHORT_TEXT_MAX)))
    return hosts


def _sections(
    attributes: Mapping[str, Any],
    tree: RunTree,
    iso_start: str | None,
    iso_end: str | None,
    *,
    tools: list[str] | None = None,
    from_attributes: bool = True,
) -> dict[str, Any] | None:
    """The ``sections`` object, cleaned; None when empty. Without ``infinium.section.*``
    attributes it holds only what is made here (ISO times, lists of plain names), in the
    contract's order and clean already, so it skips the general cleaning. ``tools``: the
    distinct tool names as shown, when gathered already; ``from_attributes``: whether the attributes
    may hold sections (False: they hold no ``infinium.*`` name)."""
    sections = infinium.sections(attributes) if from_attributes else {}
    if tools is None:
        tools = _StepKinds(tree).tools
    hosts = _hosts(tree)
    if not sections:  # the common case: only what is made here, built in the contract's order
        if iso_start is not None:
            sections["time_tracking"] = (
                {"start_time": iso_start, "end_time": iso_end}
                if iso_end is not None
                else {"start_time": iso_start}
            )
        elif iso_end is not None:
            sections["time_tracking"] = {"end_time": iso_end}
        if tools or hosts:
            general: dict[str, Any] = {}
            if tools:
                general["tools_used"] = list(tools)
            if hosts:
                general["external_apis_called"] = hosts
            sections["general"] = general
        return sections or None
    # From attributes: merged with what is made here, then cleaned as any user value is.
    timing = sections.setdefault("time_tracking", {})
    if iso_start is not None:
        timing.setdefault("start_time", iso_start)
    if iso_end is not None:
        timing.setdefault("end_time", iso_end)
    if tools or hosts:
        general = sections.setdefault("general", {})
        given = general.get("tools_used")
        if tools:
            listed = [given] if isinstance(given, str) else list(given or [])
            general["tools_used"] = listed + [t for t in tools if t not in listed]
        if hosts:
            listed = list(general.get("external_apis_called") or [])
            general["external_apis_called"] = listed + [h for h in hosts if h not in listed]
    cleaned: dict[str, Any] | None = clean_member("sections", sections)
    return cleaned
