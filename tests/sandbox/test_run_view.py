"""The run view, the list page and the JSON listing, read over real HTTP from the sandbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infinium_otel.sandbox import Sandbox
from infinium_otel.sandbox.view.facts import MAX_RENDERED_STEPS, timeline, tree_order
from infinium_otel.sandbox.view.query import LISTING_LIMIT_MAX, PAGE_SIZE

from . import browser
from .runs import NESTED_RUN_MS, NESTED_STEPS, record_nested_run, steps_payload
from .support import AUTH, MINIMAL_PAYLOAD, Api, payload

HOSTILE = '<script>alert("x")</script>\'"&'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27;&quot;&amp;"
_BAR = re.compile(
    r"data-step='(\d+)' data-duration-ms='([^']*)' title='[^']*' "
    r"style='left:([0-9.]+)%;width:([0-9.]+)%'"
)


def bars(page: str) -> dict[int, tuple[float, float]]:
    """Step number -> (left %, width %) of each timeline bar, in page order."""
    return {int(m[1]): (float(m[3]), float(m[4])) for m in _BAR.finditer(page)}


def run_url(sandbox: Sandbox, trace_id: str) -> str:
    return f"{sandbox.root_url}traces/{trace_id}"


def test_run_view_header_and_refresh_until_ready(api: Api, sandbox: Sandbox) -> None:
    trace = record_nested_run(sandbox)
    before = api.session.get(run_url(sandbox, trace.trace_id), timeout=5)
    assert before.status_code == 200
    assert "<meta http-equiv='refresh' content='2'>" in before.text
    assert "Processing: the interpretation is not ready yet" in before.text
    for ident, shown in (
        ("status", "recovered"),
        ("duration", "3 s"),
        ("steps", "6"),
        ("llm-calls", "3"),
        ("tokens", "350"),
        ("errors", "1"),
        ("cost", "\u2013"),
        ("interpretation", "processing"),
    ):
        assert re.search(f"<li id='{ident}'><b>[^<]*</b>(<span[^>]*>)?{shown}<", before.text), ident

    sandbox.make_ready(trace.trace_id)
    after = api.session.get(run_url(sandbox, trace.trace_id), timeout=5)
    assert "http-equiv='refresh'" not in after.text
    verdict = re.search(r"<p id='verdict' class='verdict'>([^<]*)</p>", after.text)
    assert verdict is not None
    assert verdict[1].startswith("Run &#x27;trip-planner&#x27; took 3 s over 6 steps")
    assert "not from Maestro" in verdict[1]


def test_run_view_sends_a_policy_that_forbids_scripts(api: Api, sandbox: Sandbox) -> None:
    trace_id = api.post_trace(payload()).json()["traceId"]
    for url in (run_url(sandbox, trace_id), sandbox.root_url):
        answer = api.session.get(url, timeout=5)
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script" not in answer.text


def test_timeline_places_real_steps_parent_first(api: Api, sandbox: Sandbox) -> None:
    """The exporter's steps, drawn where their spans really were, each parent above its children.

    With sequential work the estimate from durations and nesting is exact, so the bars
    must match the spans' real start and end times.
    """
    trace = record_nested_run(sandbox)
    page = api.session.get(run_url(sandbox, trace.trace_id), timeout=5).text
    drawn = bars(page)
    numbers = {step["description"]: step["step_number"] for step in trace.payload["steps"]}
    agent = numbers["agent booking-agent"]
    assert list(drawn)[:3] == [1, 2, agent]  # the sub-agent before its first child
    assert len(drawn) == 6
    expected = {
        1: NESTED_STEPS["plan"],
        2: NESTED_STEPS["search_flights"],
        agent: NESTED_STEPS["booking-agent"],
    }
    for step in trace.payload["steps"]:
        if step["metadata"].get("parent_step") == agent:
            expected[step["step_number"]] = {
                "chat gpt-4o-mini": NESTED_STEPS["quote"]
                if step.get("input_preview") == "Quote IO 204"
                else NESTED_STEPS["confirm"],
                "tool book_seat": NESTED_STEPS["book_seat"],
            }[step["description"]]
    for number, (start, end) in expected.items():
        left, width = drawn[number]
        assert left == pytest.approx(start / NESTED_RUN_MS * 100, abs=0.01), number
        assert width == pytest.approx((end - start) / NESTED_RUN_MS * 100, abs=0.01), number
    assert "Start offsets are estimated" in page


def test_timeline_uses_start_offsets_when_given(api: Api, sandbox: Sandbox) -> None:
    body = steps_payload([500, 250])
    for step in body["steps"]:  # both started together
        step["metadata"]["start_offset_ms"] = 0
    trace_id = api.post_trace(body).json()["traceId"]
    page = api.session.get(run_url(sandbox, trace_id), timeout=5).text
    drawn = bars(page)
    assert drawn[1] == (0.0, pytest.approx(200 / 3, abs=0.001))
    assert drawn[2] == (0.0, pytest.approx(100 / 3, abs=0.001))
    assert "Start offsets come from the steps' metadata" in page


def test_kinds_and_errors_are_labelled_in_text(api: Api, sandbox: Sandbox) -> None:
    trace = record_nested_run(sandbox)
    page = api.session.get(run_url(sandbox, trace.trace_id), timeout=5).text
    for label in ("LLM call", "tool call", "sub-agent", "error (red, striped)"):
        assert label in page
    failed = re.search(r"<tr class='step-row error-row' data-step='(\d+)'>(.*?)</tr>", page, re.S)
    assert failed is not None
    assert "<span class='tag error'>error</span>book_seat" in failed[2]
    assert "<b>ConnectionError</b>: seat service refused 12A" in failed[2]
    stack = re.search(r"<pre class='stack'>(.*?)</pre>", failed[2], re.S)
    assert stack is not None
    assert stack[1].count("\n") >= 4  # real newlines, not <br> or a literal backslash-n
    assert stack[1].rstrip().endswith("ConnectionError: seat service refused 12A")
    assert page.count("class='tl-row error-row'") == 1


def test_hostile_payload_is_escaped_everywhere(api: Api, sandbox: Sandbox) -> None:
    body = payload(name=f"run {HOSTILE}", description=HOSTILE, input_summary=HOSTILE)
    first, second = body["steps"]
    first["description"] = HOSTILE
    first["input_preview"] = HOSTILE
    first["output_preview"] = HOSTILE
    first["llm_call"]["model"] = HOSTILE
    second["tool_call"]["tool_name"] = HOSTILE
    second["error"] = {"error_type": HOSTILE, "message": HOSTILE, "stack_trace": HOSTILE}
    body["errors"] = [second["error"]]
    trace_id = api.post_trace(body).json()["traceId"]
    sandbox.make_ready(trace_id)
    pages = [
        api.session.get(run_url(sandbox, trace_id), timeout=5).text,
        api.session.get(sandbox.root_url, params={"q": HOSTILE}, timeout=5).text,
        api.session.get(sandbox.root_url, params={"q": "run"}, timeout=5).text,
    ]
    for page in pages:
        assert "<script" not in page
        assert HOSTILE not in page
    run_page, no_match, listed = pages
    assert run_page.count(ESCAPED) >= 10
    assert f"value='{ESCAPED}'" in no_match  # the filter box shows what was typed, inertly
    assert f"run {ESCAPED}</a>" in listed


def test_list_page_newest_first_filtered_and_paged(api: Api, sandbox: Sandbox) -> None:
    total = PAGE_SIZE + 5
    for n in range(total):
        api.post_trace({**MINIMAL_PAYLOAD, "name": f"run-{n:03d}"}).raise_for_status()

    def names(**params: str) -> list[str]:
        page = api.session.get(sandbox.root_url, params=params, timeout=5)
        assert page.status_code == 200
        return re.findall(r"<a href='/traces/[0-9a-f-]+'>([^<]+)</a>", page.text)

    first = names()
    assert len(first) == PAGE_SIZE
    assert first[:2] == [f"run-{total - 1:03d}", f"run-{total - 2:03d}"]
    assert names(page="2") == [f"run-{n:03d}" for n in range(4, -1, -1)]
    assert names(q="RUN-05") == [f"run-{n:03d}" for n in range(54, 49, -1)]
    assert names(q="run-0", page="2") == [f"run-{n:03d}" for n in range(4, -1, -1)]

    page_one = api.session.get(sandbox.root_url, params={"q": "run"}, timeout=5).text
    assert "<a rel='next' href='/?q=run&amp;page=2'>Older</a>" in page_one
    assert "Page 1 of 2" in page_one
    past = api.session.get(sandbox.root_url, params={"page": "9"}, timeout=5)
    assert past.status_code == 200 and "past the last page (2)" in past.text
    empty = api.session.get(sandbox.root_url, params={"q": "nothing"}, timeout=5).text
    assert "No run name contains" in empty
    for bad in ("0", "-1", "two", "1e3", "99999999999"):
        refused = api.session.get(sandbox.root_url, params={"page": bad}, timeout=5)
        assert refused.status_code == 400, bad
        assert "page must be a whole number" in refused.text


def test_json_listing_newest_first_with_a_checked_limit(api: Api, sandbox: Sandbox) -> None:
    ids = [api.post_trace({**MINIMAL_PAYLOAD, "name": f"n{n}"}).json()["traceId"] for n in range(3)]
    url = f"{sandbox.root_url}api/sandbox/traces"
    full = api.session.get(url, timeout=5).json()
    assert [t["traceId"] for t in full["traces"]] == ids[::-1]
    assert full["count"] == full["total"] == 3
    two = api.session.get(url, params={"limit": "2"}, timeout=5).json()
    assert [t["name"] for t in two["traces"]] == ["n2", "n1"]
    assert (two["count"], two["total"]) == (2, 3)
    assert api.session.get(url, params={"limit": str(LISTING_LIMIT_MAX)}, timeout=5).ok
    for bad in ("0", "-3", "ten", "", "2.5", str(LISTING_LIMIT_MAX + 1)):
        refused = api.session.get(url, params={"limit": bad}, timeout=5)
        assert refused.status_code == 400, bad
        assert refused.headers["Content-Type"].startswith("application/json")
        assert (
            f"limit must be a whole number from 1 to {LISTING_LIMIT_MAX:,}"
            in (refused.json()["message"])
        )


def test_a_3000_step_run_renders_a_capped_page(api: Api, sandbox: Sandbox) -> None:
    body = steps_payload([5] * 3000)
    for step in body["steps"][1:]:
        step["metadata"] = {"depth": 2, "parent_step": 1}
    trace_id = api.post_trace(body).json()["traceId"]
    page = api.session.get(run_url(sandbox, trace_id), timeout=10).text
    assert len(bars(page)) == MAX_RENDERED_STEPS
    assert page.count("class='step-row") == MAX_RENDERED_STEPS
    assert f"Showing the first {MAX_RENDERED_STEPS} of 3,000 steps" in page
    assert len(page) < 2_000_000


@pytest.fixture
def lenient() -> Iterator[Sandbox]:
    sb = Sandbox(interpretation_delay=0.0, strict=False).start()
    try:
        yield sb
    finally:
        sb.close()


def test_malformed_payloads_still_render(lenient: Sandbox) -> None:
    odd: list[dict[str, Any]] = [
        {"name": 42, "steps": "many", "errors": {"x": 1}, "duration": "long"},
        {
            "steps": [
                "not a step",
                {"step_number": 1, "metadata": {"parent_step": 2, "depth": "deep"}},
                {"step_number": 2, "metadata": {"parent_step": 1}, "duration_ms": -5},
                {"step_number": 2, "metadata": {"parent_step": 2}, "llm_call": "gpt"},
                {"step_number": True, "metadata": [], "error": "boom", "tool_call": {"error": 1}},
            ],
            "llm_usage": {"estimated_cost_usd": "free", "total_tokens": 10**30},
            "environment": {"custom_tags": "none"},
        },
    ]
    with requests.Session() as session:
        for body in odd:
            url = f"{lenient.url}/agents/{lenient.agent_id}/trace"
            trace_id = session.post(url, json=body, headers=AUTH, timeout=5).json()["traceId"]
            page = session.get(run_url(lenient, trace_id), timeout=5)
            assert page.status_code == 200, page.text[:500]
        assert len(_BAR.findall(page.text)) == 4  # every mapping step drawn once, loops included
        assert session.get(lenient.root_url, timeout=5).status_code == 200


def test_tree_order_survives_loops_and_deep_chains() -> None:
    looped = [
        {"step_number": 1, "metadata": {"parent_step": 2}},
        {"step_number": 2, "metadata": {"parent_step": 1}},
        {"step_number": 3},
        {"step_number": 4, "metadata": {"parent_step": 3}},
    ]
    assert tree_order(looped) == [(2, None), (3, 3), (0, None), (1, 1)]
    chain = [{"step_number": n, "metadata": {"parent_step": n - 1}} for n in range(1, 3001)]
    assert [index for index, _ in tree_order(chain)] == list(range(3000))
    deep = timeline({"steps": [{**s, "duration_ms": 1} for s in chain], "duration": 0.001})
    assert len(deep.steps) == MAX_RENDERED_STEPS
    assert all(step.start_ms == 0 for step in deep.steps)  # each child starts with its parent


def test_browser_tests_skip_with_a_reason_without_chromium(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    assert browser.missing_browser() == (
        f"no chromium: {tmp_path / 'no-chromium'} is absent "
        "(apt-get install chromium chromium-driver)"
    )
    with pytest.raises(pytest.skip.Exception, match=r"^no chromium: "), browser.chromium():
        pass
