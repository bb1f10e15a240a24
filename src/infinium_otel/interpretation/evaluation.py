"""Maestro's result as GenAI evaluation results: pure functions, no I/O.

OpenTelemetry's GenAI conventions describe a grade with the
``gen_ai.evaluation.result`` event: a name, an optional numeric score, an
optional low-cardinality label (pass/fail), an explanation. Maestro's
``interpretedTraceResult`` has no fixed shape (text, or an object whose fields
may vary), so this module reads it defensively: every per-metric score it can
recognise becomes one ``Evaluation``, and one overall ``Evaluation`` carries the
readable summary. Nothing here raises on odd input; what cannot be read is left
out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infinium_otel._text import cap
from infinium_otel.interpretation.outcome import InterpretationOutcome
from infinium_otel.interpretation.render import summary_text

__all__ = [
    "EVALUATION_EVENT_NAME",
    "EXPLANATION_CAP",
    "MAX_METRICS",
    "OVERALL_NAME",
    "Evaluation",
    "evaluation_attributes",
    "evaluations_for",
    "parse_score",
]

EVALUATION_EVENT_NAME = "gen_ai.evaluation.result"
OVERALL_NAME = "maestro"
"""``gen_ai.evaluation.name`` of the record that stands for the whole verdict."""
MAX_METRICS = 64
"""Per-metric records emitted for one run at most (the rest are left out)."""
EXPLANATION_CAP = 8 * 1024
NAME_CAP = 128
LABEL_CAP = 64
_MAX_DEPTH = 4
_MAX_JSON_TEXT = 1024 * 1024

# Keys are compared after lowercasing and removing "_", "-", "." and spaces.
_CONTAINER_KEYS = (
    "scores",
    "metrics",
    "evaluations",
    "criteria",
    "dimensions",
    "ratings",
    "grades",
    "checks",
    "assessments",
    "scorecard",
)
_WRAPPER_KEYS = ("evaluation", "result", "interpretation", "analysis", "assessment", "data")
_NAME_KEYS = ("name", "metric", "metricname", "criterion", "dimension", "category", "title", "key")
_SCORE_KEYS = ("score", "value", "rating", "points", "grade")
_OVERALL_SCORE_KEYS = ("overallscore", "overall", "totalscore", "score", "rating")
_LABEL_KEYS = ("label", "verdict", "grade", "outcome", "result", "rating")
_PASS_KEYS = ("passed", "pass", "success", "ok")
_EXPLANATION_KEYS = (
    "explanation",
    "reason",
    "reasoning",
    "rationale",
    "justification",
    "comment",
    "feedback",
    "details",
    "notes",
    "summary",
    "description",
)
_RESPONSE_ID_KEYS = ("responseid", "genairesponseid")


@dataclass(frozen=True)
class Evaluation:
    """One ``gen_ai.evaluation.result``: what was graded and how."""

    name: str
    score: float | None = None
    label: str | None = None
    explanation: str | None = None
    response_id: str | None = None
    error_type: str | None = None
    overall: bool = False


def evaluations_for(outcome: InterpretationOutcome) -> list[Evaluation]:
    """The overall evaluation first, then one per metric the result carries.

    A timed-out or failed interpretation is a single overall evaluation with
    ``error_type`` set and the reason as its explanation.
    """
    if outcome.status != "ready":
        error_type = outcome.error_type or (
            "timeout" if outcome.status == "timed_out" else "_OTHER"
        )
        return [
            Evaluation(
                name=OVERALL_NAME,
                explanation=cap(outcome.message, EXPLANATION_CAP),
                error_type=error_type,
                overall=True,
            )
        ]
    result = _decoded(outcome.result)
    overall = _overall(result, outcome.result)
    metrics: list[Evaluation] = []
    for metric in _metrics(result):
        if len(metrics) >= MAX_METRICS:
            break
        metrics.append(metric)
    return [overall, *metrics]


def evaluation_attributes(evaluation: Evaluation) -> dict[str, Any]:
    """The convention's attributes for one evaluation (absent values left out)."""
    attributes: dict[str, Any] = {"gen_ai.evaluation.name": evaluation.name}
    if evaluation.score is not None:
        attributes["gen_ai.evaluation.score.value"] = evaluation.score
    if evaluation.label is not None:
        attributes["gen_ai.evaluation.score.label"] = evaluation.label
    if evaluation.explanation:
        attributes["gen_ai.evaluation.explanation"] = evaluation.explanation
    if evaluation.response_id is not None:
        attributes["gen_ai.response.id"] = evaluation.response_id
    if evaluation.error_type is not None:
        attributes["error.type"] = evaluation.error_type
    return attributes


def parse_score(value: object) -> float | None:
    """A finite number from a number or numeric text (``"0.8"``, ``"85%"``, ``"8/10"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 32:
        return None
    if text.endswith("%"):
        text = text[:-1].strip()
    elif "/" in text:
        text = text.split("/", 1)[0].strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# ------------------------------------------------------------------ reading


def _norm(key: object) -> str:
    text = str(key).lower()
    for char in "_-. ":
        text = text.replace(char, "")
    return text


def _lookup(mapping: Mapping[Any, Any], keys: Sequence[str]) -> Iterator[Any]:
    """Values of ``mapping`` whose normalised key is in ``keys``, in ``keys`` order."""
    normalised: dict[str, Any] = {}
    for key, value in mapping.items():
        normalised.setdefault(_norm(key), value)
    for key in keys:
        if key in normalised:
            yield normalised[key]


def _decoded(result: Any) -> Any:
    """A result that is JSON text holding an object or list, decoded; else as is."""
    if isinstance(result, str) and len(result) <= _MAX_JSON_TEXT:
        text = result.strip()
        if text[:1] in ("{", "["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):  # not JSON, or nested past Python's depth
                return result
    return result


def _label(value: object) -> str | None:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or len(text) > LABEL_CAP or parse_score(text) is not None:
        return None
    return text


def _first_label(mapping: Mapping[Any, Any]) -> str | None:
    for value in _lookup(mapping, _LABEL_KEYS):
        if not isinstance(value, bool) and (label := _label(value)) is not None:
            return label
    for value in _lookup(mapping, _PASS_KEYS):
        if isinstance(value, bool):
            return "pass" if value else "fail"
    return None


def _first_text(mapping: Mapping[Any, Any], keys: Sequence[str], limit: int) -> str | None:
    for value in _lookup(mapping, keys):
        if isinstance(value, str) and value.strip():
            return cap(value.strip(), limit)
    return None


def _score_and_label(
    mapping: Mapping[Any, Any], keys: Sequence[str]
) -> tuple[float | None, str | None]:
    """The first numeric score under ``keys`` (a nested ``{"value": .., "label": ..}``
    is read too) and any label found on the way."""
    nested_label: str | None = None
    for value in _lookup(mapping, keys):
        if isinstance(value, Mapping):
            score = next(
                (
                    s
                    for v in _lookup(value, ("value", "score"))
                    if (s := parse_score(v)) is not None
                ),
                None,
            )
            nested_label = nested_label or _first_label(value)
            if score is not None:
                return score, nested_label
            continue
        score = parse_score(value)
        if score is not None:
            return score, nested_label
    return None, nested_label


def _item(mapping: Mapping[Any, Any], default_name: str) -> Evaluation | None:
    name = _first_text(mapping, _NAME_KEYS, NAME_CAP) or default_name
    score, nested_label = _score_and_label(mapping, _SCORE_KEYS)
    label = nested_label or _first_label(mapping)
    if score is None and label is None:
        return None  # not a grade: a nested object of some other kind
    return Evaluation(
        name=cap(name, NAME_CAP),
        score=score,
        label=label,
        explanation=_first_text(mapping, _EXPLANATION_KEYS, EXPLANATION_CAP),
        response_id=_first_text(mapping, _RESPONSE_ID_KEYS, NAME_CAP),
    )


def _entry(name: str, value: object) -> Evaluation | None:
    """One ``name: value`` pair of a metrics object."""
    name = cap(name.strip() or "metric", NAME_CAP)
    if isinstance(value, Mapping):
        return _item(value, name)
    score = parse_score(value)
    if score is not None:
        return Evaluation(name=name, score=score)
    label = _label(value)
    return Evaluation(name=name, label=label) if label is not None else None


def _container_items(key: str, container: object) -> Iterator[Evaluation]:
    if isinstance(container, Mapping):
        for name, value in container.items():
            if (evaluation := _entry(str(name), value)) is not None:
                yield evaluation
    elif isinstance(container, Sequence) and not isinstance(container, (str, bytes, bytearray)):
        for index, element in enumerate(container, start=1):
            evaluation = _item(element, f"{key}[{index}]") if isinstance(element, Mapping) else None
            if evaluation is not None:
                yield evaluation


def _metrics(result: Any, depth: int = 0) -> Iterator[Evaluation]:
    """Per-metric evaluations from the first metrics container, at the top or in a wrapper."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(result, Sequence) and not isinstance(result, (str, bytes, bytearray)):
        yield from _container_items("metric", result)
        return
    if not isinstance(result, Mapping):
        return
    for key, value in result.items():
        if _norm(key) in _CONTAINER_KEYS and isinstance(value, (Mapping, list, tuple)):
            yield from _container_items(str(key), value)
            return
    for value in _lookup(result, _WRAPPER_KEYS):
        if isinstance(value, Mapping):
            yield from _metrics(value, depth + 1)
            return


def _overall(result: Any, original: Any) -> Evaluation:
    score: float | None = None
    label: str | None = None
    if isinstance(result, Mapping):
        score, label = _score_and_label(result, _OVERALL_SCORE_KEYS)
        label = label or _first_label(result)
        if score is None and label is None:
            for value in _lookup(result, _WRAPPER_KEYS):
                if isinstance(value, Mapping):
                    score, label = _score_and_label(value, _OVERALL_SCORE_KEYS)
                    label = label or _first_label(value)
                    break
    try:
        explanation = " ".join(
            summary_text(result if isinstance(result, Mapping) else original).split()
        )
    except Exception:  # an exotic object that even the JSON fallback cannot show
        explanation = ""
    return Evaluation(
        name=OVERALL_NAME,
        score=score,
        label=label,
        explanation=cap(explanation, EXPLANATION_CAP) or None,
        overall=True,
    )
