"""Maestro's verdict as ``gen_ai.evaluation.result`` log records, tied to the run root."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord

from infinium_otel.interpretation import InterpretationOutcome, InterpretationProcessor
from infinium_otel.interpretation import InterpretationRequest as Request
from infinium_otel.interpretation.evaluation import (
    MAX_METRICS,
    OVERALL_NAME,
    evaluations_for,
    parse_score,
)
from infinium_otel.sandbox import Fault, Sandbox

from .conftest import Logs

Make = Callable[..., InterpretationProcessor]
Deliver = Callable[..., Request]

STRUCTURED = {
    "summary": "The agent resolved the refund in three steps.",
    "overall_score": "7.5",
    "verdict": "pass",
    "scores": [
        {
            "name": "task_completion",
            "score": 0.9,
            "label": "pass",
            "explanation": "refund issued",
        },
        {"metric": "efficiency", "value": "0.4", "verdict": "fail", "reason": "two retries"},
        {"name": "tone", "score": {"value": 4, "label": "good"}},
        {"name": "no grade here", "comment": "only words"},
    ],
}


def _attrs(record: ReadableLogRecord) -> dict[str, Any]:
    return dict(record.log_record.attributes or {})


def _by_name(logs: Logs) -> dict[str, dict[str, Any]]:
    return {_attrs(r)["gen_ai.evaluation.name"]: _attrs(r) for r in logs.evaluations()}


def _serve_result(sandbox: Sandbox, result: object) -> None:
    sandbox.faults.push(
        "interpretation", Fault(status=200, body={"interpretedTraceResult": result})
    )


def _run(make: Make, deliver: Deliver, logs: Logs, **kwargs: Any) -> Request:
    request = deliver()
    processor = make(sinks=["log"], logger_provider=logs.provider, **kwargs)
    assert processor.submit(request)
    assert processor.flush(timeout=15)
    return request


def test_one_record_per_metric_plus_the_overall_one_all_on_the_run_root(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    _serve_result(sandbox, STRUCTURED)
    request = _run(make_processor, deliver, logs)

    records = logs.evaluations()
    assert len(records) == 4  # overall + three graded metrics; the ungraded item is left out
    for readable in records:
        record = readable.log_record
        assert record.event_name == "gen_ai.evaluation.result"
        assert (record.trace_id, record.span_id) == (request.otel_trace_id, request.otel_span_id)
        assert record.severity_number == SeverityNumber.INFO
        assert readable.instrumentation_scope.name == "infinium_otel.interpretation"
        assert _attrs(readable)["infinium.trace_id"] == request.infinium_trace_id
        assert _attrs(readable)["gen_ai.agent.name"] == "support-bot"
    by_name = _by_name(logs)
    assert set(by_name) == {OVERALL_NAME, "task_completion", "efficiency", "tone"}
    overall = by_name[OVERALL_NAME]
    assert overall["gen_ai.evaluation.score.value"] == 7.5  # a number sent as text
    assert overall["gen_ai.evaluation.score.label"] == "pass"
    assert overall["gen_ai.evaluation.explanation"] == STRUCTURED["summary"]
    assert overall["infinium.evaluation.overall"] is True
    assert by_name["task_completion"]["gen_ai.evaluation.score.value"] == 0.9
    assert by_name["task_completion"]["gen_ai.evaluation.explanation"] == "refund issued"
    assert by_name["efficiency"]["gen_ai.evaluation.score.value"] == 0.4
    assert by_name["efficiency"]["gen_ai.evaluation.score.label"] == "fail"
    assert by_name["efficiency"]["gen_ai.evaluation.explanation"] == "two retries"
    assert by_name["tone"]["gen_ai.evaluation.score.value"] == 4.0
    assert by_name["tone"]["gen_ai.evaluation.score.label"] == "good"
    assert "infinium.evaluation.overall" not in by_name["tone"]
    assert not any("error.type" in a for a in by_name.values())
    # The compatible record is still there, carrying the result as Maestro sent it.
    (kept,) = logs.interpretations()
    assert kept.log_record.body == STRUCTURED


def test_the_sandbox_summary_is_one_overall_record_without_a_score(
    make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    request = _run(make_processor, deliver, logs)
    (readable,) = logs.evaluations()
    attributes = _attrs(readable)
    assert attributes["gen_ai.evaluation.name"] == OVERALL_NAME
    assert attributes["gen_ai.evaluation.explanation"].startswith("Run 'run' took")
    assert "gen_ai.evaluation.score.value" not in attributes  # counts are not grades
    assert readable.log_record.trace_id == request.otel_trace_id


def test_a_metrics_object_inside_a_wrapper_and_text_json_are_read(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    result = {
        "evaluation": {
            "grade": "B",
            "metrics": {
                "accuracy": 0.8,
                "safety": "pass",
                "clarity": {"score": "85%", "rationale": "clear wording"},
                "passed_checks": True,
                "raw": [1, 2],
            },
        },
        "text": "Mostly right.",
    }
    _serve_result(sandbox, json.dumps(result))  # Maestro may send the object as text
    _run(make_processor, deliver, logs)
    by_name = _by_name(logs)
    assert set(by_name) == {OVERALL_NAME, "accuracy", "safety", "clarity", "passed_checks"}
    assert by_name["accuracy"]["gen_ai.evaluation.score.value"] == 0.8
    assert by_name["safety"]["gen_ai.evaluation.score.label"] == "pass"
    assert by_name["clarity"]["gen_ai.evaluation.score.value"] == 85.0
    assert by_name["clarity"]["gen_ai.evaluation.explanation"] == "clear wording"
    assert by_name["passed_checks"]["gen_ai.evaluation.score.label"] == "pass"
    assert by_name[OVERALL_NAME]["gen_ai.evaluation.score.label"] == "B"
    assert by_name[OVERALL_NAME]["gen_ai.evaluation.explanation"] == "Mostly right."


def test_a_timed_out_interpretation_is_one_record_with_error_type(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    sandbox.interpretation_delay = 60
    request = _run(make_processor, deliver, logs, poll_timeout=1.2)
    (readable,) = logs.evaluations()
    attributes = _attrs(readable)
    assert attributes["error.type"] == "timeout"
    assert attributes["gen_ai.evaluation.name"] == OVERALL_NAME
    assert "no interpretation after 1.2 s" in attributes["gen_ai.evaluation.explanation"]
    assert "gen_ai.evaluation.score.value" not in attributes
    assert readable.log_record.severity_number == SeverityNumber.WARN
    assert (readable.log_record.trace_id, readable.log_record.span_id) == (
        request.otel_trace_id,
        request.otel_span_id,
    )


def test_refused_credentials_give_one_error_record_per_run(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, logs: Logs
) -> None:
    sandbox.faults.push("interpretation", Fault(status=401))
    _run(make_processor, deliver, logs)
    (readable,) = logs.evaluations()
    assert _attrs(readable)["error.type"] == "AuthenticationError"
    assert readable.log_record.severity_number == SeverityNumber.ERROR


def _outcome(result: Any) -> InterpretationOutcome:
    return InterpretationOutcome("ready", "t", 1, 2, None, None, result, "ok", 1, 1.0)


@pytest.mark.parametrize(
    "result",
    [
        "plain text verdict",
        "{not json",
        "[1, 2, 3]",
        [None, 3, "x", {"score": float("inf")}],
        {"scores": None, "metrics": "text", "overall": {"value": float("nan")}},
        {1: 2, (3, 4): "x", "scores": {5: 0.5}},
        {"scores": [{"name": "x" * 10_000, "score": "1e400", "label": "y" * 500}]},
        {"evaluation": {"evaluation": {"evaluation": {"evaluation": {"evaluation": {}}}}}},
        {"score": object(), "verdict": b"bytes", "summary": 12},
        {"scores": [{"name": "a", "score": True}, {"name": "b", "score": "12 points"}]},
        '{"a":' * 100_000 + "1" + "}" * 100_000,  # JSON text nested past Python's depth
        {"scores": "[" * 100_000 + "]" * 100_000},
    ],
)
def test_odd_results_never_raise_and_always_give_an_overall_record(result: Any) -> None:
    evaluations = evaluations_for(_outcome(result))
    assert evaluations[0].name == OVERALL_NAME and evaluations[0].overall
    for evaluation in evaluations:
        assert evaluation.score is None or math.isfinite(evaluation.score)
        assert evaluation.label is None or len(evaluation.label) <= 64
        assert len(evaluation.name) <= 128


def test_metric_records_are_capped_per_run() -> None:
    result = {"metrics": {f"m{i}": i for i in range(MAX_METRICS * 3)}}
    evaluations = evaluations_for(_outcome(result))
    assert len(evaluations) == 1 + MAX_METRICS


def test_a_list_result_is_a_list_of_metrics() -> None:
    result = [{"criterion": "grounding", "rating": 3}, {"criterion": "style", "rating": "A"}]
    overall, *metrics = evaluations_for(_outcome(result))
    assert [(m.name, m.score, m.label) for m in metrics] == [
        ("grounding", 3.0, None),
        ("style", None, "A"),
    ]
    assert overall.score is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.8", 0.8), (" 85% ", 85.0), ("8/10", 8.0), ("1e400", None), ("nan", None), ("x", None)],
)
def test_score_text_is_read_as_a_number_only_when_it_is_one(
    text: str, expected: float | None
) -> None:
    assert parse_score(text) == expected


def test_an_api_without_event_name_gets_the_event_name_attribute(logs: Logs) -> None:
    """Logs APIs whose keyword ``emit`` predates ``event_name`` get ``event.name``."""
    from infinium_otel.interpretation.log_events import LogEvent, emit_event
    from infinium_otel.interpretation.sinks import run_context

    real = logs.provider.get_logger("infinium_otel.interpretation")

    class OlderLogger:
        def emit(
            self,
            *,
            timestamp: int | None = None,
            observed_timestamp: int | None = None,
            context: Any = None,
            severity_number: Any = None,
            severity_text: str | None = None,
            body: Any = None,
            attributes: Any = None,
        ) -> None:
            real.emit(
                timestamp=timestamp,
                observed_timestamp=observed_timestamp,
                context=context,
                severity_number=severity_number,
                severity_text=severity_text,
                body=body,
                attributes=attributes,
            )

    outcome = _outcome({"summary": "fine"})
    emit_event(
        OlderLogger(),
        LogEvent(
            event_name="gen_ai.evaluation.result",
            trace_id=1,
            span_id=2,
            context=run_context(outcome),
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body=None,
            attributes={"gen_ai.evaluation.name": "maestro"},
            timestamp=1,
        ),
    )
    (readable,) = logs.exporter.get_finished_logs()
    assert readable.log_record.event_name is None
    assert _attrs(readable)["event.name"] == "gen_ai.evaluation.result"
    assert (readable.log_record.trace_id, readable.log_record.span_id) == (1, 2)
