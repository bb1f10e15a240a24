"""One ``Settings`` object: keyword arguments > ``INFINIUM_*`` environment > defaults.

Each setting is declared once, as a dataclass field that carries its
environment variable and its parser (with the parser's bounds), so the loader
is a loop over that table and a new setting cannot forget its variable or its
check. Every value is checked once, here, when the settings are built, so a
bad value is a ``ConfigurationError`` naming the variable at construction time
rather than a failure deep inside a background thread.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from infinium_otel.credentials import Secret, is_valid_uuid
from infinium_otel.errors import ConfigurationError
from infinium_otel.routing import RoutingTable, load_routes

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SPOOL_MAX_BYTES",
    "DEFAULT_SPOOL_MAX_FILES",
    "HISTORY_ENV",
    "INTERPRETATION_SINKS",
    "InterpretationChoice",
    "Setting",
    "Settings",
    "check_base_url",
    "default_history_path",
    "is_loopback_host",
    "parse_history_setting",
]

DEFAULT_BASE_URL = "https://platform.i42m.ai/api/v1"
INTERPRETATION_SINKS = frozenset({"log", "span_event"})
MIN_POLL_INTERVAL = 1.0
DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_SPOOL_MAX_FILES = 10_000
# Sends in flight at once; within the HTTP connection pool's 10 (with room for polls).
MAX_CONCURRENT_SENDS = 8

# What ``interpretation=`` may be, short of a processor object: ``None`` follows the
# setting, ``True`` means the setting or else ``log``, ``False`` off, else sink names.
InterpretationChoice = bool | str | Iterable[str] | None

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


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


# -- parsers: raw value (keyword or variable text) -> checked value ----------------
#
# Each is called as ``parser(raw, key, parsed)``: ``key`` is the keyword or the
# variable the value came from (errors name it), ``parsed`` the settings checked
# so far (only ``BaseUrl`` looks at it).

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclasses.dataclass(frozen=True)
class Flag:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case), or a bool."""

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigurationError(f"{key} must be true or false, got {raw!r}", config_key=key)


@dataclasses.dataclass(frozen=True)
class Number:
    """A finite number within ``[minimum, maximum]``."""

    minimum: float
    maximum: float

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> float:
        if isinstance(raw, bool):
            raise ConfigurationError(f"{key} must be a number, got {raw!r}", config_key=key)
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{key} must be a number, got {raw!r}", config_key=key
            ) from None
        if not math.isfinite(value) or value < self.minimum or value > self.maximum:
            raise ConfigurationError(
                f"{key} must be between {self.minimum:g} and {self.maximum:g}, got {raw!r}",
                config_key=key,
            )
        return value


@dataclasses.dataclass(frozen=True)
class Whole:
    """A whole number at least ``minimum`` (and at most ``maximum`` when there is one)."""

    minimum: int
    maximum: int | None = None

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> int:
        if isinstance(raw, bool):
            raise ConfigurationError(f"{key} must be a whole number, got {raw!r}", config_key=key)
        try:
            value = raw if isinstance(raw, int) else int(str(raw).strip())
        except ValueError:
            raise ConfigurationError(
                f"{key} must be a whole number, got {raw!r}", config_key=key
            ) from None
        return _within(value, raw, key, self.minimum, self.maximum)


@dataclasses.dataclass(frozen=True)
class ByteSize:
    """Bytes from ``1048576``, ``512k``, ``256MiB`` or ``1G`` (binary units), or an int."""

    minimum: int = 1

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> int:
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ConfigurationError(
                f"{key} must be a byte count such as 268435456, 512k or 256MiB; got {raw!r}",
                config_key=key,
            )
        value = raw if isinstance(raw, int) else parse_size(raw, key)
        return _within(value, raw, key, self.minimum, None)


@dataclasses.dataclass(frozen=True)
class AgentId:
    """A UUID: it goes into URL paths, so nothing else is accepted."""

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> str:
        if not isinstance(raw, str):
            raise ConfigurationError(
                f"{key} must be a string, got {type(raw).__name__}", config_key=key
            )
        agent_id = raw.strip()
        if not is_valid_uuid(agent_id):
            raise ConfigurationError(f"{key} must be a UUID (8-4-4-4-12 hex)", config_key=key)
        return agent_id


@dataclasses.dataclass(frozen=True)
class SecretText:
    """At least 8 characters, kept in a ``Secret``; errors never quote it."""

    minimum_length: int = 8

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> Secret:
        if not isinstance(raw, (str, Secret)):
            raise ConfigurationError(
                f"{key} must be a string, got {type(raw).__name__}", config_key=key
            )
        secret = (raw.reveal() if isinstance(raw, Secret) else raw).strip()
        if len(secret) < self.minimum_length:
            raise ConfigurationError(
                f"{key} must be at least {self.minimum_length} characters", config_key=key
            )
        return Secret(secret)


@dataclasses.dataclass(frozen=True)
class BaseUrl:
    """An http(s) URL; plain http only to loopback unless ``allow_insecure_http``."""

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> str:
        if not isinstance(raw, str):
            raise ConfigurationError(
                f"{key} must be an http(s) URL with a host, got {type(raw).__name__}",
                config_key=key,
            )
        insecure = bool(parsed.get("allow_insecure_http", False))
        return check_base_url(raw, allow_insecure_http=insecure, key=key)


@dataclasses.dataclass(frozen=True)
class Sinks:
    """``off`` or a comma list (or an iterable) of interpretation sink names."""

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> frozenset[str]:
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
                f"{key} must be 'off' or a comma list of log, span_event; got {raw!r}",
                config_key=key,
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
class PathText:
    """A filesystem path (text or ``os.PathLike``)."""

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> str:
        if not isinstance(raw, (str, os.PathLike)):
            raise ConfigurationError(
                f"{key} must be a path, got {type(raw).__name__}", config_key=key
            )
        return str(os.fspath(raw))


@dataclasses.dataclass(frozen=True)
class Routes:
    """A routing table: a path to its JSON file, a dict or the list (see ``routing.py``)."""

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> RoutingTable:
        return load_routes(raw, key)


HISTORY_ENV = "INFINIUM_HISTORY"


def default_history_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/infinium-otel/history.jsonl``, or under ``~/.cache``."""
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "infinium-otel" / "history.jsonl"


def parse_history_setting(
    raw: object, key: str = HISTORY_ENV, environ: Mapping[str, str] | None = None
) -> str | None:
    """The history file for a setting value: None (off), a boolean, or a path.

    ``true``/``1``/``yes``/``on`` mean the default path; ``false``/``off``/empty
    mean no history; anything else is a file path (``~`` expanded, made
    absolute). An existing directory gets ``history.jsonl`` inside it.
    """
    if raw is None or raw is False:
        return None
    if raw is True:
        return str(default_history_path(environ))
    if isinstance(raw, os.PathLike):
        raw = os.fspath(raw)
    if not isinstance(raw, str):
        raise ConfigurationError(
            f"{key} must be true, false or a file path, got {type(raw).__name__}",
            config_key=key,
        )
    text = raw.strip()
    if text.lower() in _FALSE:
        return None
    if text.lower() in _TRUE:
        return str(default_history_path(environ))
    if "\x00" in text:
        raise ConfigurationError(f"{key} is not a usable file path", config_key=key)
    path = Path(os.path.abspath(os.path.expanduser(text)))
    if path.is_dir():
        path = path / "history.jsonl"
    return str(path)


@dataclasses.dataclass(frozen=True)
class HistoryFile:
    """``true`` for the default file in the user's cache folder, ``false`` for none, or a path."""

    def __call__(self, raw: object, key: str, parsed: Mapping[str, Any]) -> str | None:
        return parse_history_setting(raw, key)


def parse_size(value: str, key: str) -> int:
    """Bytes from ``"1048576"``, ``"512k"``, ``"256MiB"`` or ``"1G"`` (binary units)."""
    match = _SIZE.match(value)
    if match is None:
        raise ConfigurationError(
            f"{key} must be a byte count such as 268435456, 512k or 256MiB; got {value!r}",
            config_key=key,
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _within(value: int, raw: object, key: str, minimum: int, maximum: int | None) -> int:
    if maximum is None:
        if value < minimum:
            raise ConfigurationError(
                f"{key} must be at least {minimum}, got {raw!r}", config_key=key
            )
    elif value < minimum or value > maximum:
        raise ConfigurationError(
            f"{key} must be between {minimum} and {maximum}, got {raw!r}", config_key=key
        )
    return value


Parser = Callable[[object, str, Mapping[str, Any]], Any]


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting's declaration: its variable, its parser and what the parser reads."""

    env: str
    parse: Parser
    after: tuple[str, ...] = ()  # settings whose checked values ``parse`` looks at


def declare(env: str, parse: Parser, *, after: tuple[str, ...] = ()) -> dict[str, Setting]:
    """A field's metadata declaring it a setting read from ``env`` by ``parse``."""
    return {"setting": Setting(env, parse, after)}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the exporter, client and poller need, validated.

    Every field is a setting: its keyword is the field name, its variable and
    parser are in the field's declaration (see ``Settings.declared()``).
    """

    agent_id: str | None = field(default=None, metadata=declare("INFINIUM_AGENT_ID", AgentId()))
    agent_secret: Secret | None = field(
        default=None, repr=False, metadata=declare("INFINIUM_AGENT_SECRET", SecretText())
    )
    base_url: str = field(
        default=DEFAULT_BASE_URL,
        metadata=declare("INFINIUM_BASE_URL", BaseUrl(), after=("allow_insecure_http",)),
    )
    timeout: float = field(default=30.0, metadata=declare("INFINIUM_TIMEOUT", Number(0.001, 3600)))
    max_retries: int = field(default=3, metadata=declare("INFINIUM_MAX_RETRIES", Whole(0, 100)))
    interpretation: frozenset[str] = field(
        default=frozenset(), metadata=declare("INFINIUM_INTERPRETATION", Sinks())
    )
    poll_interval: float = field(
        default=3.0, metadata=declare("INFINIUM_POLL_INTERVAL", Number(MIN_POLL_INTERVAL, 3600))
    )
    poll_timeout: float = field(
        default=120.0, metadata=declare("INFINIUM_POLL_TIMEOUT", Number(0.0, 86_400))
    )
    capture_content: bool = field(
        default=True, metadata=declare("INFINIUM_CAPTURE_CONTENT", Flag())
    )
    spool_dir: str | None = field(default=None, metadata=declare("INFINIUM_SPOOL_DIR", PathText()))
    spool_max_bytes: int = field(
        default=DEFAULT_SPOOL_MAX_BYTES, metadata=declare("INFINIUM_SPOOL_MAX_BYTES", ByteSize())
    )
    spool_max_files: int = field(
        default=DEFAULT_SPOOL_MAX_FILES, metadata=declare("INFINIUM_SPOOL_MAX_FILES", Whole(1))
    )
    disabled: bool = field(default=False, metadata=declare("INFINIUM_DISABLED", Flag()))
    allow_insecure_http: bool = field(
        default=False, metadata=declare("INFINIUM_ALLOW_INSECURE_HTTP", Flag())
    )
    history: str | None = field(default=None, metadata=declare("INFINIUM_HISTORY", HistoryFile()))
    wait_at_exit: float = field(
        default=0.0, metadata=declare("INFINIUM_WAIT_AT_EXIT", Number(0.0, 3600))
    )
    routes: RoutingTable | None = field(default=None, metadata=declare("INFINIUM_ROUTES", Routes()))
    # Exporter bounds (keyword or environment; rarely changed).
    max_buffered_spans: int = field(
        default=100_000, metadata=declare("INFINIUM_MAX_BUFFERED_SPANS", Whole(1, 10_000_000))
    )
    max_spans_per_run: int = field(
        default=10_000, metadata=declare("INFINIUM_MAX_SPANS_PER_RUN", Whole(1, 1_000_000))
    )
    run_ttl: float = field(default=300.0, metadata=declare("INFINIUM_RUN_TTL", Number(0.1, 86_400)))
    max_queued_payloads: int = field(
        default=1_000, metadata=declare("INFINIUM_MAX_QUEUED_PAYLOADS", Whole(1, 1_000_000))
    )
    # Payloads sent at once by the delivery worker (1: one at a time, in order).
    max_concurrent_sends: int = field(
        default=1,
        metadata=declare("INFINIUM_MAX_CONCURRENT_SENDS", Whole(1, MAX_CONCURRENT_SENDS)),
    )

    # Names of the settings given by keyword or environment (not defaults); set by
    # ``load``. Not a field: it is how a value was chosen, not a value.
    _given: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.name != "agent_secret"
        )
        secret = "set" if self.agent_secret is not None else "unset"
        return f"Settings({shown}, agent_secret=<{secret}>)"

    @classmethod
    def declared(cls) -> dict[str, Setting]:
        """Every setting's declaration by keyword name, in declaration order."""
        return {f.name: f.metadata["setting"] for f in dataclasses.fields(cls)}

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from keyword overrides, then ``environ`` (``os.environ``), then defaults.

        Keyword arguments whose value is ``None`` count as not given, and so do
        empty variables.
        """
        env = os.environ if environ is None else environ
        table = cls.declared()
        unknown = sorted(set(overrides) - set(table))
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s): {', '.join(unknown)}", config_key=unknown[0]
            )
        values: dict[str, Any] = {}
        for name, spec in _in_parse_order(table):
            found = _raw_value(name, spec, overrides, env)
            if found is not None:
                raw, key = found
                values[name] = spec.parse(raw, key, values)
        settings = cls(**values)
        object.__setattr__(settings, "_given", frozenset(values))
        return settings

    @classmethod
    def resolve(
        cls, name: str, environ: Mapping[str, str] | None = None, given: object = None
    ) -> Any:
        """One setting alone: ``given`` (unless None), else its variable, else its default."""
        spec = cls.declared()[name]
        env = os.environ if environ is None else environ
        found = _raw_value(name, spec, {name: given}, env)
        if found is None:
            return _default_of(cls, name)
        raw, key = found
        return spec.parse(raw, key, {})

    def override(self, **overrides: Any) -> Settings:
        """These settings with the non-None ``overrides`` on top, checked like ``load``."""
        given = {name: value for name, value in overrides.items() if value is not None}
        if not given:
            return self
        base = {
            name: getattr(self, name)
            for name in self.declared()
            if name not in given and getattr(self, name) is not None
        }
        merged = type(self).load({}, **base, **given)
        object.__setattr__(merged, "_given", self.given | frozenset(given))
        return merged

    @property
    def given(self) -> frozenset[str]:
        """Names of the settings chosen by keyword or environment rather than defaulted."""
        return self._given

    @property
    def content_capture_choice(self) -> bool | None:
        """``capture_content`` when chosen explicitly, else None (leave it to OTel's variable)."""
        return self.capture_content if "capture_content" in self.given else None

    def interpretation_sinks(self, option: InterpretationChoice) -> frozenset[str]:
        """The sinks an ``interpretation=`` option means, given these settings.

        ``None`` follows ``INFINIUM_INTERPRETATION``; ``True`` means that or else
        ``log``; ``False`` is off; a string or list names the sinks.
        """
        if option is None:
            return self.interpretation
        if option is True:
            return self.interpretation or frozenset({"log"})
        if option is False:
            return frozenset()
        parsed: frozenset[str] = Sinks()(option, "interpretation", {})
        return parsed

    def differences(self, other: Settings) -> list[str]:
        """Names of the settings whose values differ between ``self`` and ``other``."""
        return [name for name in self.declared() if getattr(self, name) != getattr(other, name)]

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


def _in_parse_order(table: Mapping[str, Setting]) -> list[tuple[str, Setting]]:
    """Declaration order, except that a setting comes after those its parser reads."""
    independent = [(name, spec) for name, spec in table.items() if not spec.after]
    dependent = [(name, spec) for name, spec in table.items() if spec.after]
    return independent + dependent


def _raw_value(
    name: str, spec: Setting, overrides: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[object, str] | None:
    """The raw value and the key it came from (keyword name or variable), or None."""
    if overrides.get(name) is not None:
        return overrides[name], name
    text = env.get(spec.env)
    if text is not None and text != "":
        return text, spec.env
    return None


def _default_of(cls: type[Settings], name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)
