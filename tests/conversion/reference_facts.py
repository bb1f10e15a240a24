"""The conversion's span reading as it was before reading each fact once: a reference.

A verbatim copy of ``conventions/facts.py`` (with ``new_input_text``, which parsed a
history whole, and ``content_text`` from ``conventions/messages.py``) at the time the faster
reading replaced it. ``test_conversion_reference.py`` holds the package's conversion
to this one, payload for payload. Test-only: not maintained beyond that role.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind as OtelSpanKind
from opentelemetry.trace import StatusCode

from infinium_otel.conventions import genai, infinium, names, openinference, openllmetry
from infinium_otel.conventions.kind import SpanKind, classify
from infinium_otel.conventions.messages import (
    Message,
    _part_text,
    final_answer,
    message_from,
    question,
    render,
)
from infinium_otel.conventions.new_input import render_new_input
from infinium_otel.conventions.values import first, integer, json_value, number, text

__all__ = ["SpanFacts", "content_text", "json_value_before", "new_input_text", "read_facts"]

_MAX_MESSAGES = 200

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
_CONVERSATION_ID = genai.CONVERSATION_ID
_SESSION_ID = (names.SESSION_ID, names.LANGFUSE_SESSION_ID)
_USER_ID = (names.USER_ID, names.LANGFUSE_USER_ID)
_GENAI_OR_CHAIN = frozenset(kind for kind in SpanKind if kind.is_genai) | {SpanKind.CHAIN}
_HTTP_STATUS = (names.HTTP_RESPONSE_STATUS_CODE, names.HTTP_STATUS_CODE)
_SERVER = (names.SERVER_ADDRESS, names.NET_PEER_NAME, names.HTTP_HOST)
_TRANSPORT_MARKERS = (
    names.HTTP_REQUEST_METHOD,
    names.HTTP_METHOD,
    names.URL_FULL,
    names.DB_SYSTEM,
    names.DB_SYSTEM_NAME,
    names.RPC_SYSTEM,
    names.MESSAGING_SYSTEM,
)


@dataclasses.dataclass(slots=True)
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
    if classify(attributes) is SpanKind.AGENT:
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
    attributes = span_attributes(span)
    context = span.context
    parent = span.parent
    scope = span.instrumentation_scope
    status = span.status
    name = span.name
    kind = classify(attributes)
    facts = SpanFacts(
        context.span_id if context is not None else 0,
        parent.span_id if parent is not None else None,
        (name if type(name) is str and name else text(name)) or "span",
        kind,
        span.start_time,
        span.end_time,
        status is not None and status.status_code is StatusCode.ERROR,
        text(status.description) if status is not None else None,
        scope.name if scope is not None and scope.name else None,
        scope.version if scope is not None and scope.version else None,
    )
    if kind not in _GENAI_OR_CHAIN:
        _read_plain(facts, span, attributes)
        if facts.transport:
            return facts
    get = attributes.get
    facts.operation = _text(get(genai.OPERATION)) or _text(get(openllmetry.REQUEST_TYPE))
    facts.agent_name = _first_text(get, _AGENT_NAME)
    if facts.agent_name is None and kind is SpanKind.AGENT:
        facts.agent_name = _text(get(openinference.GRAPH_NODE_ID))
    facts.workflow_name = _first_text(get, _WORKFLOW_NAME)
    facts.entity_name = _first_text(get, openllmetry.ENTITY_NAME)
    facts.provider = _first_text(get, _PROVIDER)
    facts.input_tokens = _first_count(get, _INPUT_TOKENS)
    facts.output_tokens = _first_count(get, _OUTPUT_TOKENS)
    facts.total_tokens = _first_count(get, _TOTAL_TOKENS)
    cost = first(attributes, _COST)
    facts.cost = None if cost is None else number(cost, 0.0)
    facts.model = _first_text(get, _MODEL)
    temperature = get(_TEMPERATURE)
    facts.temperature = None if temperature is None else number(temperature, 0.0)
    if (facts.model is None or facts.temperature is None) and (
        openinference.INVOCATION_PARAMETERS in attributes
    ):
        parameters = openinference.invocation_parameters(attributes)
        facts.model = facts.model or text(parameters.get("model"))
        if facts.temperature is None:
            facts.temperature = number(parameters.get("temperature"), 0.0)
    facts.tool_name = _first_text(get, _TOOL_NAME)
    if kind is SpanKind.TOOL and facts.tool_name is None:
        facts.tool_name = facts.entity_name or facts.name
    facts.http_status = _http_status(attributes)
    facts.conversation_id = _first_text(get, _CONVERSATION_ID)
    facts.session_id = _first_text(get, _SESSION_ID)
    facts.user_id = _first_text(get, _USER_ID)
    if capture_content:
        _read_content(facts, span, attributes)
    return facts


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


def _read_plain(facts: SpanFacts, span: ReadableSpan, attributes: Mapping[str, Any]) -> None:
    """Facts of a span no GenAI convention describes: is it transport, and to where?"""
    facts.transport = span.kind is OtelSpanKind.CLIENT or any(
        marker in attributes for marker in _TRANSPORT_MARKERS
    )
    facts.http_status = _http_status(attributes)
    facts.server_address = text(first(attributes, _SERVER))


def _read_content(facts: SpanFacts, span: ReadableSpan, attributes: Mapping[str, Any]) -> None:
    # Each text is looked for in priority order and only as far as needed; messages are
    # parsed only when no explicit summary is given, span events only when a message
    # attribute is missing. An agent's input is the user's question and its output the
    # final answer, not the last turn of its conversation.
    get = attributes.get
    events: Any = None
    agent = facts.kind.is_agent_like or facts.kind is SpanKind.CHAIN
    input_text = _text(get(infinium.INPUT_SUMMARY))
    if input_text is None:
        if get(genai.INPUT_MESSAGES) is None:
            events = span.events or ()
        if agent:
            input_text = _agent_input(attributes, events or ())
    if input_text is None:
        history = genai.message_source(attributes, events or (), genai.INPUT_MESSAGES)
        if history is not None:
            input_text = new_input_text(history)  # renders only what is shown
    if input_text is None:
        inputs: list[Message] = genai.input_messages(attributes, events or ())
        if not inputs:
            inputs = openinference.input_messages(attributes) or openllmetry.input_messages(
                attributes
            )
        input_text = (
            render_new_input(inputs)
            or render(openinference.value_text(attributes, openinference.INPUT_VALUE))
            or openllmetry.entity_text(attributes, openllmetry.ENTITY_INPUT)
        )
    output_text = _text(get(infinium.OUTPUT_SUMMARY))
    if output_text is None:
        if events is None and get(genai.OUTPUT_MESSAGES) is None:
            events = span.events or ()
        if agent:
            output_text = _agent_output(attributes, events or ())
    if output_text is None:
        outputs: list[Message] = genai.output_messages(attributes, events or ())
        if not outputs:
            outputs = openinference.output_messages(attributes) or openllmetry.output_messages(
                attributes
            )
        output_text = (
            render(outputs)
            or render(openinference.value_text(attributes, openinference.OUTPUT_VALUE))
            or openllmetry.entity_text(attributes, openllmetry.ENTITY_OUTPUT)
        )
    if agent and output_text is not None:
        output_text = output_text.strip() or None  # an answer's trailing newline is no content
    facts.input_text = input_text
    facts.output_text = output_text
    if facts.kind is SpanKind.TOOL:
        facts.tool_arguments = (
            _first_text(get, genai.TOOL_ARGUMENTS)
            or openinference.tool_arguments(attributes)
            or input_text
        )
        result = first(attributes, genai.TOOL_RESULT)
        facts.tool_result = (content_text(result) or _text(result)) if result else output_text


def _agent_input(attributes: Mapping[str, Any], events: Any) -> str | None:
    """An agent's question: from its whole conversation (pydantic-ai), its input messages
    (system instructions are not the question), or its call arguments (OpenInference)."""
    conversation = attributes.get(names.PYDANTIC_AI_ALL_MESSAGES)
    if conversation is not None:
        found = question(conversation)
        if found:
            return found
    current = genai.message_source(attributes, events, genai.INPUT_MESSAGES)
    if current is not None:
        found = question(current)
        if found:
            return found
    return openinference.agent_input(attributes)


def _agent_output(attributes: Mapping[str, Any], events: Any) -> str | None:
    """An agent's final answer: pydantic-ai's ``final_result``, else the last assistant text of
    its conversation or output messages (not a serialised state object)."""
    result = attributes.get(names.PYDANTIC_AI_FINAL_RESULT)
    if result is not None and attributes.get(names.PYDANTIC_AI_ALL_MESSAGES) is not None:
        said = _text(result)
        if said:
            return said
    conversation = attributes.get(names.PYDANTIC_AI_ALL_MESSAGES)
    if conversation is not None:
        found = final_answer(conversation)
        if found:
            return found
    current = genai.message_source(attributes, events, genai.OUTPUT_MESSAGES)
    if current is not None:
        found = final_answer(current)
        if found:
            return found
    return openinference.agent_output(attributes)


def new_input_text(value: Any) -> str | None:
    """``render_new_input(messages_from(value))`` rendering only the turns after the last
    assistant one (an agent loop's history grows with every call; only its tail is shown).
    None when that tail holds nothing to show: the caller then renders the whole history."""
    parsed = json_value(value)
    if type(parsed) is not list and isinstance(parsed, Mapping):
        parsed = parsed.get("messages")
    if not isinstance(parsed, list):
        return None
    tail: list[Message] = []
    for item in reversed(parsed[-_MAX_MESSAGES:]):
        message = message_from(item)
        if message is None:
            continue
        if message[0] == "assistant":
            break
        if message[0] not in ("system", "developer"):
            tail.append(message)
    if not tail:
        return None
    tail.reverse()
    return render(tail)


def content_text(value: Any) -> str | None:
    """A JSON list of content parts or blocks (``[{"text": ...}]``, a tool's result in Strands)
    as its text; None for any other value, which is then shown as it is."""
    parsed = json_value(value)
    if not isinstance(parsed, list) or not parsed:
        return None
    if not all(isinstance(item, Mapping) and "role" not in item for item in parsed):
        return None
    pieces = [p for p in (_part_text(item) for item in parsed[:_MAX_MESSAGES]) if p]
    return "\n".join(pieces) if pieces else None


def json_value_before(value: Any) -> Any:
    """``conventions.values.json_value`` as it was: ``json.loads`` of a string attribute."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if not value or value[0] not in '[{"':
            return None
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value
