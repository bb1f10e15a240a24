"""Quickstart: an agent's runs go to Infinium and Maestro's verdict comes back as a log line.

Run it as ``python examples/quickstart.py``. Without INFINIUM_* credentials it
starts the local sandbox, so it needs no account and no network. With
INFINIUM_AGENT_ID, INFINIUM_AGENT_SECRET and INFINIUM_BASE_URL set it talks to
that endpoint instead.
"""

from __future__ import annotations

import logging
import os

import infinium_otel
from infinium_otel import agent, step, tool
from infinium_otel.sandbox import Sandbox

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@tool("lookup_inventory")
def lookup_inventory(sku: str) -> dict[str, object]:
    return {"sku": sku, "in_stock": 12}


def restock_agent(sku: str) -> str:
    with agent("restock-agent", expected_outcome="Decide whether to reorder a product"):
        stock = lookup_inventory(sku)
        with step("decide"):
            return "reorder" if int(str(stock["in_stock"])) < 20 else "hold"


def main() -> int:
    settings = {}
    sandbox = None
    if not os.environ.get("INFINIUM_AGENT_ID"):
        sandbox = Sandbox(interpretation_delay=1.0).start()
        settings = {
            "base_url": sandbox.url,
            "agent_id": sandbox.agent_id,
            "agent_secret": sandbox.agent_secret,
        }
    try:
        handle = infinium_otel.configure(interpretation=["log"], poll_interval=1.0, **settings)
        print("decision:", restock_agent("SKU-42"))
        handle.flush(timeout=10)  # the run is now in Infinium
        handle.wait_for_interpretations(timeout=30)  # Maestro's verdict was logged
        return 0 if handle.shutdown(timeout=5) else 1
    finally:
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    raise SystemExit(main())
