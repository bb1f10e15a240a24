"""The pages' shared shell: one inline stylesheet, escaping and number formatting.

No external assets and no scripts: the pages work offline, and the sandbox serves
them with a Content-Security-Policy that forbids scripts, so even a payload that
slipped past escaping could not run code.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

DASH = "\u2013"  # shown where a value is unknown

# Served with every page; inline styles only, no script, no outside fetch.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
 background:#fff;line-height:1.45}
main{max-width:1280px;margin:0 auto;padding:1.2em 1.5em 3em}
a{color:#0b57d0}
h1{font-size:1.5em;margin:.3em 0;overflow-wrap:anywhere}
h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #d8dee4;padding-bottom:.2em}
table{border-collapse:collapse;width:100%}
th,td{padding:.35em .6em;border-bottom:1px solid #e4e8ec;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.note{color:#59636e}
table.task th{width:9em}
.facts{display:flex;flex-wrap:wrap;gap:.5em;margin:.6em 0;padding:0;list-style:none}
.facts li{border:1px solid #d8dee4;border-radius:6px;padding:.3em .7em;background:#f6f8fa}
.facts b{display:block;font-size:.75em;color:#59636e;font-weight:600;text-transform:uppercase}
.status{display:inline-block;border-radius:1em;padding:0 .6em;font-size:.85em;font-weight:600;
 border:1px solid currentColor}
.status-ok,.status-ready{color:#1a7f37}
.status-recovered,.status-partial,.status-processing{color:#9a6700}
.status-failed{color:#cf222e}
.verdict{white-space:pre-wrap;overflow-wrap:anywhere;max-width:100%;margin:.4em 0;
 padding:.7em 1em;border-left:4px solid #1a7f37;background:#f3faf5}
.verdict.pending{border-left-color:#9a6700;background:#fff8e5}
.legend{display:flex;flex-wrap:wrap;gap:1em;margin:.4em 0;padding:0;list-style:none}
.swatch{display:inline-block;width:1.6em;height:.9em;border-radius:3px;vertical-align:middle;
 margin-right:.35em}
.kind-llm{background:#2f6fdb}
.kind-tool{background:#1f9e89}
.kind-agent{background:#8250df}
.kind-other{background:#8c959f}
.is-error{background:repeating-linear-gradient(135deg,#cf222e 0 6px,#a40e26 6px 12px)}
.tl{width:100%;table-layout:fixed}
.tl td{padding:.15em .4em;border-bottom:1px solid #f0f2f4}
.tl .label{width:34%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.tl .when{width:9%;text-align:right;font-variant-numeric:tabular-nums;color:#59636e;
 white-space:nowrap}
.track{position:relative;height:1.05em;background:#f6f8fa;border-radius:3px}
.axis{position:relative;height:1.2em;font-size:.75em;color:#59636e}
.tick{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}
.tick:first-child{transform:none}
.tick:last-child{transform:translateX(-100%)}
.bar{position:absolute;top:0;bottom:0;min-width:2px;border-radius:3px}
.tag{display:inline-block;font-size:.72em;font-weight:600;border-radius:3px;padding:0 .35em;
 margin-right:.35em;color:#fff;vertical-align:1px}
.tag.error{background:#cf222e}
tr.error-row td{background:#fff0f0}
tr.error-row td:first-child{border-left:4px solid #cf222e}
.preview{white-space:pre-wrap;overflow-wrap:anywhere;max-width:28em;font-size:.85em;
 font-family:ui-monospace,SFMono-Regular,Menlo,monospace;max-height:12em;overflow:auto}
.error-text{color:#a40e26}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:.8em;
 border-radius:6px;font-size:.85em;margin:.3em 0}
pre.stack{background:#fff0f0;color:#82071e;border-left:4px solid #cf222e}
details{margin:.6em 0}
summary{cursor:pointer;font-weight:600}
form.filter{margin:.6em 0}
form.filter input{font:inherit;padding:.2em .4em;width:20em;max-width:60%}
.pager{margin:.8em 0;display:flex;gap:1em}
"""


def attr(value: object) -> str:
    """Text made safe inside an HTML attribute or element (quotes included)."""
    return escape(str(value), quote=True)


def document(title: str, body: str, *, refresh_seconds: int | None = None) -> str:
    """A whole page; ``refresh_seconds`` makes the browser reload it on its own."""
    refresh = (
        f"<meta http-equiv='refresh' content='{refresh_seconds}'>"
        if refresh_seconds is not None
        else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"{refresh}<title>{attr(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(ms: float | None) -> str:
    """``420 ms``, ``2.25 s``, ``3 min 5 s``; an en dash when unknown."""
    if ms is None:
        return DASH
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 1 or ms == 0 else f"{ms:.2g} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def usd(value: float | None) -> str:
    if value is None:
        return DASH
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def clipped(value: str, limit: int) -> str:
    """At most ``limit`` characters, ending with an ellipsis when cut."""
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "\u2026"
