"""What the sandbox serves to a person or a script: HTML pages and JSON listings.

The handler calls these with the stored traces and the raw query string; they
answer with a status and a body, so a bad query parameter is a 400 that says why.
Everything taken from a payload is escaped (see ``view``).
"""

from __future__ import annotations

from typing import Any

from infinium_otel.sandbox.interpretation import interpret, summarize_payload
from infinium_otel.sandbox.store import StoredTrace
from infinium_otel.sandbox.view import (
    CONTENT_SECURITY_POLICY,
    QueryError,
    list_page,
    list_query,
    listing_limit,
    run_page,
)
from infinium_otel.sandbox.view.facts import run_status
from infinium_otel.sandbox.view.html import attr, document, iso

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "bad_request_page",
    "detail_page",
    "index_page",
    "listing",
    "listing_answer",
    "listing_item",
    "not_found_page",
]


def listing_item(trace: StoredTrace, delay: float, full: bool = False) -> dict[str, Any]:
    """One trace as the JSON listing shows it."""
    facts = summarize_payload(trace.payload)
    ready = trace.is_ready(delay)
    item: dict[str, Any] = {
        "traceId": trace.trace_id,
        "name": facts["name"],
        "receivedAt": iso(trace.received_at),
        "bodyBytes": trace.body_bytes,
        "durationSeconds": facts["duration_seconds"],
        "steps": facts["steps"],
        "llmCalls": facts["llm_calls"],
        "totalTokens": facts["total_tokens"],
        "errors": facts["errors"],
        "status": run_status(trace.payload),
        "interpretation": "ready" if ready else "processing",
    }
    if full:
        item["payload"] = trace.payload
        item["interpretedTraceResult"] = interpret(trace.payload) if ready else None
    return item


def listing(traces: list[StoredTrace], delay: float, limit: int | None = None) -> dict[str, Any]:
    """The newest ``limit`` traces first (all when None); ``total`` counts every stored one."""
    newest = list(reversed(traces))
    if limit is not None:
        newest = newest[:limit]
    return {
        "traces": [listing_item(t, delay) for t in newest],
        "count": len(newest),
        "total": len(traces),
    }


def listing_answer(traces: list[StoredTrace], delay: float, query: str) -> tuple[int, Any]:
    """``GET /api/sandbox/traces?limit=N``: 200 with the listing, or 400 naming the problem."""
    try:
        limit = listing_limit(query)
    except QueryError as exc:
        return 400, {"message": str(exc), "error": str(exc)}
    return 200, listing(traces, delay, limit)


def index_page(traces: list[StoredTrace], delay: float, query: str = "") -> tuple[int, str]:
    """``GET /?q=&page=``: the list page, or a 400 page for a page number that is not one."""
    try:
        parsed = list_query(query)
    except QueryError as exc:
        return 400, bad_request_page(str(exc))
    return 200, list_page(traces, delay, parsed)


def detail_page(trace: StoredTrace, delay: float) -> str:
    return run_page(trace, delay)


def bad_request_page(message: str) -> str:
    return document("Bad request", f"<p><a href='/'>All runs</a></p><p>{attr(message)}</p>")


def not_found_page(trace_id: str) -> str:
    return document(
        "Not found",
        f"<p><a href='/'>All runs</a></p><p>No trace {attr(trace_id)} here.</p>",
    )
