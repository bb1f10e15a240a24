"""One ``Settings`` object: keyword arguments > ``INFINIUM_*`` environment > defaults.

Every value is checked once, here, when the settings are built, so a bad value
is a ``ConfigurationError`` naming the variable at construction time rather
than a failure deep inside a background thread.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from infinium_otel.errors import ConfigurationError

__all__ = [
    "DEFAULT_BASE_URL",
    "INTERPRETATION_SINKS",
    "Secret",
    "Settings",
    "check_base_url",
    "is_loopback_host",
    "is_valid_uuid",
]

DEFAULT_BASE_URL = "https://platform.i42m.ai/api/v1"
INTERPRETATION_SINKS = frozenset({"log", "span_event"})
MIN_POLL_INTERVAL = 1.0

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class Secret:
    """Holds the agent secret so that no repr, str or format can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it: the request header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret cannot be pickled")


def is_valid_uuid(value: str) -> bool:
    """True for an ``8-4-4-4-12`` hex id (no path characters can hide in one)."""
    return bool(_UUID_RE.match(value))


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and any 127.0.0.0/8 or ::1 address."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, allow_insecure_http: bool, key: str = "INFINIUM_BASE_URL") -> str:
    """Normalise the base URL; plain http is refused off loopback unless allowed."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{key} must be an http(s) URL with a host, got {url!r}", config_key=key
        )
    if parts.username or parts.password:
        raise ConfigurationError(f"{key} must not carry credentials", config_key=key)
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{key} must not have a query or fragment", config_key=key)
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"{key} uses plain http to a non-loopback host ({parts.hostname}); use https, "
            "or set INFINIUM_ALLOW_INSECURE_HTTP=true if you really mean it",
            config_key=key,
        )
    return url.strip().rstrip("/")


def _parse_bool(raw: object, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{key} must be true or false, got {raw!r}", config_key=key)


def _parse_float(raw: object, key: str, *, minimum: float, maximum: float = math.inf) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be a number, got {raw!r}", config_key=key) from None
    if not math.isfinite(value) or value < minimum or value > maximum:
        raise ConfigurationError(
            f"{key} must be between {minimum:g} and {maximum:g}, got {raw!r}", config_key=key
        )
    return value


def _parse_int(raw: object, key: str, *, minimum: int, maximum: int) -> int:
    if isinstance(raw, bool):
        raise ConfigurationError(f"{key} must be a whole number, got {raw!r}", config_key=key)
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        raise ConfigurationError(
            f"{key} must be a whole number, got {raw!r}", config_key=key
        ) from None
    if value < minimum or value > maximum:
        raise ConfigurationError(
            f"{key} must be between {minimum} and {maximum}, got {raw!r}", config_key=key
        )
    return value


def _parse_sinks(raw: object, key: str) -> frozenset[str]:
    if isinstance(raw, bool):
        return frozenset({"log"}) if raw else frozenset()
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in ("", "off", "none", "false", "0"):
            return frozenset()
        names: Iterable[str] = (part.strip() for part in text.split(","))
    elif isinstance(raw, Iterable):
        names = (str(part).strip().lower() for part in raw)
    else:
        raise ConfigurationError(
            f"{key} must be 'off' or a comma list of log, span_event; got {raw!r}", config_key=key
        )
    sinks = frozenset(name for name in names if name)
    unknown = sinks - INTERPRETATION_SINKS
    if unknown:
        raise ConfigurationError(
            f"{key} has unknown sink(s) {sorted(unknown)}; use 'off' or any of log, span_event",
            config_key=key,
        )
    return sinks


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the exporter, client and poller need, validated."""

    agent_id: str | None = None
    agent_secret: Secret | None = dataclasses.field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 30.0
    max_retries: int = 3
    interpretation: frozenset[str] = frozenset()
    poll_interval: float = 3.0
    poll_timeout: float = 120.0
    capture_content: bool = True
    spool_dir: str | None = None
    disabled: bool = False
    allow_insecure_http: bool = False
    # Exporter bounds (keyword or environment; rarely changed).
    max_buffered_spans: int = 100_000
    max_spans_per_run: int = 10_000
    run_ttl: float = 300.0
    max_queued_payloads: int = 1_000

    # name -> (environment variable, parser)
    _ENV = {
        "agent_id": "INFINIUM_AGENT_ID",
        "agent_secret": "INFINIUM_AGENT_SECRET",
        "base_url": "INFINIUM_BASE_URL",
        "timeout": "INFINIUM_TIMEOUT",
        "max_retries": "INFINIUM_MAX_RETRIES",
        "interpretation": "INFINIUM_INTERPRETATION",
        "poll_interval": "INFINIUM_POLL_INTERVAL",
        "poll_timeout": "INFINIUM_POLL_TIMEOUT",
        "capture_content": "INFINIUM_CAPTURE_CONTENT",
        "spool_dir": "INFINIUM_SPOOL_DIR",
        "disabled": "INFINIUM_DISABLED",
        "allow_insecure_http": "INFINIUM_ALLOW_INSECURE_HTTP",
        "max_buffered_spans": "INFINIUM_MAX_BUFFERED_SPANS",
        "max_spans_per_run": "INFINIUM_MAX_SPANS_PER_RUN",
        "run_ttl": "INFINIUM_RUN_TTL",
        "max_queued_payloads": "INFINIUM_MAX_QUEUED_PAYLOADS",
    }

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.name != "agent_secret"
        )
        secret = "set" if self.agent_secret is not None else "unset"
        return f"Settings({shown}, agent_secret=<{secret}>)"

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from keyword overrides, then ``environ`` (``os.environ``), then defaults.

        Keyword arguments whose value is ``None`` count as not given.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s): {', '.join(sorted(unknown))}",
                config_key=sorted(unknown)[0],
            )
        raw: dict[str, tuple[object, str]] = {}
        for name, var in cls._ENV.items():
            if overrides.get(name) is not None:
                raw[name] = (overrides[name], name)
            elif env.get(var) not in (None, ""):
                raw[name] = (env[var], var)
        return cls._from_raw(raw)

    @classmethod
    def _from_raw(cls, raw: Mapping[str, tuple[object, str]]) -> Settings:
        values: dict[str, Any] = {}

        def get(name: str) -> tuple[object, str] | None:
            return raw.get(name)

        if (item := get("disabled")) is not None:
            values["disabled"] = _parse_bool(*item)
        if (item := get("allow_insecure_http")) is not None:
            values["allow_insecure_http"] = _parse_bool(*item)
        if (item := get("capture_content")) is not None:
            values["capture_content"] = _parse_bool(*item)
        if (item := get("agent_id")) is not None:
            value, key = item
            if not isinstance(value, str):
                raise ConfigurationError(
                    f"{key} must be a string, got {type(value).__name__}", config_key=key
                )
            agent_id = value.strip()
            if not is_valid_uuid(agent_id):
                raise ConfigurationError(f"{key} must be a UUID (8-4-4-4-12 hex)", config_key=key)
            values["agent_id"] = agent_id
        if (item := get("agent_secret")) is not None:
            value, key = item
            if not isinstance(value, (str, Secret)):
                raise ConfigurationError(
                    f"{key} must be a string, got {type(value).__name__}", config_key=key
                )
            secret = value.reveal() if isinstance(value, Secret) else value
            if len(secret.strip()) < 8:
                raise ConfigurationError(f"{key} must be at least 8 characters", config_key=key)
            values["agent_secret"] = Secret(secret.strip())
        insecure = bool(values.get("allow_insecure_http", False))
        if (item := get("base_url")) is not None:
            value, key = item
            values["base_url"] = check_base_url(str(value), allow_insecure_http=insecure, key=key)
        if (item := get("timeout")) is not None:
            values["timeout"] = _parse_float(*item, minimum=0.001, maximum=3600)
        if (item := get("max_retries")) is not None:
            values["max_retries"] = _parse_int(*item, minimum=0, maximum=100)
        if (item := get("interpretation")) is not None:
            values["interpretation"] = _parse_sinks(*item)
        if (item := get("poll_interval")) is not None:
            values["poll_interval"] = _parse_float(*item, minimum=MIN_POLL_INTERVAL, maximum=3600)
        if (item := get("poll_timeout")) is not None:
            values["poll_timeout"] = _parse_float(*item, minimum=0.0, maximum=86_400)
        if (item := get("spool_dir")) is not None:
            values["spool_dir"] = os.fspath(item[0])  # type: ignore[call-overload]
        if (item := get("max_buffered_spans")) is not None:
            values["max_buffered_spans"] = _parse_int(*item, minimum=1, maximum=10_000_000)
        if (item := get("max_spans_per_run")) is not None:
            values["max_spans_per_run"] = _parse_int(*item, minimum=1, maximum=1_000_000)
        if (item := get("run_ttl")) is not None:
            values["run_ttl"] = _parse_float(*item, minimum=0.1, maximum=86_400)
        if (item := get("max_queued_payloads")) is not None:
            values["max_queued_payloads"] = _parse_int(*item, minimum=1, maximum=1_000_000)
        return cls(**values)

    def require_credentials(self) -> tuple[str, Secret]:
        """The agent id and secret, or a ConfigurationError naming what is missing."""
        if self.agent_id is None:
            raise ConfigurationError(
                "INFINIUM_AGENT_ID is not set (pass agent_id=... or set the variable)",
                config_key="INFINIUM_AGENT_ID",
            )
        if self.agent_secret is None:
            raise ConfigurationError(
                "INFINIUM_AGENT_SECRET is not set (pass agent_secret=... or set the variable)",
                config_key="INFINIUM_AGENT_SECRET",
            )
        return self.agent_id, self.agent_secret
