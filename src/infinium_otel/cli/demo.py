"""``infinium-otel demo``: an instrumented agent, exported, interpreted, logged.

It starts the local sandbox on a free loopback port (unless
``INFINIUM_AGENT_ID``, ``INFINIUM_AGENT_SECRET`` and ``INFINIUM_BASE_URL`` are
all set, in which case it talks to that endpoint), runs two short agent runs
made with the ``agent``/``tool``/``step`` helpers and a scripted model (no
provider key, no network beyond loopback), and prints Maestro's interpretation
of each run as a log line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind, Status, StatusCode

from infinium_otel.cli.arguments import Parser, non_negative_seconds, positive_seconds
from infinium_otel.instrumentation.helpers import agent, step, tool
from infinium_otel.setup import configure

__all__ = ["main", "run_demo"]

_log = logging.getLogger("infinium_otel.demo")
_CREDENTIAL_VARIABLES = ("INFINIUM_AGENT_ID", "INFINIUM_AGENT_SECRET", "INFINIUM_BASE_URL")


def scripted_chat(prompt: str, answer: str, *, input_tokens: int, output_tokens: int) -> str:
    """A stand-in model call that records the span an LLM instrumentation would."""
    tracer = trace.get_tracer("infinium_otel.demo")
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "demo",
        "gen_ai.request.model": "demo-model-1",
        "gen_ai.request.temperature": 0.2,
    }
    with tracer.start_as_current_span(
        "chat demo-model-1", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        time.sleep(0.02)
        span.set_attributes(
            {
                "gen_ai.response.model": "demo-model-1",
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"type": "text", "content": answer}],
                            "finish_reason": "stop",
                        }
                    ]
                ),
            }
        )
    return answer


@tool("get_weather")
def get_weather(city: str) -> dict[str, Any]:
    time.sleep(0.01)
    return {"city": city, "forecast": "sunny", "high_c": 24}


@tool("search_flights")
def search_flights(origin: str, destination: str) -> list[dict[str, Any]]:
    time.sleep(0.01)
    return [{"flight": "IO 204", "from": origin, "to": destination, "price_eur": 129}]


@tool("lookup_order")
def lookup_order(order_id: str) -> dict[str, Any]:
    raise TimeoutError(f"order service did not answer for {order_id}")


def trip_planner(request: str) -> str:
    with agent(
        "trip-planner",
        description="Plans a weekend trip from a traveller's request.",
        expected_outcome={
            "task_objective": "Propose a weekend itinerary with a flight and the forecast",
            "required_deliverables": ["flight option", "weather summary", "itinerary"],
        },
        sections={"customer": {"customer_name": "Ada Lovelace"}},
    ) as span:
        span.set_attribute("infinium.input_summary", request)
        scripted_chat(
            request,
            "I will check flights to Lisbon and the forecast.",
            input_tokens=42,
            output_tokens=12,
        )
        flights = search_flights("BER", "LIS")
        weather = get_weather("Lisbon")
        with step("compose itinerary"):
            plan = scripted_chat(
                f"Flights: {flights}. Weather: {weather}. Write the plan.",
                "Fly IO 204 on Friday; sunny, 24 C; Saturday Alfama, Sunday Belem.",
                input_tokens=120,
                output_tokens=48,
            )
        span.set_attribute("infinium.output_summary", plan)
        return plan


def support_agent(question: str) -> str:
    with agent(
        "support-desk",
        description="Answers an order question; recovers when the order service fails.",
        expected_outcome="Tell the customer where their order is",
    ) as span:
        span.set_attribute("infinium.input_summary", question)
        with contextlib.suppress(TimeoutError):
            lookup_order("A-1001")  # fails; the agent recovers and answers without it
        answer = scripted_chat(
            question,
            "Your order A-1001 has shipped; tracking follows by e-mail.",
            input_tokens=64,
            output_tokens=18,
        )
        span.set_status(Status(StatusCode.OK))
        span.set_attribute("infinium.output_summary", answer)
        return answer


def run_demo(*, timeout: float = 25.0, interpretation_delay: float = 2.0) -> int:
    """Run the demo; 0 when every run was delivered and interpreted."""
    use_remote = all(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    sandbox = None
    overrides: dict[str, Any] = {}
    if not use_remote:
        from infinium_otel.sandbox import Sandbox

        sandbox = Sandbox(interpretation_delay=interpretation_delay)
        sandbox.start()
        overrides = {
            "base_url": sandbox.url,
            "agent_id": sandbox.agent_id,
            "agent_secret": sandbox.agent_secret,
        }
        _log.info("local Infinium sandbox listening at %s", sandbox.url)
    else:
        _log.info("sending to %s", os.environ["INFINIUM_BASE_URL"])
    try:
        handle = configure(
            instrument=False,
            interpretation=["log"],
            poll_interval=1.0,
            poll_timeout=timeout,
            resource=Resource.create({"service.name": "infinium-otel-demo"}),
            **overrides,
        )
        print(trip_planner("A weekend in Lisbon from Berlin, leaving Friday"))
        print(support_agent("Where is my order A-1001?"))
        delivered = handle.flush(timeout=10.0)
        stats = handle.stats()
        _log.log(
            logging.INFO if delivered else logging.WARNING,
            "runs exported: %d, delivered: %d%s",
            stats.get("runs_exported", 0),
            stats.get("delivery_delivered", 0),
            "" if delivered else " (not every run was accepted; see the warnings above)",
        )
        interpreted = handle.wait_for_interpretations(timeout=timeout + 5)
        processor = handle.interpretation
        ready = processor.stats().get("ready", 0) if processor is not None else 0
        handle.shutdown(timeout=5.0)
    finally:
        if sandbox is not None:
            sandbox.stop()
    ok = delivered and interpreted and ready == 2
    if not ok:
        _log.error("demo incomplete: delivered=%s, interpretations ready=%d/2", delivered, ready)
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="infinium-otel demo",
        description="Run an instrumented agent against a local Infinium sandbox and print "
        "Maestro's interpretation as log lines.",
    )
    parser.add_argument(
        "--timeout", type=positive_seconds, default=25.0, help="seconds to wait (25)"
    )
    parser.add_argument(
        "--delay",
        type=non_negative_seconds,
        default=2.0,
        help="sandbox seconds until interpretation (2)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    return run_demo(timeout=args.timeout, interpretation_delay=args.delay)
