"""The run view as a person sees it: rendered by headless Chromium, measured in the page.

Skips with the reason when Debian's chromium, chromedriver or selenium is missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import requests

from infinium_otel.sandbox import Sandbox

from .browser import chromium, missing_browser
from .runs import NESTED_RUN_MS, record_nested_run, steps_payload
from .support import AUTH, payload

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))

WIDTH, HEIGHT = 1280, 900


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One Chromium for the module; each test sizes the window it needs."""
    with chromium(WIDTH, HEIGHT) as driver:
        yield driver


@pytest.fixture
def driver(browser: WebDriver) -> WebDriver:
    browser.set_window_size(WIDTH, HEIGHT)
    return browser


def post(sandbox: Sandbox, body: dict[str, Any]) -> str:
    answer = requests.post(
        f"{sandbox.url}/agents/{sandbox.agent_id}/trace", json=body, headers=AUTH, timeout=5
    )
    answer.raise_for_status()
    return str(answer.json()["traceId"])


def open_run(driver: WebDriver, sandbox: Sandbox, trace_id: str) -> None:
    driver.get(f"{sandbox.root_url}traces/{trace_id}")


def wait_until(driver: WebDriver, script: str, timeout: float) -> Any:
    """Poll a script until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = driver.execute_script(script)
        except Exception:  # the page is reloading under us; try again
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout} s: {script}")
        time.sleep(0.2)


@pytest.mark.timeout(90)
def test_bars_are_as_wide_as_their_steps_are_long(driver: WebDriver, sandbox: Sandbox) -> None:
    trace = record_nested_run(sandbox)
    open_run(driver, sandbox, trace.trace_id)
    drawn = driver.execute_script(
        """
        return [...document.querySelectorAll('.bar')].map(bar => {
          const box = bar.getBoundingClientRect();
          const track = bar.parentElement.getBoundingClientRect();
          return {step: Number(bar.dataset.step), ms: Number(bar.dataset.durationMs),
                  left: box.left - track.left, width: box.width, track: track.width};
        });
        """
    )
    assert len(drawn) == 6
    by_step = {bar["step"]: bar for bar in drawn}
    for bar in drawn:
        assert bar["width"] == pytest.approx(bar["track"] * bar["ms"] / NESTED_RUN_MS, abs=1.0)
    widths = sorted(drawn, key=lambda bar: bar["ms"])
    shortest, longest = widths[0], widths[-1]
    assert longest["width"] / shortest["width"] == pytest.approx(
        longest["ms"] / shortest["ms"], rel=0.05
    )
    steps = trace.payload["steps"]
    agent = next(s["step_number"] for s in steps if s["action"] == "agent")
    children = [s["step_number"] for s in steps if s["metadata"].get("parent_step") == agent]
    assert len(children) == 3
    first_child = min(children, key=lambda n: by_step[n]["left"])
    assert by_step[first_child]["left"] == pytest.approx(by_step[agent]["left"], abs=0.5)
    last = max(children, key=lambda n: by_step[n]["left"])
    agent_end = by_step[agent]["left"] + by_step[agent]["width"]
    assert by_step[last]["left"] + by_step[last]["width"] == pytest.approx(agent_end, abs=1.0)


@pytest.mark.timeout(90)
def test_error_rows_are_marked_with_readable_stack_traces(
    driver: WebDriver, sandbox: Sandbox
) -> None:
    trace = record_nested_run(sandbox)
    open_run(driver, sandbox, trace.trace_id)
    seen = driver.execute_script(
        """
        const rows = [...document.querySelectorAll('tr.step-row.error-row')];
        const stack = rows.length ? rows[0].querySelector('pre.stack') : null;
        const style = stack ? getComputedStyle(stack) : null;
        const bar = document.querySelector('.bar.is-error');
        return {
          rows: rows.map(r => r.innerText),
          rowBackground: rows.length ? getComputedStyle(rows[0].cells[1]).backgroundColor : '',
          whiteSpace: style ? style.whiteSpace : '',
          lineHeight: style ? parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize) : 0,
          stackHeight: stack ? stack.getBoundingClientRect().height : 0,
          stackText: stack ? stack.innerText : '',
          barVisible: bar ? bar.getBoundingClientRect().width > 0 : false,
          legend: document.querySelector('.legend').innerText,
        };
        """
    )
    assert len(seen["rows"]) == 1
    assert (
        "error" in seen["rows"][0]
        and "ConnectionError: seat service refused 12A" in (seen["rows"][0])
    )
    red, green, blue = (int(part) for part in seen["rowBackground"][4:-1].split(",")[:3])
    assert red > green and red > blue  # a red-tinted row
    assert seen["whiteSpace"] == "pre-wrap"
    assert seen["stackText"].count("\n") >= 4
    assert seen["stackHeight"] > 4 * seen["lineHeight"]  # rendered on several lines
    assert seen["barVisible"]
    for label in ("LLM call", "tool call", "sub-agent", "error"):
        assert label in seen["legend"]


@pytest.mark.timeout(90)
def test_a_long_verdict_wraps_inside_the_viewport(driver: WebDriver, sandbox: Sandbox) -> None:
    driver.set_window_size(800, 900)
    name = "averylongrunname" * 29  # 464 characters with no place to break a line
    trace_id = post(sandbox, payload(name=name))
    sandbox.make_ready(trace_id)
    open_run(driver, sandbox, trace_id)
    seen = driver.execute_script(
        """
        const verdict = document.getElementById('verdict');
        const box = verdict.getBoundingClientRect();
        const style = getComputedStyle(verdict);
        return {text: verdict.innerText, right: box.right, width: box.width,
                scrollWidth: verdict.scrollWidth, clientWidth: verdict.clientWidth,
                height: box.height, viewport: document.documentElement.clientWidth,
                line: parseFloat(style.lineHeight) || 1.45 * parseFloat(style.fontSize)};
        """
    )
    assert seen["text"].startswith(f"Run '{name}' took 2.25 s")
    assert seen["width"] <= seen["viewport"]
    assert seen["right"] <= seen["viewport"]
    assert seen["scrollWidth"] <= seen["clientWidth"]  # no text runs out of the box
    assert seen["height"] > 3 * seen["line"]


@pytest.mark.timeout(90)
def test_the_page_reloads_itself_until_the_verdict_is_ready(driver: WebDriver) -> None:
    with Sandbox(interpretation_delay=2.0) as slow:
        trace_id = post(slow, payload(name="slow-run"))
        open_run(driver, slow, trace_id)
        assert "not ready yet" in driver.find_element("id", "verdict").text
        assert driver.find_elements("css selector", "meta[http-equiv='refresh']")
        wait_until(
            driver,
            "const v = document.getElementById('verdict');"
            "return v && v.innerText.includes('not from Maestro');",
            timeout=10,
        )
        assert not driver.find_elements("css selector", "meta[http-equiv='refresh']")
        assert driver.find_element("id", "interpretation").text.endswith("ready")
        pages = [r for r in slow.requests if r.path == f"/traces/{trace_id}"]
        assert len(pages) >= 2  # the browser came back on its own


@pytest.mark.timeout(90)
def test_a_hostile_payload_runs_no_script(driver: WebDriver, sandbox: Sandbox) -> None:
    attack = "<img src=x onerror=\"document.title='owned'\"><script>window.owned=1</script>"
    body = payload(name=attack, description=attack)
    body["steps"][0]["input_preview"] = attack
    trace_id = post(sandbox, body)
    sandbox.make_ready(trace_id)
    for url in (f"{sandbox.root_url}traces/{trace_id}", sandbox.root_url):
        driver.get(url)
        assert driver.execute_script("return window.owned === undefined")
        assert driver.title != "owned" and driver.title.endswith("infinium-otel sandbox")
        assert not driver.find_elements("css selector", "main img, main script")
    open_run(driver, sandbox, trace_id)
    assert driver.find_element("tag name", "h1").text == attack


@pytest.mark.timeout(90)
def test_list_page_filters_by_name_in_the_browser(driver: WebDriver, sandbox: Sandbox) -> None:
    for name in ("billing-agent", "travel-agent", "billing-refund"):
        post(sandbox, steps_payload([100, 50], name=name))
    driver.get(sandbox.root_url)
    names = "return [...document.querySelectorAll('tr.run-row a')].map(a => a.innerText)"
    assert driver.execute_script(names) == ["billing-refund", "travel-agent", "billing-agent"]
    box = driver.find_element("name", "q")
    box.send_keys("BILLING")
    box.submit()
    wait_until(driver, "return location.search.includes('q=BILLING')", timeout=10)
    assert driver.execute_script(names) == ["billing-refund", "billing-agent"]
    driver.find_element("link text", "billing-agent").click()
    wait_until(driver, "return location.pathname.startsWith('/traces/')", timeout=10)
    assert driver.find_element("tag name", "h1").text == "billing-agent"
