"""One step of the payload: a run tree's node -> its dict, in the contract's key order.

Pure, like the rest of conversion. The commonest steps (a succeeded, timed LLM or tool call
whose values are plain and short) are built as one literal; every other step goes through
the general builder, which shows each value through the cleaning its type needs.
"""

from __future__ import annotations

from typing import Any

from infinium_otel.contract import (
    STEP_INPUT_PREVIEW_MAX,
    STEP_OUTPUT_PREVIEW_MAX,
    TOOL_INPUT_SUMMARY_MAX,
    TOOL_OUTPUT_SUMMARY_MAX,
)
from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import AGENT, EMBEDDING, LLM, TOOL, WORKFLOW, SpanKind
from infinium_otel.payload.encode import SHORT_TEXT_MAX
from infinium_otel.payload.order import plain_value
from infinium_otel.payload.shown import shown_number, shown_text
from infinium_otel.payload.steps import StepNode
from infinium_otel.payload.usage import llm_call

__all__ = ["step_dict"]

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
_INFINITY = float("inf")
# A tool's texts shown as they are both in its step's previews and in its tool call.
_TOOL_INPUT_SHOWN_MAX = min(TOOL_INPUT_SUMMARY_MAX, STEP_INPUT_PREVIEW_MAX)
_TOOL_OUTPUT_SHOWN_MAX = min(TOOL_OUTPUT_SUMMARY_MAX, STEP_OUTPUT_PREVIEW_MAX)
# A span id as 16 hex digits: %-formatting costs less than a format spec for every step.
_HEX_ID = "%016x"


def step_dict(
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
