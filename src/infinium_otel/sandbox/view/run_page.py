"""The run view at ``/traces/<id>``: header, verdict, timeline, steps, errors, raw payload."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from infinium_otel.sandbox.interpretation import SOURCE, interpret, summarize_payload
from infinium_otel.sandbox.store import StoredTrace
from infinium_otel.sandbox.view.facts import (
    KIND_LABELS,
    MAX_INDENT_DEPTH,
    ErrorView,
    StepView,
    Timeline,
    cost_usd,
    items,
    mapping,
    run_errors,
    run_status,
    text,
    timeline,
)
from infinium_otel.sandbox.view.html import (
    DASH,
    attr,
    clipped,
    count,
    document,
    duration,
    iso,
    usd,
)

# Seconds between reloads while the interpretation is still processing.
REFRESH_SECONDS = 2
# Previews are capped by the contract, but a non-strict sandbox stores anything.
_PREVIEW_CHARS = 1_500
# The raw payload shown inline; the JSON endpoint serves all of it.
_RAW_CHARS = 200_000


def run_page(trace: StoredTrace, delay: float) -> str:
    """The whole page; it reloads itself every few seconds until the verdict is ready."""
    payload = trace.payload
    ready = trace.is_ready(delay)
    name = text(payload.get("name")) or "(unnamed run)"
    plan = timeline(payload)
    body = "".join(
        (
            "<p><a href='/'>\u2190 All runs</a></p>",
            _header(trace, name, ready),
            _verdict(payload, ready),
            _timeline(plan),
            _steps(plan),
            _errors(run_errors(payload)),
            _task(payload),
            _raw(trace),
        )
    )
    return document(
        f"{name} - infinium-otel sandbox",
        body,
        refresh_seconds=None if ready else REFRESH_SECONDS,
    )


def _fact(label: str, value: str, ident: str = "") -> str:
    id_attr = f" id='{ident}'" if ident else ""
    return f"<li{id_attr}><b>{attr(label)}</b>{value}</li>"


def _header(trace: StoredTrace, name: str, ready: bool) -> str:
    payload = trace.payload
    facts = summarize_payload(payload)
    usage = mapping(payload.get("llm_usage"))
    status = run_status(payload)
    model = text(usage.get("model"))
    provider = text(usage.get("provider"))
    interpretation = "ready" if ready else "processing"
    listed = [
        _fact("Status", f"<span class='status status-{status}'>{attr(status)}</span>", "status"),
        _fact("Duration", attr(duration(facts["duration_seconds"] * 1000)), "duration"),
        _fact("Steps", attr(count(facts["steps"])), "steps"),
        _fact("LLM calls", attr(count(facts["llm_calls"])), "llm-calls"),
        _fact("Tokens", attr(count(facts["total_tokens"])), "tokens"),
        _fact("Cost", attr(usd(cost_usd(payload))), "cost"),
        _fact("Errors", attr(count(facts["errors"])), "errors"),
        _fact(
            "Interpretation",
            f"<span class='status status-{interpretation}'>{interpretation}</span>",
            "interpretation",
        ),
    ]
    if model:
        listed.append(_fact("Model", attr(f"{model} ({provider})" if provider else model), "model"))
    return (
        f"<h1>{attr(name)}</h1>"
        f"<ul class='facts'>{''.join(listed)}</ul>"
        f"<p class='note'>Trace {attr(trace.trace_id)}, received {iso(trace.received_at)}, "
        f"{trace.body_bytes:,} bytes.</p>"
    )


def _verdict(payload: Mapping[str, Any], ready: bool) -> str:
    if not ready:
        return (
            "<h2>Interpretation</h2>"
            "<p id='verdict' class='verdict pending'>Processing: the interpretation is not "
            f"ready yet. This page reloads every {REFRESH_SECONDS} s until it is.</p>"
        )
    result = interpret(payload)
    return (
        "<h2>Interpretation</h2>"
        f"<p id='verdict' class='verdict'>{attr(result.get('summary', ''))}</p>"
        f"<p class='note'>From {attr(result.get('source', SOURCE))}.</p>"
        "<details><summary>Interpretation result (JSON)</summary>"
        f"<pre>{attr(json.dumps(result, indent=2, ensure_ascii=False))}</pre></details>"
    )


def _task(payload: Mapping[str, Any]) -> str:
    rows: list[tuple[str, str]] = [
        ("Description", text(payload.get("description"))),
        ("Input", text(payload.get("input_summary"))),
        ("Output", text(payload.get("output_summary"))),
    ]
    outcome = mapping(payload.get("expected_outcome"))
    if outcome:
        rows.append(("Objective", text(outcome.get("task_objective"))))
        for key, label in (
            ("required_deliverables", "Deliverables"),
            ("constraints", "Constraints"),
            ("acceptance_criteria", "Acceptance"),
        ):
            listed = [text(v) for v in items(outcome.get(key))]
            if listed:
                rows.append((label, "\n".join(f"- {v}" for v in listed)))
    shown = [
        f"<tr><th>{attr(label)}</th><td class='preview'>{attr(clipped(value, 10_000))}</td></tr>"
        for label, value in rows
        if value
    ]
    return f"<h2>Task</h2><table class='task'>{''.join(shown)}</table>" if shown else ""


def _legend() -> str:
    entries = [
        f"<li><span class='swatch kind-{kind}'></span>{attr(label)}</li>"
        for kind, label in KIND_LABELS.items()
    ]
    entries.append("<li><span class='swatch is-error'></span>error (red, striped)</li>")
    return f"<ul class='legend' aria-label='legend'>{''.join(entries)}</ul>"


def _cap_note(plan: Timeline) -> str:
    if plan.total_steps <= len(plan.steps):
        return ""
    return (
        f"<p class='note cap'>Showing the first {len(plan.steps):,} of {plan.total_steps:,} "
        "steps; the raw payload below holds them all.</p>"
    )


def _tags(step: StepView) -> str:
    tags = f"<span class='tag kind-{step.kind}'>{attr(step.kind_label)}</span>"
    if step.error is not None:
        tags += "<span class='tag error'>error</span>"
    return tags


def _indent(step: StepView) -> str:
    return f"padding-left:{(min(step.depth, MAX_INDENT_DEPTH) - 1) * 1.1 + 0.4:.1f}em"


def _timeline(plan: Timeline) -> str:
    if not plan.steps:
        return "<h2>Timeline</h2><p class='note'>This run has no steps.</p>"
    how = (
        "Start offsets are estimated: the payload gives each step a duration and its parent, "
        "not a start time, so siblings are drawn one after another and children start "
        "with their parent."
        if plan.estimated
        else "Start offsets come from the steps' metadata."
    )
    rows = []
    for step in plan.steps:
        left = step.start_ms / plan.span_ms * 100
        width = (step.duration_ms or 0.0) / plan.span_ms * 100
        css = f"kind-{step.kind}" + (" is-error" if step.error is not None else "")
        title = f"#{step.number} {step.kind_label}: {step.description}"
        bar_title = f"{title}, {duration(step.duration_ms)} from {duration(step.start_ms)}" + (
            "" if step.start_known else " (start estimated)"
        )
        rows.append(
            f"<tr class='tl-row{' error-row' if step.error is not None else ''}'>"
            f"<td class='label' style='{_indent(step)}' title='{attr(title)}'>"
            f"{_tags(step)}#{step.number} {attr(clipped(step.description, 200))}</td>"
            f"<td class='when'>{attr(duration(step.duration_ms))}</td>"
            f"<td><div class='track'><div class='bar {css}' data-step='{step.number}' "
            f"data-duration-ms='{step.duration_ms or 0:g}' title='{attr(bar_title)}' "
            f"style='left:{left:.4f}%;width:{width:.4f}%'></div></div></td></tr>"
        )
    return (
        "<h2>Timeline</h2>"
        f"{_legend()}<p class='note'>{how}</p>"
        f"{_cap_note(plan)}<table class='tl'>{_axis(plan.span_ms)}{''.join(rows)}</table>"
    )


def _axis(span_ms: float) -> str:
    """A header row with the time at 0, 25, 50, 75 and 100 % of the scale."""
    ticks = "".join(
        f"<span class='tick' style='left:{share}%'>{attr(duration(span_ms * share / 100))}</span>"
        for share in (0, 25, 50, 75, 100)
    )
    return (
        "<tr class='axis-row'><td class='label note'>step</td><td class='when note'>duration</td>"
        f"<td><div class='axis'>{ticks}</div></td></tr>"
    )


def _tokens(step: StepView) -> str:
    if step.prompt_tokens is None and step.completion_tokens is None:
        return DASH
    return f"{count(step.prompt_tokens)} / {count(step.completion_tokens)}"


def _error_cell(error: ErrorView | None) -> str:
    if error is None:
        return ""
    stack = f"<pre class='stack'>{attr(error.stack_trace)}</pre>" if error.stack_trace else ""
    return (
        f"<div class='error-text'><b>{attr(error.error_type)}</b>: "
        f"{attr(clipped(error.message, 2_000))}</div>{stack}"
    )


def _steps(plan: Timeline) -> str:
    if not plan.steps:
        return ""
    rows = []
    for step in plan.steps:
        name = step.tool_name or step.description
        rows.append(
            f"<tr class='step-row{' error-row' if step.error is not None else ''}' "
            f"data-step='{step.number}'>"
            f"<td class='num'>{step.number}</td>"
            f"<td style='{_indent(step)}'>{_tags(step)}{attr(clipped(name, 300))}"
            f"<div class='note'>{attr(step.action)}</div></td>"
            f"<td>{attr(step.model) or DASH}</td>"
            f"<td class='num'>{_tokens(step)}</td>"
            f"<td class='num'>{attr(duration(step.duration_ms))}</td>"
            f"<td><div class='preview'>{attr(clipped(step.input_preview, _PREVIEW_CHARS))}"
            "</div></td>"
            f"<td><div class='preview'>{attr(clipped(step.output_preview, _PREVIEW_CHARS))}"
            "</div></td>"
            f"<td>{_error_cell(step.error)}</td></tr>"
        )
    return (
        "<h2>Steps</h2>"
        f"{_cap_note(plan)}<table class='steps'><tr><th class='num'>#</th><th>Step</th>"
        "<th>Model</th><th class='num'>Tokens in / out</th><th class='num'>Latency</th>"
        f"<th>Input</th><th>Output</th><th>Error</th></tr>{''.join(rows)}</table>"
    )


def _errors(errors: list[ErrorView]) -> str:
    if not errors:
        return "<h2>Errors</h2><p class='note'>No errors.</p>"
    blocks = []
    for error in errors:
        extra = ["recovered" if error.recoverable else "not recovered"]
        if error.retry_count:
            extra.append(f"{error.retry_count} retries")
        if error.error_code:
            extra.append(f"code {error.error_code}")
        blocks.append(
            f"<div class='run-error'>{_error_cell(error)}"
            f"<p class='note'>{attr(', '.join(extra))}</p></div>"
        )
    return f"<h2>Errors ({len(errors)})</h2>{''.join(blocks)}"


def _raw(trace: StoredTrace) -> str:
    raw = json.dumps(trace.payload, indent=2, ensure_ascii=False)
    note = ""
    if len(raw) > _RAW_CHARS:
        raw = raw[:_RAW_CHARS]
        note = (
            f"<p class='note'>Cut at {_RAW_CHARS:,} characters; "
            f"<a href='/api/sandbox/traces/{attr(trace.trace_id)}'>the JSON item</a> "
            "holds all of it.</p>"
        )
    return (
        "<h2>Raw payload</h2><details id='raw'><summary>Payload as received (JSON)</summary>"
        f"{note}<pre>{attr(raw)}</pre></details>"
    )
