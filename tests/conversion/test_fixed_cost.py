"""What conversion works out once instead of on every run gives what it gave every run.

The environment's resource part is cached by the values it reads, the date and time by the
second: each resource (another one, a changed one, one whose values are equal across types)
must still show its own environment, with any number of threads converting at once.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.payload import convert, usage
from infinium_otel.payload import environment as environment_module
from infinium_otel.payload.environment import environment
from infinium_otel.payload.run import Run

from . import reference_environment, reference_usage
from .builder import BASE_NS, MS, Trace

_READ_KEYS = (
    "service.name",
    "service.version",
    "service.namespace",
    "deployment.environment.name",
    "deployment.environment",
    "telemetry.sdk.language",
    "process.runtime.version",
    "process.runtime.name",
    "cloud.region",
)


def _run(resource: dict[str, Any], agent: str = "helper") -> Run:
    trace = Trace(resource)
    root = trace.start(
        f"invoke_agent {agent}",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent},
        scope="opentelemetry.instrumentation.openai_agents",
    )
    trace.span(
        "chat gpt-4o",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        parent=root,
        at=1,
        until=5,
    )
    root.end(end_time=BASE_NS + 10 * MS)
    return trace.run(root)


def _inner(run: Run) -> dict[str, Any]:
    """The resource's own attribute dict: what conversion reads."""
    assert run.root.resource is not None
    inner = run.root.resource.attributes._dict  # type: ignore[attr-defined]
    assert type(inner) is dict
    return inner


_NODE = {
    "service.name": "checkout",
    "service.version": "2.1.0",
    "deployment.environment.name": "staging",
    "telemetry.sdk.language": "nodejs",
    "process.runtime.name": "node",
    "process.runtime.version": "20.11.1",
    "cloud.region": "eu-west-3",
}
_PYTHON = {
    "service.name": "support",
    "service.namespace": "agents",
    "process.runtime.version": "3.12.4",
}


def test_each_resource_shows_its_own_environment() -> None:
    runs = [_run(_NODE), _run(_PYTHON)]
    for _ in range(3):  # alternating, so each conversion after the first could hit the cache
        node, python = (convert.convert_run(run)["environment"] for run in runs)
        assert node["runtime"] == "node"
        assert "python_version" not in node
        assert node["region"] == "eu-west-3"
        assert node["custom_tags"]["service.name"] == "checkout"
        assert node["custom_tags"]["deployment.environment.name"] == "staging"
        assert node["custom_tags"]["process.runtime.version"] == "20.11.1"
        assert python["runtime"] == "python"
        assert python["python_version"] == "3.12.4"
        assert "region" not in python
        assert python["custom_tags"]["service.name"] == "support"
        assert python["custom_tags"]["service.namespace"] == "agents"
        assert "deployment.environment.name" not in python["custom_tags"]


def test_a_changed_resource_never_shows_its_former_values() -> None:
    run = _run(_NODE)
    before = convert.convert_run(run)["environment"]
    assert before["custom_tags"]["service.name"] == "checkout"
    inner = _inner(run)
    inner["service.name"] = "checkout-v2"
    inner["cloud.region"] = "us-east-1"
    del inner["deployment.environment.name"]
    after = convert.convert_run(run)["environment"]
    assert after["custom_tags"]["service.name"] == "checkout-v2"
    assert after["region"] == "us-east-1"
    assert "deployment.environment.name" not in after["custom_tags"]
    inner["telemetry.sdk.language"] = "python"
    assert convert.convert_run(run)["environment"]["runtime"] == "python"


def test_values_equal_across_types_are_each_shown_their_own_way() -> None:
    # 1 == 1.0 == True in Python: a cache keyed by such values would show one for another.
    versions: list[tuple[Any, str]] = [("1", "1"), (1, "1"), (True, "true"), (1.0, "1.0")]
    runs = [(_run({"service.version": value}), shown) for value, shown in versions]
    for _ in range(2):
        for run, shown in runs:
            tags = convert.convert_run(run)["environment"]["custom_tags"]
            assert tags["service.version"] == shown


_VALUE = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["python", "Python", "nodejs", "", "x" * 300, "\ud800"]),
    st.integers(-2, 2),
    st.booleans(),
    st.sampled_from([1.0, 0.0, -0.0, float("nan"), float("inf")]),
    st.tuples(st.text(max_size=3), st.integers(0, 3)),
    st.binary(max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(_READ_KEYS, _VALUE)), min_size=1))
def test_the_environment_is_what_it_was_worked_out_every_run(
    resources: list[dict[str, Any]],
) -> None:
    spans = [convert.read_facts(span) for span in _run({}).spans]
    for resource in resources * 2:  # the second time round, from the cache where kept
        tags = {"otel.trace_id": "ab" * 16}
        expected = reference_environment.environment(spans, resource, "9.9", dict(tags))
        assert environment(spans, resource, "9.9", dict(tags)) == expected


def test_the_cache_stays_bounded() -> None:
    limit = environment_module._CACHE_MAX
    spans = [convert.read_facts(span) for span in _run({}).spans]
    for index in range(3 * limit):
        resource = {"service.name": f"service-{index}"}
        shown = environment(spans, resource, "1", {})
        assert shown["custom_tags"]["service.name"] == f"service-{index}"
        assert len(environment_module._cache) <= limit


@pytest.mark.timeout(120)
def test_threads_converting_at_once_each_get_their_own_resource() -> None:
    services = [f"service-{index}" for index in range(6)]
    runs = {
        name: _run({"service.name": name, "cloud.region": f"{name}-region"}) for name in services
    }
    wrong: list[str] = []
    done: list[str] = []

    def convert_many(name: str) -> None:
        for _ in range(150):
            shown = convert.convert_run(runs[name])["environment"]
            if shown["custom_tags"]["service.name"] != name or shown["region"] != f"{name}-region":
                wrong.append(name)
        done.append(name)

    threads = [
        threading.Thread(target=convert_many, args=(name,), daemon=True) for name in services
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert sorted(done) == services
    assert wrong == []


def _strftime_iso(ns: int | None) -> str:
    """The date and time as formatted before the seconds were cached."""
    if ns is None or ns < 0:
        ns = 0
    seconds, rest = divmod(ns, 1_000_000_000)
    if seconds > convert._LATEST_SECOND:
        seconds, rest = convert._LATEST_SECOND, 999_999_999
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{rest // 1_000_000:03d}Z"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(-(10**12), 5 * 10**18),
            st.integers(BASE_NS - 3 * 10**9, BASE_NS + 3 * 10**9),
        ),
        min_size=1,
    )
)
def test_times_are_what_strftime_made(stamps: list[int | None]) -> None:
    for ns in stamps * 2:
        assert convert._iso(ns) == _strftime_iso(ns)


class _Tokens(int):
    """An int subclass, as an instrumentation may hand over (an IntEnum, a wrapped count)."""

    def __repr__(self) -> str:
        return f"_Tokens({int(self)})"


_COUNT = st.one_of(st.none(), st.integers(0, 2**70), st.integers(0, 9).map(_Tokens))
_COST = st.one_of(st.none(), st.sampled_from([-0.0, 0.0, 0.1, 0.2, 1e-11, 1e16, 3.3]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_COUNT, _COUNT, _COUNT, _COST), min_size=1, max_size=5))
def test_usage_totals_are_what_summing_each_list_gave(
    reported: list[tuple[int | None, int | None, int | None, float | None]],
) -> None:
    template = convert.read_facts(_run({}).spans[0])
    calls = []
    for index, (prompt, completion, total, cost) in enumerate(reported):
        facts = dataclasses.replace(template, span_id=index + 1)
        facts.input_tokens, facts.output_tokens, facts.total_tokens = prompt, completion, total
        facts.cost = cost
        calls.append(facts)
    shown = usage.llm_usage(calls)
    expected = reference_usage.llm_usage(calls)
    assert shown == expected
    assert json.dumps(shown) == json.dumps(expected)  # same types and key order too
