"""The one wrapper shape every provider method uses, sync and async.

An ``Operation`` knows one provider method: what the request says, what the
response says, how to read its stream. The wrappers here own the policy:
suppression, the one-LLM-span rule, span lifetime, errors recorded and
re-raised unchanged, and nothing of ours ever raising into the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from infinium_otel._suppress import is_suppressed
from infinium_otel.instrumentation._common import (
    inside_llm_span,
    log_failure,
    record_error,
    recorded_by_langchain_tracer,
    start_client_span,
)
from infinium_otel.instrumentation._inputs import materialised
from infinium_otel.instrumentation._streams import AsyncStreamProxy, StreamProxy, StreamRecorder

__all__ = ["Operation", "Request", "async_wrapper", "sync_wrapper"]


@dataclass
class Request:
    """What we learned from the call's arguments before sending it."""

    operation: str
    model: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False

    @property
    def span_name(self) -> str:
        return f"{self.operation} {self.model}" if self.model else self.operation


class Operation(Protocol):
    iterable_keys: tuple[str, ...]
    """Keyword arguments that may be one-shot iterables the request reads (``messages``)."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
        """Describe the call from its arguments (never sends anything)."""

    def response(self, span: Span, result: Any) -> None:
        """Write the response attributes of a non-streaming call."""

    def recorder(self, request: Request) -> StreamRecorder:
        """A fresh accumulator for one streaming call."""

    def is_stream(self, result: Any) -> bool:
        """Whether ``result`` is a stream we know how to follow."""


Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


@dataclass
class _Started:
    request: Request
    span: Span
    token: object
    parent: Span


def _begin(
    tracer: Tracer, operation: Operation, instance: Any, args: Any, kwargs: dict[str, Any]
) -> tuple[_Started | None, dict[str, Any]]:
    """Open the call's span; also the keyword arguments to call with.

    One-shot iterables the request reads are turned into lists first, and those
    lists are what the SDK receives, so reading them for the record takes nothing away.
    """
    if is_suppressed() or inside_llm_span() or recorded_by_langchain_tracer():
        return None, kwargs
    kwargs, complete = materialised(kwargs, operation.iterable_keys)
    if not complete:  # the caller's iterable failed: the SDK meets the same failure
        return None, kwargs
    try:
        parent = trace.get_current_span()
        request = operation.request(instance, args, kwargs)
        span = start_client_span(tracer, request.span_name, request.attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
    except Exception as exc:
        log_failure("starting a span", exc)
        return None, kwargs
    return _Started(request, span, token, parent), kwargs


def _detach(token: object) -> None:
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    except Exception as exc:
        log_failure("detaching the span context", exc)


def _complete(operation: Operation, started: _Started, result: Any, *, aio: bool) -> Any:
    """Hand back ``result`` unchanged (or a transparent stream proxy); end or hand off the span.

    A stream's span also ends when the span the call was made under ends
    (the caller stopped reading), so the run keeps the call.
    """
    request, span = started.request, started.span
    try:
        if request.stream and operation.is_stream(result):
            proxy_type = AsyncStreamProxy if aio else StreamProxy
            return proxy_type(result, span, operation.recorder(request), started.parent)
        operation.response(span, result)
    except Exception as exc:
        log_failure("reading a response", exc)
    try:
        span.end()
    except Exception as exc:
        log_failure("ending a span", exc)
    return result


def sync_wrapper(tracer: Tracer, operation: Operation) -> Wrapper:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        started, kwargs = _begin(tracer, operation, instance, args, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        span, token = started.span, started.token
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            record_error(span, exc)
            span.end()
            raise
        finally:
            _detach(token)
        return _complete(operation, started, result, aio=False)

    return wrapper


def async_wrapper(tracer: Tracer, operation: Operation) -> Wrapper:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        async def call() -> Any:
            started, call_kwargs = _begin(tracer, operation, instance, args, kwargs)
            if started is None:
                return await wrapped(*args, **call_kwargs)
            span, token = started.span, started.token
            try:
                result = await wrapped(*args, **call_kwargs)
            except BaseException as exc:
                record_error(span, exc)
                span.end()
                raise
            finally:
                _detach(token)
            return _complete(operation, started, result, aio=True)

        return call()

    return wrapper
