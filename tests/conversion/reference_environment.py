"""The environment section as it was worked out on every run, before the resource's part was
cached: what the cached one must equal, resource for resource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.values import text
from infinium_otel.payload.encode import SHORT_TEXT_MAX, cap
from infinium_otel.payload.environment import (
    PYTHON_VERSION,
    conversation_tags,
    framework_of,
)
from infinium_otel.payload.order import plain_text, plain_value

_RESOURCE_TAGS = (
    "service.name",
    "service.version",
    "service.namespace",
    "deployment.environment.name",
    "deployment.environment",
)


def _runtime(resource: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
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


def environment(
    spans: Iterable[SpanFacts],
    resource: Mapping[str, Any],
    sdk_version: str,
    tags: dict[str, str],
) -> dict[str, Any]:
    spans = list(spans)
    framework, version = framework_of(spans)
    for key, ident in conversation_tags(spans).items():
        tags.setdefault(key, ident)
    for key in _RESOURCE_TAGS:
        value = text(resource.get(key))
        if value:
            tags[key] = cap(value, SHORT_TEXT_MAX)
    found: dict[str, Any] = {}
    if framework:
        found["framework"] = plain_text(cap(framework, SHORT_TEXT_MAX))
    if version:
        version = plain_value(cap(version, SHORT_TEXT_MAX))
        if version is not None:
            found["framework_version"] = version
    runtime, python_version, runtime_version = _runtime(resource)
    if runtime_version is not None:
        tags.setdefault("process.runtime.version", runtime_version)
    if python_version is not None:
        found["python_version"] = python_version
    found["sdk_version"] = f"infinium-otel {sdk_version}"
    found["runtime"] = runtime
    region = text(resource.get("cloud.region"))
    if region is not None:
        found["region"] = plain_text(region)
    found["custom_tags"] = {key: plain_text(value) for key, value in tags.items()}
    return found
