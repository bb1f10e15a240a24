"""LLM usage of a run: each call counted once.

A call is an LLM step (nested duplicates were already merged into it). An
agent's aggregate token attributes count only when nothing below it counts:
no LLM step and no deeper agent aggregate; otherwise they would add the same
tokens twice. The run root's aggregate counts only when no step counts.
"""

from __future__ import annotations

from typing import Any

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import LLM
from infinium_otel.payload.encode import SHORT_TEXT_MAX
from infinium_otel.payload.shown import shown_number, shown_text
from infinium_otel.payload.steps import StepNode

__all__ = ["UNKNOWN_MODEL", "llm_call", "llm_usage", "usage_nodes"]

UNKNOWN_MODEL = "unknown"


def llm_call(facts: SpanFacts, latency_ms: float | None = None) -> dict[str, Any]:
    """One call in the contract's key order, without empty values. ``latency_ms``: the call's
    ``duration_ms`` when the caller has it already."""
    model = facts.model
    call: dict[str, Any] = {"model": shown_text(model, SHORT_TEXT_MAX) if model else UNKNOWN_MODEL}
    provider = facts.provider
    if provider:
        call["provider"] = shown_text(provider, SHORT_TEXT_MAX)
    _put(call, "prompt_tokens", facts.input_tokens)
    _put(call, "completion_tokens", facts.output_tokens)
    _put(call, "latency_ms", latency_ms if latency_ms is not None else facts.duration_ms)
    _put(call, "temperature", facts.temperature)
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

    def mark_ancestors(node: StepNode) -> None:
        parent = node.parent
        while parent is not None and parent.facts.span_id not in has_below:
            has_below.add(parent.facts.span_id)
            parent = parent.parent

    for node in steps:
        if node.facts.kind is LLM:
            counted.add(node.facts.span_id)
            mark_ancestors(node)
    agents = [n for n in steps if n.facts.kind.is_agent_like and n.facts.has_usage]
    for node in sorted(agents, key=lambda n: -n.depth):
        if node.facts.span_id not in has_below:
            counted.add(node.facts.span_id)
            mark_ancestors(node)
            has_below.add(node.facts.span_id)
    return counted


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
    models = {c["model"] for c in call_dicts if c["model"] != UNKNOWN_MODEL}
    providers = {c["provider"] for c in call_dicts if c.get("provider")}
    usage: dict[str, Any] = {}
    model = _single(models)
    if model is not None:
        usage["model"] = model
    provider = _single(providers)
    if provider is not None:
        usage["provider"] = provider
    # Each total over the calls that report it, gathered in one pass over the calls.
    prompt: list[int] = []
    completion: list[int] = []
    total: list[int] = []
    cost: list[float] = []
    latency: list[int] = []
    for facts in calls:
        if facts.input_tokens is not None:
            prompt.append(facts.input_tokens)
        if facts.output_tokens is not None:
            completion.append(facts.output_tokens)
        tokens = _total(facts)
        if tokens is not None:
            total.append(tokens)
        if facts.cost is not None:
            cost.append(facts.cost)
        duration_ms = facts.duration_ms
        if duration_ms is not None:
            latency.append(duration_ms)
    _put(usage, "prompt_tokens", sum(prompt) if prompt else None)
    _put(usage, "completion_tokens", sum(completion) if completion else None)
    _put(usage, "total_tokens", sum(total) if total else None)
    _put(usage, "estimated_cost_usd", round(sum(cost), 10) if cost else None)
    usage["api_calls_count"] = len(calls)
    _put(usage, "total_latency_ms", sum(latency) if latency else None)
    usage["calls"] = call_dicts
    return usage


def _single(values: set[str]) -> str | None:
    if not values:
        return None
    return next(iter(values)) if len(values) == 1 else "multiple"


def _total(facts: SpanFacts) -> int | None:
    if facts.total_tokens is not None:
        return facts.total_tokens
    if facts.input_tokens is None and facts.output_tokens is None:
        return None
    return (facts.input_tokens or 0) + (facts.output_tokens or 0)
