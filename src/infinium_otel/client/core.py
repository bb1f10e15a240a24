"""What the sync and async clients share: settings, validation, the calls' loops.

Everything here is free of waiting: each call becomes a ``loop`` generator of
steps, and the two clients differ only in how they perform an attempt and how
they sleep between attempts.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from infinium_otel.client import loop
from infinium_otel.client.retry import RetryPolicy
from infinium_otel.client.transport import Transport
from infinium_otel.client.wire import CREDENTIALS, INTERPRETATION, TRACE, Request, validate_path_id
from infinium_otel.errors import ConfigurationError, InfiniumError, ValidationError
from infinium_otel.payload.json_encoder import check_payload_size, encode_json
from infinium_otel.settings import MIN_POLL_INTERVAL, Settings

__all__ = ["ClientCore", "ClientFacade", "resolve_settings"]


def resolve_settings(settings: Settings | None, overrides: Mapping[str, Any]) -> Settings:
    """``settings`` (else the environment) as the base, non-None ``overrides`` on top."""
    given = {name: value for name, value in overrides.items() if value is not None}
    if settings is None:
        return Settings.load(**given)
    if not given:
        return settings
    base = {
        field.name: getattr(settings, field.name)
        for field in dataclasses.fields(settings)
        if getattr(settings, field.name) is not None
    }
    return Settings.load({}, **{**base, **given})


def _check_non_negative(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{field} must be a number, got {value!r}", field=field)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValidationError(f"{field} must be a finite number >= 0, got {value!r}", field=field)
    return number


class ClientCore:
    """Validated configuration plus the ``Transport``; builds each call's ``Request``."""

    def __init__(
        self,
        settings: Settings,
        *,
        backoff_base: float = 1.0,
        ca_bundle: str | os.PathLike[str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.backoff_base = _check_non_negative(backoff_base, "backoff_base")
        self.ca_bundle = os.fspath(ca_bundle) if ca_bundle is not None else None
        if self.ca_bundle is not None and not os.path.isfile(self.ca_bundle):
            raise ConfigurationError(
                f"ca_bundle {self.ca_bundle!r} is not a readable file", config_key="ca_bundle"
            )
        self.settings = settings
        self.agent_id = settings.require_credentials()[0]
        self.base_url = settings.base_url
        self.timeout = settings.timeout
        self.rng = rng or random.Random()
        # Policies by retry count: made once each (frozen, so shared by every call).
        self._policies: dict[int, RetryPolicy] = {}
        self.transport = Transport(
            base_url=self.base_url,
            agent_id=self.agent_id,
            secret=settings.require_credentials()[1].reveal(),
            verify=self.ca_bundle if self.ca_bundle is not None else True,
        )

    def policy(self, max_retries: int | None) -> RetryPolicy:
        """The retry policy for one call; ``max_retries`` overrides the setting."""
        if max_retries is None:
            retries = self.settings.max_retries
        elif isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValidationError(
                f"max_retries must be a whole number >= 0, got {max_retries!r}",
                field="max_retries",
            )
        else:
            retries = max_retries
        policy = self._policies.get(retries)
        if policy is None:
            policy = RetryPolicy(max_retries=retries, backoff_base=self.backoff_base)
            if len(self._policies) < 64:
                self._policies[retries] = policy
        return policy

    # Requests -------------------------------------------------------------------

    def trace_request_from_payload(self, payload: Mapping[str, Any]) -> Request:
        return self.trace_request(encode_json(payload))

    def trace_request(self, body: bytes) -> Request:
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise ValidationError(f"body must be bytes, got {type(body).__name__}", field="body")
        data = bytes(body)
        check_payload_size(data)
        return Request("POST", f"/agents/{self.agent_id}/trace", data, TRACE)

    def interpretation_request(self, trace_id: str, field: str = "task_id") -> Request:
        safe = validate_path_id(trace_id, field)
        return Request(
            "GET", f"/agents/{self.agent_id}/interpreted-result/{safe}", None, INTERPRETATION
        )

    def credentials_request(self) -> Request:
        probe = str(uuid.uuid4())
        return Request(
            "GET", f"/agents/{self.agent_id}/interpreted-result/{probe}", None, CREDENTIALS
        )

    # Calls as steps ---------------------------------------------------------------

    def call_steps(
        self,
        request: Request,
        *,
        deadline: object,
        max_retries: int | None,
        cancel: threading.Event | None,
        window_end: float | None = None,
    ) -> loop.Steps:
        """The retry loop of one call; arguments are checked before anything is sent."""
        return loop.call(
            request,
            policy=self.policy(max_retries),
            timeout=self.timeout,
            deadline=_check_deadline(deadline),
            clock=time.monotonic,
            rng=self.rng,
            cancelled=_cancelled(cancel),
            window_end=window_end,
        )

    def wait_steps(
        self,
        trace_id: str,
        timeout: object,
        poll_interval: object,
        *,
        deadline: object,
        max_retries: int | None,
        cancel: threading.Event | None,
    ) -> loop.Steps:
        """The poll loop of ``wait_for_interpretation`` (see ``loop.wait``)."""
        wait_seconds, interval = _check_wait_args(timeout, poll_interval)
        request = self.interpretation_request(trace_id, "trace_id")
        hard = _check_deadline(deadline)
        policy = self.policy(max_retries)

        def poll(end: float) -> loop.Steps:
            return loop.call(
                request,
                policy=policy,
                timeout=self.timeout,
                deadline=hard,
                clock=time.monotonic,
                rng=self.rng,
                cancelled=_cancelled(cancel),
                window_end=end,
            )

        return loop.wait(
            poll,
            wait_seconds=wait_seconds,
            interval=interval,
            deadline=hard,
            clock=time.monotonic,
            cancelled=_cancelled(cancel),
        )

    def describe(self, cls_name: str) -> str:
        return f"{cls_name}(agent_id={self.agent_id!r}, base_url={self.base_url!r})"


def _cancelled(cancel: threading.Event | None) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    return cancel.is_set


def _check_wait_args(timeout: object, poll_interval: object) -> tuple[float, float]:
    wait = _check_non_negative(timeout, "timeout")
    interval = _check_non_negative(poll_interval, "poll_interval")
    if interval < MIN_POLL_INTERVAL:
        raise ValidationError(
            f"poll_interval must be at least {MIN_POLL_INTERVAL:g} s (API courtesy), "
            f"got {poll_interval!r}",
            field="poll_interval",
        )
    return wait, interval


def _check_deadline(deadline: object) -> float | None:
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)):
        raise ValidationError(
            f"deadline must be a time.monotonic() value, got {deadline!r}", field="deadline"
        )
    if math.isnan(deadline):
        raise ValidationError("deadline must not be NaN", field="deadline")
    return float(deadline)


_Client = TypeVar("_Client", bound="ClientFacade")


class ClientFacade:
    """Construction, cloning and description shared by the sync and async clients.

    Arguments left as None come from ``settings`` when given, else from the
    ``INFINIUM_*`` environment. ``backoff_base`` is the first retry delay in
    seconds; ``ca_bundle`` a CA file for TLS verification.
    """

    def __init__(
        self,
        agent_id: str | None = None,
        agent_secret: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        *,
        allow_insecure_http: bool | None = None,
        settings: Settings | None = None,
        backoff_base: float = 1.0,
        ca_bundle: str | os.PathLike[str] | None = None,
    ) -> None:
        overrides = {
            "agent_id": agent_id,
            "agent_secret": agent_secret,
            "base_url": base_url,
            "timeout": timeout,
            "max_retries": max_retries,
            "allow_insecure_http": allow_insecure_http,
        }
        del agent_secret  # never a local of a frame that raises
        try:
            resolved = resolve_settings(settings, overrides)
            self._core = ClientCore(resolved, backoff_base=backoff_base, ca_bundle=ca_bundle)
        except InfiniumError as error:
            # Raised afresh from this frame: the frames below held the secret as a local.
            del overrides
            raise error.with_traceback(None) from error.__cause__

    @classmethod
    def from_settings(cls: type[_Client], settings: Settings, **kwargs: Any) -> _Client:
        """A client for ``settings`` (keyword arguments as for the constructor)."""
        return cls(settings=settings, **kwargs)

    def clone(self: _Client) -> _Client:
        """A new client with the same settings and its own session (e.g. after fork)."""
        return type(self)(
            settings=self._core.settings,
            backoff_base=self._core.backoff_base,
            ca_bundle=self._core.ca_bundle,
        )

    @property
    def settings(self) -> Settings:
        return self._core.settings

    @property
    def agent_id(self) -> str:
        return self._core.agent_id

    @property
    def base_url(self) -> str:
        return self._core.base_url

    @property
    def closed(self) -> bool:
        return self._core.transport.closed

    def __repr__(self) -> str:
        core: ClientCore | None = getattr(self, "_core", None)  # None while construction fails
        if core is None:
            return f"{type(self).__name__}(not configured)"
        return core.describe(type(self).__name__)

    __str__ = __repr__
