"""The agent endpoints: authentication, body checks, acceptance and interpretation."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

from .support import AUTH, MINIMAL_PAYLOAD, RICH_PAYLOAD, Api, payload

OTHER_AGENT = "11111111-2222-4333-8444-555555555555"


def test_valid_trace_is_stored_and_answered_with_a_new_id(api: Api, sandbox: Sandbox) -> None:
    answer = api.post_trace(RICH_PAYLOAD)
    assert answer.status_code == 201
    body = answer.json()
    assert body["message"] == "Trace received"
    assert uuid.UUID(body["traceId"]).version == 4
    [stored] = sandbox.traces()
    assert stored.trace_id == body["traceId"]
    assert stored.payload == RICH_PAYLOAD
    assert stored.body_bytes == len(answer.request.body or b"")
    assert abs(stored.received_at - time.time()) < 60
    assert sandbox.trace(body["traceId"]) == stored
    assert sandbox.trace(body["traceId"].upper()) == stored


def test_each_trace_gets_a_distinct_id(api: Api, sandbox: Sandbox) -> None:
    ids = [api.post_trace().json()["traceId"] for _ in range(5)]
    assert len(set(ids)) == 5
    assert [t.trace_id for t in sandbox.traces()] == ids


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-agent-id": SANDBOX_AGENT_ID},
        {"x-agent-key": SANDBOX_AGENT_SECRET},
        {"x-agent-id": SANDBOX_AGENT_ID, "x-agent-key": "wrong-secret-key"},
        {"x-agent-id": OTHER_AGENT, "x-agent-key": SANDBOX_AGENT_SECRET},
        {"x-agent-id": SANDBOX_AGENT_ID, "x-agent-key": SANDBOX_AGENT_SECRET + "x"},
    ],
    ids=["none", "no-key", "no-id", "wrong-key", "wrong-id", "longer-key"],
)
def test_bad_credentials_are_refused(api: Api, sandbox: Sandbox, headers: dict[str, str]) -> None:
    answer = api.post_trace(headers=headers)
    assert answer.status_code == 401
    assert answer.json()["message"]
    assert sandbox.traces() == []
    assert api.get_result(str(uuid.uuid4()), headers=headers).status_code == 401


def test_path_agent_id_must_match_the_headers(api: Api, sandbox: Sandbox) -> None:
    headers = {"x-agent-id": OTHER_AGENT, "x-agent-key": SANDBOX_AGENT_SECRET}
    assert api.post_trace(headers=headers, agent_id=OTHER_AGENT).status_code == 401
    assert api.post_trace(agent_id=OTHER_AGENT).status_code == 401
    assert sandbox.traces() == []


def test_agent_id_is_compared_without_regard_to_case(api: Api) -> None:
    headers = {**AUTH, "x-agent-id": SANDBOX_AGENT_ID.upper()}
    assert api.post_trace(headers=headers, agent_id=SANDBOX_AGENT_ID.upper()).status_code == 201


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "%2e%2e", "1234", "00000000-0000-4000-8000-00000000000g"]
)
def test_path_ids_that_are_not_uuids_are_refused(api: Api, bad_id: str) -> None:
    assert api.post_trace(agent_id=bad_id).status_code == 400
    assert api.get_result(bad_id).status_code == 400
    assert api.get_result(str(uuid.uuid4()), agent_id=bad_id).status_code == 400


def test_malformed_json_is_a_400_with_a_message(api: Api, sandbox: Sandbox) -> None:
    answer = api.post_trace(data=b'{"name": "x",')
    assert answer.status_code == 400
    assert "JSON" in answer.json()["message"]
    assert sandbox.traces() == []


def test_json_nested_past_python_s_depth_is_a_400(api: Api, sandbox: Sandbox) -> None:
    answer = api.post_trace(data=b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    assert answer.status_code == 400
    assert "JSON" in answer.json()["message"]
    assert sandbox.traces() == []


def test_nan_is_not_json(api: Api) -> None:
    body = json.dumps({**MINIMAL_PAYLOAD, "duration": float("nan")}).encode()
    assert b"NaN" in body
    assert api.post_trace(data=body).status_code == 400


def test_invalid_utf8_is_a_400(api: Api) -> None:
    body = json.dumps(MINIMAL_PAYLOAD).encode().replace(b"support-agent", b"support\xff\xfe")
    answer = api.post_trace(data=body)
    assert answer.status_code == 400
    assert "UTF-8" in answer.json()["message"]


def test_contract_violations_are_a_422_listing_every_problem(api: Api, sandbox: Sandbox) -> None:
    bad = payload(name="x" * 501, duration=-1, extra_field=1)
    answer = api.post_trace(bad)
    assert answer.status_code == 422
    body = answer.json()
    problems = body["errors"]
    assert any(p.startswith("name:") and "500" in p for p in problems)
    assert any(p.startswith("duration:") for p in problems)
    assert any(p.startswith("extra_field:") and "unknown" in p for p in problems)
    assert problems[0] in body["message"]
    assert sandbox.traces() == []


def test_a_json_list_is_not_a_trace(api: Api) -> None:
    answer = api.post_trace([MINIMAL_PAYLOAD])
    assert answer.status_code == 422
    assert "object" in answer.json()["message"]


def test_non_strict_sandbox_accepts_any_object() -> None:
    with Sandbox(strict=False) as loose:
        client = Api(loose)
        assert client.post_trace({"anything": None}).status_code == 201
        assert client.post_trace([1]).status_code == 422
        client.session.close()
    loose.close()


def test_payload_over_the_limit_is_a_413(api: Api, sandbox: Sandbox) -> None:
    big = {**MINIMAL_PAYLOAD, "description": "x" * 1_100_000}
    answer = api.post_trace(data=json.dumps(big).encode())
    assert answer.status_code == 413
    assert "1048576" in answer.json()["message"]
    # The connection stays usable after the oversized body was drained.
    assert api.post_trace().status_code == 201
    assert len(sandbox.traces()) == 1


def test_limit_is_configurable() -> None:
    with Sandbox(max_payload_bytes=200) as small:
        client = Api(small)
        assert client.post_trace(MINIMAL_PAYLOAD).status_code == 201
        assert client.post_trace(RICH_PAYLOAD).status_code == 413
        client.session.close()
    small.close()


def test_chunked_body_is_accepted(api: Api, sandbox: Sandbox) -> None:
    body = json.dumps(MINIMAL_PAYLOAD).encode()
    chunks = iter([body[:10], body[10:]])
    answer = api.session.post(
        api.trace_url(), data=chunks, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 201
    assert sandbox.traces()[0].payload == MINIMAL_PAYLOAD


def test_interpretation_is_404_until_ready_then_served(api: Api, sandbox: Sandbox) -> None:
    trace_id = api.post_trace(RICH_PAYLOAD).json()["traceId"]
    early = api.get_result(trace_id)
    assert early.status_code == 404
    assert "not ready" in early.json()["message"]
    deadline = time.monotonic() + 5
    while (late := api.get_result(trace_id)).status_code == 404:
        assert time.monotonic() < deadline, "interpretation never became ready"
        time.sleep(0.1)
    assert late.status_code == 200
    result = late.json()
    assert result["traceId"] == trace_id
    interpretation = result["interpretedTraceResult"]
    assert "local" in interpretation["source"] and "not Maestro" in interpretation["source"]
    assert interpretation["steps"] == 2
    assert interpretation["llm_calls"] == 1
    assert interpretation["total_tokens"] == 150
    assert interpretation["errors"] == 1
    assert interpretation["duration_seconds"] == 2.25
    assert "support-agent" in interpretation["summary"]


def test_not_ready_can_be_a_200_without_a_result() -> None:
    with Sandbox(interpretation_delay=60, not_ready_status=200) as sb:
        client = Api(sb)
        trace_id = client.post_trace().json()["traceId"]
        early = client.get_result(trace_id)
        assert early.status_code == 200
        assert not early.json()["interpretedTraceResult"]
        assert early.json()["status"] == "processing"
        unknown = client.get_result(str(uuid.uuid4()))
        assert unknown.status_code == 200 and not unknown.json()["interpretedTraceResult"]
        sb.interpretation_delay = 0.0
        assert client.get_result(trace_id).json()["interpretedTraceResult"]["steps"] == 0
        client.session.close()
    sb.close()


def test_unknown_trace_is_not_ready(api: Api) -> None:
    assert api.get_result(str(uuid.uuid4())).status_code == 404


def test_make_ready_skips_the_delay(api: Api, sandbox: Sandbox) -> None:
    sandbox.interpretation_delay = 3600
    first = api.post_trace().json()["traceId"]
    second = api.post_trace().json()["traceId"]
    assert sandbox.make_ready(first) is True
    assert sandbox.make_ready(str(uuid.uuid4())) is False
    assert api.get_result(first).status_code == 200
    assert api.get_result(second).status_code == 404


def test_interpretation_is_the_same_on_every_read(api: Api, sandbox: Sandbox) -> None:
    trace_id = api.post_trace(RICH_PAYLOAD).json()["traceId"]
    sandbox.make_ready(trace_id)
    first = api.get_result(trace_id).json()["interpretedTraceResult"]
    assert api.get_result(trace_id).json()["interpretedTraceResult"] == first


def test_requests_are_recorded_without_the_secret(api: Api, sandbox: Sandbox) -> None:
    trace_id = api.post_trace().json()["traceId"]
    api.get_result(trace_id)
    api.session.get(sandbox.root_url)
    api.post_trace(headers={})
    recorded = sandbox.requests
    assert [(r.method, r.endpoint, r.status) for r in recorded] == [
        ("POST", "trace", 201),
        ("GET", "interpretation", 404),
        ("GET", "other", 200),
        ("POST", "trace", 401),
    ]
    headers = {k.lower(): v for k, v in recorded[0].headers.items()}
    assert headers["x-agent-key"] == "<redacted>"
    assert headers["x-agent-id"] == SANDBOX_AGENT_ID
    assert SANDBOX_AGENT_SECRET not in repr(recorded)
    assert recorded[0].at <= recorded[1].at <= recorded[3].at
    assert recorded[1].path.endswith(trace_id)


def test_unknown_paths_and_methods(api: Api, sandbox: Sandbox) -> None:
    assert api.session.get(f"{sandbox.url}/nothing-here").status_code == 404
    assert api.session.get(api.trace_url(), headers=AUTH).status_code == 405
    assert api.session.delete(api.result_url(str(uuid.uuid4())), headers=AUTH).status_code == 405


def test_keep_alive_serves_many_requests_on_one_connection(api: Api) -> None:
    for _ in range(3):
        answer = api.post_trace()
        assert answer.status_code == 201
        assert answer.headers["Content-Length"] == str(len(answer.content))
    assert answer.raw.version == 11


def test_recorded_headers_are_looked_up_without_regard_to_case(api: Api, sandbox: Sandbox) -> None:
    api.post_trace(headers={**AUTH, "User-Agent": "probe/1.0"})
    [recorded] = sandbox.requests
    assert recorded.headers["user-agent"] == "probe/1.0"
    assert recorded.headers.get("USER-AGENT") == "probe/1.0"
    assert "X-Agent-Key" in recorded.headers
    assert recorded.headers.get("missing") is None
    assert isinstance(recorded.headers, dict)


def test_a_failing_handler_answers_500_and_the_server_lives_on(api: Api, sandbox: Sandbox) -> None:
    sandbox._store.close()  # every storage call now raises inside the handler
    answer = api.post_trace()
    assert answer.status_code == 500
    assert answer.json()["message"] == "Sandbox internal error"
    assert api.session.get(f"{sandbox.url}/nothing-here").status_code == 404
