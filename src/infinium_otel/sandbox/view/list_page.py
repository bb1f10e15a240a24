"""The list of received runs at ``/``: newest first, filtered by name, one page at a time."""

from __future__ import annotations

from urllib.parse import urlencode

from infinium_otel.sandbox.interpretation import SOURCE, summarize_payload
from infinium_otel.sandbox.store import StoredTrace
from infinium_otel.sandbox.view.facts import run_status
from infinium_otel.sandbox.view.html import attr, clipped, count, document, duration, iso
from infinium_otel.sandbox.view.query import PAGE_SIZE, ListQuery


def matches(trace: StoredTrace, name_filter: str) -> bool:
    """Whether the run's name holds the filter text, ignoring case."""
    if not name_filter:
        return True
    return name_filter.casefold() in str(trace.payload.get("name", "")).casefold()


def _link(query: ListQuery, page: int) -> str:
    params = {"q": query.name_filter} if query.name_filter else {}
    if page > 1:
        params["page"] = str(page)
    return "/" + (f"?{urlencode(params)}" if params else "")


def _row(trace: StoredTrace, delay: float) -> str:
    facts = summarize_payload(trace.payload)
    status = run_status(trace.payload)
    interpretation = "ready" if trace.is_ready(delay) else "processing"
    name = facts["name"] or "(unnamed run)"
    return (
        "<tr class='run-row'>"
        f"<td><a href='/traces/{attr(trace.trace_id)}'>{attr(clipped(name, 200))}</a></td>"
        f"<td>{iso(trace.received_at)}</td>"
        f"<td class='num'>{attr(duration(facts['duration_seconds'] * 1000))}</td>"
        f"<td class='num'>{count(facts['steps'])}</td>"
        f"<td class='num'>{count(facts['llm_calls'])}</td>"
        f"<td class='num'>{count(facts['total_tokens'])}</td>"
        f"<td class='num'>{count(facts['errors'])}</td>"
        f"<td><span class='status status-{status}'>{status}</span></td>"
        f"<td><span class='status status-{interpretation}'>{interpretation}</span></td>"
        "</tr>"
    )


def list_page(traces: list[StoredTrace], delay: float, query: ListQuery) -> str:
    """One page of runs, newest first; ``traces`` is in arrival order."""
    chosen = [t for t in reversed(traces) if matches(t, query.name_filter)]
    pages = max((len(chosen) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    first = (query.page - 1) * PAGE_SIZE
    shown = chosen[first : first + PAGE_SIZE]
    form = (
        "<form class='filter' method='get' action='/'><label>Name contains "
        f"<input type='search' name='q' value='{attr(query.name_filter)}'></label> "
        "<button type='submit'>Filter</button>"
        + (" <a href='/'>clear</a>" if query.name_filter else "")
        + "</form>"
    )
    if not traces:
        table = "<p class='note'>No traces received yet.</p>"
    elif not chosen:
        table = f"<p class='note'>No run name contains {attr(repr(query.name_filter))}.</p>"
    elif not shown:
        table = (
            f"<p class='note'>Page {query.page:,} is past the last page ({pages:,}). "
            f"<a href='{attr(_link(query, 1))}'>First page</a></p>"
        )
    else:
        table = (
            "<table class='runs'><tr><th>Run</th><th>Received (UTC)</th>"
            "<th class='num'>Duration</th><th class='num'>Steps</th>"
            "<th class='num'>LLM calls</th><th class='num'>Tokens</th>"
            "<th class='num'>Errors</th><th>Status</th><th>Interpretation</th></tr>"
            + "".join(_row(t, delay) for t in shown)
            + "</table>"
        )
    pager = []
    if shown and query.page > 1:
        pager.append(f"<a rel='prev' href='{attr(_link(query, query.page - 1))}'>Newer</a>")
    if shown and query.page < pages:
        pager.append(f"<a rel='next' href='{attr(_link(query, query.page + 1))}'>Older</a>")
    if shown:
        pager.append(f"<span class='note'>Page {query.page:,} of {pages:,}</span>")
    scope = (
        f"{len(chosen):,} of {len(traces):,} run(s) match"
        if query.name_filter
        else f"{len(traces):,} run(s) received"
    )
    body = (
        "<h1>infinium-otel sandbox</h1>"
        f"<p class='note'>{scope}, newest first. Interpretations come from "
        f"{attr(SOURCE)}.</p>{form}{table}<nav class='pager'>{''.join(pager)}</nav>"
    )
    return document("infinium-otel sandbox", body)
