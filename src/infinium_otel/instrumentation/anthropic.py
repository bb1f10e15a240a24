"""Anthropic: ``messages.create`` (sync and async, streaming or not) and ``messages.stream()``.

``gen_ai.usage.input_tokens`` counts every input token, cached ones included
(Anthropic reports ``input_tokens`` without the cache reads and writes, which
are also given on their own as ``gen_ai.usage.cache_read.input_tokens`` and
``gen_ai.usage.cache_creation.input_tokens``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry.trace import Span, Tracer

from infinium_otel.conventions import names
from infinium_otel.instrumentation._base import InstrumentorBase
from infinium_otel.instrumentation._calls import Request, Wrapper, async_wrapper, sync_wrapper
from infinium_otel.instrumentation._common import (
    MAX_PART_CHARS,
    Patcher,
    get_tracer,
    log_failure,
    messages_json,
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

__all__ = ["AnthropicInstrumentor"]

_INSTRUMENTS = ("anthropic >= 0.34",)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _provider(client: Any) -> str:
    name = type(client).__name__
    if "Bedrock" in name:
        return "aws.bedrock"
    if "Vertex" in name:
        return "gcp.vertex_ai"
    return "anthropic"


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for block in content or ():
        block = to_jsonable(block)
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(text_part(block.get("text")))
        elif kind == "tool_use":
            parts.append(tool_call_part(block.get("id"), block.get("name"), block.get("input")))
        elif kind == "tool_result":
            result = block.get("content")
            if isinstance(result, list):
                result = "".join(str(b.get("text", "")) for b in result if isinstance(b, dict))
            parts.append(tool_response_part(block.get("tool_use_id"), result))
        else:
            parts.append(generic_part(block))
    return parts


def _usage(attributes: dict[str, Any], usage: Any) -> None:
    if usage is None:
        return
    base = _get(usage, "input_tokens")
    read = _get(usage, "cache_read_input_tokens")
    created = _get(usage, "cache_creation_input_tokens")
    if isinstance(base, int):
        total = base + (read if isinstance(read, int) else 0)
        total += created if isinstance(created, int) else 0
        attributes[names.GEN_AI_USAGE_INPUT_TOKENS] = total
    set_if(attributes, names.GEN_AI_USAGE_OUTPUT_TOKENS, _get(usage, "output_tokens"))
    set_if(attributes, names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, read)
    set_if(attributes, names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, created)


def _write(
    span: Span,
    attributes: dict[str, Any],
    reason: str | None,
    parts: list[dict[str, Any]],
    capture: bool,
) -> None:
    tool_names = [str(p.get("name")) for p in parts if p.get("type") == "tool_call"]
    if reason:
        attributes[names.GEN_AI_RESPONSE_FINISH_REASONS] = [reason]
    if tool_names:
        attributes[names.INFINIUM_TOOL_CALLS] = tool_names
    if capture:
        message = {"role": "assistant", "parts": parts, "finish_reason": reason or ""}
        attributes[names.GEN_AI_OUTPUT_MESSAGES] = messages_json([message])
    span.set_attributes(attributes)


class _Messages:
    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.iterable_keys: tuple[str, ...] = ("messages",) if capture else ()
        self.stream_types: tuple[type, ...] = ()

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        client = getattr(instance, "_client", None)
        model = kwargs.get("model")
        attributes: dict[str, Any] = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
            names.GEN_AI_PROVIDER_NAME: _provider(client),
        }
        set_if(attributes, names.GEN_AI_REQUEST_MODEL, model)
        attributes.update(server_attributes(getattr(client, "base_url", None))[1])
        set_if(attributes, names.GEN_AI_REQUEST_MAX_TOKENS, kwargs.get("max_tokens"))
        set_if(attributes, names.GEN_AI_REQUEST_TEMPERATURE, kwargs.get("temperature"))
        set_if(attributes, names.GEN_AI_REQUEST_TOP_P, kwargs.get("top_p"))
        set_if(attributes, names.GEN_AI_REQUEST_TOP_K, kwargs.get("top_k"))
        set_if(attributes, names.GEN_AI_REQUEST_STOP_SEQUENCES, kwargs.get("stop_sequences"))
        if self.capture:
            converted = []
            for message in kwargs.get("messages") or ():
                message = to_jsonable(message)
                if isinstance(message, dict):
                    role = str(message.get("role") or "user")
                    converted.append({"role": role, "parts": _blocks(message.get("content"))})
            attributes[names.GEN_AI_INPUT_MESSAGES] = messages_json(converted)
            system = kwargs.get("system")
            if isinstance(system, (str, list)):
                attributes[names.GEN_AI_SYSTEM_INSTRUCTIONS] = messages_json(_blocks(system))
        name = model if isinstance(model, str) else None
        return Request(names.OPERATION_CHAT, name, attributes, stream=kwargs.get("stream") is True)

    def response(self, span: Span, result: Any) -> None:
        content = _get(result, "content")
        if content is None:
            return
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_ID, _get(result, "id"))
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, _get(result, "model"))
        _usage(attributes, _get(result, "usage"))
        _write(span, attributes, _get(result, "stop_reason"), _blocks(content), self.capture)

    def recorder(self, request: Request) -> _MessageStreamRecorder:
        return _MessageStreamRecorder(self.capture)

    def is_stream(self, result: Any) -> bool:
        return isinstance(result, self.stream_types)


class _MessageStreamRecorder:
    """Follows message_start / content_block_* / message_delta events (bounded)."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.message_id: str | None = None
        self.model: str | None = None
        self.usage: dict[str, Any] = {}
        self.reason: str | None = None
        self.blocks: dict[int, dict[str, Any]] = {}

    def _merge_usage(self, usage: Any) -> None:
        for key in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = _get(usage, key)
            if isinstance(value, int):
                self.usage[key] = value

    def on_chunk(self, event: Any) -> None:
        kind = _get(event, "type")
        if kind == "message_start":
            message = _get(event, "message")
            self.message_id = _get(message, "id")
            self.model = _get(message, "model")
            self._merge_usage(_get(message, "usage"))
        elif kind == "content_block_start":
            block = _get(event, "content_block")
            self.blocks[_get(event, "index", 0)] = {
                "type": _get(block, "type"),
                "id": _get(block, "id"),
                "name": _get(block, "name"),
                "pieces": [],
                "size": 0,
            }
        elif kind == "content_block_delta" and self.capture:
            slot = self.blocks.get(_get(event, "index", 0))
            delta = _get(event, "delta")
            piece = _get(delta, "text")
            if piece is None:
                piece = _get(delta, "partial_json")
            if slot is not None and isinstance(piece, str) and slot["size"] < MAX_PART_CHARS:
                slot["pieces"].append(piece)
                slot["size"] += len(piece)
        elif kind == "message_delta":
            self.reason = _get(_get(event, "delta"), "stop_reason") or self.reason
            self._merge_usage(_get(event, "usage"))

    def finish(self, span: Span) -> None:
        attributes: dict[str, Any] = {}
        set_if(attributes, names.GEN_AI_RESPONSE_ID, self.message_id)
        set_if(attributes, names.GEN_AI_RESPONSE_MODEL, self.model)
        _usage(attributes, self.usage or None)
        parts: list[dict[str, Any]] = []
        for _, slot in sorted(self.blocks.items()):
            text = "".join(slot["pieces"])
            if slot["type"] == "text":
                parts.append(text_part(text))
            elif slot["type"] == "tool_use":
                arguments = (text or "{}") if self.capture else None
                parts.append(tool_call_part(slot["id"], slot["name"], arguments))
        _write(span, attributes, self.reason, parts, self.capture)


_MANAGER_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_MANAGER_REQUEST = "_AsyncMessageStreamManager__api_request"


def _stream_helper(tracer: Tracer, operation: _Messages, aio: bool) -> Wrapper:
    """Wrap ``messages.stream()``: the helper posts on its own, not through ``create``.

    Its manager sends the request when entered; that request becomes a recorded streaming
    call (the same span and recorder as ``create(stream=True)``), started at that moment under
    the context current then. Anything unexpected leaves the manager as it was.
    """
    call = async_wrapper(tracer, operation) if aio else sync_wrapper(tracer, operation)
    attribute = _ASYNC_MANAGER_REQUEST if aio else _MANAGER_REQUEST

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        manager = wrapped(*args, **kwargs)
        try:
            api_request = getattr(manager, attribute)
            described = {**kwargs, "stream": True}
            if not isinstance(described.get("messages"), (list, tuple)):
                # A one-shot iterable belongs to the request; it is not read twice.
                described.pop("messages", None)
            if aio:

                def send_async(**_: Any) -> Any:
                    return api_request  # the helper's own coroutine

                setattr(manager, attribute, call(send_async, instance, (), described))
            else:

                def send(**_: Any) -> Any:
                    return api_request()

                setattr(manager, attribute, functools.partial(call, send, instance, (), described))
        except Exception as exc:
            log_failure("instrumenting messages.stream()", exc)
        return manager

    return wrapper


class AnthropicInstrumentor(InstrumentorBase):
    """Spans for Anthropic ``messages.create`` and ``messages.stream()`` (sync and async).

    ``instrument(tracer_provider=None, capture_content=None)``; content capture
    is decided once, here (see ``OpenAIInstrumentor``).
    """

    _patcher: Patcher | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        import anthropic
        from anthropic.resources import messages as messages_module

        tracer = get_tracer("anthropic", kwargs.get("tracer_provider"))
        operation = _Messages(resolve_capture_content(kwargs.get("capture_content")))
        operation.stream_types = (anthropic.Stream, anthropic.AsyncStream)
        patcher = Patcher()
        patcher.wrap(messages_module.Messages, "create", sync_wrapper(tracer, operation))
        patcher.wrap(messages_module.AsyncMessages, "create", async_wrapper(tracer, operation))
        patcher.wrap(messages_module.Messages, "stream", _stream_helper(tracer, operation, False))
        patcher.wrap(
            messages_module.AsyncMessages, "stream", _stream_helper(tracer, operation, True)
        )
        self._patcher = patcher

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._patcher is not None:
            self._patcher.restore()
            self._patcher = None
