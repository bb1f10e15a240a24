"""What the run view shows, read from an untrusted stored payload (pure, no HTML).

A payload that passed the contract check is well formed, but a sandbox started with
``strict=False`` stores any JSON object, so every reader here accepts any shape and
falls back to "unknown" instead of raising.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# How many steps the page draws; a 3,000-step run stays quick to render and read.
MAX_RENDERED_STEPS = 500
# Indentation stops growing past this depth so a deep tree stays on screen.
MAX_INDENT_DEPTH = 12

KIND_LABELS = {
    "llm": "LLM call",
    "tool": "tool call",
    "agent": "sub-agent",
    "other": "step",
}

_LLM_ACTIONS = {"llm_call", "llm_inference"}
_AGENT_KINDS = {"agent", "workflow"}


def number(value: object) -> float | None:
    """A finite JSON number as float; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def whole(value: object) -> int | None:
    """A finite, non-negative JSON number as int; None otherwise."""
    found = number(value)
    return int(found) if found is not None and found >= 0 else None


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: object) -> str:
    """A string field as text; numbers and the like shown as JSON would show them."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class ErrorView:
    """One error as the page shows it."""

    error_type: str
    message: str
    recoverable: bool
    retry_count: int | None
    stack_trace: str
    error_code: str


@dataclass(frozen=True)
class StepView:
    """One step with its place on the timeline (milliseconds from the run's start)."""

    number: int
    kind: str
    action: str
    description: str
    depth: int
    parent: int | None
    start_ms: float
    duration_ms: float | None
    start_known: bool
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float | None
    tool_name: str
    input_preview: str
    output_preview: str
    error: ErrorView | None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


@dataclass(frozen=True)
class Timeline:
    """The steps to draw, the scale they are drawn against and how they were placed."""

    steps: list[StepView]
    total_steps: int
    span_ms: float
    estimated: bool


def error_view(value: object) -> ErrorView | None:
    found = mapping(value)
    if not found:
        return None
    return ErrorView(
        error_type=text(found.get("error_type")) or "error",
        message=text(found.get("message")),
        recoverable=found.get("recoverable") is True,
        retry_count=whole(found.get("retry_count")),
        stack_trace=text(found.get("stack_trace")),
        error_code=text(found.get("error_code")),
    )


def step_kind(step: Mapping[str, Any]) -> str:
    """``llm``, ``tool``, ``agent`` or ``other``, from the action and the step's metadata."""
    action = text(step.get("action"))
    meta_kind = text(mapping(step.get("metadata")).get("kind"))
    if action in _LLM_ACTIONS or mapping(step.get("llm_call")) or meta_kind == "llm":
        return "llm"
    if action == "tool_use" or mapping(step.get("tool_call")) or meta_kind == "tool":
        return "tool"
    if action == "agent" or meta_kind in _AGENT_KINDS:
        return "agent"
    return "other"


def _duration_ms(step: Mapping[str, Any]) -> float | None:
    for candidate in (
        step.get("duration_ms"),
        mapping(step.get("llm_call")).get("latency_ms"),
        mapping(step.get("tool_call")).get("duration_ms"),
    ):
        found = number(candidate)
        if found is not None and found >= 0:
            return found
    return None


def tree_order(steps: list[Mapping[str, Any]]) -> list[tuple[int, int | None]]:
    """``(index, parent step number)`` for each step, every parent before its children.

    Steps keep their payload order among siblings. A ``parent_step`` that names no step
    (or the step itself, or a loop) is ignored and the step is drawn at the top level.
    Iterative, so a 3,000-deep chain cannot exhaust the stack.
    """
    numbers = [whole(s.get("step_number")) or i + 1 for i, s in enumerate(steps)]
    first_index: dict[int, int] = {}
    for index, step_number in enumerate(numbers):
        first_index.setdefault(step_number, index)
    children: dict[int | None, list[int]] = {}
    parents: list[int | None] = []
    for index, step in enumerate(steps):
        parent = whole(mapping(step.get("metadata")).get("parent_step"))
        if parent not in first_index or first_index[parent] == index:
            parent = None
        parents.append(parent)
        children.setdefault(parent, []).append(index)
    ordered: list[tuple[int, int | None]] = []
    seen: set[int] = set()

    def walk(index: int, parent: int | None) -> None:
        stack = [(index, parent)]
        while stack:
            current, current_parent = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            ordered.append((current, current_parent))
            own = numbers[current]
            if first_index.get(own) == current:
                stack.extend((kid, own) for kid in reversed(children.get(own, [])))

    for index in children.get(None, []):
        walk(index, None)
    for index in range(len(steps)):  # steps caught in a parent loop
        if index not in seen:
            walk(index, None)
    return ordered


def timeline(payload: Mapping[str, Any], limit: int = MAX_RENDERED_STEPS) -> Timeline:
    """The first ``limit`` steps, in tree order, placed on a time axis.

    The contract gives each step a duration but no start time. A step whose
    ``metadata.start_offset_ms`` is a number starts there; any other step is placed
    after its previous sibling under the same parent step (children start with their
    parent), which is exact for sequential work and is labelled an estimate.
    """
    raw_steps = [s for s in items(payload.get("steps")) if isinstance(s, Mapping)]
    run_ms = (number(payload.get("duration")) or 0.0) * 1000.0
    starts: dict[int, float] = {}
    cursors: dict[int | None, float] = {None: 0.0}
    placed: list[StepView] = []
    estimated = False
    for index, parent in tree_order(raw_steps)[: max(limit, 0)]:
        step = raw_steps[index]
        metadata = mapping(step.get("metadata"))
        step_number = whole(step.get("step_number")) or index + 1
        parent_start = starts.get(parent, 0.0) if parent is not None else 0.0
        duration = _duration_ms(step)
        explicit = number(metadata.get("start_offset_ms"))
        if explicit is not None and explicit >= 0:
            start = explicit
        else:
            start = max(cursors.get(parent, parent_start), parent_start)
            estimated = True
        end = start + (duration or 0.0)
        cursors[parent] = max(cursors.get(parent, parent_start), end)
        starts.setdefault(step_number, start)
        cursors.setdefault(step_number, start)
        placed.append(_step_view(step, step_number, parent, start, duration, explicit))
    ends = [s.start_ms + (s.duration_ms or 0.0) for s in placed]
    span = max([run_ms, *ends, 1.0])
    return Timeline(steps=placed, total_steps=len(raw_steps), span_ms=span, estimated=estimated)


def _step_view(
    step: Mapping[str, Any],
    step_number: int,
    parent: int | None,
    start: float,
    duration: float | None,
    explicit: float | None,
) -> StepView:
    metadata = mapping(step.get("metadata"))
    llm = mapping(step.get("llm_call"))
    tool = mapping(step.get("tool_call"))
    depth = whole(metadata.get("depth"))
    error = error_view(step.get("error")) or error_view(tool.get("error"))
    return StepView(
        number=step_number,
        kind=step_kind(step),
        action=text(step.get("action")),
        description=text(step.get("description")),
        depth=max(depth if depth is not None else 1, 1),
        parent=parent,
        start_ms=start,
        duration_ms=duration,
        start_known=explicit is not None and explicit >= 0,
        model=text(llm.get("model")),
        prompt_tokens=whole(llm.get("prompt_tokens")),
        completion_tokens=whole(llm.get("completion_tokens")),
        latency_ms=number(llm.get("latency_ms")),
        tool_name=text(tool.get("tool_name")),
        input_preview=text(step.get("input_preview")) or text(tool.get("input_summary")),
        output_preview=text(step.get("output_preview")) or text(tool.get("output_summary")),
        error=error,
    )


def run_errors(payload: Mapping[str, Any]) -> list[ErrorView]:
    """The run's errors: its ``errors`` list, or the steps' errors when it has none."""
    listed = [e for e in (error_view(v) for v in items(payload.get("errors"))) if e]
    if listed:
        return listed
    found: list[ErrorView] = []
    for step in items(payload.get("steps")):
        step_map = mapping(step)
        error = error_view(step_map.get("error")) or error_view(
            mapping(step_map.get("tool_call")).get("error")
        )
        if error is not None:
            found.append(error)
    return found


def run_status(payload: Mapping[str, Any]) -> str:
    """``partial``, ``failed`` (an unrecovered error), ``recovered`` or ``ok``."""
    tags = mapping(mapping(payload.get("environment")).get("custom_tags"))
    if tags.get("partial") == "true":
        return "partial"
    errors = run_errors(payload)
    if any(not e.recoverable for e in errors):
        return "failed"
    return "recovered" if errors else "ok"


def cost_usd(payload: Mapping[str, Any]) -> float | None:
    found = number(mapping(payload.get("llm_usage")).get("estimated_cost_usd"))
    return found if found is not None and found >= 0 else None
