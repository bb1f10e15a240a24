"""What a span says it took in and gave back, as text: the input and output readers.

Each convention says it its own way (an explicit summary, an agent's question and
answer, a chat history of which only the new turns are shown, OpenInference's or
OpenLLMetry's raw values); these readers try them in order. ``read_span``
(``facts.py``) calls them only when content capture is on and the span's plan
says it may carry content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel.conventions import genai, infinium, names, openinference, openllmetry
from infinium_otel.conventions.messages import (
    Message,
    final_answer,
    messages_from,
    question,
    render,
)
from infinium_otel.conventions.new_input import new_input_text, render_new_input
from infinium_otel.conventions.values import text

__all__ = ["read_input", "read_output"]


def read_input(span: ReadableSpan, attributes: Mapping[str, Any], agent: bool) -> str | None:
    """The span's input text: an explicit summary, an agent's question, the new turns of
    its history, else its raw input value."""
    get = attributes.get
    events: Any = None
    summary = get(infinium.INPUT_SUMMARY)
    input_text = None if summary is None else text(summary)
    if input_text is None:
        history = get(genai.INPUT_MESSAGES)
        if history is None:
            events = span.events or ()
        if agent:
            input_text = _agent_input(attributes, events or ())
        if input_text is None:
            if history is None:
                history = genai.message_source(attributes, events, genai.INPUT_MESSAGES)
            if history is not None:
                input_text = new_input_text(history)  # renders only what is shown
    if input_text is None:
        inputs: list[Message] = genai.input_messages(attributes, events or ())
        if not inputs:
            # Flattened histories: only the messages after the last assistant one are
            # rendered, unless none is shown (then all are, as below).
            if openinference.has_input_messages(attributes):
                input_text = openinference.new_input_text(attributes)
            else:
                input_text = openllmetry.new_input_text(attributes)
            if input_text is not None:
                return input_text
            inputs = openinference.input_messages(attributes) or openllmetry.input_messages(
                attributes
            )
        input_text = (
            render_new_input(inputs)
            or render(openinference.value_text(attributes, openinference.INPUT_VALUE))
            or openllmetry.entity_text(attributes, openllmetry.ENTITY_INPUT)
        )
    return input_text


def read_output(span: ReadableSpan, attributes: Mapping[str, Any], agent: bool) -> str | None:
    """The span's output text: an explicit summary, an agent's final answer, its output
    messages, else its raw output value."""
    get = attributes.get
    events: Any = None
    summary = get(infinium.OUTPUT_SUMMARY)
    output_text = None if summary is None else text(summary)
    if output_text is None:
        current = get(genai.OUTPUT_MESSAGES)
        if current is None:
            events = span.events or ()
        if agent:
            output_text = _agent_output(attributes, events or ())
    if output_text is None:
        outputs: list[Message] = (
            messages_from(current, "assistant")  # the attribute: what output_messages reads first
            if current is not None
            else genai.output_messages(attributes, events or ())
        )
        if not outputs:
            outputs = openinference.output_messages(attributes) or openllmetry.output_messages(
                attributes
            )
        output_text = (
            (outputs[0][1] if len(outputs) == 1 else render(outputs))  # one message: its text
            or render(openinference.value_text(attributes, openinference.OUTPUT_VALUE))
            or openllmetry.entity_text(attributes, openllmetry.ENTITY_OUTPUT)
        )
    return output_text


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
        said = text(result)
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
