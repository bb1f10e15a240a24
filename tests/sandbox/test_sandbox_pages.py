"""The HTML pages and the JSON listing of received traces."""

from __future__ import annotations

import uuid

from infinium_otel.sandbox import Sandbox

from .support import Api, payload

HOSTILE = "<script>alert('x')</script>"


def test_index_lists_traces_and_escapes_names(api: Api, sandbox: Sandbox) -> None:
    trace_id = api.post_trace(payload(name=f"run {HOSTILE}")).json()["traceId"]
    page = api.session.get(sandbox.root_url)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert HOSTILE not in page.text
    assert "&lt;script&gt;" in page.text
    assert f"/traces/{trace_id}" in page.text
    # duration, steps, LLM calls, total tokens, errors
    cells = "<td class='num'>2.25 s</td><td class='num'>2</td><td class='num'>1</td>"
    assert cells + "<td class='num'>150</td><td class='num'>1</td>" in page.text
    assert "processing" in page.text


def test_index_says_when_empty(api: Api, sandbox: Sandbox) -> None:
    assert "No traces received yet" in api.session.get(sandbox.root_url).text


def test_detail_page_shows_payload_and_interpretation(api: Api, sandbox: Sandbox) -> None:
    trace_id = api.post_trace(payload(description=HOSTILE)).json()["traceId"]
    url = f"{sandbox.root_url}traces/{trace_id}"
    before = api.session.get(url)
    assert before.status_code == 200
    assert "Processing" in before.text
    assert HOSTILE not in before.text
    assert "&lt;script&gt;" in before.text
    sandbox.make_ready(trace_id)
    after = api.session.get(url)
    assert "not Maestro" in after.text
    assert "gpt-4o-mini" in after.text


def test_detail_page_for_unknown_trace_is_404_and_escaped(api: Api, sandbox: Sandbox) -> None:
    assert api.session.get(f"{sandbox.root_url}traces/{uuid.uuid4()}").status_code == 404
    page = api.session.get(f"{sandbox.root_url}traces/%3Cscript%3E")
    assert page.status_code == 404
    assert "<script>" not in page.text


def test_json_listing(api: Api, sandbox: Sandbox) -> None:
    first = api.post_trace(payload(name="first")).json()["traceId"]
    second = api.post_trace(payload(name="second", steps=None)).json()["traceId"]
    sandbox.make_ready(first)
    listing = api.session.get(f"{sandbox.root_url}api/sandbox/traces").json()
    assert listing["count"] == listing["total"] == 2
    # Newest first.
    assert [(t["traceId"], t["name"]) for t in listing["traces"]] == [
        (second, "second"),
        (first, "first"),
    ]
    assert [t["steps"] for t in listing["traces"]] == [0, 2]
    assert [t["interpretation"] for t in listing["traces"]] == ["processing", "ready"]
    assert listing["traces"][1]["totalTokens"] == 150
    assert listing["traces"][1]["receivedAt"].endswith("Z")

    item = api.session.get(f"{sandbox.root_url}api/sandbox/traces/{first}").json()
    assert item["payload"]["name"] == "first"
    assert item["interpretedTraceResult"]["steps"] == 2
    missing = api.session.get(f"{sandbox.root_url}api/sandbox/traces/{uuid.uuid4()}")
    assert missing.status_code == 404


def test_pages_escape_untrusted_values_of_any_type() -> None:
    hostile = {
        "name": {HOSTILE: HOSTILE},
        "description": HOSTILE,
        "steps": HOSTILE,
        "llm_usage": {"total_tokens": HOSTILE, "calls": HOSTILE},
        "duration": HOSTILE,
        HOSTILE: [HOSTILE],
    }
    with Sandbox(strict=False, interpretation_delay=0.0) as loose:
        client = Api(loose)
        trace_id = client.post_trace(hostile).json()["traceId"]
        pages = [
            client.session.get(loose.root_url),
            client.session.get(f"{loose.root_url}traces/{trace_id}"),
        ]
        client.session.close()
    loose.close()
    for page in pages:
        assert page.status_code == 200
        assert "<script>" not in page.text
        assert "&lt;script&gt;" in page.text
