"""Auto-instrumentation for OpenAI, Anthropic and Google GenAI, and the span helpers.

Importing this package never imports a provider library; each instrumentor
imports its library only inside ``instrument()``.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from infinium_otel.instrumentation._base import missing_dependency
from infinium_otel.instrumentation.helpers import agent, configure_helpers, step, tool

__all__ = [
    "AnthropicInstrumentor",
    "GoogleGenAIInstrumentor",
    "OpenAIInstrumentor",
    "agent",
    "configure_helpers",
    "instrument_all",
    "step",
    "tool",
    "uninstrument_all",
]

_LOG = logging.getLogger(__name__)

# name -> (module, class)
_INSTRUMENTORS = {
    "openai": ("infinium_otel.instrumentation.openai", "OpenAIInstrumentor"),
    "anthropic": ("infinium_otel.instrumentation.anthropic", "AnthropicInstrumentor"),
    "google_genai": ("infinium_otel.instrumentation.google_genai", "GoogleGenAIInstrumentor"),
}


def _instrumentor(name: str) -> Any:
    module_name, class_name = _INSTRUMENTORS[name]
    return getattr(importlib.import_module(module_name), class_name)()


def instrument_all(tracer_provider: Any = None, capture_content: bool | None = None) -> list[str]:
    """Instrument every supported library that is installed; return their names.

    Libraries that are missing, too old, or already instrumented by us are
    skipped quietly. ``capture_content`` also applies to ``agent``/``tool``/``step``.
    """
    configure_helpers(tracer_provider=tracer_provider, capture_content=capture_content)
    done: list[str] = []
    for name in _INSTRUMENTORS:
        try:
            instrumentor = _instrumentor(name)
            if instrumentor.is_instrumented_by_opentelemetry:
                continue
            problem = missing_dependency(instrumentor.instrumentation_dependencies())
            if problem:
                _LOG.debug("Not instrumenting %s: %s", name, problem)
                continue
            instrumentor.instrument(
                tracer_provider=tracer_provider,
                capture_content=capture_content,
                skip_dep_check=True,
            )
            if instrumentor.is_instrumented_by_opentelemetry:
                done.append(name)
        except ImportError as exc:  # installed metadata, but the import is blocked or broken
            _LOG.debug("Not instrumenting %s: %s", name, exc)
        except Exception as exc:  # an odd library version must not stop the others
            _LOG.warning("Could not instrument %s: %s", name, exc, exc_info=True)
    return done


def uninstrument_all() -> list[str]:
    """Undo ``instrument_all`` (and any direct ``instrument()`` of ours)."""
    undone: list[str] = []
    for name in _INSTRUMENTORS:
        try:
            instrumentor = _instrumentor(name)
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
                undone.append(name)
        except Exception as exc:
            _LOG.warning("Could not uninstrument %s: %s", name, exc, exc_info=True)
    return undone


def __getattr__(name: str) -> Any:
    """The instrumentor classes, imported on first use."""
    for module_name, class_name in _INSTRUMENTORS.values():
        if class_name == name:
            return getattr(importlib.import_module(module_name), class_name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
