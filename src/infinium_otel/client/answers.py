"""How one HTTP answer reads: an ``ApiResponse`` for what the API means, else an error.

Pure: status, headers and body in, a result or an ``InfiniumError`` out. An
answer counts only when it is the Infinium API's own (see
docs/infinium-api.md): a trace is delivered only when a 2xx carries JSON with
``traceId`` (or ``id``); credentials are accepted only when the
interpreted-result endpoint answers with its JSON (the result fields on a 2xx,
or a "not found" 404 that speaks of the trace). A web page, a static file
server, or a 404 from another path is an ``UnexpectedResponseError`` naming
what came back and the likely cause. Every text taken from a body is masked
for the agent secret before it is cut short.
"""

from __future__ import annotations

import functools
import json
import re
import time
from typing import Any
from urllib.parse import urlsplit

from infinium_otel.client.redact import Redactor
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.retry import parse_retry_after
from infinium_otel.client.wire import CREDENTIALS, INTERPRETATION, TRACE, RawResponse, Request
from infinium_otel.errors import (
    AuthenticationError,
    InfiniumError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)

__all__ = ["MAX_MESSAGE_CHARS", "map_response"]

MAX_MESSAGE_CHARS = 500
# How much of an unexpected body a message quotes.
_PREVIEW_CHARS = 200
_API_ROOT = "/api/v1"
# Words with which the interpreted-result endpoint's "not found" speaks of the trace.
_TRACE_WORDS = ("trace", "interpret", "not ready", "result", "processing")
_PATH_WORD = re.compile(r"\S*/\S*")
_JSON = json.JSONDecoder()


class _Body:
    """A body decoded once: its JSON object (masked) or None, its text preview, its type.

    The masked text is worked out only when a message needs it (an accepted
    answer never does): masking scans it for every form of the secret.
    """

    __slots__ = ("_raw_text", "_redactor", "_text", "content_type", "data", "is_json_type")

    def __init__(self, raw: RawResponse, redactor: Redactor) -> None:
        self.content_type = (raw.header("content-type") or "").strip()
        media = self.content_type.split(";", 1)[0].strip().lower()
        self.is_json_type = not media or media == "application/json" or media.endswith("+json")
        text = raw.body.decode("utf-8", "replace").strip()
        parsed: Any = None
        if text[:1] in ("{", "["):
            # What ``json.loads`` does for a text without a BOM or surrounding blanks.
            try:
                parsed, end = _JSON.raw_decode(text)
            except (ValueError, RecursionError):  # not JSON, or nested past Python's depth
                parsed = None
            else:
                if end != len(text):  # more after the value
                    parsed = None
        data: dict[str, Any] | None = None
        if isinstance(parsed, dict):
            try:
                data = redactor.decoded(parsed, text)
            except RecursionError:  # nested too deep to walk: read as text only
                data = None
        self.data = data
        self._raw_text = text
        self._redactor = redactor
        self._text: str | None = None

    @property
    def text(self) -> str:
        """The body's text, masked, cut to ``MAX_MESSAGE_CHARS``."""
        if self._text is None:
            self._text = self._redactor.shorten(self._raw_text, MAX_MESSAGE_CHARS)
        return self._text

    @property
    def preview(self) -> str:
        return self.text[:_PREVIEW_CHARS]

    def kind(self) -> str:
        return self.content_type.split(";", 1)[0].strip() or "no content type"

    def server_message(self) -> str:
        """The error text the server gave, from its JSON when it has one."""
        if self.data:
            for key in ("error", "message", "detail", "errors"):
                value = self.data.get(key)
                if value:
                    shown = (
                        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    )
                    return shown[:MAX_MESSAGE_CHARS]
        return self.text


def map_response(
    request: Request,
    raw: RawResponse,
    *,
    secret: str | Redactor,
    now: float | None = None,
    base_url: str | None = None,
) -> ApiResponse:
    """An ``ApiResponse`` for a success or an expected "not ready"; else the matching error.

    ``secret`` (or a ``Redactor`` made from it) is masked in every text taken
    from the answer. ``now`` is the wall-clock time for HTTP-date
    ``Retry-After`` values; ``base_url`` lets a wrong-path answer name the cause.
    """
    redactor = secret if isinstance(secret, Redactor) else Redactor(secret)
    del secret  # no frame of a raised error keeps the secret as a local
    return _read(request, raw, redactor, now, base_url)


def _read(
    request: Request,
    raw: RawResponse,
    redactor: Redactor,
    now: float | None,
    base_url: str | None,
) -> ApiResponse:
    status = raw.status
    body = _Body(raw, redactor)
    if 200 <= status < 300 and request.purpose == TRACE and body.data is not None:
        # The answer to nearly every call, read as ``_success`` reads it; anything
        # else takes the general way below (which words the errors).
        message = body.data.get("message")
        accepted = ApiResponse(
            True, status, message if isinstance(message, str) and message else "accepted", body.data
        )
        if accepted.trace_id is not None:
            return accepted
    where = f"{request.method} {request.path}"
    details: dict[str, Any] = {"status_code": status, "request": where}
    if body.data is not None:
        details["response_data"] = body.data
    hint = _missing_api_root(base_url) if base_url else False

    if 200 <= status < 300:
        return _success(request, status, body, details, hint)
    if status == 404 and request.purpose == CREDENTIALS:
        if body.data is not None and body.is_json_type and _speaks_of_the_trace(body, request):
            return ApiResponse(
                True, status, "credentials accepted (the API answered: trace not found)", body.data
            )
        raise _unexpected(request, status, body, details, hint, wrong_path=True)
    if status == 404 and request.purpose == INTERPRETATION:
        if body.data is None and not body.is_json_type and body.text:
            raise _unexpected(request, status, body, details, hint, wrong_path=True)
        return ApiResponse(False, status, "interpretation not ready yet (404)", body.data)

    server = body.server_message()
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
            raw.header("Retry-After"), now=time.time() if now is None else now
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


def _success(
    request: Request, status: int, body: _Body, details: dict[str, Any], hint: bool
) -> ApiResponse:
    data = body.data
    if request.purpose == INTERPRETATION:
        if data is None:
            raise _unexpected(request, status, body, details, hint)
        if data.get("interpretedTraceResult"):
            return ApiResponse(True, status, "interpretation ready", data)
        return ApiResponse(False, status, "interpretation not ready yet", data)
    if request.purpose == CREDENTIALS:
        if (
            data is not None
            and body.is_json_type
            and ("interpretedTraceResult" in data or "traceId" in data)
        ):
            return ApiResponse(True, status, "credentials accepted", data)
        raise _unexpected(request, status, body, details, hint)
    if data is None:
        raise _unexpected(request, status, body, details, hint)
    message = data.get("message")
    response = ApiResponse(
        True, status, message if isinstance(message, str) and message else "accepted", data
    )
    if response.trace_id is None:
        raise _unexpected(request, status, body, details, hint)
    return response


def _unexpected(
    request: Request,
    status: int,
    body: _Body,
    details: dict[str, Any],
    hint: bool,
    *,
    wrong_path: bool = False,
) -> UnexpectedResponseError:
    """The error for an answer that is not the Infinium API's, saying what came back."""
    where = f"{request.method} {request.path}"
    details = {**details, "content_type": body.content_type, "body_preview": body.preview}
    answered = f"{where} answered {status} ({body.kind()})"
    quoted = f": {body.preview!r}" if body.preview else " with an empty body"
    root = "; is INFINIUM_BASE_URL missing /api/v1?" if hint else ""
    if body.data is None and not body.is_json_type:
        message = f"this is not an Infinium API (got {body.kind()}): {answered}{quoted}{root}"
    elif wrong_path:
        cause = "is INFINIUM_BASE_URL missing /api/v1?" if hint else "check INFINIUM_BASE_URL"
        message = f"wrong path: {cause} ({answered}, not the API's answer{quoted})"
    elif body.data is None:
        message = f"{answered}, which is not a JSON object{quoted}{root}"
    elif request.purpose == TRACE:
        message = f"{answered} without a trace id, so the trace is not delivered{quoted}{root}"
    else:
        message = f"{answered} without the interpreted-result fields{quoted}{root}"
    return UnexpectedResponseError(message, status_code=status, details=details)


def _speaks_of_the_trace(body: _Body, request: Request) -> bool:
    """True for the interpreted-result endpoint's own "not found": it names the trace.

    A generic 404 ("No such endpoint", "Not Found", or a router echoing the
    path) does not; paths (any word with a ``/``) and the probe id are removed
    before looking.
    """
    data = body.data or {}
    if isinstance(data.get("traceId"), str):
        return True
    probe = request.path.rsplit("/", 1)[-1]
    for key in ("message", "error", "detail", "status"):
        value = data.get(key)
        if isinstance(value, str):
            text = _PATH_WORD.sub(" ", value.replace(probe, " ")).lower()
            if any(word in text for word in _TRACE_WORDS):
                return True
    return False


@functools.lru_cache(maxsize=64)
def _missing_api_root(base_url: str | None) -> bool:
    """True when the base URL does not end in ``/api/v1``, the API's root."""
    if not base_url:
        return False
    return not urlsplit(base_url).path.rstrip("/").endswith(_API_ROOT)
