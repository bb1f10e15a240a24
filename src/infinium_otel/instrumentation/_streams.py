"""Transparent stream proxies that end the call's span when the stream ends.

The span ends when the stream is exhausted, fails, is closed, leaves its
``with`` block, is garbage-collected, or when the span it was opened under
ends (the caller stopped reading: ``infinium.stream.abandoned``), whichever
comes first; the recorder then writes what the chunks reported so far (usage,
finish reasons, output). Everything else (``.response``, ``.send`` ...) passes
through to the stream.
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any, Protocol

import wrapt
from opentelemetry.trace import Span

from infinium_otel.conventions import names
from infinium_otel.instrumentation._abandon import watch
from infinium_otel.instrumentation._common import log_failure, record_error

__all__ = ["AsyncStreamProxy", "StreamProxy", "StreamRecorder"]

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:  # wrapt < 2 proxies are not subscriptable at runtime
    _Proxy = wrapt.ObjectProxy


class StreamRecorder(Protocol):
    def on_chunk(self, chunk: Any) -> None:
        """Remember what this chunk tells about the response (bounded)."""

    def finish(self, span: Span) -> None:
        """Write the accumulated response attributes onto the span."""


class _SpanEnder:
    """The end-once logic both proxies share.

    The parent span may end in another thread while the caller reads the
    stream, so reading a chunk and ending are serialised by a lock.
    """

    __slots__ = ("broken", "done", "lock", "recorder", "span", "watch")

    def __init__(self, span: Span, recorder: StreamRecorder, parent: Any) -> None:
        self.span = span
        self.recorder = recorder
        self.done = False
        self.broken = False
        self.lock = threading.Lock()
        self.watch = watch(parent, self)

    def chunk(self, chunk: Any) -> None:
        with self.lock:
            if self.broken or self.done:
                return
            try:
                self.recorder.on_chunk(chunk)
            except Exception as exc:
                self.broken = True
                log_failure("reading a stream chunk", exc)

    def abandon(self) -> None:
        """The parent ended before the stream did: end now, with what was seen so far."""
        self.end(abandoned=True)

    def end(self, error: BaseException | None = None, *, abandoned: bool = False) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
            try:
                if not self.broken:
                    self.recorder.finish(self.span)
                if abandoned:
                    self.span.set_attribute(names.INFINIUM_STREAM_ABANDONED, True)
            except Exception as exc:
                log_failure("finishing a stream span", exc)
            if error is not None:
                record_error(self.span, error)
            try:
                self.span.end()
            except Exception as exc:
                log_failure("ending a stream span", exc)
        if self.watch is not None and not abandoned:
            self.watch.forget(self)


class StreamProxy(_Proxy):
    """A sync stream (iterator, context manager) that looks exactly like the original."""

    def __init__(self, wrapped: Any, span: Span, recorder: StreamRecorder, parent: Any) -> None:
        super().__init__(wrapped)
        self._self_ender = _SpanEnder(span, recorder, parent)

    def __iter__(self) -> StreamProxy:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self.__wrapped__)
        except StopIteration:
            self._self_ender.end()
            raise
        except BaseException as exc:
            self._self_ender.end(exc)
            raise
        self._self_ender.chunk(chunk)
        return chunk

    def __enter__(self) -> StreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_ender.end(exc)

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_ender.end()

    def __del__(self) -> None:
        ender = getattr(self, "_self_ender", None)
        if ender is not None:
            ender.end()


class AsyncStreamProxy(_Proxy):
    """An async stream (async iterator, async context manager), transparently."""

    def __init__(self, wrapped: Any, span: Span, recorder: StreamRecorder, parent: Any) -> None:
        super().__init__(wrapped)
        self._self_ender = _SpanEnder(span, recorder, parent)

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_ender.end()
            raise
        except BaseException as exc:
            self._self_ender.end(exc)
            raise
        self._self_ender.chunk(chunk)
        return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return (await exit_(exc_type, exc, tb)) if exit_ is not None else None
        finally:
            self._self_ender.end(exc)

    def close(self) -> Any:
        """Close the stream; awaitable when the original ``close`` is."""
        result = self.__wrapped__.close()
        if inspect.isawaitable(result):
            return self._await_then_end(result)
        self._self_ender.end()
        return result

    def aclose(self) -> Any:
        return self._await_then_end(self.__wrapped__.aclose())

    async def _await_then_end(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        finally:
            self._self_ender.end()

    def __del__(self) -> None:
        ender = getattr(self, "_self_ender", None)
        if ender is not None:
            ender.end()
