"""What an attempt's failure was, said truthfully, and what its errors may keep.

A library error says little about what happened: urllib3 reports a refused
connection as a kind of connect timeout, and TLS failures arrive wrapped two
or three deep. Reading the whole chain of an error, a failure to get an answer
becomes a ``NetworkError`` that says what happened: a refused connection is
never called a timeout, and only a real timeout is an
``InfiniumTimeoutError``. A chained library error keeps neither its
tracebacks nor its request (whose headers hold the agent secret). Pure: no
I/O.
"""

from __future__ import annotations

import errno
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from infinium_otel.client.answers import MAX_MESSAGE_CHARS
from infinium_otel.client.redact import Redactor
from infinium_otel.client.wire import Request
from infinium_otel.errors import InfiniumError, InfiniumTimeoutError, NetworkError

__all__ = ["network_error", "scrubbed", "too_large", "trickled"]


def network_error(
    exc: BaseException,
    request: Request,
    timeout: float,
    *,
    overdue: bool,
    redactor: Redactor,
    base_url: str,
) -> NetworkError:
    """The error that says what failed an attempt that got no answer (``overdue``: the
    attempt's deadline fired while the answer was arriving)."""
    where = f"{request.method} {request.path}"
    if overdue:
        return trickled(request, timeout)
    refused = _refused_at(exc)
    if refused is not None:
        target = refused or _host_port(base_url)
        return NetworkError(
            f"{where}: connection refused: nothing is listening at {target}",
            original_error=exc,
            details={"request": where, "refused": target},
        )
    if _is_timeout(exc):
        return InfiniumTimeoutError(
            f"{where} timed out after {timeout:g} s ({type(exc).__name__})",
            timeout_duration=timeout,
            original_error=exc,
        )
    reason = redactor.shorten(str(exc), MAX_MESSAGE_CHARS)
    if _is_tls_failure(exc):
        message = f"{where}: TLS verification failed: {reason}"
    else:
        message = f"{where}: network error ({type(exc).__name__}): {reason}"
    return NetworkError(message, original_error=exc, details={"request": where})


def too_large(request: Request, status: int | None, limit: int) -> InfiniumError:
    """An answer refused for being longer than ``limit`` bytes."""
    return InfiniumError(
        f"{request.method} {request.path}: the answer is larger than {limit} bytes",
        status_code=status,
    )


def trickled(request: Request, timeout: float) -> InfiniumTimeoutError:
    """An answer still arriving when the attempt's time ran out."""
    return InfiniumTimeoutError(
        f"{request.method} {request.path} timed out after {timeout:g} s: "
        "the answer was still arriving when the attempt's time ran out",
        timeout_duration=timeout,
    )


def scrubbed(exc: BaseException) -> BaseException:
    """Drop what a chained library error holds of our request: its prepared request (our
    headers) and its tracebacks (their frames' locals hold the headers too)."""
    for current in _linked(exc):
        current.__traceback__ = None
        if isinstance(current, requests.RequestException):
            current.request = None
            current.response = None
    return exc


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _linked(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every error it wraps (args, ``reason``, cause, context), each once."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _refused_at(exc: BaseException) -> str | None:
    """``host:port`` when the connection was refused (nothing listening), else None.

    urllib3 reports a refused connection as ``NewConnectionError``, which
    subclasses ``ConnectTimeoutError``: only its cause tells the truth.
    """
    refused = False
    where: str | None = None
    for current in _linked(exc):
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNREFUSED
        ):
            refused = True
        if isinstance(current, urllib3.exceptions.NewConnectionError) and where is None:
            conn = getattr(current, "conn", None)
            host, port = getattr(conn, "host", None), getattr(conn, "port", None)
            if host and port:
                where = f"{host}:{port}"
    return (where or "") if refused else None


def _is_timeout(exc: BaseException) -> bool:
    """True when a connect or read really timed out (a refused connection is not a timeout)."""
    new_connection = False
    for current in _linked(exc):
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            new_connection = True
            continue
        if isinstance(current, (urllib3.exceptions.TimeoutError, TimeoutError)):
            return True
    return isinstance(exc, requests.Timeout) and not new_connection


def _is_tls_failure(exc: BaseException) -> bool:
    """True when TLS failed (an untrusted certificate, a wrong host name, a bad handshake)."""
    return any(
        isinstance(
            current, (requests.exceptions.SSLError, urllib3.exceptions.SSLError, ssl.SSLError)
        )
        for current in _linked(exc)
    )
