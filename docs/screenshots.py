"""Take the sandbox screenshots shown in docs/sandbox.md (run by hand, not in CI).

    PYTHONPATH=src python docs/screenshots.py

Starts an in-memory sandbox, sends runs to it through the real OpenTelemetry SDK and
the exporter (the same runs the run-view tests use), and saves the list page and one
run view from headless Chromium to docs/sandbox-list.png and docs/sandbox-run.png.
Needs Debian's chromium and chromedriver and the selenium package.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from infinium_otel.sandbox import Sandbox  # noqa: E402
from sandbox.browser import chromium, missing_browser  # noqa: E402
from sandbox.runs import record_nested_run, steps_payload  # noqa: E402
from sandbox.support import AUTH, payload  # noqa: E402

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

WIDTH = 1280


def full_page(driver: WebDriver, url: str, path: Path) -> None:
    """Load ``url`` in a window as tall as the page and save it as a PNG."""
    driver.set_window_size(WIDTH, 900)
    driver.get(url)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, int(height) + 140)
    driver.get(url)
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    reason = missing_browser()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    with Sandbox(interpretation_delay=3600.0) as sandbox:
        trace_url = f"{sandbox.url}/agents/{sandbox.agent_id}/trace"

        def post(body: dict[str, object]) -> str:
            answer = requests.post(trace_url, json=body, headers=AUTH, timeout=5)
            answer.raise_for_status()
            return str(answer.json()["traceId"])

        crash = {"error_type": "KeyError", "message": "'order_id'", "recoverable": False}
        for trace_id in (
            post(payload()),
            post(payload(name="order-lookup", errors=[crash])),
            post(steps_payload([900, 300, 1200, 200], name="research-assistant")),
        ):
            sandbox.make_ready(trace_id)
        shown = record_nested_run(sandbox)
        sandbox.make_ready(shown.trace_id)
        post(payload(name="billing-agent"))  # its interpretation stays "processing"
        with chromium(WIDTH, 900) as driver:
            full_page(driver, sandbox.root_url, ROOT / "docs" / "sandbox-list.png")
            full_page(
                driver,
                f"{sandbox.root_url}traces/{shown.trace_id}",
                ROOT / "docs" / "sandbox-run.png",
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
