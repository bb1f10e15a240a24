"""HTML pages and JSON listings of what the sandbox received (everything escaped)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from typing import Any

from infinium_otel.sandbox.interpretation import SOURCE, interpret, summarize_payload
from infinium_otel.sandbox.store import StoredTrace

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;"
    "text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}"
    ".note{color:#666}"
)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _document(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def listing_item(trace: StoredTrace, delay: float, full: bool = False) -> dict[str, Any]:
    """One trace as the JSON listing shows it."""
    facts = summarize_payload(trace.payload)
    ready = trace.is_ready(delay)
    item: dict[str, Any] = {
        "traceId": trace.trace_id,
        "name": facts["name"],
        "receivedAt": _iso(trace.received_at),
        "bodyBytes": trace.body_bytes,
        "steps": facts["steps"],
        "totalTokens": facts["total_tokens"],
        "interpretation": "ready" if ready else "processing",
    }
    if full:
        item["payload"] = trace.payload
        item["interpretedTraceResult"] = interpret(trace.payload) if ready else None
    return item


def listing(traces: list[StoredTrace], delay: float) -> dict[str, Any]:
    return {"traces": [listing_item(t, delay) for t in traces], "count": len(traces)}


def index_page(traces: list[StoredTrace], delay: float) -> str:
    rows = []
    for trace in reversed(traces):
        item = listing_item(trace, delay)
        rows.append(
            "<tr>"
            f"<td><a href='/traces/{escape(trace.trace_id)}'>{escape(item['name'])}</a></td>"
            f"<td>{escape(item['receivedAt'])}</td>"
            f"<td>{item['steps']}</td><td>{item['totalTokens']}</td>"
            f"<td>{escape(item['interpretation'])}</td>"
            "</tr>"
        )
    table = (
        "<table><tr><th>Run</th><th>Received (UTC)</th><th>Steps</th><th>Tokens</th>"
        "<th>Interpretation</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No traces received yet.</p>"
    )
    body = (
        "<h1>infinium-otel sandbox</h1>"
        f"<p class='note'>{len(traces)} trace(s) received. Interpretations come from "
        f"{escape(SOURCE)}.</p>{table}"
    )
    return _document("infinium-otel sandbox", body)


def detail_page(trace: StoredTrace, delay: float) -> str:
    name = str(trace.payload.get("name", ""))
    if trace.is_ready(delay):
        result = json.dumps(interpret(trace.payload), indent=2, ensure_ascii=False)
        interpretation = f"<pre>{escape(result)}</pre>"
    else:
        interpretation = "<p>Processing (not ready yet).</p>"
    payload = json.dumps(trace.payload, indent=2, ensure_ascii=False)
    body = (
        "<p><a href='/'>All traces</a></p>"
        f"<h1>{escape(name)}</h1>"
        f"<p class='note'>Trace {escape(trace.trace_id)}, received {_iso(trace.received_at)},"
        f" {trace.body_bytes} bytes.</p>"
        f"<h2>Interpretation</h2>{interpretation}"
        f"<h2>Payload</h2><pre>{escape(payload)}</pre>"
    )
    return _document(f"{name} - infinium-otel sandbox", body)


def not_found_page(trace_id: str) -> str:
    return _document(
        "Not found",
        f"<p><a href='/'>All traces</a></p><p>No trace {escape(trace_id)} here.</p>",
    )
