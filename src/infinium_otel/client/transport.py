"""One HTTP attempt against the Infinium API, and its mapping to the error family.

``Transport`` owns the ``requests.Session`` (connection reuse) and makes exactly
one request per call: no redirects, TLS verified, our own instrumentation
suppressed. ``map_response`` turns a status and body into an ``ApiResponse`` or
an ``InfiniumError``; it is pure. Neither ever puts a request header (and so
never the agent secret) into a message, a log line or ``details``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import requests
import urllib3.exceptions
from requests.cookies import extract_cookies_to_jar as _untyped_extract_cookies

from infinium_otel._suppress import instrumentation_suppressed
from infinium_otel._version import __version__
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.retry import parse_retry_after
from infinium_otel.errors import (
    AuthenticationError,
    InfiniumError,
    InfiniumTimeoutError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from infinium_otel.settings import is_valid_uuid

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_RESPONSE_BYTES",
    "USER_AGENT",
    "RawResponse",
    "Request",
    "Transport",
    "check_payload_size",
    "encode_payload",
    "map_response",
    "validate_path_id",
]

logger = logging.getLogger("infinium_otel.client")

MAX_PAYLOAD_BYTES = 1_048_576
MAX_RESPONSE_BYTES = 8 * 1_048_576
# How old the environment's proxy, CA bundle and netrc settings may be on the trace path.
ENVIRONMENT_REFRESH_SECONDS = 1.0
_MAX_MESSAGE_CHARS = 500
USER_AGENT = f"infinium-otel/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"

# What a call expects, which decides how 2xx and 404 answers read.
TRACE = "trace"
INTERPRETATION = "interpretation"
CREDENTIALS = "credentials"


@dataclasses.dataclass(frozen=True)
class Request:
    """One API call: method, path below the base URL, body and what it is for."""

    method: str
    path: str
    body: bytes | None
    purpose: str  # TRACE, INTERPRETATION or CREDENTIALS


@dataclasses.dataclass(frozen=True)
class RawResponse:
    """Status, headers and (capped) body of one HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def validate_path_id(value: object, field: str) -> str:
    """An id that goes into a URL path: a UUID, so no ``/``, ``\\`` or ``..`` can hide in it."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string UUID", field=field)
    text = value.strip()
    if not text or "/" in text or "\\" in text or ".." in text or not is_valid_uuid(text):
        raise ValidationError(
            f"{field} must be a UUID (8-4-4-4-12 hex), got {value!r}", field=field
        )
    return text


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; lone surrogates become U+FFFD instead of failing the send."""
    if not isinstance(payload, Mapping):
        raise ValidationError(
            f"payload must be a mapping, got {type(payload).__name__}", field="payload"
        )
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"payload is not valid JSON: {exc}", field="payload") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Pair up split surrogates, replace the lone ones.
        repaired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return repaired.encode("utf-8", "replace")


def check_payload_size(body: bytes) -> None:
    """Refuse, before sending, a body the API would refuse anyway."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLargeError(
            f"payload is {len(body)} bytes; the API accepts at most {MAX_PAYLOAD_BYTES}",
            field="payload",
            details={"size": len(body), "limit": MAX_PAYLOAD_BYTES},
        )


def _redact(value: Any, secret: str) -> Any:
    """A copy of a decoded JSON value with the secret replaced wherever it occurs."""
    if isinstance(value, str):
        return value.replace(secret, "********") if secret and secret in value else value
    if isinstance(value, dict):
        return {_redact(k, secret): _redact(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item, secret) for item in value]
    return value


def _decode_body(body: bytes) -> tuple[dict[str, Any] | None, str]:
    """The JSON object of a body (or None) and its text, shortened, for messages."""
    text = body.decode("utf-8", "replace").strip()
    data: dict[str, Any] | None = None
    if text:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            data = parsed
    return data, text[:_MAX_MESSAGE_CHARS]


def _server_message(data: dict[str, Any] | None, text: str) -> str:
    if data:
        for key in ("error", "message", "detail", "errors"):
            value = data.get(key)
            if value:
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                return shown[:_MAX_MESSAGE_CHARS]
    return text


def map_response(
    request: Request, raw: RawResponse, *, secret: str, now: float | None = None
) -> ApiResponse:
    """An ``ApiResponse`` for a success or an expected "not ready"; else the matching error.

    ``now`` is the wall-clock time used for HTTP-date ``Retry-After`` values.
    """
    status = raw.status
    data, text = _decode_body(raw.body)
    data = _redact(data, secret) if data is not None else None
    text = _redact(text, secret)
    where = f"{request.method} {request.path}"
    details: dict[str, Any] = {"status_code": status, "request": where}
    if data is not None:
        details["response_data"] = data

    if 200 <= status < 300:
        return _map_success(request, status, data)
    if request.purpose == CREDENTIALS and status == 404:
        return ApiResponse(True, status, "credentials accepted", data)
    if request.purpose == INTERPRETATION and status == 404:
        return ApiResponse(False, status, "interpretation not ready yet (404)", data)

    server = _server_message(data, text)
    suffix = f": {server}" if server else ""
    if 300 <= status < 400:
        raise InfiniumError(
            f"{where} answered with a redirect ({status}); redirects are never followed",
            status_code=status,
            details=details,
        )
    if status == 401:
        raise AuthenticationError(
            f"authentication failed (401): check the agent id and secret{suffix}",
            status_code=status,
            details=details,
        )
    if status == 403:
        raise PermissionDeniedError(
            f"permission denied (403) for {where}{suffix}", status_code=status, details=details
        )
    if status == 404:
        raise NotFoundError(
            f"not found (404): {where}{suffix}", status_code=status, details=details
        )
    if status == 413:
        raise PayloadTooLargeError(
            f"payload too large (413){suffix}", field="payload", status_code=status, details=details
        )
    if status in (400, 422):
        raise ValidationError(
            f"request rejected ({status}){suffix}", status_code=status, details=details
        )
    if status == 429:
        retry_after = parse_retry_after(
            raw.headers.get("Retry-After"), now=time.time() if now is None else now
        )
        details["retry_after"] = retry_after
        raise RateLimitError(
            f"rate limited (429); retry after {retry_after:g} s",
            retry_after=retry_after,
            details=details,
        )
    if 500 <= status < 600:
        raise ServerError(f"server error ({status}){suffix}", status_code=status, details=details)
    raise InfiniumError(
        f"unexpected status {status} for {where}{suffix}", status_code=status, details=details
    )


def _map_success(request: Request, status: int, data: dict[str, Any] | None) -> ApiResponse:
    if request.purpose == INTERPRETATION:
        if data and data.get("interpretedTraceResult"):
            return ApiResponse(True, status, "interpretation ready", data)
        return ApiResponse(False, status, "interpretation not ready yet", data)
    if request.purpose == CREDENTIALS:
        return ApiResponse(True, status, "credentials accepted", data)
    message = data.get("message") if data else None
    return ApiResponse(True, status, message if isinstance(message, str) else "accepted", data)


def _is_timeout(exc: BaseException) -> bool:
    """True when a requests error was caused by a connect or read timeout."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
            return True
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        if isinstance(current, urllib3.exceptions.MaxRetryError) and current.reason is not None:
            stack.append(current.reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return False


# What ``Session.send`` does with every answer: keep the cookies it sets.
_extract_cookies: Callable[[Any, Any, Any], None] = _untyped_extract_cookies


@dataclasses.dataclass(frozen=True)
class _TraceRoute:
    """A trace POST prepared once: headers (with any netrc auth) and the environment's settings.

    ``requests`` re-reads the environment (proxies, CA bundle, netrc) and rebuilds
    the request on every call, which costs far more CPU than the POST itself;
    the trace path reuses this for ``ENVIRONMENT_REFRESH_SECONDS`` instead.
    """

    session: requests.Session
    method: str
    url: str
    template: requests.PreparedRequest
    proxies: MutableMapping[str, str]
    verify: bool | str
    cert: Any
    made: float


class Transport:
    """One ``requests.Session`` and the headers every call carries."""

    def __init__(
        self,
        *,
        base_url: str,
        agent_id: str,
        secret: str,
        verify: bool | str = True,
    ) -> None:
        self._base_url = base_url
        self._secret = secret
        self._verify = verify
        self._headers = {
            "x-agent-id": agent_id,
            "x-agent-key": secret,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._session: requests.Session | None = None
        self._route: _TraceRoute | None = None
        self._pid = os.getpid()
        self._closed = False

    def _get_session(self) -> requests.Session:
        if self._closed:
            raise InfiniumError("the client is closed")
        if self._session is None or self._pid != os.getpid():
            # A session inherited across fork shares sockets with the parent: start afresh.
            self._session = requests.Session()
            self._pid = os.getpid()
        return self._session

    def close(self) -> None:
        self._closed = True
        self._route = None
        session, self._session = self._session, None
        if session is not None and self._pid == os.getpid():
            session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def perform(self, request: Request, timeout: float) -> ApiResponse:
        """Make one attempt and map its answer (raises the matching ``InfiniumError``)."""
        raw = self.send(request, timeout)
        return map_response(request, raw, secret=self._secret)

    def send(self, request: Request, timeout: float) -> RawResponse:
        """One HTTP request, its body read up to ``MAX_RESPONSE_BYTES``."""
        session = self._get_session()
        url = self._base_url + request.path
        where = f"{request.method} {request.path}"
        try:
            with instrumentation_suppressed():
                if request.purpose == TRACE and not len(session.cookies):
                    response = self._send_trace(session, request, url, timeout)
                else:
                    response = session.request(
                        request.method,
                        url,
                        data=request.body,
                        headers=self._headers,
                        timeout=(timeout, timeout),
                        allow_redirects=False,
                        verify=self._verify,
                        stream=True,
                    )
                try:
                    body = self._read_body(response, where)
                finally:
                    response.close()
        except requests.RequestException as exc:
            raise self._network_error(exc, where, timeout) from _scrubbed(exc)
        return RawResponse(response.status_code, response.headers, body)

    def _send_trace(
        self, session: requests.Session, request: Request, url: str, timeout: float
    ) -> requests.Response:
        """What ``session.request`` does for a trace POST, from a route prepared once.

        Only used while the session holds no cookies, so there is no cookie to
        merge into the request; a cookie the answer sets is kept, as the session
        would keep it (and the next call takes the full path).
        """
        route = self._route
        now = time.monotonic()
        if (
            route is None
            or route.session is not session
            or route.url != url
            or route.method != request.method
            or not 0 <= now - route.made < ENVIRONMENT_REFRESH_SECONDS
        ):
            template = session.prepare_request(
                requests.Request(request.method, url, headers=self._headers)
            )
            settings = session.merge_environment_settings(url, {}, True, self._verify, None)
            route = self._route = _TraceRoute(
                session,
                request.method,
                url,
                template,
                settings["proxies"],
                True if settings["verify"] is None else settings["verify"],
                settings["cert"],
                now,
            )
        prepared = route.template.copy()
        prepared.prepare_body(request.body, None)
        response = session.get_adapter(url).send(
            prepared,
            stream=True,
            timeout=(timeout, timeout),
            verify=route.verify,
            cert=route.cert,
            proxies=route.proxies,
        )
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            _extract_cookies(session.cookies, prepared, response.raw)
        return response

    @staticmethod
    def _read_body(response: requests.Response, where: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=65_536):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise InfiniumError(
                    f"{where}: the answer is larger than {MAX_RESPONSE_BYTES} bytes",
                    status_code=response.status_code,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _network_error(exc: requests.RequestException, where: str, timeout: float) -> NetworkError:
        reason = str(exc)[:_MAX_MESSAGE_CHARS]
        if _is_timeout(exc):
            return InfiniumTimeoutError(
                f"{where} timed out after {timeout:g} s ({type(exc).__name__})",
                timeout_duration=timeout,
                original_error=exc,
            )
        if isinstance(exc, requests.exceptions.SSLError):
            message = f"{where}: TLS verification failed: {reason}"
        else:
            message = f"{where}: network error ({type(exc).__name__}): {reason}"
        return NetworkError(message, original_error=exc, details={"request": where})


def _scrubbed(exc: requests.RequestException) -> requests.RequestException:
    """Drop the prepared request (it holds our headers) from an exception we chain."""
    exc.request = None
    exc.response = None
    return exc
