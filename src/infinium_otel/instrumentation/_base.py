"""The instrumentor base class, with or without ``opentelemetry-instrumentation``.

``opentelemetry-instrumentation`` is optional at runtime. When it is installed
our instrumentors are real ``BaseInstrumentor`` subclasses, so
``opentelemetry-instrument`` can load them through entry points. When it is
not, a small stand-in with the same surface (``instrument()``,
``uninstrument()``, ``instrumentation_dependencies()``, one instance per class)
keeps them usable directly.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Collection
from importlib import metadata
from typing import TYPE_CHECKING, Any

__all__ = ["InstrumentorBase", "missing_dependency"]

_LOG = logging.getLogger(__name__)
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([0-9][0-9.]*))?\s*$")


def _version_tuple(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
    return tuple(parts)


def missing_dependency(requirements: Collection[str]) -> str | None:
    """The first unmet ``"name >= x.y"`` requirement, or None when all are met."""
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            continue
        name, minimum = match.group(1), match.group(2)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            return f"{name} is not installed"
        if minimum and _version_tuple(installed) < _version_tuple(minimum):
            return f"{name} {installed} is older than {minimum}"
    return None


class _FallbackInstrumentor(ABC):
    """The ``BaseInstrumentor`` surface, for when that package is absent."""

    _instance: Any = None
    _is_instrumented_by_opentelemetry = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls._instance is None:
            cls._instance = object.__new__(cls)
        return cls._instance

    @property
    def is_instrumented_by_opentelemetry(self) -> bool:
        return self._is_instrumented_by_opentelemetry

    @abstractmethod
    def instrumentation_dependencies(self) -> Collection[str]:
        """Requirements such as ``"openai >= 1.40"``."""

    @abstractmethod
    def _instrument(self, **kwargs: Any) -> Any:
        """Patch the library."""

    @abstractmethod
    def _uninstrument(self, **kwargs: Any) -> Any:
        """Restore the library."""

    def instrument(self, **kwargs: Any) -> Any:
        if self._is_instrumented_by_opentelemetry:
            _LOG.warning("Attempting to instrument while already instrumented")
            return None
        skip_dep_check = kwargs.pop("skip_dep_check", False)
        kwargs.pop("raise_exception_on_conflict", None)
        if not skip_dep_check:
            problem = missing_dependency(self.instrumentation_dependencies())
            if problem:
                _LOG.debug("%s skipped: %s", type(self).__name__, problem)
                return None
        result = self._instrument(**kwargs)
        self._is_instrumented_by_opentelemetry = True
        return result

    def uninstrument(self, **kwargs: Any) -> Any:
        if self._is_instrumented_by_opentelemetry:
            result = self._uninstrument(**kwargs)
            self._is_instrumented_by_opentelemetry = False
            return result
        _LOG.warning("Attempting to uninstrument while already uninstrumented")
        return None


if TYPE_CHECKING:
    InstrumentorBase = _FallbackInstrumentor
else:
    try:
        from opentelemetry.instrumentation.instrumentor import (
            BaseInstrumentor as InstrumentorBase,
        )
    except ImportError:  # the package is optional at runtime
        InstrumentorBase = _FallbackInstrumentor
