"""OTLP trace requests become the SDK's ``ReadableSpan`` objects, so the exporter's own
assembly, conversion and delivery handle spans from any language unchanged.

Pure: no I/O, no threads, no clock. Bounded: attributes per span, characters per
value, events and links per span are capped, and every cut is counted, never silent.
A span with invalid ids is refused (counted and reported back to the client as
``rejected_spans``), never guessed at.

This is the gateway's hot path, so it reads each protobuf field once, builds each
distinct ``SpanContext`` of a request once (a child's parent is its root's
context), skips empty events and links without iterating them, and reuses the
``Resource`` and ``InstrumentationScope`` of identical senders and the attribute
keys and short values of all spans (``DecodeCache``). What the grouper needs is
known here, so each span is sized and the request's spans come in runs of one
trace (``TraceBatch``): the grouper reads no span again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import DEFAULT_TRACE_STATE, TraceState

from infinium_otel.export.trace_buffer import _SPAN_BYTES, _VALUE_BYTES, estimate_span_bytes
from infinium_otel.gateway.span_making import (
    DIRECT,
    PLAIN_CONTEXTS,
    POSITIONAL,
    AttributeValue,
    SpanAttributes,
    span_by_keyword,
)
from infinium_otel.gateway.wire import RAW_REQUEST

__all__ = ["DecodeCache", "DecodeLimits", "Decoded", "TraceBatch", "decode_request"]

# OTLP span flags: bit 8 says whether bit 9 (the parent is remote) is known.
HAS_IS_REMOTE = 0x100
IS_REMOTE = 0x200

_KINDS = {
    ProtoSpan.SPAN_KIND_INTERNAL: SpanKind.INTERNAL,
    ProtoSpan.SPAN_KIND_SERVER: SpanKind.SERVER,
    ProtoSpan.SPAN_KIND_CLIENT: SpanKind.CLIENT,
    ProtoSpan.SPAN_KIND_PRODUCER: SpanKind.PRODUCER,
    ProtoSpan.SPAN_KIND_CONSUMER: SpanKind.CONSUMER,
}
_STATUS = {
    ProtoStatus.STATUS_CODE_OK: StatusCode.OK,
    ProtoStatus.STATUS_CODE_ERROR: StatusCode.ERROR,
}
_UNSET = Status(StatusCode.UNSET)
_OK = Status(StatusCode.OK)
_ERROR = ProtoStatus.STATUS_CODE_ERROR
_STATUS_OK = ProtoStatus.STATUS_CODE_OK
_STATUS_TYPE = ProtoStatus
_FLAGS = tuple(TraceFlags(value) for value in range(256))
_SAMPLED = _FLAGS[TraceFlags.SAMPLED]
_INTERNAL = SpanKind.INTERNAL
# Attribute values read as they are once their field is known (no cap, no conversion).
_PLAIN_VALUES = frozenset(("int_value", "bool_value", "double_value"))
_new_tuple = tuple.__new__
_new_object = object.__new__


_PLAIN_CONTEXTS = PLAIN_CONTEXTS  # module globals: read per span, set by tests
# Strings kept once for all spans (attribute keys, short values): how many, how long
# a key and a value may be to be kept.
MAX_KEPT_STRINGS = 4096
MAX_KEPT_KEY_CHARS = 256
MAX_KEPT_VALUE_CHARS = 16
# Span attributes read from their encoding (``wire.py``) kept decoded by those bytes:
# how many pairs, how long an encoded pair may be to be kept (names, models, counts;
# not messages, which rarely repeat).
MAX_KEPT_PAIRS = 4096
MAX_KEPT_PAIR_BYTES = 128
_NO_STATE = DEFAULT_TRACE_STATE

_POSITIONAL = POSITIONAL
_DIRECT = DIRECT


@dataclass(frozen=True)
class DecodeLimits:
    """Caps on what one span may carry; over them, the rest is cut and counted."""

    max_attributes: int = 256
    max_value_chars: int = 64 * 1024
    max_events: int = 256
    max_links: int = 128


@dataclass(slots=True)
class TraceBatch:
    """Consecutive spans of one request that share a trace, as the grouper takes them:
    with each span's estimated size (``estimate_span_bytes``) and whether one is a root
    or has a remote parent, all known while decoding, so the grouper reads no span."""

    trace_id: int
    spans: list[ReadableSpan] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    has_root: bool = False
    remote_parents: bool = False


@dataclass
class Decoded:
    """The spans of one request, what was refused, and what was cut."""

    spans: list[ReadableSpan] = field(default_factory=list)
    batches: list[TraceBatch] = field(default_factory=list)  # the same spans, by trace
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    attributes_cut: int = 0
    values_cut: int = 0
    events_cut: int = 0
    links_cut: int = 0

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    @property
    def error_message(self) -> str:
        """One line for ``partial_success.error_message``: how many spans and why."""
        if not self.reasons:  # every span taken (most requests): nothing to sort
            return ""
        return "; ".join(f"{n} {reason}" for reason, n in sorted(self.reasons.items()))


class DecodeCache:
    """The ``Resource`` and ``InstrumentationScope`` objects of recent senders, keyed by
    their encoded form: one client sends the same ones with every request, and
    building them (attribute validation) costs more than a span. A cut in a cached
    one is counted when it is first decoded. Bounded in entries and in encoded bytes
    (a large one is never kept); safe to share between threads (a lost race only
    builds an object twice). Also the strings kept once for all spans (``keep``)."""

    def __init__(
        self,
        max_entries: int = 256,
        max_bytes: int = 4 * 1024 * 1024,
        max_entry_bytes: int = 64 * 1024,
    ) -> None:
        self._max = max_entries
        self._max_bytes = max_bytes
        self._max_entry_bytes = max_entry_bytes
        self._resources: dict[bytes, Resource] = {}
        self._scopes: dict[bytes, InstrumentationScope] = {}
        self._bytes = 0
        # Attribute keys and short values seen, each kept once: spans repeat the same
        # few keys and names (operations, models, tools), and held spans then share one
        # string each instead of a copy.
        self.strings: dict[str, str] = {}
        # Encoded span attributes seen, decoded: (key, value, characters counted for
        # the size estimate), for the value cap they were decoded under.
        self.pairs: dict[bytes, _Pair] = {}
        self.pairs_max_chars = -1

    def keep(self, text: str) -> str:
        """``text`` as kept for all spans (the caller bounds its length; a full table
        starts again, so unique values cannot grow it)."""
        strings = self.strings
        if len(strings) >= MAX_KEPT_STRINGS:
            strings.clear()
        return strings.setdefault(text, text)

    @property
    def held_bytes(self) -> int:
        """The encoded size of what is kept (an estimate of its memory)."""
        return self._bytes

    def pairs_for(self, max_chars: int) -> dict[bytes, _Pair]:
        """The decoded pairs table for values capped at ``max_chars`` (emptied when the
        cap differs from the one its pairs were decoded under)."""
        if self.pairs_max_chars != max_chars:
            self.pairs = {}
            self.pairs_max_chars = max_chars
        return self.pairs

    def keep_pair(self, raw: bytes, pair: _Pair) -> None:
        """Keep ``pair`` decoded for its encoding ``raw`` (a full table starts again)."""
        pairs = self.pairs
        if len(pairs) >= MAX_KEPT_PAIRS:
            pairs.clear()
        pairs[raw] = pair

    def resource(self, resource_spans: ResourceSpans, reader: _Reader) -> Resource:
        schema = resource_spans.schema_url
        # Not ``deterministic``: that orders map fields, and neither a resource nor a
        # scope has one, so the same message encodes the same either way.
        key = resource_spans.resource.SerializeToString() + b"\0" + schema.encode()
        found = self._resources.get(key)
        if found is None:
            found = Resource(reader.attributes(resource_spans.resource.attributes), schema or None)
            self._remember(self._resources, key, found)
        return found

    def scope(self, scope_spans: ScopeSpans, reader: _Reader) -> InstrumentationScope:
        schema, scope = scope_spans.schema_url, scope_spans.scope
        key = scope.SerializeToString() + b"\0" + schema.encode()  # as ``resource``
        found = self._scopes.get(key)
        if found is None:
            found = InstrumentationScope(
                scope.name,
                scope.version or None,
                schema or None,
                reader.attributes(scope.attributes),
            )
            self._remember(self._scopes, key, found)
        return found

    def _remember(self, table: dict[bytes, Any], key: bytes, value: Any) -> None:
        if len(key) > self._max_entry_bytes:
            return
        if (
            len(self._resources) + len(self._scopes) >= self._max
            or self._bytes + len(key) > self._max_bytes
        ):
            self._resources.clear()
            self._scopes.clear()
            self._bytes = 0
        table[key] = value
        self._bytes += len(key)


def decode_request(
    request: Message,
    limits: DecodeLimits = DecodeLimits(),
    cache: DecodeCache | None = None,
) -> Decoded:
    """Every span of ``request`` as a ``ReadableSpan``; invalid spans are counted as rejected.

    ``request`` is an ``ExportTraceServiceRequest``, official or parsed by
    ``wire.new_request()`` (spans' attributes left encoded)."""
    out = Decoded()
    cache = cache if cache is not None else DecodeCache()
    reader = _Reader(
        limits, out, cache, raw=RAW_REQUEST is not None and type(request) is RAW_REQUEST
    )
    message: Any = request
    # Repeated fields are read as slices: protobuf's containers have no iterator of
    # their own, so a ``for`` over one ends by raising and catching an ``IndexError``
    # (its message formatted), which costs more than the list a slice makes in C.
    for resource_spans in message.resource_spans[:]:
        resource = cache.resource(resource_spans, reader)
        for scope_spans in resource_spans.scope_spans[:]:
            reader.spans(scope_spans.spans[:], resource, cache.scope(scope_spans, reader))
    return out


_Pair = tuple[str, AttributeValue, int]


class _MalformedPair(Exception):
    """An encoded attribute that is not a ``KeyValue``: its span is refused."""


class _Reader:
    def __init__(
        self, limits: DecodeLimits, out: Decoded, cache: DecodeCache, raw: bool = False
    ) -> None:
        self._limits = limits
        self._cache = cache
        self._strings = cache.strings
        self._out = out
        self._append = out.spans.append
        self._max_chars = limits.max_value_chars
        self._max_attributes = limits.max_attributes
        # Contexts made for the trace of the last span read, by ``span_id << 1 |
        # is_remote`` (a new table when the trace changes), all with the "sampled"
        # flags. A span's own context is kept there too, so its children's parent is
        # that same object.
        self._contexts: dict[int, SpanContext] = {}
        self._raw_trace = b""  # the last trace id read, and its value
        self._trace_id = 0
        self._batch: TraceBatch | None = None
        # Set by ``attributes``: the characters its strings hold (what the size estimate
        # counts beyond a fixed amount per value), or -1 when the estimate must be
        # taken from the result (duplicate keys).
        self._chars = 0
        self._pairs = cache.pairs_for(self._max_chars)
        # A span's own attributes: encoded pairs (``wire.py``) or parsed ``KeyValue``s.
        self._span_attributes = self.encoded_attributes if raw else self.attributes
        self._encoded = raw  # and its status as its encoding

    def spans(
        self, spans: Iterable[ProtoSpan], resource: Resource, scope: InstrumentationScope
    ) -> None:
        """Decode ``spans`` (of one scope) into the request's spans and batches, or count
        each invalid one as rejected. One loop for all of them, with what it reads of
        the reader bound once: a call per span cost more than most of its steps."""
        out = self._out
        reject = out.reject
        append = self._append
        batches = out.batches
        encoded = self._encoded
        read_attributes = self._span_attributes
        max_chars = self._max_chars
        max_attributes = self._max_attributes
        known = self._pairs
        read_pair = self.encoded_pair
        # The reader's state, kept in locals during the loop and written back after it.
        contexts = self._contexts
        last_raw_trace = self._raw_trace
        trace_id = self._trace_id
        batch = self._batch
        for span in spans:
            raw_trace, raw_span = span.trace_id, span.span_id
            if len(raw_trace) != 16 or len(raw_span) != 8:
                reject("spans with an invalid trace or span id")
                continue
            if raw_trace != last_raw_trace:  # a request's spans mostly share their trace
                trace_id = int.from_bytes(raw_trace, "big")
                last_raw_trace = raw_trace
                contexts = {}
            span_id = int.from_bytes(raw_span, "big")
            if not trace_id or not span_id:
                reject("spans with an invalid trace or span id")
                continue
            flags = span.flags
            parent: SpanContext | None = None
            remote = False
            raw_parent = span.parent_span_id
            if raw_parent:
                parent_id = int.from_bytes(raw_parent, "big") if len(raw_parent) == 8 else 0
                if not parent_id:
                    reject("spans with an invalid parent span id")
                    continue
                remote = bool(flags & IS_REMOTE) if flags & HAS_IS_REMOTE else False
                key = parent_id << 1 | remote
                parent = contexts.get(key)
                if parent is None:
                    parent = contexts[key] = _span_context(trace_id, parent_id, remote, _SAMPLED)
            end = span.end_time_unix_nano
            if not end:
                reject("spans without an end time")
                continue
            state = span.trace_state
            trace_flags = _FLAGS[flags & 0xFF or TraceFlags.SAMPLED]
            if state:
                context = SpanContext(
                    trace_id,
                    span_id,
                    is_remote=False,
                    trace_flags=trace_flags,
                    trace_state=_trace_state(state),
                )
            else:
                key = span_id << 1
                found = contexts.get(key) if trace_flags is _SAMPLED else None
                if found is not None:
                    context = found  # made as a parent already (a child came first)
                else:
                    if _PLAIN_CONTEXTS:
                        context = _new_tuple(
                            SpanContext, (trace_id, span_id, False, trace_flags, _NO_STATE, True)
                        )
                    else:
                        context = SpanContext(
                            trace_id, span_id, is_remote=False, trace_flags=trace_flags
                        )
                    if trace_flags is _SAMPLED:  # as a local parent's: its children share it
                        contexts[key] = context
            status = _UNSET
            proto_status = span.status  # unset: the default, code 0
            if encoded:  # its encoding (``wire.py``): empty when unset (most spans), or parsed
                if proto_status:
                    try:
                        proto_status = _STATUS_TYPE.FromString(proto_status)
                    except (DecodeError, ValueError, RuntimeError):
                        reject("spans with a malformed status")
                        continue
                    status = _status(proto_status)
            elif proto_status.code:
                status = _status(proto_status)
            name = span.name
            pairs = span.attributes[:]  # a list: see ``decode_request``
            if encoded and len(pairs) <= max_attributes:
                # ``encoded_attributes`` inline, for a span the cap cannot cut.
                attributes: dict[str, AttributeValue] = {}
                chars = skipped = 0
                try:
                    for raw in pairs:
                        decoded = known.get(raw)
                        if decoded is None:
                            decoded = read_pair(raw)
                            if decoded is None:
                                skipped += 1
                                continue
                        pair_key, pair_value, length = decoded
                        attributes[pair_key] = pair_value
                        chars += length
                except _MalformedPair:
                    reject("spans with malformed attributes")
                    continue
                if len(attributes) != len(pairs) - skipped:
                    chars = -1  # a key given twice: sized from the result
            else:
                found_attributes = read_attributes(pairs)
                if found_attributes is None:
                    reject("spans with malformed attributes")
                    continue
                attributes = found_attributes
                chars = self._chars
            events = span.events
            decoded_events = self.events(events) if len(events) else ()
            links = span.links
            if len(name) > max_chars:
                name = self.text(name)
            held = _new_object(SpanAttributes)  # ``SpanAttributes(attributes)``, without a call
            held._dict = attributes
            decoded_links = self.links(links) if len(links) else ()
            kind = _KINDS.get(span.kind, _INTERNAL)
            start = span.start_time_unix_nano or end
            if _DIRECT:  # ``_span_fields_set_directly``, inline (checked at import)
                readable = _new_object(ReadableSpan)
                readable._name = name
                readable._context = context
                readable._kind = kind
                readable._instrumentation_info = None
                readable._instrumentation_scope = scope
                readable._parent = parent
                readable._start_time = start
                readable._end_time = end
                readable._attributes = held
                readable._events = decoded_events
                readable._links = decoded_links
                readable._resource = resource
                readable._status = status
            elif _POSITIONAL:
                readable = ReadableSpan(
                    name,
                    context,
                    parent,
                    resource,
                    held,
                    decoded_events,
                    decoded_links,
                    kind,
                    None,  # instrumentation_info: deprecated, the scope replaces it
                    status,
                    start,
                    end,
                    scope,
                )
            else:
                readable = span_by_keyword(
                    name,
                    context,
                    parent,
                    resource,
                    held,
                    decoded_events,
                    decoded_links,
                    kind,
                    status,
                    start,
                    end,
                    scope,
                )
            if chars < 0 or decoded_events:
                size = estimate_span_bytes(readable, attributes)
            else:  # ``estimate_span_bytes`` without reading the attributes again
                size = _SPAN_BYTES + _VALUE_BYTES * len(attributes) + chars
            append(readable)
            if batch is None or batch.trace_id != trace_id:
                batch = TraceBatch(trace_id)
                batches.append(batch)
            batch.spans.append(readable)
            batch.sizes.append(size)
            if parent is None:
                batch.has_root = True
            elif remote:
                batch.remote_parents = True
        self._contexts = contexts
        self._raw_trace = last_raw_trace
        self._trace_id = trace_id
        self._batch = batch

    def attributes(self, pairs: Sequence[KeyValue]) -> dict[str, AttributeValue]:
        result: dict[str, AttributeValue] = {}
        self._chars = 0
        if not len(pairs):
            return result
        max_attributes = self._max_attributes
        capped = len(pairs) > max_attributes  # else the cap cannot be reached: not counted
        read = self.pair
        chars = skipped = 0
        for pair in pairs:
            if capped and len(result) >= max_attributes:
                self._out.attributes_cut += 1
                skipped += 1
                continue
            decoded = read(pair)
            if decoded is None:
                skipped += 1
                continue
            key, value, length = decoded
            result[key] = value
            chars += length
        # A key given twice keeps its last value: then the characters counted are not
        # the result's, and its size is taken from the result itself.
        self._chars = chars if len(result) == len(pairs) - skipped else -1
        return result

    def encoded_attributes(self, encoded: Sequence[bytes]) -> dict[str, AttributeValue] | None:
        """``attributes`` for pairs given as their encodings: a pair seen before (same
        bytes, same value cap) is taken decoded from the cache without parsing it.
        None when a pair is not a ``KeyValue`` (the span is refused)."""
        result: dict[str, AttributeValue] = {}
        self._chars = 0
        count = len(encoded)
        if not count:
            return result
        max_attributes = self._max_attributes
        capped = count > max_attributes
        known = self._pairs
        chars = skipped = 0
        for raw in encoded:
            if capped and len(result) >= max_attributes:
                self._out.attributes_cut += 1
                skipped += 1
                continue
            decoded = known.get(raw)
            if decoded is None:
                try:
                    decoded = self.encoded_pair(raw)
                except _MalformedPair:
                    return None
                if decoded is None:
                    skipped += 1
                    continue
            key, value, length = decoded
            result[key] = value
            chars += length
        self._chars = chars if len(result) == count - skipped else -1
        return result

    def encoded_pair(self, raw: bytes) -> _Pair | None:
        """A pair not in the cache, parsed from its encoding and decoded (``pair``), and
        kept when short and nothing was cut; ``_MalformedPair`` when not a ``KeyValue``."""
        try:
            pair = KeyValue.FromString(raw)
        except (DecodeError, ValueError, RuntimeError):
            raise _MalformedPair from None
        cut = self._out.values_cut
        decoded = self.pair(pair)
        if decoded is not None and len(raw) <= MAX_KEPT_PAIR_BYTES and self._out.values_cut == cut:
            self._cache.keep_pair(raw, decoded)
        return decoded

    def pair(self, pair: KeyValue) -> _Pair | None:
        """One attribute: its key and value as kept, and the characters the size
        estimate counts for it; None when it has no key or no value."""
        key = pair.key
        if not key:
            return None
        strings = self._strings
        max_chars = self._max_chars
        value = pair.value
        # A non-empty string is the common case: read it without asking which
        # field is set (an empty one, or another type, takes the general path).
        text = value.string_value
        decoded: AttributeValue | None
        if text:
            length = len(text)
            if length <= MAX_KEPT_VALUE_CHARS and length <= max_chars:  # needs no cut
                decoded = strings.get(text) or self._cache.keep(text)
            else:
                if length > max_chars:
                    text, length = self.text(text), max_chars
                decoded = text
        else:
            which = value.WhichOneof("value")
            if which in _PLAIN_VALUES:
                decoded = getattr(value, which)
                length = 0
            else:
                decoded = self.value(value)
                if decoded is None:
                    return None
                length = _value_chars(decoded)
        kept_key = strings.get(key)
        if kept_key is None:
            if len(key) > max_chars:
                key = self.text(key)
            kept_key = self._cache.keep(key) if len(key) <= MAX_KEPT_KEY_CHARS else key
        return kept_key, decoded, length

    def events(self, events: Iterable[ProtoSpan.Event]) -> list[Event]:
        result: list[Event] = []
        for event in events:
            if len(result) >= self._limits.max_events:
                self._out.events_cut += 1
                continue
            result.append(
                Event(
                    self.text(event.name),
                    self.attributes(event.attributes),
                    timestamp=event.time_unix_nano or None,
                )
            )
        return result

    def links(self, links: Iterable[ProtoSpan.Link]) -> list[Link]:
        result: list[Link] = []
        for link in links:
            trace_id, span_id = _id(link.trace_id, 16), _id(link.span_id, 8)
            if not trace_id or not span_id:
                continue
            if len(result) >= self._limits.max_links:
                self._out.links_cut += 1
                continue
            context = SpanContext(trace_id, span_id, is_remote=bool(link.flags & IS_REMOTE))
            result.append(Link(context, self.attributes(link.attributes)))
        return result

    def value(self, value: AnyValue) -> AttributeValue | None:
        which = value.WhichOneof("value")
        if which == "string_value":
            return self.text(value.string_value)
        if which == "bool_value":
            return value.bool_value
        if which == "int_value":
            return value.int_value
        if which == "double_value":
            return value.double_value
        if which == "bytes_value":
            return self.text(base64.b64encode(value.bytes_value).decode("ascii"))
        if which == "array_value":
            return self.array([_plain(v) for v in value.array_value.values])
        if which == "kvlist_value":
            return self.text(_json({kv.key: _plain(kv.value) for kv in value.kvlist_value.values}))
        return None

    def array(self, items: list[Any]) -> AttributeValue:
        """A homogeneous array of primitives stays a tuple (as the SDK allows); else JSON."""
        kinds = {type(item) for item in items}
        if kinds == {str}:
            return tuple(self.text(item) for item in items)
        if kinds == {bool}:
            return tuple(items)
        if kinds == {int}:
            return tuple(items)
        if kinds <= {int, float} and kinds:
            return tuple(float(item) for item in items)  # type: ignore[return-value]
        return self.text(_json(items))

    def text(self, text: str) -> str:
        limit = self._limits.max_value_chars
        if len(text) <= limit:
            return text
        self._out.values_cut += 1
        return text[:limit]


def _plain(value: AnyValue) -> Any:
    """An ``AnyValue`` as plain JSON-able Python (nested arrays and maps kept)."""
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if which is None:
        return None
    return getattr(value, which)


def _status(proto: ProtoStatus) -> Status:
    """A span's status from its OTLP form (an unknown code reads as unset)."""
    code = proto.code
    if code == _ERROR:
        return Status(StatusCode.ERROR, proto.message or None)
    if code == _STATUS_OK:
        return _OK
    return _UNSET


def _span_context(trace_id: int, span_id: int, remote: bool, flags: TraceFlags) -> SpanContext:
    """A context for ids already checked (non-zero, of the right length)."""
    if _PLAIN_CONTEXTS:
        return _new_tuple(SpanContext, (trace_id, span_id, remote, flags, _NO_STATE, True))
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=flags)


def _value_chars(value: AttributeValue) -> int:
    """What ``estimate_span_bytes`` counts for a value beyond its fixed amount."""
    if type(value) is str:
        return len(value)
    if type(value) is tuple:
        return sum(_VALUE_BYTES + (len(item) if type(item) is str else 0) for item in value)
    return 0


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _id(raw: bytes, size: int) -> int:
    """The id as an int, or 0 when it has the wrong length or is all zeros."""
    if len(raw) != size:
        return 0
    return int.from_bytes(raw, "big")


def _trace_state(text: str) -> TraceState | None:
    if not text:
        return None
    try:
        return TraceState.from_header([text])
    except Exception:  # a malformed trace state is dropped, the span kept
        return None
