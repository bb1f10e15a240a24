"""``agent``, ``tool`` and ``step``: spans for the user's own agent code.

Each works as a decorator (sync and async functions, generators, async
generators) and as a context manager (``with`` / ``async with``, yielding the
span). Exceptions are recorded (ERROR status, ``error.type``, an exception
event) and re-raised unchanged. Arguments and return values are recorded only
when content capture is on.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from infinium_otel._text import cap
from infinium_otel._version import __version__
from infinium_otel.conventions import names
from infinium_otel.conventions.infinium import SECTION_TEXT_MAX
from infinium_otel.instrumentation._bounded import bounded_json
from infinium_otel.instrumentation._common import (
    MAX_PART_CHARS,
    log_failure,
    record_error,
    resolve_capture_content,
)

__all__ = ["agent", "configure_helpers", "step", "tool"]

SCOPE = "infinium_otel.helpers"
INPUT_LIMIT = 3000
OUTPUT_LIMIT = 8000
_OUTCOME_LISTS = ("required_deliverables", "constraints", "acceptance_criteria")

F = TypeVar("F", bound=Callable[..., Any])
_LOG = logging.getLogger("infinium_otel.instrumentation")

_settings: dict[str, Any] = {"tracer_provider": None, "capture_content": None}


def configure_helpers(tracer_provider: Any = None, capture_content: bool | None = None) -> None:
    """Choose the tracer provider and content capture the helpers use.

    ``None`` means the global tracer provider, and content capture from
    ``INFINIUM_CAPTURE_CONTENT`` / ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    (read when each span starts; default on).
    """
    _settings["tracer_provider"] = tracer_provider
    _settings["capture_content"] = capture_content


def _tracer() -> Tracer:
    return trace.get_tracer(SCOPE, __version__, tracer_provider=_settings["tracer_provider"])


def _capture() -> bool:
    return resolve_capture_content(_settings["capture_content"])


def _summary(value: Any, limit: int) -> str:
    """``value`` as text (a string as is, anything else as JSON), at most ``limit`` characters.

    Written only as far as the limit: a huge argument costs what is kept.
    """
    if isinstance(value, str):
        return cap(value, limit)
    return bounded_json(value, limit)


def _arguments(signature: inspect.Signature | None, args: Any, kwargs: Any) -> Any:
    if signature is None:
        return {"args": list(args), "kwargs": dict(kwargs)} if kwargs else list(args)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": dict(kwargs)}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def _string_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    raise TypeError(f"{what} must be a string or a list of strings")


def _outcome_attributes(outcome: Any) -> dict[str, Any]:
    if outcome is None:
        return {}
    prefix = names.INFINIUM_EXPECTED_OUTCOME_PREFIX
    if isinstance(outcome, str):
        return {names.INFINIUM_TASK_OBJECTIVE: outcome}
    if not isinstance(outcome, Mapping):
        raise TypeError("expected_outcome must be a string or a dict")
    attributes: dict[str, Any] = {}
    for key, value in outcome.items():
        if value is None:
            continue
        if key == "task_objective":
            attributes[prefix + key] = str(value)
        elif key in _OUTCOME_LISTS:
            attributes[prefix + key] = _string_list(value, f"expected_outcome[{key!r}]")
        else:
            raise ValueError(
                f"unknown expected_outcome key {key!r}; use task_objective, "
                + ", ".join(_OUTCOME_LISTS)
            )
    return attributes


def _section_value(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, (Mapping, list, tuple)):
        return bounded_json(value, SECTION_TEXT_MAX)  # what the reader keeps of it
    return str(value)


def _section_attributes(sections: Any) -> dict[str, Any]:
    if sections is None:
        return {}
    if not isinstance(sections, Mapping):
        raise TypeError("sections must be a dict of section -> {field: value}")
    attributes: dict[str, Any] = {}
    for section, fields in sections.items():
        if not isinstance(fields, Mapping):
            raise TypeError(f"sections[{section!r}] must be a dict of field -> value")
        for field, value in fields.items():
            if value is not None:
                attributes[f"{names.INFINIUM_SECTION_PREFIX}{section}.{field}"] = _section_value(
                    value
                )
    return attributes


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} name must be a non-empty string")
    return name


class _SpanHelper:
    """One helper configuration; a decorator and a (sync or async) context manager."""

    input_key = names.INFINIUM_INPUT_SUMMARY
    output_key = names.INFINIUM_OUTPUT_SUMMARY
    input_limit = INPUT_LIMIT
    output_limit = OUTPUT_LIMIT

    def __init__(self, span_name: str, attributes: dict[str, Any]) -> None:
        self.span_name = span_name
        self.attributes = attributes

    # ------------------------------------------------------------ span life

    def _start(self) -> Span:
        return _tracer().start_span(self.span_name, attributes=self.attributes)

    def _record_input(self, span: Span, arguments: Any) -> None:
        try:
            if _capture() and span.is_recording():
                span.set_attribute(self.input_key, _summary(arguments, self.input_limit))
        except Exception as exc:
            log_failure("recording helper input", exc)

    def _record_output(self, span: Span, value: Any) -> None:
        try:
            if _capture() and span.is_recording():
                span.set_attribute(self.output_key, _summary(value, self.output_limit))
        except Exception as exc:
            log_failure("recording helper output", exc)

    # ------------------------------------------------------------ context manager

    # One helper object may be entered by several threads or tasks at once (a
    # module-level ``RETRIEVE = step("retrieve")``), so what each entry opened is
    # kept in the entering thread's or task's context, never on the object.

    def __enter__(self) -> Span:
        span = self._start()
        token = otel_context.attach(trace.set_span_in_context(span))
        _ENTERED.set((*_ENTERED.get(), _Entry(self, span, token)))
        return span

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        entry = _leave(self)
        if entry is None:
            _LOG.debug("%s left without being entered here; nothing to end", self.span_name)
            return
        _detach(entry.token)
        if exc is not None:
            record_error(entry.span, exc)
        entry.span.end()

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    # ------------------------------------------------------------ decorator

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError("decorate a function, or use the helper as a context manager")
        try:
            signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            signature = None
        if inspect.isasyncgenfunction(func):
            return cast(F, self._wrap_async_generator(func, signature))
        if inspect.isgeneratorfunction(func):
            return cast(F, self._wrap_generator(func, signature))
        if inspect.iscoroutinefunction(func):
            return cast(F, self._wrap_coroutine(func, signature))
        return cast(F, self._wrap_function(func, signature))

    def _open(self, signature: Any, args: Any, kwargs: Any) -> tuple[Span, object]:
        span = self._start()
        self._record_input(span, _arguments(signature, args, kwargs))
        return span, otel_context.attach(trace.set_span_in_context(span))

    def _wrap_function(self, func: Callable[..., Any], signature: Any) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            span, token = self._open(signature, args, kwargs)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                record_error(span, exc)
                raise
            else:
                self._record_output(span, result)
                return result
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
                span.end()

        return wrapper

    def _wrap_coroutine(self, func: Callable[..., Any], signature: Any) -> Callable[..., Any]:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            span, token = self._open(signature, args, kwargs)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                record_error(span, exc)
                raise
            else:
                self._record_output(span, result)
                return result
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
                span.end()

        return wrapper

    def _wrap_generator(self, func: Callable[..., Any], signature: Any) -> Callable[..., Any]:
        helper = self

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            span, token = helper._open(signature, args, kwargs)
            items = _ItemLog(helper.output_limit)
            try:
                inner = func(*args, **kwargs)
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
            to_send: Any = None
            to_throw: BaseException | None = None
            try:
                while True:
                    token = otel_context.attach(trace.set_span_in_context(span))
                    try:
                        if to_throw is not None:
                            item = inner.throw(to_throw)
                        else:
                            item = inner.send(to_send)
                    except StopIteration as stop:
                        helper._record_output(span, items.result(stop.value))
                        return stop.value
                    finally:
                        otel_context.detach(token)
                    items.add(item)
                    to_send, to_throw = None, None
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        inner.close()
                        raise
                    except BaseException as exc:
                        to_throw = exc
            except GeneratorExit:
                helper._record_output(span, items.result(None))
                raise
            except BaseException as exc:
                record_error(span, exc)
                raise
            finally:
                span.end()

        return wrapper

    def _wrap_async_generator(self, func: Callable[..., Any], signature: Any) -> Callable[..., Any]:
        helper = self

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            span, token = helper._open(signature, args, kwargs)
            items = _ItemLog(helper.output_limit)
            try:
                inner = func(*args, **kwargs)
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
            to_send: Any = None
            to_throw: BaseException | None = None
            try:
                while True:
                    token = otel_context.attach(trace.set_span_in_context(span))
                    try:
                        if to_throw is not None:
                            item = await inner.athrow(to_throw)
                        else:
                            item = await inner.asend(to_send)
                    except StopAsyncIteration:
                        helper._record_output(span, items.result(None))
                        return
                    finally:
                        otel_context.detach(token)
                    items.add(item)
                    to_send, to_throw = None, None
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        await inner.aclose()
                        raise
                    except BaseException as exc:
                        to_throw = exc
            except GeneratorExit:
                helper._record_output(span, items.result(None))
                raise
            except BaseException as exc:
                record_error(span, exc)
                raise
            finally:
                span.end()

        return wrapper


class _Entry(NamedTuple):
    helper: _SpanHelper
    span: Span
    token: object


_ENTERED: ContextVar[tuple[_Entry, ...]] = ContextVar("infinium_otel_helpers_entered", default=())
"""The helper spans the current thread or task entered with ``with`` and has not left."""


def _leave(helper: _SpanHelper) -> _Entry | None:
    """Take the innermost entry of ``helper`` made in this thread or task, if any."""
    entered = _ENTERED.get()
    for index in range(len(entered) - 1, -1, -1):
        if entered[index].helper is helper:
            _ENTERED.set(entered[:index] + entered[index + 1 :])
            return entered[index]
    return None


def _detach(token: object) -> None:
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    except Exception as exc:
        log_failure("detaching a helper span's context", exc)


class _ItemLog:
    """The items a generator yielded, kept only up to a size budget."""

    def __init__(self, limit: int) -> None:
        self.items: list[Any] = []
        self.size = 0
        self.limit = limit
        self.count = 0

    def add(self, item: Any) -> None:
        self.count += 1
        if self.size < self.limit:
            self.items.append(item)
            self.size += len(item) if isinstance(item, str) else 16

    def result(self, returned: Any) -> Any:
        return returned if returned is not None else self.items


class _ToolHelper(_SpanHelper):
    input_key = names.GEN_AI_TOOL_CALL_ARGUMENTS
    output_key = names.GEN_AI_TOOL_CALL_RESULT
    input_limit = MAX_PART_CHARS
    output_limit = MAX_PART_CHARS


def agent(
    name: str,
    description: str | None = None,
    expected_outcome: str | Mapping[str, Any] | None = None,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
) -> _SpanHelper:
    """An agent run: span ``invoke_agent {name}`` that the exporter treats as a run root.

    ``expected_outcome`` is a task objective, or a dict with ``task_objective``,
    ``required_deliverables``, ``constraints``, ``acceptance_criteria``;
    ``sections`` maps section -> field -> value (``infinium.section.<s>.<f>``).
    """
    _check_name(name, "agent")
    attributes: dict[str, Any] = {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_INVOKE_AGENT,
        names.GEN_AI_AGENT_NAME: name,
    }
    if description is not None:
        attributes[names.INFINIUM_DESCRIPTION] = str(description)
    attributes.update(_outcome_attributes(expected_outcome))
    attributes.update(_section_attributes(sections))
    return _SpanHelper(f"invoke_agent {name}", attributes)


def tool(name: str) -> _SpanHelper:
    """A tool execution: span ``execute_tool {name}``; arguments and result as tool content."""
    _check_name(name, "tool")
    attributes = {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL,
        names.GEN_AI_TOOL_NAME: name,
    }
    return _ToolHelper(f"execute_tool {name}", attributes)


def step(name: str) -> _SpanHelper:
    """An ordinary operation step of a run: span ``{name}`` with ``infinium.step=true``."""
    _check_name(name, "step")
    return _SpanHelper(name, {names.INFINIUM_STEP: True})
