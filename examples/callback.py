"""Receive each interpretation outcome in your own code with ``on_result``.

The callback runs on the poller's thread: keep it short (hand work to a queue
if it is slow). Outcomes are ``ready``, ``timed_out`` or ``failed``.
"""

from __future__ import annotations

import infinium_otel
from infinium_otel import InterpretationOutcome, InterpretationProcessor, agent, tool
from infinium_otel.sandbox import Sandbox

outcomes: list[InterpretationOutcome] = []


@tool("classify")
def classify(ticket: str) -> str:
    return "billing" if "invoice" in ticket else "general"


def main() -> int:
    with Sandbox(interpretation_delay=0.5) as sandbox:
        credentials = {
            "base_url": sandbox.url,
            "agent_id": sandbox.agent_id,
            "agent_secret": sandbox.agent_secret,
        }
        processor = InterpretationProcessor(
            settings=infinium_otel.Settings.load(**credentials),
            sinks=[],
            poll_interval=1.0,
            on_result=outcomes.append,
        )
        handle = infinium_otel.configure(interpretation=processor, instrument=False, **credentials)
        with agent("triage"):
            classify("Where is my invoice?")
        handle.flush(timeout=10)
        handle.wait_for_interpretations(timeout=20)
        handle.shutdown(timeout=5)
    for outcome in outcomes:
        print(f"{outcome.status}: trace {outcome.trace_id_hex} -> {outcome.result}")
    return 0 if outcomes and outcomes[0].status == "ready" else 1


if __name__ == "__main__":
    raise SystemExit(main())
