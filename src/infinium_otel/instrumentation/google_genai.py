"""Google GenAI (``google-genai``): ``models.generate_content`` and
``generate_content_stream``, sync and async.

The provider is ``gcp.vertex_ai`` for a Vertex AI client and ``gcp.gemini``
otherwise. Output tokens include the model's thinking tokens when reported.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from opentelemetry.trace import Span

from infinium_otel.conventions import names
from infinium_otel.instrumentation._base import InstrumentorBase
from infinium_otel.instrumentation._calls import Request, async_wrapper, sync_wrapper
from infinium_otel.instrumentation._common import (
    MAX_PART_CHARS,
    Patcher,
    get_tracer,
    messages_json,
    resolve_capture_content,
    server_attributes,
    set_if,
)
from infinium_otel.instrumentation._parts import (
    generic_part,
    text_part,
    tool_call_part,
    tool_response_part,
)

__all__ = ["GoogleGenAIInstrumentor"]

_INSTRUMENTS = ("google-genai >= 1.0",)
_CONFIG_KEYS = {
    "temperature": names.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": names.GEN_AI_REQUEST_TOP_P,
    "top_k": names.GEN_AI_REQUEST_TOP_K,
    "max_output_tokens": names.GEN_AI_REQUEST_MAX_TOKENS,
    "stop_sequences": names.GEN_AI_REQUEST_STOP_SEQUENCES,
    "seed": names.GEN_AI_REQUEST_SEED,
    "presence_penalty": names.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "frequency_penalty": names.GEN_AI_REQUEST_FREQUENCY_PENALTY,
}


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        value = obj.get(key)
        if value is None:  # the REST spelling of the same field
            head, *rest = key.split("_")
            value = obj.get(head + "".join(word.title() for word in rest))
        return default if value is None else value
    return getattr(obj, key, default)


def _enum_text(value: Any) -> str:
    name = getattr(value, "value", value)
    return str(name or "").lower()


def _part(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return text_part(part)
    text = _get(part, "text")
    if isinstance(text, str):
        return text_part(text)
    call = _get(part, "function_call")
    if call is not None:
        return tool_call_part(_get(call, "id"), _get(call, "name"), _get(call, "args"))
    response = _get(part, "function_response")
    if response is not None:
        return tool_response_part(_get(response, "id"), _get(response, "response"))
    return generic_part(part)


def _is_content(item: Any) -> bool:
    return _get(item, "parts") is not None and not isinstance(item, str)


def _role(role: Any) -> str:
    role = str(role or "user")
    return "assistant" if role == "model" else role


def _contents(contents: Any) -> list[dict[str, Any]]:
    """``contents`` as messages: Content objects keep their role; loose parts form a user turn."""
    if contents is None or isinstance(contents, Iterator):
        return []  # reading a one-shot iterable would take it away from the SDK
    items = contents if isinstance(contents, list) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    for item in items:
        if _is_content(item):
            if loose:
                messages.append({"role": "user", "parts": loose})
                loose = []
            parts = [_part(p) for p in _get(item, "parts") or ()]
            messages.append({"role": _role(_get(item, "role")), "parts": parts})
        else:
            loose.append(_part(item))
    if loose:
        messages.append({"role": "user", "parts": loose})
    return messages


def _system_parts(instruction: Any) -> list[dict[str, Any]]:
    if instruction is None:
        return []
    if _is_content(instruction):
        return [_part(p) for p in _get(instruction, "parts") or ()]
    items = instruction if isinstance(instruction, list) else [instruction]
    return [_part(item) for item in items]


def _usage(attributes: dict[str, Any], usage: Any) -> None:
    if usage is None:
        return
    set_if(attributes, names.GEN_AI_USAGE_INPUT_TOKENS, _get(usage, "prompt_token_count"))
    output = _get(usage, "candidates_token_count")
    thoughts = _get(usage, "thoughts_token_count")
    if isinstance(output, int) or isinstance(thoughts, int):
        total = (output if isinstance(output, int) else 0) + (
            thoughts if isinstance(thoughts, int) else 0
        )
        attributes[names.GEN_AI_USAGE_OUTPUT_TOKENS] = total
    set_if(
        attributes,
        names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        _get(usage, "cached_content_token_count"),
    )


def _write(
    span: Span,
    attributes: dict[str, Any],
    outputs: list[dict[str, Any]],
    capture: bool,
) -> None:
    reasons = [m["finish_reason"] for m in outputs if m["finish_reason"]]
    if reasons:
        attributes[names.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    tool_names = [
        str(p.get("name")) for m in outputs for p in m["parts"] if p.get("type") == "tool_call"
    ]
    if tool_names:
        attributes[names.INFINIUM_TOOL_CALLS] = tool_names
    if capture and outputs:
        attributes[names.GEN_AI_OUTPUT_MESSAGES] = messages_json(outputs)
    span.set_attributes(attributes)


class _GenerateContent:
    # The SDK reads a one-shot ``contents`` differently from a list, so it is passed on
    # untouched and not read (``_contents``).
    iterable_keys: tuple[str, ...] = ()

    def __init__(self, capture: bool, streaming: bool) -> None:
        self.capture = capture
        self.streaming = streaming

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        api_client = getattr(instance, "_api_client", None)
        model = kwargs.get("model")
        vertex = bool(getattr(api_client, "vertexai", False))
        attributes: dict[str, Any] = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_GENERATE_CONTENT,
            names.GEN_AI_PROVIDER_NAME: "gcp.vertex_ai" if vertex else "gcp.gemini",
        }
        set_if(attributes, names.GEN_AI_REQUEST_MODEL, model)
        http_options = getattr(api_client, "_http_options", None)
        attributes.update(server_attributes(getattr(http_options, "base_url", None))[1])
        config = kwargs.get("config")
        if config is not None:
            for key, attribute in _CONFIG_KEYS.items():
                set_if(attributes, attribute, _get(config, key))
            count = _get(config, "candidate_count")
            if isinstance(count, int) and count != 1:
                attributes[names.GEN_AI_REQUEST_CHOICE_COUNT] = count
        if self.capture:
            contents = _contents(kwargs.get("contents"))
            if contents:
                attributes[names.GEN_AI_INPUT_MESSAGES] = messages_json(contents)
            system = _system_parts(_get(config, "system_instruction") if config else None)
            if system:
                attributes[names.GEN_AI_SYSTEM_INSTRUCTIONS] = messages_json(system)
        name = model if isinstance(model, str) else None
        return Request(names.OPERATION_GENERATE_CONTENT, name, attributes, stream=self.streaming)

    def response(self, span: Span, result: Any) -> None:
        candidates = _get(result, "candidates")
        if candidates is None and _get(result, "usage_metadata") is None:
            return
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_ID, _get(result, "response_id"))
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, _get(result, "model_version"))
        _usage(attributes, _get(result, "usage_metadata"))
        outputs = []
        for candidate in candidates or ():
            content = _get(candidate, "content")
            parts = [_part(p) for p in _get(content, "parts") or ()]
            reason = _enum_text(_get(candidate, "finish_reason"))
            outputs.append({"role": "assistant", "parts": parts, "finish_reason": reason})
        _write(span, attributes, outputs, self.capture)

    def recorder(self, request: Request) -> _StreamRecorder:
        return _StreamRecorder(self.capture)

    def is_stream(self, result: Any) -> bool:
        return hasattr(result, "__next__") or hasattr(result, "__anext__")


class _StreamRecorder:
    """Joins text per candidate (bounded), keeps function calls and the latest usage."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.texts: dict[int, list[str]] = {}
        self.sizes: dict[int, int] = {}
        self.calls: dict[int, list[dict[str, Any]]] = {}
        self.reasons: dict[int, str] = {}

    def on_chunk(self, chunk: Any) -> None:
        self.response_id = self.response_id or _get(chunk, "response_id")
        self.model = self.model or _get(chunk, "model_version")
        usage = _get(chunk, "usage_metadata")
        if usage is not None:
            self.usage = usage
        for position, candidate in enumerate(_get(chunk, "candidates") or ()):
            index = _get(candidate, "index") or position
            reason = _enum_text(_get(candidate, "finish_reason"))
            if reason:
                self.reasons[index] = reason
            for part in _get(_get(candidate, "content"), "parts") or ():
                converted = _part(part)
                if converted["type"] == "text":
                    size = self.sizes.get(index, 0)
                    if self.capture and size < MAX_PART_CHARS:
                        self.texts.setdefault(index, []).append(converted["content"])
                        self.sizes[index] = size + len(converted["content"])
                elif converted["type"] == "tool_call":
                    self.calls.setdefault(index, []).append(converted)

    def finish(self, span: Span) -> None:
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_ID, self.response_id)
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, self.model)
        _usage(attributes, self.usage)
        outputs = []
        for index in sorted(set(self.texts) | set(self.calls) | set(self.reasons)):
            parts: list[dict[str, Any]] = []
            if index in self.texts:
                parts.append(text_part("".join(self.texts[index])))
            parts.extend(self.calls.get(index, []))
            reason = self.reasons.get(index, "")
            outputs.append({"role": "assistant", "parts": parts, "finish_reason": reason})
        _write(span, attributes, outputs, self.capture)


class GoogleGenAIInstrumentor(InstrumentorBase):
    """Spans for ``google-genai`` ``generate_content`` / ``generate_content_stream``.

    ``instrument(tracer_provider=None, capture_content=None)``; content capture
    is decided once, here (see ``OpenAIInstrumentor``).
    """

    _patcher: Patcher | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        from google.genai import models

        tracer = get_tracer("google_genai", kwargs.get("tracer_provider"))
        capture = resolve_capture_content(kwargs.get("capture_content"))
        plain = _GenerateContent(capture, streaming=False)
        streaming = _GenerateContent(capture, streaming=True)
        patcher = Patcher()
        patcher.wrap(models.Models, "generate_content", sync_wrapper(tracer, plain))
        patcher.wrap(models.Models, "generate_content_stream", sync_wrapper(tracer, streaming))
        patcher.wrap(models.AsyncModels, "generate_content", async_wrapper(tracer, plain))
        patcher.wrap(
            models.AsyncModels, "generate_content_stream", async_wrapper(tracer, streaming)
        )
        self._patcher = patcher

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._patcher is not None:
            self._patcher.restore()
            self._patcher = None
