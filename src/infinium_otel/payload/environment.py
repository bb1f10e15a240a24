"""The ``environment`` object: framework from instrumentation scopes, tags from the resource."""

from __future__ import annotations

import dataclasses
import functools
import platform
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from infinium_otel.conventions import names
from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.values import text
from infinium_otel.payload.encode import SHORT_TEXT_MAX, cap
from infinium_otel.payload.order import plain_text, plain_value
from infinium_otel.payload.shown import shown_text

__all__ = ["conversation_tags", "environment", "framework_of"]

PYTHON_VERSION = platform.python_version()

# Instrumentation scope name prefixes -> framework (most specific first).
_SCOPES: tuple[tuple[str, str | None], ...] = (
    ("opentelemetry.instrumentation.openai_v2", "openai"),
    ("opentelemetry.instrumentation.openai_agents", "openai-agents"),
    ("opentelemetry.instrumentation.openai", "openai"),
    ("opentelemetry.instrumentation.anthropic", "anthropic"),
    ("opentelemetry.instrumentation.google_genai", "google-genai"),
    ("opentelemetry.instrumentation.vertexai", "vertexai"),
    ("opentelemetry.instrumentation.bedrock", "bedrock"),
    ("opentelemetry.instrumentation.langchain", "langchain"),
    ("opentelemetry.instrumentation.crewai", "crewai"),
    ("opentelemetry.instrumentation.llamaindex", "llamaindex"),
    ("opentelemetry.instrumentation.mcp", "mcp"),
    ("openinference.instrumentation.langchain", "langchain"),
    ("openinference.instrumentation.crewai", "crewai"),
    ("openinference.instrumentation.openai_agents", "openai-agents"),
    ("openinference.instrumentation.llama_index", "llamaindex"),
    ("openinference.instrumentation.dspy", "dspy"),
    ("openinference.instrumentation.smolagents", "smolagents"),
    ("openinference.instrumentation", "openinference"),
    ("pydantic-ai", "pydantic-ai"),
    ("pydantic_ai", "pydantic-ai"),
    ("strands", "strands"),
    ("smolagents", "smolagents"),
    ("infinium_otel.instrumentation.openai", "openai"),
    ("infinium_otel.instrumentation.anthropic", "anthropic"),
    ("infinium_otel.instrumentation.google_genai", "google-genai"),
    ("infinium_otel", None),
    # The shared GenAI helper (openai-v2 with the latest conventions): the provider tells.
    ("opentelemetry.util.genai", "<provider>"),
    ("traceloop", "traceloop"),
)
_BY_PROVIDER = "<provider>"
_AGENT_FRAMEWORKS = frozenset(
    {
        "langchain",
        "crewai",
        "openai-agents",
        "llamaindex",
        "dspy",
        "smolagents",
        "pydantic-ai",
        "strands",
    }
)
_CONVERSATION_TAG = names.GEN_AI_CONVERSATION_ID
_SESSION_TAG = names.SESSION_ID
_USER_TAG = names.USER_ID
_RESOURCE_TAGS = (
    "service.name",
    "service.version",
    "service.namespace",
    "deployment.environment.name",
    "deployment.environment",
)


@functools.lru_cache(maxsize=256)
def _framework(scope_name: str) -> tuple[str | None, bool]:
    """(framework, recognised) for one instrumentation scope name."""
    for prefix, framework in _SCOPES:
        if scope_name.startswith(prefix):
            return framework, True
    lowered = scope_name.lower()
    for framework in _AGENT_FRAMEWORKS:
        if framework.replace("-", "_") in lowered or framework in lowered:
            return framework, True
    return scope_name, False


def framework_of(spans: Iterable[SpanFacts]) -> tuple[str | None, str | None]:
    """(framework, version): an agent framework if any span has one, else the first recognised
    scope, else the first scope name as it is."""
    known: tuple[str | None, str | None] = (None, None)
    raw: tuple[str | None, str | None] = (None, None)
    # A span of the scope of the span before it changes nothing (what that scope tells was
    # taken at its first span), unless the provider tells the framework.
    seen: Any = None
    for facts in spans:
        scope_name = facts.scope_name
        if not scope_name or scope_name == seen:
            continue
        framework, recognised = _framework(scope_name)
        version = facts.scope_version
        if framework == _BY_PROVIDER:
            # The helper's version is not the instrumentation's: leave it out.
            provider = facts.provider
            framework, version = (provider.lower() if provider else None), None
            seen = None
        else:
            seen = scope_name
        if framework in _AGENT_FRAMEWORKS:
            return framework, version
        if recognised and framework is not None and known[0] is None:
            known = (framework, version)
        elif not recognised and raw[0] is None:
            raw = (framework, version)
    return known if known[0] is not None else raw


def conversation_tags(spans: Iterable[SpanFacts]) -> dict[str, str]:
    """The run's conversation, session and user ids (the first span that has each, root first),
    so the runs of one conversation can be found together."""
    found: dict[str, str] = {}
    for facts in spans:
        if not (facts.conversation_id or facts.session_id or facts.user_id):
            continue
        for key, value in (
            (_CONVERSATION_TAG, facts.conversation_id),
            (_SESSION_TAG, facts.session_id),
            (_USER_TAG, facts.user_id),
        ):
            if value and key not in found:
                found[key] = cap(value, SHORT_TEXT_MAX)
        if len(found) == 3:
            break
    return found


def _runtime(resource: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(runtime, python_version, other runtime's version) of the process that made the run.

    A run exported in-process is this Python's; one received by the gateway from a Node.js,
    Java or Go service says so in its resource (``telemetry.sdk.language``), and is not
    given this process's Python version.
    """
    language = text(resource.get("telemetry.sdk.language"))
    version = text(resource.get("process.runtime.version"))
    if language is None or language.lower() == "python":
        return (
            "python",
            plain_text(cap(version, SHORT_TEXT_MAX)) if version else PYTHON_VERSION,
            None,
        )
    name = text(resource.get("process.runtime.name")) or language
    other = plain_text(cap(version, SHORT_TEXT_MAX)) if version else None
    return plain_text(cap(name, SHORT_TEXT_MAX)), None, other


@dataclasses.dataclass(frozen=True, slots=True)
class _FromResource:
    """What a run's environment takes from its resource, shown as the payload shows it."""

    tags: tuple[tuple[str, str], ...]
    runtime: str
    python_version: str | None
    runtime_version: str | None
    region: str | None


def _from_resource(resource: Mapping[str, Any]) -> _FromResource:
    tags: list[tuple[str, str]] = []
    for key in _RESOURCE_TAGS:
        value = text(resource.get(key))
        if value:
            tags.append((key, plain_text(cap(value, SHORT_TEXT_MAX))))
    runtime, python_version, runtime_version = _runtime(resource)
    region = text(resource.get("cloud.region"))
    return _FromResource(
        tuple(tags),
        runtime,
        python_version,
        runtime_version,
        plain_text(region) if region is not None else None,
    )


# Every resource attribute the environment reads: their values are the cache's key, so an
# entry can only ever be found by a resource that would give the same section.
_READ_KEYS = (
    *_RESOURCE_TAGS,
    "telemetry.sdk.language",
    "process.runtime.version",
    "process.runtime.name",
    "cloud.region",
)
_KEY_TYPES = frozenset({str, type(None)})
_STR_ONLY = frozenset({str})
_CACHE_MAX = 64
_cache: dict[tuple[str | None, ...], _FromResource] = {}
_cache_lock = threading.Lock()


def from_resource(resource: Mapping[str, Any]) -> _FromResource:
    """The resource's part of the environment, worked out once per distinct set of values.

    Keyed by the values read (only when each is a plain ``str`` or absent, whose equality is
    identity of meaning), never by the resource object: a changed or another resource with
    other values misses. Bounded: emptied when full (the gateway's resources are few).
    """
    values = tuple(map(resource.get, _READ_KEYS))
    found = _cache.get(values)
    if found is None:
        found = _from_resource(resource)
        if not _KEY_TYPES.issuperset(map(type, values)):
            # Not kept: ``True == 1 == 1.0`` would share an entry that each shows its own way.
            # A key of str and None is never equal to a tuple holding another attribute type
            # (number, bool, bytes, sequence), so a hit needs no type check.
            return found
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[values] = found
    return found


def environment(
    spans: Iterable[SpanFacts],
    resource: Mapping[str, Any],
    sdk_version: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    if type(spans) is not list:
        spans = list(spans)
    framework, version = framework_of(spans)
    for key, ident in conversation_tags(spans).items():
        tags.setdefault(key, ident)
    known = from_resource(resource)
    for key, value in known.tags:
        tags[key] = value
    # Contract key order, without empty values.
    found: dict[str, Any] = {}
    if framework:
        found["framework"] = shown_text(framework, SHORT_TEXT_MAX)
    if version:
        if type(version) is not str or len(version) > SHORT_TEXT_MAX:
            version = plain_value(cap(version, SHORT_TEXT_MAX))
        if version is not None:
            found["framework_version"] = version
    if known.runtime_version is not None:
        tags.setdefault("process.runtime.version", known.runtime_version)
    if known.python_version is not None:
        found["python_version"] = known.python_version
    found["sdk_version"] = f"infinium-otel {sdk_version}"
    found["runtime"] = known.runtime
    if known.region is not None:
        found["region"] = known.region
    if _STR_ONLY.issuperset(map(type, tags.values())):
        found["custom_tags"] = dict(tags)  # nearly always: every value a plain str already
    else:
        found["custom_tags"] = {
            key: value if type(value) is str else plain_text(value) for key, value in tags.items()
        }
    return found
