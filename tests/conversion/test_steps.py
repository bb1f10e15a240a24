"""Which spans become steps, in what order, and how LLM usage is counted once."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind

from infinium_otel.payload.convert import convert_run

from .builder import MS, Trace
from .checks import check_payload

AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "agent"}


def _chat(model: str = "gpt-4o-mini", tokens: tuple[int, int] = (100, 20)) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
    }


def _end(span: Any, at: float) -> None:
    span.end(end_time=span.start_time + int(at * MS))


def test_nested_llm_spans_of_two_instrumentations_are_one_call() -> None:
    t = Trace()
    root = t.start("invoke_agent agent", AGENT)
    outer = t.start(
        "chat gpt-4o-mini",
        _chat(),
        parent=root,
        at=1,
        scope="opentelemetry.instrumentation.openai_v2",
        kind=SpanKind.CLIENT,
    )
    inner = t.span(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.token_count.prompt": 100,
            "llm.token_count.completion": 20,
            "llm.invocation_parameters": '{"temperature": 0.5}',
            "output.value": "hello",
        },
        parent=outer,
        at=2,
        until=40,
        scope="openinference.instrumentation.openai",
    )
    t.span(
        "POST",
        {"http.request.method": "POST", "server.address": "api.openai.com"},
        parent=inner,
        at=3,
        until=39,
        kind=SpanKind.CLIENT,
    )
    outer.end(end_time=root.start_time + 41 * MS)
    _end(root, 50)
    payload = check_payload(convert_run(t.run(root)))
    (step,) = payload["steps"]
    assert step["llm_call"] == {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "latency_ms": 40,
        "temperature": 0.5,  # filled from the inner span
    }
    assert step["output_preview"] == "hello"
    assert step["metadata"]["span_id"] == f"{outer.context.span_id:016x}"
    usage = payload["llm_usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        100,
        20,
        120,
    )
    assert usage["api_calls_count"] == 1
    assert payload["sections"]["general"]["external_apis_called"] == ["api.openai.com"]
    assert payload["environment"]["framework"] == "openai"


def test_transport_under_llm_or_tool_is_not_a_step_but_elsewhere_is() -> None:
    t = Trace()
    root = t.start("invoke_agent agent", AGENT)
    chat = t.start("chat", _chat(), parent=root, at=1)
    t.span(
        "POST", {"http.request.method": "POST"}, parent=chat, at=2, until=3, kind=SpanKind.CLIENT
    )
    _end(chat, 4)
    tool = t.start(
        "execute_tool fetch",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch"},
        parent=root,
        at=5,
    )
    get = t.start(
        "GET",
        {"http.request.method": "GET", "http.response.status_code": 404},
        parent=tool,
        at=6,
        kind=SpanKind.CLIENT,
    )
    t.span("connect", {}, parent=get, at=6.5, until=6.8)
    _end(get, 7)
    _end(tool, 8)
    t.span("GET", {"http.request.method": "GET"}, parent=root, at=9, until=10, kind=SpanKind.CLIENT)
    t.span("db query", {"db.system": "sqlite"}, parent=root, at=11, until=12)
    _end(root, 13)
    payload = check_payload(convert_run(t.run(root)))
    steps = payload["steps"]
    assert [(s["action"], s["description"]) for s in steps] == [
        ("llm_call", "chat gpt-4o-mini"),
        ("tool_use", "tool fetch"),
        ("operation", "GET"),
        ("operation", "db query"),
    ]
    assert steps[1]["tool_call"]["http_status"] == 404
    assert [s["step_number"] for s in steps] == [1, 2, 3, 4]


def test_agent_aggregate_is_not_added_to_its_calls() -> None:
    t = Trace()
    root = t.start("invoke_agent agent", {**AGENT, "gen_ai.usage.input_tokens": 999})
    sub = t.start(
        "invoke_agent researcher",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "researcher",
            "gen_ai.usage.input_tokens": 300,
            "gen_ai.usage.output_tokens": 30,
        },
        parent=root,
        at=1,
    )
    t.span("chat", _chat(tokens=(100, 10)), parent=sub, at=2, until=3)
    t.span("chat", _chat(tokens=(200, 20)), parent=sub, at=4, until=5)
    _end(sub, 6)
    # A sub-agent with only its aggregate: it counts, as one call.
    t.span(
        "invoke_agent summariser",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "summariser",
            "gen_ai.request.model": "claude-3-haiku",
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 5,
        },
        parent=root,
        at=7,
        until=8,
    )
    _end(root, 9)
    payload = check_payload(convert_run(t.run(root)))
    usage = payload["llm_usage"]
    assert usage["prompt_tokens"] == 100 + 200 + 50
    assert usage["completion_tokens"] == 10 + 20 + 5
    assert usage["api_calls_count"] == 3
    assert usage["model"] == "multiple"
    assert [s["description"] for s in payload["steps"]] == [
        "agent researcher",
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "agent summariser",
    ]
    assert "llm_call" not in payload["steps"][0]
    assert payload["steps"][3]["llm_call"]["model"] == "claude-3-haiku"
    assert usage["calls"] == [s["llm_call"] for s in payload["steps"] if "llm_call" in s]


def test_root_aggregate_counts_when_no_call_does() -> None:
    t = Trace()
    root = t.span(
        "invoke_agent agent",
        {
            **AGENT,
            "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 7,
            "gen_ai.usage.output_tokens": 3,
        },
        until=2,
    )
    payload = check_payload(convert_run(t.run(root)))
    assert payload["llm_usage"]["total_tokens"] == 10
    assert payload["llm_usage"]["api_calls_count"] == 1
    assert "steps" not in payload


def test_order_depth_and_parent_step() -> None:
    t = Trace()
    root = t.start("invoke_agent agent", AGENT)
    late = t.span("late op", {}, parent=root, at=50, until=60)
    sub = t.start(
        "invoke_agent sub",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "sub"},
        parent=root,
        at=10,
    )
    t.span("chat", _chat(), parent=sub, at=20, until=30)
    tie_b = t.span("tie long", {}, parent=sub, at=31, until=40)
    tie_a = t.span("tie short", {}, parent=sub, at=31, until=35)
    _end(sub, 45)
    _end(root, 70)
    payload = check_payload(convert_run(t.run(root)))
    rows = [
        (
            s["step_number"],
            s["description"],
            s["metadata"]["depth"],
            s["metadata"].get("parent_step"),
        )
        for s in payload["steps"]
    ]
    assert rows == [
        (1, "agent sub", 1, None),
        (2, "chat gpt-4o-mini", 2, 1),
        (3, "tie short", 2, 1),
        (4, "tie long", 2, 1),
        (5, "late op", 1, None),
    ]
    assert tie_a.context.span_id != tie_b.context.span_id != late.context.span_id
    assert payload["steps"][0]["action"] == "agent"
    assert payload["steps"][2]["metadata"]["kind"] == "other"
    assert payload["steps"][2]["metadata"]["instrumentation"] == "test.app"


def test_partial_run_with_unended_root_and_missing_parents() -> None:
    t = Trace()
    root = t.start("invoke_agent agent", AGENT)
    lost = t.start("lost parent", {}, parent=root, at=1)  # never ends, so never exported
    t.span("chat", _chat(), parent=lost, at=2, until=30)
    payload = check_payload(convert_run(t.run(root, partial=True, reason="ttl expired")))
    assert payload["environment"]["custom_tags"]["partial"] == "true"
    assert payload["environment"]["custom_tags"]["partial_reason"] == "ttl expired"
    assert "partial run (ttl expired)" in payload["description"]
    (step,) = payload["steps"]
    assert step["metadata"]["depth"] == 1
    # No root end: the latest end in the run marks the time, the duration follows it.
    assert payload["duration"] == 0.03
    assert payload["current_datetime"] == "2025-10-09T08:53:20.030Z"
    assert "end_time" in payload["sections"]["time_tracking"]


def test_a_run_from_another_language_names_its_runtime_not_this_python() -> None:
    t = Trace(
        resource={
            "service.name": "web",
            "telemetry.sdk.language": "nodejs",
            "process.runtime.name": "nodejs",
            "process.runtime.version": "20.20.2",
        }
    )
    root = t.span("invoke_agent agent", AGENT, until=20)
    env = check_payload(convert_run(t.run(root)))["environment"]
    assert env["runtime"] == "nodejs"
    assert "python_version" not in env
    assert env["custom_tags"]["process.runtime.version"] == "20.20.2"


def test_a_python_run_keeps_the_python_version_its_resource_gives() -> None:
    t = Trace(resource={"telemetry.sdk.language": "python", "process.runtime.version": "3.12.1"})
    root = t.span("invoke_agent agent", AGENT, until=20)
    env = check_payload(convert_run(t.run(root)))["environment"]
    assert (env["runtime"], env["python_version"]) == ("python", "3.12.1")
    assert "process.runtime.version" not in env["custom_tags"]


def test_root_times_duration_and_tags() -> None:
    t = Trace(
        resource={
            "service.name": "svc",
            "service.version": "1.2",
            "deployment.environment.name": "prod",
        }
    )
    root = t.span("invoke_agent agent", AGENT, until=1234.5678)
    payload = check_payload(convert_run(t.run(root), sdk_version="9.9.9"))
    assert payload["duration"] == 1.234568
    assert payload["current_datetime"] == "2025-10-09T08:53:21.234Z"
    env = payload["environment"]
    assert env["sdk_version"] == "infinium-otel 9.9.9"
    assert env["runtime"] == "python"
    assert env["custom_tags"] == {
        "otel.trace_id": f"{root.context.trace_id:032x}",
        "otel.span_id": f"{root.context.span_id:016x}",
        "service.name": "svc",
        "service.version": "1.2",
        "deployment.environment.name": "prod",
    }


def test_negative_and_huge_durations_are_clamped() -> None:
    t = Trace()
    root = t.start("invoke_agent agent", AGENT, at=100)
    t.span("chat", _chat(), parent=root, at=120, until=110)
    root.end(end_time=root.start_time - 5 * MS)
    payload = check_payload(convert_run(t.run(root)))
    assert payload["duration"] == 0.0
    assert payload["steps"][0]["duration_ms"] == 0
    t2 = Trace()
    root2 = t2.start("invoke_agent agent", AGENT)
    root2.end(end_time=root2.start_time + 3 * 86_400 * 1_000_000_000)
    assert check_payload(convert_run(t2.run(root2)))["duration"] == 86_400.0


def test_a_child_starting_with_its_parent_follows_it() -> None:
    # A coarse clock gives a sub-agent and its first call the same start time.
    t = Trace()
    root = t.start("invoke_agent agent", AGENT)
    sub = t.start(
        "invoke_agent sub",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "sub"},
        parent=root,
        at=10,
    )
    t.span("chat", _chat(), parent=sub, at=10, until=20)
    _end(sub, 30)
    _end(root, 40)
    payload = check_payload(convert_run(t.run(root)))
    rows = [
        (s["step_number"], s["description"], s["metadata"].get("parent_step"))
        for s in payload["steps"]
    ]
    assert rows == [(1, "agent sub", None), (2, "chat gpt-4o-mini", 1)]


def test_a_chain_root_running_one_agent_shows_that_agents_question_and_answer() -> None:
    # A CrewAI kickoff: the chain's own input is the rendered task prompt.
    t = Trace()
    root = t.start(
        "Crew_kickoff",
        {"openinference.span.kind": "CHAIN", "input.value": "Current Task: rendered prompt"},
    )
    crew_agent = t.start(
        "weather_agent",
        {
            "openinference.span.kind": "AGENT",
            "input.value": "What is the weather in Paris?",
            "output.value": "Sunny, 22 C.",
        },
        parent=root,
        at=10,
    )
    t.span("chat", _chat(), parent=crew_agent, at=20, until=30)
    _end(crew_agent, 40)
    _end(root, 50)
    payload = check_payload(convert_run(t.run(root)))
    assert payload["input_summary"] == "What is the weather in Paris?"
    assert payload["output_summary"] == "Sunny, 22 C."
