"""What the sync and async clients share: settings, validation, requests to make.

Everything here is free of waiting; the two clients differ only in how they
run one attempt and how they sleep between attempts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from infinium_otel.client import transport
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.retry import RetryPolicy
from infinium_otel.errors import (
    ConfigurationError,
    InfiniumError,
    InfiniumTimeoutError,
    ValidationError,
)
from infinium_otel.settings import MIN_POLL_INTERVAL, Settings

__all__ = [
    "ClientCore",
    "ClientFacade",
    "deadline_passed",
    "earliest",
    "not_ready",
    "resolve_settings",
]

logger = logging.getLogger("infinium_otel.client")


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
        agent_id, secret = settings.require_credentials()
        self.settings = settings
        self.agent_id = agent_id
        self.base_url = settings.base_url
        self.timeout = settings.timeout
        self.backoff_base = _check_non_negative(backoff_base, "backoff_base")
        self.ca_bundle = os.fspath(ca_bundle) if ca_bundle is not None else None
        if self.ca_bundle is not None and not os.path.isfile(self.ca_bundle):
            raise ConfigurationError(
                f"ca_bundle {self.ca_bundle!r} is not a readable file", config_key="ca_bundle"
            )
        self.rng = rng or random.Random()
        self.transport = transport.Transport(
            base_url=self.base_url,
            agent_id=agent_id,
            secret=secret.reveal(),
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
        return RetryPolicy(max_retries=retries, backoff_base=self.backoff_base)

    # Requests -------------------------------------------------------------------

    def trace_request_from_payload(self, payload: Mapping[str, Any]) -> transport.Request:
        return self.trace_request(transport.encode_payload(payload))

    def trace_request(self, body: bytes) -> transport.Request:
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise ValidationError(f"body must be bytes, got {type(body).__name__}", field="body")
        data = bytes(body)
        transport.check_payload_size(data)
        return transport.Request("POST", f"/agents/{self.agent_id}/trace", data, transport.TRACE)

    def interpretation_request(self, trace_id: str, field: str = "task_id") -> transport.Request:
        safe = transport.validate_path_id(trace_id, field)
        return transport.Request(
            "GET",
            f"/agents/{self.agent_id}/interpreted-result/{safe}",
            None,
            transport.INTERPRETATION,
        )

    def credentials_request(self) -> transport.Request:
        probe = str(uuid.uuid4())
        return transport.Request(
            "GET",
            f"/agents/{self.agent_id}/interpreted-result/{probe}",
            None,
            transport.CREDENTIALS,
        )

    # Waiting --------------------------------------------------------------------

    @staticmethod
    def check_wait_args(timeout: object, poll_interval: object) -> tuple[float, float]:
        wait = _check_non_negative(timeout, "timeout")
        interval = _check_non_negative(poll_interval, "poll_interval")
        if interval < MIN_POLL_INTERVAL:
            raise ValidationError(
                f"poll_interval must be at least {MIN_POLL_INTERVAL:g} s (API courtesy), "
                f"got {poll_interval!r}",
                field="poll_interval",
            )
        return wait, interval

    @staticmethod
    def check_deadline(deadline: object) -> float | None:
        if deadline is None:
            return None
        if isinstance(deadline, bool) or not isinstance(deadline, (int, float)):
            raise ValidationError(
                f"deadline must be a time.monotonic() value, got {deadline!r}", field="deadline"
            )
        if math.isnan(deadline):
            raise ValidationError("deadline must not be NaN", field="deadline")
        return float(deadline)

    @staticmethod
    def gave_up_on_window(error: InfiniumError) -> bool:
        """True when a poll's retries stopped because the wait's time ran out or was cancelled."""
        return error.details.get("gave_up") in ("deadline", "cancelled")

    @staticmethod
    def failed_poll_response(error: InfiniumError, waited: float) -> ApiResponse:
        return ApiResponse(
            False,
            error.status_code,
            f"interpretation not ready after {waited:g} s; the last poll failed: {error.message}",
            None,
        )

    def describe(self, cls_name: str) -> str:
        return f"{cls_name}(agent_id={self.agent_id!r}, base_url={self.base_url!r})"


def earliest(*moments: float | None) -> float | None:
    """The earliest of the given monotonic moments (None when none is given)."""
    given = [moment for moment in moments if moment is not None]
    return min(given) if given else None


def deadline_passed(request: transport.Request) -> InfiniumTimeoutError:
    """The error for a call whose deadline left no time for an attempt."""
    error = InfiniumTimeoutError(
        f"{request.method} {request.path}: the deadline passed before the request was made",
        timeout_duration=0.0,
    )
    error.details["gave_up"] = "deadline"
    return error


def not_ready(last: ApiResponse, reason: str) -> ApiResponse:
    """The last poll's answer, marked as the end of a wait without a result."""
    return dataclasses.replace(last, success=False, message=f"{reason}: {last.message}")


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
        resolved = resolve_settings(
            settings,
            {
                "agent_id": agent_id,
                "agent_secret": agent_secret,
                "base_url": base_url,
                "timeout": timeout,
                "max_retries": max_retries,
                "allow_insecure_http": allow_insecure_http,
            },
        )
        self._core = ClientCore(resolved, backoff_base=backoff_base, ca_bundle=ca_bundle)

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
        return self._core.describe(type(self).__name__)

    __str__ = __repr__
