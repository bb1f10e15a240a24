"""One HTTP attempt against the Infinium API.

``Transport`` owns the ``requests.Session`` (connection reuse) and makes exactly
one request per call: no redirects, TLS verified, proxies from the environment,
our own instrumentation suppressed, and one overall deadline per attempt (see
``watchdog``) however slowly the answer arrives. Each method's call is prepared
once a second (``call_route``), not on every call. ``answers.map_response`` reads
the answer; ``failures`` says what a failure to get one was (a refused
connection is never called a timeout). No request header (so never the agent
secret) reaches a message, a log line, ``details`` or the frames of a raised
error: chained library errors lose their tracebacks and their request.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, cast

import requests
import urllib3.exceptions

from infinium_otel._suppress import instrumentation_suppressed
from infinium_otel.client.answers import map_response
from infinium_otel.client.call_route import (
    ENVIRONMENT_REFRESH_SECONDS,
    CallRoute,
    DirectHead,
    direct_pool,
    extract_cookies,
    fits,
    keep_cookies,
    prepare_route,
    with_body,
)
from infinium_otel.client.exchange import AnswerOverdue, AnswerTooLarge, exchange
from infinium_otel.client.failures import network_error, scrubbed, too_large, trickled
from infinium_otel.client.redact import Redactor
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.watchdog import AttemptWatch, WatchedAdapter, lean_answer, watching
from infinium_otel.client.wire import (
    CREDENTIALS,
    INTERPRETATION,
    TRACE,
    USER_AGENT,
    RawResponse,
    Request,
    validate_path_id,
)
from infinium_otel.errors import InfiniumError

__all__ = [
    "CREDENTIALS",
    "INTERPRETATION",
    "MAX_RESPONSE_BYTES",
    "TRACE",
    "USER_AGENT",
    "RawResponse",
    "Request",
    "Transport",
    "map_response",
    "validate_path_id",
]

logger = logging.getLogger("infinium_otel.client")

MAX_RESPONSE_BYTES = 8 * 1_048_576
_CHUNK_BYTES = 65_536

_CertVerify = Callable[[Any, str, "bool | str", Any], None]

# Forks this process came through (``os.fork`` runs the hook in the child): a
# session made under another count was inherited and shares sockets with the parent.
# Comparing it costs nothing, where ``os.getpid()`` is a system call on every call.
_forks = 0


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)


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
        self._redactor = Redactor(secret)
        self._verify = verify
        self._headers = {
            "x-agent-id": agent_id,
            "x-agent-key": secret,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        del secret
        self._session: requests.Session | None = None
        self._routes: dict[str, CallRoute] = {}
        self._forks = _forks
        self._closed = False

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r})"

    def _get_session(self) -> requests.Session:
        if self._closed:
            raise InfiniumError("the client is closed")
        if self._session is None or self._forks != _forks:
            # A session inherited across fork shares sockets with the parent: start afresh.
            session = requests.Session()
            adapter = WatchedAdapter()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._session = session
            self._routes = {}
            self._forks = _forks
        return self._session

    def close(self) -> None:
        self._closed = True
        self._routes = {}
        session, self._session = self._session, None
        if session is not None and self._forks == _forks:
            session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def perform(self, request: Request, timeout: float) -> ApiResponse:
        """Make one attempt and map its answer (raises the matching ``InfiniumError``).

        The error is raised afresh from here once the raw answer is dropped: a
        server may echo our headers, and error reporters show frames' locals.
        """
        raw = self.send(request, timeout)
        try:
            return map_response(request, raw, secret=self._redactor, base_url=self._base_url)
        except InfiniumError as error:
            del raw
            raise error.with_traceback(None) from error.__cause__

    def send(self, request: Request, timeout: float) -> RawResponse:
        """One HTTP request, its body read up to ``MAX_RESPONSE_BYTES``, all within ``timeout``.

        Errors are raised from this frame, whose locals hold no request headers.
        """
        session = self._get_session()
        failure: InfiniumError | None = None
        cause: BaseException | None = None
        with watching(time.monotonic() + timeout) as watch:
            try:
                raw = self._exchange(session, request, timeout, watch)
            except InfiniumError as error:
                failure = error
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                failure = network_error(
                    exc,
                    request,
                    timeout,
                    overdue=watch.fired,
                    redactor=self._redactor,
                    base_url=self._base_url,
                )
                cause = scrubbed(exc)
        if failure is not None:
            raise failure.with_traceback(None) from cause
        return raw

    def _exchange(
        self, session: requests.Session, request: Request, timeout: float, watch: AttemptWatch
    ) -> RawResponse:
        url = self._base_url + request.path
        with instrumentation_suppressed():
            route = None if _holds_cookies(session) else self._route_for(session, request, url)
            target = None if route is None else route.target_for(url, request.path)
            if route is not None and target is not None:
                if route.direct is not None and fits(route.direct, request.body):
                    return self._send_direct(route, route.direct, request, target, timeout, watch)
                response = self._send_prepared(route, request, url, target, timeout)
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
                body = _read_body(response, request, timeout, watch)
            finally:
                response.close()
        return RawResponse(response.status_code, response.headers, body)

    def _route_for(self, session: requests.Session, request: Request, url: str) -> CallRoute:
        """The route of ``request``'s method, prepared afresh when old or for another session.

        Only used while the session holds no cookies, so there is no cookie to
        merge into the request; a cookie an answer sets is kept, as the session
        would keep it (and the next call takes ``session.request``).
        """
        route = self._routes.get(request.method)
        now = time.monotonic()
        if (
            route is not None
            and route.session is session
            and 0 <= now - route.made < ENVIRONMENT_REFRESH_SECONDS
            and (route.prefix is not None or route.url == url)
        ):
            return route
        route = prepare_route(session, request, url, self._headers, self._verify, now)
        self._routes[request.method] = route
        return route

    def _send_direct(
        self,
        route: CallRoute,
        direct: DirectHead,
        request: Request,
        target: str,
        timeout: float,
        watch: AttemptWatch,
    ) -> RawResponse:
        """One call written and read by ``exchange`` on a connection of the adapter's pool."""
        adapter, pool = direct_pool(route)
        # As ``send`` does: the CA bundle (certifi's when verify is True) and client
        # certificate go on the pool, and a missing file is an error.
        cast(_CertVerify, adapter.cert_verify)(pool, route.url, route.verify, route.cert)
        body = request.body or b""
        length = f"Content-Length: {len(body)}\r\n" if direct.has_length else ""
        head = (
            f"{request.method} {target} HTTP/1.1\r\nHost: {direct.host}\r\n"
            f"{direct.before}{length}{direct.after}\r\n"
        ).encode("ascii")
        failure: InfiniumError | None = None
        try:
            status, fields, headers, content = exchange(
                pool, head, body, request.method, timeout, watch.overdue, MAX_RESPONSE_BYTES
            )
        except AnswerTooLarge as large:
            failure = too_large(request, large.status, MAX_RESPONSE_BYTES)
        except AnswerOverdue:
            failure = trickled(request, timeout)
        if failure is not None:
            raise failure  # outside the handler: no context whose frames hold the head
        if "set-cookie" in headers or "set-cookie2" in headers:
            keep_cookies(route, self._base_url + request.path, fields)
        return RawResponse(status, headers, content)

    def _send_prepared(
        self, route: CallRoute, request: Request, url: str, target: str, timeout: float
    ) -> requests.Response:
        """What ``session.request`` does for a call, from its route (through a proxy)."""
        prepared = lean_answer(with_body(route, url, request.body), target)
        session = route.session
        response = session.get_adapter(url).send(
            prepared,
            stream=True,
            timeout=(timeout, timeout),
            verify=route.verify,
            cert=route.cert,
            proxies=route.proxies,
        )
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            extract_cookies(session.cookies, prepared, response.raw)
        return response


def _holds_cookies(session: requests.Session) -> bool:
    """Whether the session's jar holds a cookie. A jar with no domain in its store holds
    none, known without counting (``len`` walks the jar through nested generators)."""
    jar = session.cookies
    if type(jar) is requests.cookies.RequestsCookieJar and not jar._cookies:  # type: ignore[attr-defined]
        return False
    return len(jar) > 0


def _read_body(
    response: requests.Response, request: Request, timeout: float, watch: AttemptWatch
) -> bytes:
    """The body, in chunks, refused past ``MAX_RESPONSE_BYTES`` or past the attempt's deadline."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise too_large(request, response.status_code, MAX_RESPONSE_BYTES)
        chunks.append(chunk)
        if watch.overdue():
            raise trickled(request, timeout)
    return b"".join(chunks)
