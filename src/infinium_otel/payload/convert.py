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
    STEP_INPUT_PREVIEW_MAX,
    STEP_OUTPUT_PREVIEW_MAX,
    TOOL_INPUT_SUMMARY_MAX,
    TOOL_OUTPUT_SUMMARY_MAX,
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
from infinium_otel.conventions.kind import AGENT, EMBEDDING, LLM, TOOL, WORKFLOW, SpanKind
from infinium_otel.conventions.values import text
from infinium_otel.payload.cost import fill_estimated_costs
from infinium_otel.payload.encode import SHORT_TEXT_MAX, cap
from infinium_otel.payload.environment import environment
from infinium_otel.payload.order import clean_member, plain_text, plain_value
from infinium_otel.payload.run import Run
from infinium_otel.payload.run_errors import span_errors, unique_errors
from infinium_otel.payload.shown import shown_number, shown_text
from infinium_otel.payload.steps import RunTree, StepNode, build_tree
from infinium_otel.payload.usage import llm_call, llm_usage, usage_nodes

__all__ = ["convert_run"]

_LATEST_SECOND = 4_102_444_799  # 2099-12-31T23:59:59Z
_MAX_LISTED = 100

_ACTIONS = {
    SpanKind.LLM: "llm_call",
    SpanKind.TOOL: "tool_use",
    SpanKind.AGENT: "agent",
    SpanKind.WORKFLOW: "agent",
    SpanKind.RETRIEVAL: "retrieval",
    SpanKind.RERANK: "retrieval",
    SpanKind.EMBEDDING: "embedding",
}
_KIND_VALUES = {kind: kind.value for kind in SpanKind}
_FAILED = operator.attrgetter("failed")
_INFINITY = float("inf")
# A tool's texts shown as they are both in its step's previews and in its tool call.
_TOOL_INPUT_SHOWN_MAX = min(TOOL_INPUT_SUMMARY_MAX, STEP_INPUT_PREVIEW_MAX)
_TOOL_OUTPUT_SHOWN_MAX = min(TOOL_OUTPUT_SUMMARY_MAX, STEP_OUTPUT_PREVIEW_MAX)
# A span id as 16 hex digits: %-formatting costs less than a format spec for every step.
_HEX_ID = "%016x"


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
        step = _step(node, counted, errors_by_span)
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
    description = _description(attributes, root, name, kinds, errors, run)
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
    sections = _sections(attributes, tree, iso_start, iso_end, tools=kinds.tools)
    if sections:
        payload["sections"] = sections
    payload["environment"] = environment([root, *step_facts], resource, sdk_version, tags)
    return payload


def _readable(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """The SDK's attribute mapping (a resource's) answers each lookup through Python-level
    methods: its inner dict is read instead, never changed."""
    inner = getattr(attributes, "_dict", None)
    return inner if type(inner) is dict else attributes


def _step(
    node: StepNode, counted: set[int], errors_by_span: dict[int, list[dict[str, Any]]]
) -> dict[str, Any]:
    """One step in the contract's key order, without empty values. The common values (short
    strings, int durations) are shown as they are, without the general cleaning's calls."""
    facts = node.facts
    kind = facts.kind
    parent = node.parent
    span_id = facts.span_id
    metadata: dict[str, Any] = (
        {"depth": node.depth, "span_id": _HEX_ID % span_id, "kind": _KIND_VALUES[kind]}
        if parent is None
        else {
            "depth": node.depth,
            "parent_step": parent.number,
            "span_id": _HEX_ID % span_id,
            "kind": _KIND_VALUES[kind],
        }
    )
    scope_name = facts.scope_name
    if scope_name is not None:
        if type(scope_name) is not str:
            scope_name = plain_value(scope_name)
        if scope_name is not None:
            metadata["instrumentation"] = scope_name
    if kind is LLM or kind is TOOL:
        plain = _plain_call_step(node, facts, kind, counted, metadata)
        if plain is not None:
            return plain
    error = _step_error(node, errors_by_span) if facts.failed else None
    start, end = facts.start, facts.end
    duration_ms: Any = None
    if start is not None and end is not None:
        duration_ms = (end - start) // 1_000_000
        if not duration_ms > 0:  # max(0, ...): a negative (or NaN) duration is 0
            duration_ms = 0
        elif type(duration_ms) is not int:
            duration_ms = shown_number(duration_ms)
    if kind is LLM:  # the two most common kinds as _step_description words them, inline
        model = facts.model
        description = f"{facts.operation or 'llm'} {model}" if model else facts.name
    elif kind is TOOL:
        description = f"tool {facts.tool_name or facts.name}"
    else:
        description = _step_description(facts)
    if type(description) is not str or len(description) > SHORT_TEXT_MAX:
        description = shown_text(description, SHORT_TEXT_MAX)
    is_tool = kind is TOOL
    if is_tool:
        preview_in, preview_out = facts.tool_arguments, facts.tool_result
    else:
        preview_in, preview_out = facts.input_text, facts.output_text
    # Shown when the text is (shown_text's own first case inline); absent when it is empty.
    shown_in: Any = None
    if preview_in:
        shown_in = (
            preview_in
            if type(preview_in) is str and len(preview_in) <= STEP_INPUT_PREVIEW_MAX
            else shown_text(preview_in, STEP_INPUT_PREVIEW_MAX)
        )
    shown_out: Any = None
    if preview_out:
        shown_out = (
            preview_out
            if type(preview_out) is str and len(preview_out) <= STEP_OUTPUT_PREVIEW_MAX
            else shown_text(preview_out, STEP_OUTPUT_PREVIEW_MAX)
        )
    counted_call = span_id in counted
    if duration_ms is not None and preview_in and preview_out and error is None:
        # The common step (timed, with both previews, no error): one literal in key order.
        if is_tool and not counted_call:
            return {
                "step_number": node.number,
                "action": "tool_use",
                "description": description,
                "duration_ms": duration_ms,
                "input_preview": shown_in,
                "output_preview": shown_out,
                "tool_call": _tool_call(node, duration_ms, preview_in, preview_out, None),
                "metadata": metadata,
            }
        if counted_call and not is_tool:
            return {
                "step_number": node.number,
                "action": _ACTIONS.get(kind, "operation"),
                "description": description,
                "duration_ms": duration_ms,
                "input_preview": shown_in,
                "output_preview": shown_out,
                "llm_call": llm_call(facts, duration_ms),
                "metadata": metadata,
            }
    step: dict[str, Any] = {
        "step_number": node.number,
        "action": _ACTIONS.get(kind, "operation"),
        "description": description,
    }
    if duration_ms is not None:
        step["duration_ms"] = duration_ms
    if preview_in:
        step["input_preview"] = shown_in
    if preview_out:
        step["output_preview"] = shown_out
    if error is not None:
        step["error"] = error
    if is_tool:
        step["tool_call"] = _tool_call(node, duration_ms, preview_in, preview_out, error)
    if counted_call:
        step["llm_call"] = llm_call(facts, duration_ms)
    step["metadata"] = metadata
    return step


def _plain_call_step(
    node: StepNode, facts: SpanFacts, kind: SpanKind, counted: set[int], metadata: dict[str, Any]
) -> dict[str, Any] | None:
    """The commonest steps, an LLM call or a tool call that succeeded, timed, with both texts
    and every value plain and short enough to be shown as it is: what ``_step`` makes of them,
    built as one literal (with the call's) without its checks for other values. None for any
    other step."""
    start, end = facts.start, facts.end
    if type(start) is not int or type(end) is not int or facts.failed:
        return None
    duration_ms = (end - start) // 1_000_000
    if duration_ms < 0:
        duration_ms = 0
    span_id = facts.span_id
    if kind is LLM:
        said, answer = facts.input_text, facts.output_text
        model, provider = facts.model, facts.provider
        operation = facts.operation
        input_tokens, output_tokens = facts.input_tokens, facts.output_tokens
        temperature = facts.temperature
        if not (
            type(said) is str
            and type(answer) is str
            and type(model) is str
            and type(provider) is str
            and type(operation) is str
            and type(input_tokens) is int
            and type(output_tokens) is int
            and type(temperature) is float
            and said
            and answer
            and model
            and provider
            and operation
            and len(said) <= STEP_INPUT_PREVIEW_MAX
            and len(answer) <= STEP_OUTPUT_PREVIEW_MAX
            and len(provider) <= SHORT_TEXT_MAX  # the model's limit: the description's below
            and -_INFINITY < temperature < _INFINITY
            and span_id in counted
        ):
            return None
        description = f"{operation} {model}"
        if len(description) > SHORT_TEXT_MAX:
            return None
        return {
            "step_number": node.number,
            "action": "llm_call",
            "description": description,
            "duration_ms": duration_ms,
            "input_preview": said,
            "output_preview": answer,
            "llm_call": {
                "model": model,
                "provider": provider,
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "latency_ms": duration_ms,
                "temperature": temperature,
            },
            "metadata": metadata,
        }
    arguments, result = facts.tool_arguments, facts.tool_result
    tool_name = facts.tool_name or facts.name
    if not (
        type(arguments) is str
        and type(result) is str
        and type(tool_name) is str
        and arguments
        and result
        and len(arguments) <= _TOOL_INPUT_SHOWN_MAX
        and len(result) <= _TOOL_OUTPUT_SHOWN_MAX
        and len(tool_name) <= SHORT_TEXT_MAX
        and facts.http_status is None
        and not node.hidden
        and span_id not in counted
    ):
        return None
    description = f"tool {tool_name}"
    if len(description) > SHORT_TEXT_MAX:
        return None
    return {
        "step_number": node.number,
        "action": "tool_use",
        "description": description,
        "duration_ms": duration_ms,
        "input_preview": arguments,
        "output_preview": result,
        "tool_call": {
            "tool_name": tool_name,
            "duration_ms": duration_ms,
            "input_summary": arguments,
            "output_summary": result,
        },
        "metadata": metadata,
    }


def _tool_call(
    node: StepNode,
    duration_ms: float | None,
    preview_in: str | None,
    preview_out: str | None,
    error: dict[str, Any] | None,
) -> dict[str, Any]:
    """A tool step's ``tool_call``; its HTTP status is the last one its hidden spans saw."""
    facts = node.facts
    http_status = facts.http_status
    for hidden in node.hidden:
        http_status = hidden.http_status if hidden.http_status is not None else http_status
    # Short strings (nearly all) are shown as they are: shown_text's own first case, inline.
    tool_name = facts.tool_name or facts.name
    if type(tool_name) is not str or len(tool_name) > SHORT_TEXT_MAX:
        tool_name = shown_text(tool_name, SHORT_TEXT_MAX)
    if (
        duration_ms is not None
        and error is None
        and http_status is None
        and type(preview_in) is str
        and type(preview_out) is str
        and preview_in
        and preview_out
        and len(preview_in) <= TOOL_INPUT_SUMMARY_MAX
        and len(preview_out) <= TOOL_OUTPUT_SUMMARY_MAX
    ):
        # The common call (timed, both texts short, no error or status): one literal.
        return {
            "tool_name": tool_name,
            "duration_ms": duration_ms,
            "input_summary": preview_in,
            "output_summary": preview_out,
        }
    tool_call: dict[str, Any] = {"tool_name": tool_name}
    if duration_ms is not None:
        tool_call["duration_ms"] = duration_ms
    if preview_in:
        tool_call["input_summary"] = (
            preview_in
            if type(preview_in) is str and len(preview_in) <= TOOL_INPUT_SUMMARY_MAX
            else shown_text(preview_in, TOOL_INPUT_SUMMARY_MAX)
        )
    if preview_out:
        tool_call["output_summary"] = (
            preview_out
            if type(preview_out) is str and len(preview_out) <= TOOL_OUTPUT_SUMMARY_MAX
            else shown_text(preview_out, TOOL_OUTPUT_SUMMARY_MAX)
        )
    if error is not None:
        tool_call["error"] = dict(error)
    if http_status is not None:
        tool_call["http_status"] = http_status
    return tool_call


def _step_error(
    node: StepNode, errors_by_span: dict[int, list[dict[str, Any]]]
) -> dict[str, Any] | None:
    if not node.facts.failed:
        return None
    for facts in (node.facts, *node.merged):
        found = errors_by_span.get(facts.span_id)
        if found:
            return dict(found[-1])
    return None


def _step_description(facts: SpanFacts) -> str:
    kind = facts.kind
    if kind is LLM or kind is EMBEDDING:
        operation = facts.operation or ("embeddings" if kind is EMBEDDING else "llm")
        return f"{operation} {facts.model}" if facts.model else facts.name
    if kind is TOOL:
        return f"tool {facts.tool_name or facts.name}"
    if kind is AGENT:
        return f"agent {facts.agent_name or facts.entity_name or facts.name}"
    if kind is WORKFLOW:
        return f"workflow {facts.workflow_name or facts.entity_name or facts.name}"
    return facts.entity_name or facts.name


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
) -> str:
    """``name``: the run's name, capped already."""
    given = attributes.get(infinium.DESCRIPTION)
    if given is not None:  # nearly always absent: text() only for a given one
        given = text(given)
        if given:
            return cap(given, DESCRIPTION_MAX)
    label = _LABELS.get(root.kind, "Run")
    parts = [
        _count(kinds.steps, "step"),
        _count(kinds.llm_calls, "LLM call"),
        _count(kinds.tool_calls, "tool call"),
    ]
    if errors:
        parts.append(_count(len(errors), "error"))
    described = f"{label} '{name}': {', '.join(parts)}"
    if root.failed:
        described += "; the run failed"
    if run.partial:
        reason = f" ({run.partial_reason})" if run.partial_reason else ""
        described += f"; partial run{reason}: not every span had ended when it was sent"
    return cap(described, DESCRIPTION_MAX)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _custom_tags(root: SpanFacts, run: Run) -> dict[str, str]:
    context = run.root.context  # run.trace_id, reading the SDK's context property once
    tags = {
        "otel.trace_id": f"{context.trace_id if context else 0:032x}",
        "otel.span_id": f"{root.span_id:016x}",
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
) -> dict[str, Any] | None:
    """The ``sections`` object, cleaned; None when empty. Without ``infinium.section.*``
    attributes it holds only what is made here (ISO times, lists of plain names), in the
    contract's order and clean already, so it skips the general cleaning. ``tools``: the
    distinct tool names as shown, when gathered already."""
    sections = infinium.sections(attributes)
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
