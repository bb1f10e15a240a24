"""The facts of the commonest spans, read without the general reader's plan and checks.

A span of the GenAI semantic conventions (a chat, a tool's execution, an agent's
invocation) made by the SDK or decoded from OTLP by the gateway, ended, with plain
attribute values and no events, is read here in one pass over the few names it can
carry. Anything else, an
attribute name outside that set, a value of another type, an event, a span of
another type, and ``read_common`` declines (None): ``read_span`` then reads it.
What it returns is what ``read_span`` returns for the same span (the tests hold
the two to the same payload bytes).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan, _Span
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode

from infinium_otel.conventions import names
from infinium_otel.conventions.content import read_input, read_output
from infinium_otel.conventions.decoded_attributes import SpanAttributes
from infinium_otel.conventions.dumped import one_text_message, one_tool_call_message
from infinium_otel.conventions.dumped_plain import plain_tool_call_output
from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import AGENT, LLM, TOOL
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
from infinium_otel.conventions.values import to_json

__all__ = ["COVERED_NAMES", "IGNORED_NAMES", "common_facts", "read_common"]

# GenAI operations read here, and their kinds (as classify() gives them).
_KINDS = {
    names.OPERATION_CHAT: LLM,
    names.OPERATION_TEXT_COMPLETION: LLM,
    names.OPERATION_GENERATE_CONTENT: LLM,
    names.OPERATION_EXECUTE_TOOL: TOOL,
    names.OPERATION_INVOKE_AGENT: AGENT,
}
# The names read here; with them, the names no reader looks at for these kinds.
_READ_NAMES = frozenset(
    {
        names.GEN_AI_OPERATION_NAME,
        names.GEN_AI_PROVIDER_NAME,
        names.GEN_AI_SYSTEM,
        names.GEN_AI_RESPONSE_MODEL,
        names.GEN_AI_REQUEST_MODEL,
        names.GEN_AI_USAGE_INPUT_TOKENS,
        names.GEN_AI_USAGE_OUTPUT_TOKENS,
        names.GEN_AI_USAGE_TOTAL_TOKENS,
        names.GEN_AI_REQUEST_TEMPERATURE,
        names.GEN_AI_AGENT_NAME,
        names.GEN_AI_TOOL_NAME,
        names.GEN_AI_TOOL_CALL_ARGUMENTS,
        names.GEN_AI_TOOL_CALL_RESULT,
        names.GEN_AI_CONVERSATION_ID,
        names.GEN_AI_INPUT_MESSAGES,
        names.GEN_AI_OUTPUT_MESSAGES,
    }
)
IGNORED_NAMES = frozenset(
    {
        names.GEN_AI_RESPONSE_ID,
        names.GEN_AI_RESPONSE_FINISH_REASONS,
        names.GEN_AI_REQUEST_TOP_P,
        names.GEN_AI_REQUEST_TOP_K,
        names.GEN_AI_REQUEST_MAX_TOKENS,
        names.GEN_AI_REQUEST_STOP_SEQUENCES,
        names.GEN_AI_REQUEST_SEED,
        names.GEN_AI_REQUEST_PRESENCE_PENALTY,
        names.GEN_AI_REQUEST_FREQUENCY_PENALTY,
        names.GEN_AI_REQUEST_CHOICE_COUNT,
        names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        names.GEN_AI_TOOL_CALL_ID,
        names.GEN_AI_TOOL_TYPE,
        names.GEN_AI_TOOL_DESCRIPTION,
        names.GEN_AI_AGENT_ID,
        names.GEN_AI_AGENT_DESCRIPTION,
        names.GEN_AI_OUTPUT_TYPE,
        names.SERVER_PORT,
        names.SERVER_ADDRESS,  # read only for spans no GenAI convention describes
    }
)
COVERED_NAMES = _READ_NAMES | IGNORED_NAMES

_SDK_SPANS = frozenset({ReadableSpan, _Span}) if SDK_FIELDS_HOLD else frozenset()
_FIELDS_HOLD = STATUS_FIELDS_HOLD and SCOPE_FIELDS_HOLD
_ERROR = StatusCode.ERROR
_INFINITY = float("inf")
_OPERATION = names.GEN_AI_OPERATION_NAME
_PROVIDER = names.GEN_AI_PROVIDER_NAME
_SYSTEM = names.GEN_AI_SYSTEM
_RESPONSE_MODEL = names.GEN_AI_RESPONSE_MODEL
_REQUEST_MODEL = names.GEN_AI_REQUEST_MODEL
_INPUT_TOKENS = names.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT_TOKENS = names.GEN_AI_USAGE_OUTPUT_TOKENS
_TOTAL_TOKENS = names.GEN_AI_USAGE_TOTAL_TOKENS
_TEMPERATURE = names.GEN_AI_REQUEST_TEMPERATURE
_AGENT_NAME = names.GEN_AI_AGENT_NAME
_TOOL_NAME = names.GEN_AI_TOOL_NAME
_TOOL_ARGUMENTS = names.GEN_AI_TOOL_CALL_ARGUMENTS
_TOOL_RESULT = names.GEN_AI_TOOL_CALL_RESULT
_CONVERSATION_ID = names.GEN_AI_CONVERSATION_ID
_INPUT_MESSAGES = names.GEN_AI_INPUT_MESSAGES
_OUTPUT_MESSAGES = names.GEN_AI_OUTPUT_MESSAGES


_new = object.__new__
# Roles whose one message is not a history's new input (an assistant turn ends it; system
# prompts are not shown): such a history goes through new_input_text.
_NOT_NEW_INPUT = frozenset({"assistant", "system", "developer"})

# Groups of the names read here, and whether a span's names hold any of each: a group none of
# whose names a span holds is not looked up. _COVERED: every name of the span is covered.
_COVERED = 1
_CALL_FACTS = 2
_AGENT_FACTS = 4
_MESSAGES = 8
_GROUPS = (
    (
        _CALL_FACTS,
        frozenset(
            {
                _PROVIDER,
                _SYSTEM,
                _INPUT_TOKENS,
                _OUTPUT_TOKENS,
                _TOTAL_TOKENS,
                _RESPONSE_MODEL,
                _REQUEST_MODEL,
                _TEMPERATURE,
            }
        ),
    ),
    (_AGENT_FACTS, frozenset({_AGENT_NAME, _CONVERSATION_ID})),
    (_MESSAGES, frozenset({_INPUT_MESSAGES, _OUTPUT_MESSAGES})),
)

# The shape of each set of names (in the order a span carries them): 0 when a name is not
# covered, else _COVERED and the groups it holds. Spans of one instrumentation carry the same
# names in the same order, so one lookup answers for them.
_COVERED_SHAPES: dict[tuple[str, ...], int] = {}
_MAX_SHAPES = 512


def _shape(keys: tuple[str, ...]) -> int:
    shape = 0
    if COVERED_NAMES.issuperset(keys):
        shape = _COVERED
        for group, group_names in _GROUPS:
            if not group_names.isdisjoint(keys):
                shape |= group
    if len(_COVERED_SHAPES) >= _MAX_SHAPES:
        _COVERED_SHAPES.clear()  # many shapes of spans: start again rather than grow
    _COVERED_SHAPES[keys] = shape
    return shape


def read_common(span: ReadableSpan, capture_content: bool = True) -> tuple[SpanFacts, bool] | None:
    """``read_span(span, capture_content)`` for the commonest spans; None for any other."""
    facts = common_facts(span, capture_content)
    return None if facts is None else (facts, False)


def common_facts(span: ReadableSpan, capture_content: bool = True) -> SpanFacts | None:
    """``read_common``'s facts alone (the spans it reads have no events); None for any span it
    declines.

    Each value is checked as it is read and the span declined at the first one not taken as
    it is (a plain string, a count, a finite temperature, or absent); the facts are made
    once every value is known, each field set once."""
    if type(span) not in _SDK_SPANS or not _FIELDS_HOLD:
        return None
    held: Any = span._attributes
    end = span._end_time
    held_type = type(held)  # the SDK's, or a span decoded by the gateway
    if (held_type is not BoundedAttributes and held_type is not SpanAttributes) or end is None:
        return None
    attributes = held._dict
    if type(attributes) is not dict:
        return None
    get = attributes.get
    operation = get(_OPERATION)
    kind = _KINDS.get(operation) if type(operation) is str else None
    if kind is None:
        return None
    keys = tuple(attributes)
    shape = _COVERED_SHAPES.get(keys)
    if shape is None:
        shape = _shape(keys)
    if not shape:
        return None
    events: Any = span._events
    events_type = type(events)  # compared by name: no narrowing hides the deque
    if events_type is BoundedList:
        if len(events._dq):
            return None
    elif (events_type is not tuple and events_type is not list) or events:
        return None  # a decoded span's events: an empty tuple or list, else not read here
    context = span._context
    parent = span._parent
    status: Any = span._status
    scope: Any = span._instrumentation_scope
    name = span._name
    if type(context) is not SpanContext or type(status) is not Status:
        return None
    if type(name) is not str or not name:
        return None
    if parent is None:
        parent_id = None
    elif type(parent) is SpanContext:
        parent_id = parent[1]
    else:
        return None
    description = status._description
    if description is not None:
        if type(description) is not str:
            return None
        description = description or None
    if scope is None:
        scope_name = scope_version = None
    elif type(scope) is InstrumentationScope:
        scope_name = scope._name or None
        scope_version = scope._version or None
    else:
        return None
    # Texts: a str as it is ("" is none); counts: an int, a negative one none. A group of names
    # none of which the span's shape holds is not looked up (each would be None).
    if shape & _CALL_FACTS:
        provider = get(_PROVIDER)
        if provider is None:
            provider = get(_SYSTEM)
        if provider is not None:
            if type(provider) is not str:
                return None
            provider = provider or None
        input_tokens = get(_INPUT_TOKENS)
        if input_tokens is not None:
            if type(input_tokens) is not int:
                return None
            if input_tokens < 0:
                input_tokens = None
        output_tokens = get(_OUTPUT_TOKENS)
        if output_tokens is not None:
            if type(output_tokens) is not int:
                return None
            if output_tokens < 0:
                output_tokens = None
        total_tokens = get(_TOTAL_TOKENS)
        if total_tokens is not None:
            if type(total_tokens) is not int:
                return None
            if total_tokens < 0:
                total_tokens = None
        model = get(_RESPONSE_MODEL)
        if model is None:
            model = get(_REQUEST_MODEL)
        if model is not None:
            if type(model) is not str:
                return None
            model = model or None
        temperature = get(_TEMPERATURE)
        if temperature is not None and (
            type(temperature) is not float or not temperature >= 0.0 or temperature == _INFINITY
        ):
            return None
    else:
        provider = input_tokens = output_tokens = total_tokens = model = temperature = None
    if shape & _AGENT_FACTS:
        agent_name = get(_AGENT_NAME)
        if agent_name is not None:
            if type(agent_name) is not str:
                return None
            agent_name = agent_name or None
        conversation_id = get(_CONVERSATION_ID)
        if conversation_id is not None:
            if type(conversation_id) is not str:
                return None
            conversation_id = conversation_id or None
    else:
        agent_name = conversation_id = None
    tool_name = get(_TOOL_NAME)
    if tool_name is not None:
        if type(tool_name) is not str:
            return None
        tool_name = tool_name or None
    if kind is TOOL and tool_name is None:
        tool_name = name
    input_text = output_text = tool_arguments = tool_result = None
    if capture_content:
        if shape & _MESSAGES:
            history = get(_INPUT_MESSAGES)
            current = get(_OUTPUT_MESSAGES)
        else:
            history = current = None
        if kind is LLM and history is not None and current is not None:
            # One message of one text part (json.dumps's text): its text, without parsing.
            message = one_text_message(history) if type(history) is str else None
            if message is not None and message[0] not in _NOT_NEW_INPUT:
                input_text = message[1]  # the whole new input, as new_input_text finds it
            else:
                input_text = new_input_text(history)
                if input_text is None:
                    input_text = read_input(span, attributes, False)
            called = None
            if type(current) is str:
                message = one_text_message(current)  # the one output message's text
                # Else one call of plain arguments (an agent loop's), as text; else decoded.
                output_text = plain_tool_call_output(current) if message is None else message[1]
                if output_text is None:
                    called = one_tool_call_message(current)
            if output_text is not None:
                pass
            elif called is not None:  # one call (an agent loop's): rendered as tool_call_text
                arguments = called[2]  # renders its part (a non-empty name, decoded arguments)
                rendered = arguments if type(arguments) is str else to_json(arguments)
                output_text = f"tool_call {called[1]}({rendered or ''})"
            else:
                outputs = messages_from(current, "assistant")
                if outputs:
                    output_text = outputs[0][1] if len(outputs) == 1 else render(outputs)
                if not output_text:
                    output_text = read_output(span, attributes, False)
        else:
            agent = kind is AGENT
            if history is not None:
                input_text = read_input(span, attributes, agent)
            if current is not None:
                output_text = read_output(span, attributes, agent)
                if agent and output_text is not None:
                    output_text = output_text.strip() or None  # a trailing newline is no content
            if kind is TOOL:
                tool_arguments = get(_TOOL_ARGUMENTS)
                if tool_arguments is None:
                    tool_arguments = input_text
                elif type(tool_arguments) is str:
                    tool_arguments = tool_arguments or input_text
                else:
                    return None
                tool_result = get(_TOOL_RESULT)
                if tool_result is None or tool_result == "":
                    tool_result = output_text
                elif type(tool_result) is str:
                    if tool_result[0] == "[":  # content parts, or text that opens with "["
                        tool_result = content_text(tool_result) or tool_result
                else:
                    return None
    facts: SpanFacts = _new(SpanFacts)
    facts.span_id = context[1]
    facts.parent_id = parent_id
    facts.name = name
    facts.kind = kind
    facts.start = span._start_time
    facts.end = end
    facts.failed = status._status_code is _ERROR
    facts.status_description = description
    facts.scope_name = scope_name
    facts.scope_version = scope_version
    facts.operation = operation
    facts.agent_name = agent_name
    facts.workflow_name = facts.entity_name = None
    facts.model = model
    facts.provider = provider
    facts.input_tokens = input_tokens
    facts.output_tokens = output_tokens
    facts.total_tokens = total_tokens
    facts.cost = None
    facts.temperature = temperature
    facts.tool_name = tool_name
    facts.tool_arguments = tool_arguments
    facts.tool_result = tool_result
    facts.input_text = input_text
    facts.output_text = output_text
    facts.http_status = facts.server_address = None
    facts.transport = False
    facts.conversation_id = conversation_id
    facts.session_id = facts.user_id = None
    return facts
