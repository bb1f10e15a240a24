"""One span's facts, normalised across conventions (GenAI, then OpenInference, then OpenLLMetry).

``read_facts`` (with the input and output readers of ``content.py``) is the only
place that knows which attribute a fact comes from; everything after it (steps,
usage, errors) works on ``SpanFacts``.
Content (message text, tool arguments and results) is read only when content
capture is on, so with it off no text can leak further down by mistake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan, _Span
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode
from opentelemetry.trace import SpanKind as OtelSpanKind

from infinium_otel.conventions import genai, infinium, names, openinference, openllmetry
from infinium_otel.conventions.content import read_input, read_output
from infinium_otel.conventions.kind import (
    AGENT,
    CHAIN,
    GENAI_OPERATION_KINDS,
    LLM,
    TOOL,
    SpanKind,
    classify,
)
from infinium_otel.conventions.messages import (
    content_text,
    messages_from,
    render,
)
from infinium_otel.conventions.new_input import new_input_text
from infinium_otel.conventions.sdk_fields import (
    SCOPE_FIELDS_HOLD,
    SDK_FIELDS_HOLD,
    STATUS_FIELDS_HOLD,
)
from infinium_otel.conventions.values import first, integer, number, text

__all__ = ["SpanFacts", "has_events", "read_facts", "read_span", "run_name", "span_attributes"]

_EMPTY: Mapping[str, Any] = {}

_AGENT_NAME = genai.AGENT_NAME + openinference.AGENT_NAME
_WORKFLOW_NAME = genai.WORKFLOW_NAME + openllmetry.WORKFLOW_NAME
_RUN_NAME = (genai.AGENT_NAME + genai.WORKFLOW_NAME + openinference.AGENT_NAME) + (
    openllmetry.ENTITY_NAME + openllmetry.WORKFLOW_NAME
)
_MODEL = genai.MODEL + openinference.MODEL
_PROVIDER = genai.PROVIDER + openinference.PROVIDER
_INPUT_TOKENS = genai.INPUT_TOKENS + openinference.INPUT_TOKENS
_OUTPUT_TOKENS = genai.OUTPUT_TOKENS + openinference.OUTPUT_TOKENS
_TOTAL_TOKENS = genai.TOTAL_TOKENS + openinference.TOTAL_TOKENS + openllmetry.TOTAL_TOKENS
_COST = genai.COST + openinference.COST
_TOOL_NAME = genai.TOOL_NAME + openinference.TOOL_NAME
_TEMPERATURE = genai.TEMPERATURE[0]
_INFINITY = float("inf")
_OPERATION = genai.OPERATION
_INPUT_SUMMARY = infinium.INPUT_SUMMARY
_OUTPUT_SUMMARY = infinium.OUTPUT_SUMMARY
_INPUT_MESSAGES = genai.INPUT_MESSAGES
_OUTPUT_MESSAGES = genai.OUTPUT_MESSAGES
_TOOL_ARGUMENTS = genai.TOOL_ARGUMENTS[0]
_TOOL_RESULT = genai.TOOL_RESULT[0]
_REQUEST_TYPE = openllmetry.REQUEST_TYPE
# The SDK's span types, whose properties return their private fields as they are (where
# the check at import saw it; else none, and every span is read through its properties).
_SDK_SPANS = frozenset({ReadableSpan, _Span}) if SDK_FIELDS_HOLD else frozenset()

_CONVERSATION_ID = genai.CONVERSATION_ID
_SESSION_ID = (names.SESSION_ID, names.LANGFUSE_SESSION_ID)
_USER_ID = (names.USER_ID, names.LANGFUSE_USER_ID)
# Globals: an enum's class attribute (``StatusCode.ERROR``) costs more, and these are read per span.
_CLIENT = OtelSpanKind.CLIENT
_ERROR = StatusCode.ERROR
_GENAI_OR_CHAIN = frozenset(kind for kind in SpanKind if kind.is_genai) | {SpanKind.CHAIN}
_HTTP_STATUS = (names.HTTP_RESPONSE_STATUS_CODE, names.HTTP_STATUS_CODE)
_SERVER = (names.SERVER_ADDRESS, names.NET_PEER_NAME, names.HTTP_HOST)
# Every attribute the input readers look at, and the output readers (besides span events).
_INPUT_KEYS = frozenset(
    {
        infinium.INPUT_SUMMARY,
        names.PYDANTIC_AI_ALL_MESSAGES,
        genai.INPUT_MESSAGES,
        genai.SYSTEM_INSTRUCTIONS,
        openinference.INPUT_VALUE,
        openinference.OUTPUT_VALUE,  # CrewAI's task span holds its task in its output
        names.LLM_INPUT_MESSAGES_PREFIX + "0.message.role",
        names.LLM_INPUT_MESSAGES_PREFIX + "0.message.content",
        names.GEN_AI_PROMPT_PREFIX + "0.role",
        names.GEN_AI_PROMPT_PREFIX + "0.content",
        openllmetry.ENTITY_INPUT,
    }
)
_OUTPUT_KEYS = frozenset(
    {
        infinium.OUTPUT_SUMMARY,
        names.PYDANTIC_AI_ALL_MESSAGES,
        names.PYDANTIC_AI_FINAL_RESULT,
        genai.OUTPUT_MESSAGES,
        openinference.OUTPUT_VALUE,
        names.LLM_OUTPUT_MESSAGES_PREFIX + "0.message.role",
        names.LLM_OUTPUT_MESSAGES_PREFIX + "0.message.content",
        names.GEN_AI_COMPLETION_PREFIX + "0.role",
        names.GEN_AI_COMPLETION_PREFIX + "0.content",
        names.GEN_AI_COMPLETION_PREFIX + "0.tool_calls.0.name",
        openllmetry.ENTITY_OUTPUT,
    }
)
_TRANSPORT_MARKERS = (
    names.HTTP_REQUEST_METHOD,
    names.HTTP_METHOD,
    names.URL_FULL,
    names.DB_SYSTEM,
    names.DB_SYSTEM_NAME,
    names.RPC_SYSTEM,
    names.MESSAGING_SYSTEM,
)


@dataclasses.dataclass(slots=True, init=False)
class SpanFacts:
    """What conversion needs to know about one span, whichever convention described it."""

    span_id: int
    parent_id: int | None
    name: str
    kind: SpanKind
    start: int | None
    end: int | None
    failed: bool
    status_description: str | None
    scope_name: str | None
    scope_version: str | None
    operation: str | None = None
    agent_name: str | None = None
    workflow_name: str | None = None
    entity_name: str | None = None
    model: str | None = None
    provider: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost: float | None = None
    temperature: float | None = None
    tool_name: str | None = None
    tool_arguments: str | None = None
    tool_result: str | None = None
    input_text: str | None = None
    output_text: str | None = None
    http_status: int | None = None
    server_address: str | None = None
    transport: bool = False
    conversation_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None

    def __init__(
        self,
        span_id: int,
        parent_id: int | None,
        name: str,
        kind: SpanKind,
        start: int | None,
        end: int | None,
        failed: bool,
        status_description: str | None,
        scope_name: str | None,
        scope_version: str | None,
        **facts: Any,
    ) -> None:
        # Written out: the generated one fills in a default argument for each of the facts a
        # span is read into later (one instance per span); any of them may still be given.
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.start = start
        self.end = end
        self.failed = failed
        self.status_description = status_description
        self.scope_name = scope_name
        self.scope_version = scope_version
        self.operation = self.agent_name = self.workflow_name = self.entity_name = None
        self.model = self.provider = None
        self.input_tokens = self.output_tokens = self.total_tokens = None
        self.cost = self.temperature = None
        self.tool_name = self.tool_arguments = self.tool_result = None
        self.input_text = self.output_text = None
        self.http_status = None
        self.server_address = None
        self.transport = False
        self.conversation_id = self.session_id = self.user_id = None
        if facts:
            for field, value in facts.items():
                if field not in _DEFAULTED:
                    raise TypeError(f"SpanFacts() got an unexpected keyword argument {field!r}")
                setattr(self, field, value)

    @property
    def duration_ms(self) -> int | None:
        if self.start is None or self.end is None:
            return None
        return max(0, (self.end - self.start) // 1_000_000)

    @property
    def has_usage(self) -> bool:
        return (
            self.input_tokens is not None
            or self.output_tokens is not None
            or self.total_tokens is not None
        )

    def fill_from(self, other: SpanFacts) -> None:
        """Take ``other``'s facts wherever this span has none (two spans of one call)."""
        for field in _MERGEABLE:
            if getattr(self, field) is None:
                value = getattr(other, field)
                if value is not None:
                    setattr(self, field, value)
        if other.failed and not self.failed:
            self.failed = True
            self.status_description = self.status_description or other.status_description


# The facts a span is read into after its identity, times, status and scope.
_DEFAULTED = frozenset(field.name for field in dataclasses.fields(SpanFacts)[10:])

_MERGEABLE = (
    "operation",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "temperature",
    "tool_name",
    "tool_arguments",
    "tool_result",
    "input_text",
    "output_text",
    "http_status",
)


def span_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a plain dict, to be read and never changed.

    The SDK's mapping answers every lookup and iteration through Python-level
    methods; an ended SDK span's attributes no longer change, so its inner dict
    is read as it is. Anything else (a live span, another mapping) is copied once.
    """
    if span.end_time is not None:
        inner = getattr(getattr(span, "_attributes", None), "_dict", None)
        if type(inner) is dict:
            return inner
    attributes = span.attributes
    return dict(attributes) if attributes else _EMPTY


def run_name(span: ReadableSpan, steps: Iterable[SpanFacts] = ()) -> str:
    """The run's name from its root: agent, then workflow, then entity names; then the name of
    the agent it runs, when the root names none and its outermost agents share one name (the
    OpenAI Agents SDK's root is its trace, "Agent workflow", the agent's name is a level down);
    then the span name."""
    attributes = span_attributes(span)
    own = text(first(attributes, _RUN_NAME))
    if own:
        return own
    if classify(attributes) is AGENT:
        own = text(attributes.get(openinference.GRAPH_NODE_ID))
        if own:
            return own
    name = text(span.name)
    scope = span.instrumentation_scope
    if name and scope is not None:
        own = openinference.agent_name(name, scope.name)
        if own:
            return own
    return _inner_agent_name(steps) or name or "run"


def _inner_agent_name(steps: Iterable[SpanFacts]) -> str | None:
    named = [(f.agent_name, f.parent_id, f.span_id) for f in steps if f.kind.is_agent_like]
    agent_ids = {span_id for _, _, span_id in named}
    outermost = {name for name, parent, _ in named if parent not in agent_ids}
    if len(outermost) == 1:
        return next(iter(outermost))
    return None


def read_facts(span: ReadableSpan, capture_content: bool = True) -> SpanFacts:
    """The facts of one span; never raises for any attribute types the SDK accepts."""
    return read_span(span, capture_content)[0]


def read_span(span: ReadableSpan, capture_content: bool = True) -> tuple[SpanFacts, bool]:
    """``read_facts``, and whether the span has events (``has_events``), found on the way."""
    status: Any  # a Status, or a span made by other code may hold another object or none
    scope: Any  # likewise an InstrumentationScope, another object or none
    if type(span) in _SDK_SPANS:  # the properties only return these fields: read them at once
        events: Any = span._events
        events_type = type(events)  # compared by name: no narrowing hides the deque
        with_events = len(events._dq) > 0 if events_type is BoundedList else has_events(span)
        context = span._context
        parent = span._parent
        scope = span._instrumentation_scope
        status = span._status
        name = span._name
        start, end = span._start_time, span._end_time
        held = span._attributes
        attributes = (
            held._dict
            if type(held) is BoundedAttributes and end is not None and type(held._dict) is dict
            else span_attributes(span)
        )
    else:
        context = span.context
        parent = span.parent
        scope = span.instrumentation_scope
        status = span.status
        name = span.name
        start, end = span.start_time, span.end_time
        attributes = span_attributes(span)
        with_events = has_events(span)
        # The API's value types answer through properties over their fields: read the fields.
    if type(context) is SpanContext:
        span_id = context[1]
    else:
        span_id = context.span_id if context is not None else 0
    if parent is None:
        parent_id = None
    else:
        parent_id = parent[1] if type(parent) is SpanContext else parent.span_id
    if status is None:
        failed, description = False, None
    elif type(status) is Status and STATUS_FIELDS_HOLD:
        failed = status._status_code is _ERROR
        description = status._description
    else:
        failed = status.status_code is _ERROR
        description = status.description
    if description is not None:
        description = (description or None) if type(description) is str else text(description)
    if type(scope) is InstrumentationScope and SCOPE_FIELDS_HOLD:
        scope_name = scope._name or None
        scope_version = scope._version or None
    elif scope is not None:
        scope_name = scope.name or None
        scope_version = scope.version or None
    else:
        scope_name = scope_version = None
    get = attributes.get
    operation = get(_OPERATION)
    # classify() answers a GenAI operation from one table: looked up here without the call.
    kind = GENAI_OPERATION_KINDS.get(operation) if type(operation) is str else None
    if kind is None:
        kind = classify(attributes)
    plan = _PLANS.get(tuple(attributes))
    if plan is None:
        plan = _plan(attributes)
    facts = SpanFacts(
        span_id,
        parent_id,
        (name if type(name) is str and name else text(name)) or "span",
        kind,
        start,
        end,
        failed,
        description,
        scope_name,
        scope_version,
    )
    if kind not in _GENAI_OR_CHAIN:
        _read_plain(facts, span, attributes, plan)
        if facts.transport:
            return facts, with_events
    if type(operation) is str and operation:
        facts.operation = operation
    else:
        facts.operation = _text(operation) or _text(get(_REQUEST_TYPE))
    if plan.any_named:
        if plan.agent_name:
            facts.agent_name = _first_text(get, plan.agent_name)
        if plan.workflow_name:
            facts.workflow_name = _first_text(get, plan.workflow_name)
        if plan.entity_name:
            facts.entity_name = _first_text(get, plan.entity_name)
    if facts.agent_name is None and kind is AGENT:
        facts.agent_name = _text(get(openinference.GRAPH_NODE_ID))
    if plan.any_call:
        # The first name a span carries nearly always holds a plain str or int: taken as it
        # is; anything else (absent, another type) goes through the general reader.
        carried = plan.provider
        if carried:
            value = get(carried[0])
            facts.provider = value if type(value) is str and value else _first_text(get, carried)
        carried = plan.input_tokens
        if carried:
            value = get(carried[0])
            if type(value) is int:
                facts.input_tokens = value if value >= 0 else None
            else:
                facts.input_tokens = _first_count(get, carried)
        carried = plan.output_tokens
        if carried:
            value = get(carried[0])
            if type(value) is int:
                facts.output_tokens = value if value >= 0 else None
            else:
                facts.output_tokens = _first_count(get, carried)
        carried = plan.total_tokens
        if carried:
            facts.total_tokens = _first_count(get, carried)
        if plan.cost:
            cost = first(attributes, plan.cost)
            facts.cost = None if cost is None else number(cost, 0.0)
        carried = plan.model
        if carried:
            value = get(carried[0])
            facts.model = value if type(value) is str and value else _first_text(get, carried)
    temperature = get(_TEMPERATURE)
    if temperature is not None:
        if type(temperature) is float and temperature >= 0.0 and temperature != _INFINITY:
            facts.temperature = temperature
        else:
            facts.temperature = number(temperature, 0.0)
    if (facts.model is None or facts.temperature is None) and plan.invocation_parameters:
        parameters = openinference.invocation_parameters(attributes)
        facts.model = facts.model or text(parameters.get("model"))
        if facts.temperature is None:
            facts.temperature = number(parameters.get("temperature"), 0.0)
    carried = plan.tool_name
    if carried:
        value = get(carried[0])
        facts.tool_name = value if type(value) is str and value else _first_text(get, carried)
    if kind is TOOL and facts.tool_name is None:
        facts.tool_name = facts.entity_name or facts.name
    if plan.any_other:
        if plan.http_status:
            status_code = _first_count(get, plan.http_status)
            facts.http_status = (
                status_code if status_code is not None and 100 <= status_code <= 599 else None
            )
        if plan.conversation_id:
            facts.conversation_id = _first_text(get, plan.conversation_id)
        if plan.session_id:
            facts.session_id = _first_text(get, plan.session_id)
        if plan.user_id:
            facts.user_id = _first_text(get, plan.user_id)
    if capture_content:
        _read_content(facts, span, attributes, plan, with_events)
    return facts, with_events


class _Plan:
    """Which of each fact's attribute names a span with a given set of keys carries, in
    priority order: names it lacks are not looked up, facts it has none for not read."""

    __slots__ = (
        "agent_name",
        "any_call",
        "any_named",
        "any_other",
        "conversation_id",
        "cost",
        "entity_name",
        "http_status",
        "input_tokens",
        "invocation_parameters",
        "model",
        "output_tokens",
        "provider",
        "reads_input",
        "reads_output",
        "server_address",
        "session_id",
        "tool_name",
        "total_tokens",
        "transport_marker",
        "user_id",
        "workflow_name",
    )

    def __init__(self, keys: Iterable[str]) -> None:
        present = frozenset(keys)

        def carried(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(name for name in names if name in present)

        self.agent_name = carried(_AGENT_NAME)
        self.workflow_name = carried(_WORKFLOW_NAME)
        self.entity_name = carried(openllmetry.ENTITY_NAME)
        self.provider = carried(_PROVIDER)
        self.input_tokens = carried(_INPUT_TOKENS)
        self.output_tokens = carried(_OUTPUT_TOKENS)
        self.total_tokens = carried(_TOTAL_TOKENS)
        self.cost = carried(_COST)
        self.model = carried(_MODEL)
        self.invocation_parameters = openinference.INVOCATION_PARAMETERS in present
        self.tool_name = carried(_TOOL_NAME)
        self.http_status = carried(_HTTP_STATUS)
        self.conversation_id = carried(_CONVERSATION_ID)
        self.session_id = carried(_SESSION_ID)
        self.user_id = carried(_USER_ID)
        self.any_named = bool(self.agent_name or self.workflow_name or self.entity_name)
        self.any_call = bool(
            self.provider
            or self.input_tokens
            or self.output_tokens
            or self.total_tokens
            or self.cost
            or self.model
        )
        self.any_other = bool(
            self.http_status or self.conversation_id or self.session_id or self.user_id
        )
        self.reads_input = not present.isdisjoint(_INPUT_KEYS)
        self.reads_output = not present.isdisjoint(_OUTPUT_KEYS)
        self.transport_marker = not present.isdisjoint(_TRANSPORT_MARKERS)
        self.server_address = carried(_SERVER)


# Spans of one instrumentation carry the same keys in the same order: their plan is made once.
_PLANS: dict[tuple[str, ...], _Plan] = {}
_MAX_PLANS = 512


def _plan(attributes: Mapping[str, Any]) -> _Plan:
    keys = tuple(attributes)
    plan = _PLANS.get(keys)
    if plan is None:
        plan = _Plan(keys)
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()  # many shapes of spans: start again rather than grow
        _PLANS[keys] = plan
    return plan


def _text(value: Any) -> str | None:
    """``text`` with the common cases (a string, nothing) answered without a call."""
    if type(value) is str:
        return value or None
    return None if value is None else text(value)


def _first_text(get: Callable[[str], Any], names: tuple[str, ...]) -> str | None:
    """``text(first(attributes, names))`` in one call."""
    for name in names:
        value = get(name)
        if value is not None:
            if type(value) is str:
                return value or None
            return text(value)
    return None


def _first_count(get: Callable[[str], Any], names: tuple[str, ...]) -> int | None:
    """``integer(first(attributes, names))`` in one call."""
    for name in names:
        value = get(name)
        if value is not None:
            if type(value) is int:
                return value if value >= 0 else None
            return integer(value)
    return None


def _http_status(attributes: Mapping[str, Any]) -> int | None:
    """An HTTP status code, or None for anything outside 100-599 (the contract's range)."""
    status = _first_count(attributes.get, _HTTP_STATUS)
    return status if status is not None and 100 <= status <= 599 else None


def _read_plain(
    facts: SpanFacts, span: ReadableSpan, attributes: Mapping[str, Any], plan: _Plan
) -> None:
    """Facts of a span no GenAI convention describes: is it transport, and to where?"""
    facts.transport = span.kind is _CLIENT or plan.transport_marker
    if plan.http_status:
        facts.http_status = _http_status(attributes)
    if plan.server_address:
        facts.server_address = text(first(attributes, plan.server_address))


def _read_content(
    facts: SpanFacts,
    span: ReadableSpan,
    attributes: Mapping[str, Any],
    plan: _Plan,
    with_events: bool,
) -> None:
    # Each text is looked for in priority order and only as far as needed; messages are
    # parsed only when no explicit summary is given, span events only when a message
    # attribute is missing. An agent's input is the user's question and its output the
    # final answer, not the last turn of its conversation.
    get = attributes.get
    kind = facts.kind
    if kind is LLM:
        # A chat call with both message attributes and no summaries (most LLM spans): its new
        # input and its output messages, as _read_input and _read_output find them first.
        history = get(_INPUT_MESSAGES)
        current = get(_OUTPUT_MESSAGES)
        if (
            history is not None
            and current is not None
            and get(_INPUT_SUMMARY) is None
            and get(_OUTPUT_SUMMARY) is None
        ):
            input_text = new_input_text(history)
            if input_text is None:
                input_text = read_input(span, attributes, False)
            outputs = messages_from(current, "assistant")
            output_text = (
                (outputs[0][1] if len(outputs) == 1 else render(outputs)) if outputs else None
            )
            if not output_text:
                output_text = read_output(span, attributes, False)
            facts.input_text = input_text
            facts.output_text = output_text
            return
    agent = kind.is_agent_like or kind is CHAIN
    # A side none of whose attributes is present (and no events) has no text: the readers
    # below would each look and find nothing (a tool span's input and output, an agent's).
    input_text = None
    if with_events or plan.reads_input:
        input_text = read_input(span, attributes, agent)
    output_text = None
    if with_events or plan.reads_output:
        output_text = read_output(span, attributes, agent)
    if agent and output_text is not None:
        output_text = output_text.strip() or None  # an answer's trailing newline is no content
    facts.input_text = input_text
    facts.output_text = output_text
    if facts.kind is TOOL:
        arguments = get(_TOOL_ARGUMENTS)
        if type(arguments) is str and arguments:  # the common case, as _first_text gives it
            facts.tool_arguments = arguments
        else:
            facts.tool_arguments = (
                _first_text(get, genai.TOOL_ARGUMENTS)
                or openinference.tool_arguments(attributes)
                or input_text
            )
        result = get(_TOOL_RESULT)
        if type(result) is str and result and result[0] != "[":
            facts.tool_result = result  # no content parts (content_text), so the text itself
        else:
            facts.tool_result = (content_text(result) or _text(result)) if result else output_text


def has_events(span: ReadableSpan) -> bool:
    """``bool(span.events)`` without the SDK copying the events into a new tuple."""
    events: Any = getattr(span, "_events", None)
    kind = type(events)
    if kind is BoundedList and SDK_FIELDS_HOLD:  # an SDK span's: its deque's length, no call
        return len(events._dq) > 0
    if kind is tuple or kind is list:
        return len(events) > 0
    try:
        return len(events) > 0 if events is not None else bool(span.events)
    except TypeError:
        return bool(span.events)
