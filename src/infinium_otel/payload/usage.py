"""LLM usage of a run: each call counted once.

A call is an LLM step (nested duplicates were already merged into it). An
agent's aggregate token attributes count only when nothing below it counts:
no LLM step and no deeper agent aggregate; otherwise they would add the same
tokens twice. The run root's aggregate counts only when no step counts.
"""

from __future__ import annotations

import math
from typing import Any

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import LLM
from infinium_otel.payload.encode import SHORT_TEXT_MAX
from infinium_otel.payload.shown import shown_number, shown_text
from infinium_otel.payload.steps import StepNode

__all__ = ["UNKNOWN_MODEL", "llm_call", "llm_usage", "usage_nodes"]

UNKNOWN_MODEL = "unknown"
_INFINITY = math.inf


def llm_call(facts: SpanFacts, latency_ms: float | None = None) -> dict[str, Any]:
    """One call in the contract's key order, without empty values. ``latency_ms``: the call's
    ``duration_ms`` when the caller has it already."""
    model = facts.model
    provider = facts.provider
    input_tokens = facts.input_tokens
    output_tokens = facts.output_tokens
    temperature = facts.temperature
    if latency_ms is None:
        latency_ms = facts.duration_ms
    if (
        type(model) is str
        and type(provider) is str
        and type(input_tokens) is int
        and type(output_tokens) is int
        and type(latency_ms) is int
        and type(temperature) is float
        and model
        and provider
        and len(model) <= SHORT_TEXT_MAX
        and len(provider) <= SHORT_TEXT_MAX
        and -_INFINITY < temperature < _INFINITY  # finite (NaN compares false)
    ):
        # The common call (every value present and plain): one literal in key order.
        return {
            "model": model,
            "provider": provider,
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "latency_ms": latency_ms,
            "temperature": temperature,
        }
    if not model:
        model = UNKNOWN_MODEL
    elif type(model) is not str or len(model) > SHORT_TEXT_MAX:
        model = shown_text(model, SHORT_TEXT_MAX)
    call: dict[str, Any] = {"model": model}
    if provider:
        call["provider"] = (
            provider
            if type(provider) is str and len(provider) <= SHORT_TEXT_MAX
            else shown_text(provider, SHORT_TEXT_MAX)
        )
    # Counts and durations are ints, shown as they are; anything else is cleaned by _put.
    if type(input_tokens) is int:
        call["prompt_tokens"] = input_tokens
    else:
        _put(call, "prompt_tokens", input_tokens)
    if type(output_tokens) is int:
        call["completion_tokens"] = output_tokens
    else:
        _put(call, "completion_tokens", output_tokens)
    if type(latency_ms) is int:
        call["latency_ms"] = latency_ms
    else:
        _put(call, "latency_ms", latency_ms)
    if type(temperature) is float and math.isfinite(temperature):
        call["temperature"] = temperature  # what shown_number gives a finite float
    else:
        _put(call, "temperature", temperature)
    return call


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if type(value) is int:  # counts and durations: shown as they are
        target[key] = value
    elif value is not None:
        value = shown_number(value)
        if value is not None:
            target[key] = value


def usage_nodes(steps: list[StepNode]) -> set[int]:
    """Span ids of the steps that count as LLM calls (LLM steps, and agents by aggregate)."""
    counted: set[int] = set()
    has_below: set[int] = set()
    agents: list[StepNode] = []  # agent-like steps with usage of their own, in step order
    for node in steps:
        facts = node.facts
        kind = facts.kind
        if kind is LLM:
            counted.add(facts.span_id)
            _mark_ancestors(node, has_below)
        elif kind.is_agent_like and facts.has_usage:
            agents.append(node)
    if len(agents) > 1:
        agents.sort(key=lambda n: -n.depth)  # stable, as sorted() is
    for node in agents:
        if node.facts.span_id not in has_below:
            counted.add(node.facts.span_id)
            _mark_ancestors(node, has_below)
            has_below.add(node.facts.span_id)
    return counted


def _mark_ancestors(node: StepNode, has_below: set[int]) -> None:
    """Every step above ``node`` has a counted call below it."""
    parent = node.parent
    while parent is not None and parent.facts.span_id not in has_below:
        has_below.add(parent.facts.span_id)
        parent = parent.parent


def llm_usage(
    calls: list[SpanFacts], call_dicts: list[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The ``llm_usage`` object over the counted calls (contract order, no empty values);
    None when there are none. ``call_dicts``: ``llm_call`` of each call when the steps
    already built them (used as they are, not built again)."""
    if not calls:
        return None
    if call_dicts is None or len(call_dicts) != len(calls):
        call_dicts = [llm_call(f) for f in calls]
    models: set[str] = set()
    providers: set[str] = set()
    for call in call_dicts:
        model = call["model"]
        if model != UNKNOWN_MODEL:
            models.add(model)
        provider = call.get("provider")
        if provider:
            providers.add(provider)
    usage: dict[str, Any] = {}
    if models:  # the one model (popped: the set is not used after), or "multiple"
        usage["model"] = models.pop() if len(models) == 1 else "multiple"
    if providers:
        usage["provider"] = providers.pop() if len(providers) == 1 else "multiple"
    # Each total over the calls that report it (None when none does), in one pass: added
    # from 0 as they come, as sum() adds them (so an int subclass also becomes an int).
    prompt: int | None = None
    completion: int | None = None
    total: int | None = None
    costs: list[float] = []  # summed by sum(), as exactly as the Python version sums floats
    latency: int | None = None
    for facts in calls:
        input_tokens = facts.input_tokens
        output_tokens = facts.output_tokens
        if input_tokens is not None:
            prompt = (0 if prompt is None else prompt) + input_tokens
        if output_tokens is not None:
            completion = (0 if completion is None else completion) + output_tokens
        tokens = facts.total_tokens
        if tokens is None and (input_tokens is not None or output_tokens is not None):
            tokens = (input_tokens or 0) + (output_tokens or 0)
        if tokens is not None:
            total = (0 if total is None else total) + tokens
        if facts.cost is not None:
            costs.append(facts.cost)
        start, end = facts.start, facts.end  # facts.duration_ms, without the call
        if start is not None and end is not None:
            duration_ms = (end - start) // 1_000_000
            latency = (0 if latency is None else latency) + max(0, duration_ms)
    # The totals are ints (or None) nearly always: shown as they are, as _put shows them.
    if type(prompt) is int:
        usage["prompt_tokens"] = prompt
    else:
        _put(usage, "prompt_tokens", prompt)
    if type(completion) is int:
        usage["completion_tokens"] = completion
    else:
        _put(usage, "completion_tokens", completion)
    if type(total) is int:
        usage["total_tokens"] = total
    else:
        _put(usage, "total_tokens", total)
    if costs:
        _put(usage, "estimated_cost_usd", round(sum(costs), 10))
    usage["api_calls_count"] = len(calls)
    if type(latency) is int:
        usage["total_latency_ms"] = latency
    else:
        _put(usage, "total_latency_ms", latency)
    usage["calls"] = call_dicts
    return usage
