"""What the provider instrumentors share: settings, span plumbing, patching.

Nothing here may raise into user code; callers wrap extraction in
``guarded`` blocks and log through ``log_failure`` (once per site).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import wrapt
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from infinium_otel._text import TRUNCATION_MARKER, cap
from infinium_otel._version import __version__
from infinium_otel.conventions import names
from infinium_otel.instrumentation._bounded import bounded_json, json_within

__all__ = [
    "MAX_MESSAGES_CHARS",
    "MAX_PART_CHARS",
    "Patcher",
    "arguments_text",
    "get_tracer",
    "inside_llm_span",
    "log_failure",
    "messages_json",
    "openai_compatible_provider",
    "record_error",
    "recorded_by_langchain_tracer",
    "resolve_capture_content",
    "server_attributes",
    "set_if",
]

_LOG = logging.getLogger("infinium_otel.instrumentation")

MAX_PART_CHARS = 32 * 1024
"""Longest text kept for one message part; longer text is cut with a marker."""
MAX_MESSAGES_CHARS = 256 * 1024
"""Longest JSON kept for one messages attribute; the oldest messages go first."""

_TRUE = {"1", "true", "yes", "on", "span_only", "span_and_event", "event_only"}
_FALSE = {"0", "false", "no", "off", "no_content"}

# ---------------------------------------------------------------- settings


def resolve_capture_content(
    explicit: bool | None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether to record message content: keyword, then our env, then OTel's, then on."""
    if explicit is not None:
        return bool(explicit)
    env = os.environ if environ is None else environ
    for key in ("INFINIUM_CAPTURE_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"):
        raw = env.get(key)
        if raw is None or not raw.strip():
            continue
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        _LOG.warning("Ignoring %s=%r: expected true or false", key, raw)
    return True


def get_tracer(provider: str, tracer_provider: Any = None) -> Tracer:
    """Our tracer for one provider: scope ``infinium_otel.instrumentation.<provider>``."""
    return trace.get_tracer(
        f"infinium_otel.instrumentation.{provider}",
        __version__,
        tracer_provider=tracer_provider,
    )


# ---------------------------------------------------------------- failures

_logged: set[str] = set()
_logged_lock = threading.Lock()
_MAX_LOGGED_SITES = 256


def log_failure(site: str, exc: BaseException | None = None) -> None:
    """Log an internal failure once per site at WARNING, later ones at DEBUG."""
    with _logged_lock:
        first = site not in _logged and len(_logged) < _MAX_LOGGED_SITES
        if first:
            _logged.add(site)
    level = logging.WARNING if first else logging.DEBUG
    _LOG.log(
        level,
        "infinium_otel instrumentation: %s failed; the call proceeds untraced there",
        site,
        exc_info=exc,
    )


# ---------------------------------------------------------------- spans

_LLM_OPERATIONS = frozenset(
    {
        names.OPERATION_CHAT,
        names.OPERATION_TEXT_COMPLETION,
        names.OPERATION_EMBEDDINGS,
        names.OPERATION_GENERATE_CONTENT,
    }
)
_OPENINFERENCE_LLM = frozenset({"LLM", "EMBEDDING"})


def inside_llm_span() -> bool:
    """True when the active span is already an LLM span (someone else's, for this call)."""
    span = trace.get_current_span()
    attributes = getattr(span, "attributes", None)
    if not attributes:
        return False
    if attributes.get(names.GEN_AI_OPERATION_NAME) in _LLM_OPERATIONS:
        return True
    kind = attributes.get(names.OPENINFERENCE_SPAN_KIND)
    return isinstance(kind, str) and kind.upper() in _OPENINFERENCE_LLM


# LangChain's chat models call the provider SDKs from these packages; a LangChain
# OpenTelemetry tracer records such a call as an LLM span of its own, which it does
# not make current, so ours would otherwise start a trace of its own for the same call.
_LANGCHAIN_CALLERS = ("langchain_openai.", "langchain_anthropic.", "langchain_google_genai.")
_LANGCHAIN_TRACERS = (
    ("openinference.instrumentation.langchain", "LangChainInstrumentor"),
    ("opentelemetry.instrumentation.langchain", "LangchainInstrumentor"),
)
_CALLER_DEPTH = 40


def recorded_by_langchain_tracer() -> bool:
    """True when a LangChain chat model makes this call outside any current span while a
    LangChain OpenTelemetry instrumentation is on: that instrumentation records the call."""
    if trace.get_current_span().get_span_context().is_valid:
        return False
    if not any(_langchain_tracer_on(module, name) for module, name in _LANGCHAIN_TRACERS):
        return False
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_CALLER_DEPTH):
        if frame is None:
            return False
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_LANGCHAIN_CALLERS):
            return True
        frame = frame.f_back
    return False


def _langchain_tracer_on(module_name: str, class_name: str) -> bool:
    module = sys.modules.get(module_name)
    instrumentor = getattr(module, class_name, None) if module is not None else None
    if instrumentor is None:
        return False
    try:
        return bool(instrumentor().is_instrumented_by_opentelemetry)
    except Exception:
        return False


def start_client_span(tracer: Tracer, name: str, attributes: dict[str, Any]) -> Span:
    return tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


_MAX_STATUS_CHARS = 1024


def record_error(span: Span, exc: BaseException) -> None:
    """ERROR status, ``error.type`` and an exception event; never raises."""
    try:
        if not span.is_recording():
            return
        span.set_attribute(names.ERROR_TYPE, type(exc).__qualname__)
        span.record_exception(exc)
        description = cap(str(exc), _MAX_STATUS_CHARS) or type(exc).__qualname__
        span.set_status(Status(StatusCode.ERROR, description))
    except Exception as inner:
        log_failure("recording an error", inner)


def set_if(attributes: dict[str, Any], key: str, value: Any) -> None:
    """Set an attribute when the value is a plain, present scalar or a list of them."""
    if value is None:
        return
    if isinstance(value, (str, bool, int, float)):
        attributes[key] = value
    elif isinstance(value, (list, tuple)):
        items = [v for v in value if isinstance(v, (str, bool, int, float))]
        if items and len(items) == len(value):
            attributes[key] = items


# ---------------------------------------------------------------- content


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from SDK objects (pydantic models, enums, bytes)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_jsonable(dump(exclude_none=True))
        except Exception:
            pass
    enum_value = getattr(value, "value", None)
    if isinstance(enum_value, (str, int)):
        return enum_value
    return str(value)


def arguments_text(arguments: Any, limit: int = MAX_PART_CHARS) -> str:
    """Tool-call arguments as capped text (strings pass through, objects as JSON)."""
    if isinstance(arguments, str):
        return cap(arguments, limit)
    return bounded_json(arguments, limit)


def messages_json(messages: Sequence[Any], limit: int = MAX_MESSAGES_CHARS) -> str:
    """The parts-model JSON of ``messages``, keeping the newest ones that fit in ``limit``.

    Each message is written once, newest first, and writing stops at the first
    one that no longer fits: the cost follows what is kept, not the history's length.
    The text equals ``json.dumps`` of the kept messages.
    """
    kept: list[str] = []
    size = 2  # the brackets
    for message in reversed(messages):
        separator = 2 if kept else 0
        room = limit - size - separator
        if room <= 0:
            break
        text, complete = json_within(message, room)
        if not complete:
            break
        kept.append(text)
        size += separator + len(text)
    if not kept and messages:
        newest = messages[-1]
        role = newest.get("role") if isinstance(newest, Mapping) else None
        placeholder = {"type": "text", "content": TRUNCATION_MARKER}
        return json.dumps([{"role": str(role or "user"), "parts": [placeholder]}])
    kept.reverse()
    return "[" + ", ".join(kept) + "]"


def text_part(content: Any) -> dict[str, Any]:
    return {
        "type": "text",
        "content": cap(content if isinstance(content, str) else "", MAX_PART_CHARS),
    }


# ---------------------------------------------------------------- endpoints

_OPENAI_COMPATIBLE_HOSTS = {
    "api.openai.com": "openai",
    "api.x.ai": "x_ai",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.perplexity.ai": "perplexity",
}
OPENAI_COMPATIBLE = "openai_compatible"
"""Provider name for OpenAI-style endpoints we cannot name (local servers, proxies)."""


def openai_compatible_provider(host: str | None) -> str:
    """Name the provider behind an OpenAI-style base URL's host."""
    if not host:
        return "openai"
    host = host.lower().rstrip(".")
    if host in _OPENAI_COMPATIBLE_HOSTS:
        return _OPENAI_COMPATIBLE_HOSTS[host]
    if host.endswith(".openai.azure.com"):
        return "azure.ai.openai"
    if host.endswith(".services.ai.azure.com") or host.endswith(".inference.ai.azure.com"):
        return "azure.ai.inference"
    return OPENAI_COMPATIBLE


def server_attributes(base_url: Any) -> tuple[str | None, dict[str, Any]]:
    """(host, ``server.address``/``server.port``) from a base URL of any type."""
    if base_url is None:
        return None, {}
    try:
        parts = urlsplit(str(base_url))
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme else None)
    except ValueError:
        return None, {}
    attributes: dict[str, Any] = {}
    if host:
        attributes[names.SERVER_ADDRESS] = host
        if port:
            attributes[names.SERVER_PORT] = port
    return host, attributes


# ---------------------------------------------------------------- patching


class Patcher:
    """Installs wrappers on class methods and restores exactly what was there.

    When another instrumentation already wrapped a method with wrapt, our
    wrapper goes underneath it, so its span is active when ours would start
    and ours steps aside (one LLM span per call).
    """

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: type, name: str, wrapper: Callable[..., Any]) -> None:
        current = owner.__dict__.get(name)
        if current is None:
            return
        holder = _innermost_foreign_wrapper(current)
        if holder is None:
            ours = wrapt.FunctionWrapper(current, wrapper)
            setattr(owner, name, ours)

            def undo_direct() -> None:
                top = owner.__dict__.get(name)
                if _is_ours(top, ours):
                    setattr(owner, name, current)
                else:  # someone wrapped on top of us later: drop ours from their chain
                    _remove_from_chain(top, ours)

            self._undo.append(undo_direct)
            return
        original = holder.__wrapped__
        ours = wrapt.FunctionWrapper(original, wrapper)
        holder.__wrapped__ = ours

        def undo_nested() -> None:
            if _is_ours(holder.__wrapped__, ours):
                holder.__wrapped__ = original
            if _is_ours(owner.__dict__.get(name), ours):
                setattr(owner, name, original)  # the other wrapper was removed meanwhile

        self._undo.append(undo_nested)

    def restore(self) -> None:
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception as exc:
                log_failure("restoring an original method", exc)


def _is_wrapper(obj: Any) -> bool:
    return isinstance(obj, (wrapt.FunctionWrapper, wrapt.BoundFunctionWrapper))


def _is_ours(obj: Any, ours: Any) -> bool:
    """``ours`` itself, or ours bound to a class (what ``getattr`` unwrapping leaves)."""
    return obj is ours or getattr(obj, "_self_parent", None) is ours


def _innermost_foreign_wrapper(obj: Any) -> Any:
    holder = None
    while _is_wrapper(obj):
        holder = obj
        obj = obj.__wrapped__
    return holder


def _remove_from_chain(top: Any, ours: Any) -> None:
    node = top
    while _is_wrapper(node):
        if _is_ours(node.__wrapped__, ours):
            node.__wrapped__ = ours.__wrapped__
            return
        node = node.__wrapped__


def first_present(values: Iterable[Any]) -> Any:
    for value in values:
        if value is not None:
            return value
    return None
