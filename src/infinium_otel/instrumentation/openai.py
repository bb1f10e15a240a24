"""OpenAI: chat completions, responses and embeddings, sync and async.

The provider is named from the client's base URL (``api.openai.com`` ->
``openai``, Azure, xAI, DeepSeek, Groq ...), so OpenAI-compatible endpoints
are not mislabelled as OpenAI.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
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
    openai_compatible_provider,
    resolve_capture_content,
    server_attributes,
    set_if,
    to_jsonable,
)
from infinium_otel.instrumentation._parts import (
    generic_part,
    text_part,
    tool_call_part,
    tool_response_part,
)

__all__ = ["OpenAIInstrumentor"]

_INSTRUMENTS = ("openai >= 1.40",)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Read a field from a dict or an SDK object alike."""
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _parsed(result: Any) -> Any:
    """The parsed body behind a ``with_raw_response`` result, else ``result`` itself.

    ``with_raw_response`` hands back a ``LegacyAPIResponse`` whose body has already been read
    (unless the call streams); its ``parse()`` caches what it builds, so reading it here costs
    the caller nothing and gives the span the usage and output (langchain-openai and CrewAI
    call the API this way). A streamed or ``with_streaming_response`` body is never touched.
    """
    if type(result).__name__ != "LegacyAPIResponse" or getattr(result, "_stream", True):
        return result
    parse = getattr(result, "parse", None)
    return parse() if callable(parse) else result


class _Endpoint:
    """Provider name and server attributes of a client, cached by base URL."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, dict[str, Any]]] = {}

    def describe(self, instance: Any) -> tuple[str, dict[str, Any]]:
        client = getattr(instance, "_client", None)
        base_url = str(getattr(client, "base_url", "") or "")
        found = self._cache.get(base_url)
        if found is None:
            host, attributes = server_attributes(base_url or None)
            found = (openai_compatible_provider(host), attributes)
            if len(self._cache) < 64:
                self._cache[base_url] = found
        return found


def _base_attributes(
    endpoint: _Endpoint, instance: Any, operation: str, model: Any
) -> dict[str, Any]:
    provider, server = endpoint.describe(instance)
    attributes: dict[str, Any] = {
        names.GEN_AI_OPERATION_NAME: operation,
        names.GEN_AI_PROVIDER_NAME: provider,
    }
    set_if(attributes, names.GEN_AI_REQUEST_MODEL, model)
    attributes.update(server)
    return attributes


def _stop_sequences(stop: Any) -> Any:
    return [stop] if isinstance(stop, str) else stop


def _usage(attributes: dict[str, Any], usage: Any, input_key: str, output_key: str) -> None:
    if usage is None:
        return
    set_if(attributes, names.GEN_AI_USAGE_INPUT_TOKENS, _get(usage, input_key))
    set_if(attributes, names.GEN_AI_USAGE_OUTPUT_TOKENS, _get(usage, output_key))
    for details_key in ("prompt_tokens_details", "input_tokens_details"):
        details = _get(usage, details_key)
        if details is not None:
            set_if(
                attributes,
                names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
                _get(details, "cached_tokens"),
            )


# ---------------------------------------------------------------- chat


def _chat_input(messages: Any) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for message in messages or ():
        message = to_jsonable(message)
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "user")
        parts: list[dict[str, Any]] = []
        content = message.get("content")
        if role == "tool":
            parts.append(tool_response_part(message.get("tool_call_id"), content))
        elif isinstance(content, str):
            parts.append(text_part(content))
        elif isinstance(content, list):
            for item in content:
                if isinstance(item, dict) and item.get("type") == "text":
                    parts.append(text_part(item.get("text")))
                else:
                    parts.append(generic_part(item))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            parts.append(
                tool_call_part(call.get("id"), function.get("name"), function.get("arguments"))
            )
        converted.append({"role": role, "parts": parts})
    return converted


class _ChatCompletions:
    def __init__(self, endpoint: _Endpoint, capture: bool) -> None:
        self.endpoint = endpoint
        self.capture = capture
        self.iterable_keys: tuple[str, ...] = ("messages",) if capture else ()
        self.stream_types: tuple[type, ...] = ()

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        model = kwargs.get("model")
        attributes = _base_attributes(self.endpoint, instance, names.OPERATION_CHAT, model)
        set_if(attributes, names.GEN_AI_REQUEST_TEMPERATURE, kwargs.get("temperature"))
        set_if(attributes, names.GEN_AI_REQUEST_TOP_P, kwargs.get("top_p"))
        max_tokens = kwargs.get("max_completion_tokens")
        if not isinstance(max_tokens, int):
            max_tokens = kwargs.get("max_tokens")
        set_if(attributes, names.GEN_AI_REQUEST_MAX_TOKENS, max_tokens)
        set_if(attributes, names.GEN_AI_REQUEST_FREQUENCY_PENALTY, kwargs.get("frequency_penalty"))
        set_if(attributes, names.GEN_AI_REQUEST_PRESENCE_PENALTY, kwargs.get("presence_penalty"))
        set_if(attributes, names.GEN_AI_REQUEST_SEED, kwargs.get("seed"))
        set_if(attributes, names.GEN_AI_REQUEST_STOP_SEQUENCES, _stop_sequences(kwargs.get("stop")))
        choices = kwargs.get("n")
        if isinstance(choices, int) and choices != 1:
            attributes[names.GEN_AI_REQUEST_CHOICE_COUNT] = choices
        response_format = kwargs.get("response_format")
        kind = _get(response_format, "type") if response_format is not None else None
        if isinstance(kind, str):
            attributes[names.GEN_AI_OUTPUT_TYPE] = "text" if kind == "text" else "json"
        if self.capture:
            attributes[names.GEN_AI_INPUT_MESSAGES] = messages_json(
                _chat_input(kwargs.get("messages"))
            )
        return Request(
            names.OPERATION_CHAT,
            model if isinstance(model, str) else None,
            attributes,
            stream=kwargs.get("stream") is True,
        )

    def response(self, span: Span, result: Any) -> None:
        result = _parsed(result)
        choices = _get(result, "choices")
        if choices is None:
            return  # a streaming-response wrapper: nothing read yet, nothing to read
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_ID, _get(result, "id"))
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, _get(result, "model"))
        _usage(attributes, _get(result, "usage"), "prompt_tokens", "completion_tokens")
        reasons: list[str] = []
        outputs: list[dict[str, Any]] = []
        tool_names: list[str] = []
        for choice in choices:
            reason = str(_get(choice, "finish_reason") or "")
            reasons.append(reason)
            message = _get(choice, "message")
            parts: list[dict[str, Any]] = []
            content = _get(message, "content")
            if isinstance(content, str):
                parts.append(text_part(content))
            for call in _get(message, "tool_calls") or ():
                function = _get(call, "function")
                name = _get(function, "name")
                tool_names.append(str(name))
                parts.append(tool_call_part(_get(call, "id"), name, _get(function, "arguments")))
            outputs.append({"role": "assistant", "parts": parts, "finish_reason": reason})
        _finish(span, attributes, reasons, outputs, tool_names, self.capture)

    def recorder(self, request: Request) -> _ChatStreamRecorder:
        return _ChatStreamRecorder(self.capture)

    def is_stream(self, result: Any) -> bool:
        return isinstance(result, self.stream_types)


def _finish(
    span: Span,
    attributes: dict[str, Any],
    reasons: list[str],
    outputs: list[dict[str, Any]],
    tool_names: list[str],
    capture: bool,
) -> None:
    if reasons:
        attributes[names.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    if tool_names:
        attributes[names.INFINIUM_TOOL_CALLS] = tool_names
    if capture and outputs:
        attributes[names.GEN_AI_OUTPUT_MESSAGES] = messages_json(outputs)
    span.set_attributes(attributes)


class _ChatStreamRecorder:
    """Accumulates chat chunks: text and tool calls per choice (bounded), usage."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage: Any = None
        self.texts: dict[int, list[str]] = {}
        self.text_sizes: dict[int, int] = {}
        self.reasons: dict[int, str] = {}
        self.calls: dict[int, dict[tuple[int, int], dict[str, Any]]] = {}

    def on_chunk(self, chunk: Any) -> None:
        self.response_id = self.response_id or _get(chunk, "id")
        self.model = self.model or _get(chunk, "model")
        usage = _get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in _get(chunk, "choices") or ():
            index = _get(choice, "index", 0) or 0
            reason = _get(choice, "finish_reason")
            if reason:
                self.reasons[index] = str(reason)
            delta = _get(choice, "delta")
            if delta is None:
                continue
            content = _get(delta, "content")
            if self.capture and isinstance(content, str) and content:
                size = self.text_sizes.get(index, 0)
                if size < MAX_PART_CHARS:
                    self.texts.setdefault(index, []).append(content)
                    self.text_sizes[index] = size + len(content)
            for call in _get(delta, "tool_calls") or ():
                key = (index, _get(call, "index", 0) or 0)
                slot = self.calls.setdefault(index, {}).setdefault(key, {"args": [], "size": 0})
                if _get(call, "id"):
                    slot["id"] = _get(call, "id")
                function = _get(call, "function")
                if _get(function, "name"):
                    slot["name"] = _get(function, "name")
                arguments = _get(function, "arguments")
                if self.capture and isinstance(arguments, str) and slot["size"] < MAX_PART_CHARS:
                    slot["args"].append(arguments)
                    slot["size"] += len(arguments)

    def finish(self, span: Span) -> None:
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_ID, self.response_id)
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, self.model)
        _usage(attributes, self.usage, "prompt_tokens", "completion_tokens")
        indexes = sorted(set(self.reasons) | set(self.texts) | set(self.calls))
        outputs: list[dict[str, Any]] = []
        tool_names: list[str] = []
        for index in indexes:
            parts: list[dict[str, Any]] = []
            if index in self.texts:
                parts.append(text_part("".join(self.texts[index])))
            for _, slot in sorted(self.calls.get(index, {}).items()):
                tool_names.append(str(slot.get("name", "")))
                arguments = "".join(slot["args"]) if self.capture else None
                parts.append(tool_call_part(slot.get("id"), slot.get("name"), arguments))
            reason = self.reasons.get(index, "")
            outputs.append({"role": "assistant", "parts": parts, "finish_reason": reason})
        reasons = [self.reasons[i] for i in indexes if i in self.reasons]
        _finish(span, attributes, reasons, outputs, tool_names, self.capture)


# ---------------------------------------------------------------- responses


def _responses_input(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [text_part(value)]}]
    converted: list[dict[str, Any]] = []
    for item in value or ():
        item = to_jsonable(item)
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "function_call_output":
            part = tool_response_part(item.get("call_id"), item.get("output"))
            converted.append({"role": "tool", "parts": [part]})
        elif kind == "function_call":
            part = tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments"))
            converted.append({"role": "assistant", "parts": [part]})
        elif "role" in item:
            content = item.get("content")
            parts: list[dict[str, Any]] = []
            if isinstance(content, str):
                parts.append(text_part(content))
            else:
                for piece in content or ():
                    if isinstance(piece, dict) and "text" in piece:
                        parts.append(text_part(piece.get("text")))
                    else:
                        parts.append(generic_part(piece))
            converted.append({"role": str(item["role"]), "parts": parts})
    return converted


class _Responses:
    def __init__(self, endpoint: _Endpoint, capture: bool) -> None:
        self.endpoint = endpoint
        self.capture = capture
        self.iterable_keys: tuple[str, ...] = ("input",) if capture else ()
        self.stream_types: tuple[type, ...] = ()

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        model = kwargs.get("model")
        attributes = _base_attributes(self.endpoint, instance, names.OPERATION_CHAT, model)
        set_if(attributes, names.GEN_AI_REQUEST_TEMPERATURE, kwargs.get("temperature"))
        set_if(attributes, names.GEN_AI_REQUEST_TOP_P, kwargs.get("top_p"))
        set_if(attributes, names.GEN_AI_REQUEST_MAX_TOKENS, kwargs.get("max_output_tokens"))
        if self.capture:
            attributes[names.GEN_AI_INPUT_MESSAGES] = messages_json(
                _responses_input(kwargs.get("input"))
            )
            instructions = kwargs.get("instructions")
            if isinstance(instructions, str):
                attributes[names.GEN_AI_SYSTEM_INSTRUCTIONS] = messages_json(
                    [text_part(instructions)]
                )
        return Request(
            names.OPERATION_CHAT,
            model if isinstance(model, str) else None,
            attributes,
            stream=kwargs.get("stream") is True,
        )

    def response(self, span: Span, result: Any) -> None:
        result = _parsed(result)
        output = _get(result, "output")
        if output is None:
            return
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_ID, _get(result, "id"))
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, _get(result, "model"))
        _usage(attributes, _get(result, "usage"), "input_tokens", "output_tokens")
        parts: list[dict[str, Any]] = []
        tool_names: list[str] = []
        for item in output:
            kind = _get(item, "type")
            if kind == "message":
                for piece in _get(item, "content") or ():
                    if _get(piece, "type") == "output_text":
                        parts.append(text_part(_get(piece, "text")))
            elif kind == "function_call":
                name = _get(item, "name")
                tool_names.append(str(name))
                parts.append(tool_call_part(_get(item, "call_id"), name, _get(item, "arguments")))
        status = _get(result, "status")
        if status == "incomplete":
            reason = str(_get(_get(result, "incomplete_details"), "reason") or "incomplete")
        elif status == "failed":
            reason = "error"
        else:
            reason = "tool_calls" if tool_names else "stop"
        outputs = [{"role": "assistant", "parts": parts, "finish_reason": reason}]
        _finish(span, attributes, [reason], outputs, tool_names, self.capture)

    def recorder(self, request: Request) -> _ResponsesStreamRecorder:
        return _ResponsesStreamRecorder(self)

    def is_stream(self, result: Any) -> bool:
        return isinstance(result, self.stream_types)


class _ResponsesStreamRecorder:
    """Keeps the latest full response the events carry (``response.completed`` last)."""

    def __init__(self, operation: _Responses) -> None:
        self.operation = operation
        self.latest: Any = None

    def on_chunk(self, chunk: Any) -> None:
        response = _get(chunk, "response")
        if response is not None:
            self.latest = response

    def finish(self, span: Span) -> None:
        if self.latest is not None:
            self.operation.response(span, self.latest)


# ---------------------------------------------------------------- embeddings


class _Embeddings:
    iterable_keys: tuple[str, ...] = ()  # the input is never read

    def __init__(self, endpoint: _Endpoint) -> None:
        self.endpoint = endpoint

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        model = kwargs.get("model")
        attributes = _base_attributes(self.endpoint, instance, names.OPERATION_EMBEDDINGS, model)
        encoding = kwargs.get("encoding_format")
        if isinstance(encoding, str):
            attributes[names.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
        set_if(attributes, names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, kwargs.get("dimensions"))
        return Request(
            names.OPERATION_EMBEDDINGS, model if isinstance(model, str) else None, attributes
        )

    def response(self, span: Span, result: Any) -> None:
        result = _parsed(result)
        data = _get(result, "data")
        if data is None:
            return
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, _get(result, "model"))
        usage = _get(result, "usage")
        if usage is not None:
            set_if(attributes, names.GEN_AI_USAGE_INPUT_TOKENS, _get(usage, "prompt_tokens"))
        if data:
            vector = _get(data[0], "embedding")
            if isinstance(vector, list):
                attributes[names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
        span.set_attributes(attributes)

    def recorder(self, request: Request) -> Any:
        raise NotImplementedError  # embeddings never stream

    def is_stream(self, result: Any) -> bool:
        return False


# ---------------------------------------------------------------- instrumentor


class OpenAIInstrumentor(InstrumentorBase):
    """Spans for OpenAI chat completions, responses and embeddings (sync and async).

    ``instrument(tracer_provider=None, capture_content=None)``: content
    capture is decided here, once (keyword, then ``INFINIUM_CAPTURE_CONTENT``,
    then ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, then on).
    """

    _patcher: Patcher | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        import openai
        from openai.resources import embeddings as embeddings_module
        from openai.resources.chat import completions as chat_module

        tracer = get_tracer("openai", kwargs.get("tracer_provider"))
        capture = resolve_capture_content(kwargs.get("capture_content"))
        endpoint = _Endpoint()
        chat = _ChatCompletions(endpoint, capture)
        chat.stream_types = (openai.Stream, openai.AsyncStream)
        embeddings = _Embeddings(endpoint)
        patcher = Patcher()
        patcher.wrap(chat_module.Completions, "create", sync_wrapper(tracer, chat))
        patcher.wrap(chat_module.AsyncCompletions, "create", async_wrapper(tracer, chat))
        # ``parse()`` (structured output) posts on its own; ``stream()`` goes through ``create``.
        patcher.wrap(chat_module.Completions, "parse", sync_wrapper(tracer, chat))
        patcher.wrap(chat_module.AsyncCompletions, "parse", async_wrapper(tracer, chat))
        patcher.wrap(embeddings_module.Embeddings, "create", sync_wrapper(tracer, embeddings))
        patcher.wrap(embeddings_module.AsyncEmbeddings, "create", async_wrapper(tracer, embeddings))
        responses_module: Any
        try:
            responses_module = importlib.import_module("openai.resources.responses")
        except ImportError:  # openai < 1.66 has no Responses API
            responses_module = None
        if responses_module is not None:
            responses = _Responses(endpoint, capture)
            responses.stream_types = (openai.Stream, openai.AsyncStream)
            patcher.wrap(responses_module.Responses, "create", sync_wrapper(tracer, responses))
            patcher.wrap(
                responses_module.AsyncResponses, "create", async_wrapper(tracer, responses)
            )
        self._patcher = patcher

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._patcher is not None:
            self._patcher.restore()
            self._patcher = None
