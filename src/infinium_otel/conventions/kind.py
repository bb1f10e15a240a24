"""What kind of work a span records, whichever convention described it.

Assembly uses this to find run roots and to tell GenAI trees from plain ones;
conversion uses it to pick a step's ``action``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions import names

__all__ = ["GENAI_OPERATION_KINDS", "SpanKind", "classify"]


class SpanKind(enum.Enum):
    AGENT = "agent"
    WORKFLOW = "workflow"
    LLM = "llm"
    EMBEDDING = "embedding"
    TOOL = "tool"
    RETRIEVAL = "retrieval"
    RERANK = "rerank"
    CHAIN = "chain"
    GUARDRAIL = "guardrail"
    EVALUATOR = "evaluator"
    OTHER = "other"

    # Members are singletons compared by identity: hashing by identity (in C) keeps the sets
    # and tables keyed by kind, looked up for every span, free of Enum's Python-level hash.
    __hash__ = object.__hash__

    # What each kind is, set on every member below: plain attributes, read for every span,
    # cost a lookup where properties cost a call.
    is_agent_like: bool
    """Agent-like spans delimit runs."""
    encloses_agents: bool
    """Agent spans under one of these are steps of one run: an agent, a workflow, or a
    framework's chain (a LangGraph graph or a CrewAI kickoff invokes several agents)."""
    is_genai: bool
    """Spans whose presence makes a plain tree worth sending."""


for _kind in SpanKind:
    _kind.is_agent_like = _kind in (SpanKind.AGENT, SpanKind.WORKFLOW)
    _kind.encloses_agents = _kind in (SpanKind.AGENT, SpanKind.WORKFLOW, SpanKind.CHAIN)
    _kind.is_genai = _kind in (
        SpanKind.AGENT,
        SpanKind.WORKFLOW,
        SpanKind.LLM,
        SpanKind.EMBEDDING,
        SpanKind.TOOL,
        SpanKind.RETRIEVAL,
        SpanKind.RERANK,
    )


# The members as module names, for the comparisons made for every span: on Python 3.11
# ``SpanKind.TOOL`` is a class attribute load through the enum's metaclass, several times
# the cost of a global.
AGENT = SpanKind.AGENT
WORKFLOW = SpanKind.WORKFLOW
LLM = SpanKind.LLM
EMBEDDING = SpanKind.EMBEDDING
TOOL = SpanKind.TOOL
CHAIN = SpanKind.CHAIN


_GENAI_OPERATIONS = {
    names.OPERATION_INVOKE_AGENT: SpanKind.AGENT,
    names.OPERATION_CREATE_AGENT: SpanKind.OTHER,
    names.OPERATION_INVOKE_WORKFLOW: SpanKind.WORKFLOW,
    names.OPERATION_CHAT: SpanKind.LLM,
    names.OPERATION_TEXT_COMPLETION: SpanKind.LLM,
    names.OPERATION_GENERATE_CONTENT: SpanKind.LLM,
    names.OPERATION_EMBEDDINGS: SpanKind.EMBEDDING,
    names.OPERATION_EXECUTE_TOOL: SpanKind.TOOL,
    names.OPERATION_RETRIEVAL: SpanKind.RETRIEVAL,
}

# GenAI operation name -> kind: what classify() answers first (readers may look it up at once).
GENAI_OPERATION_KINDS: Mapping[str, SpanKind] = _GENAI_OPERATIONS

_OPENINFERENCE_KINDS = {
    "AGENT": SpanKind.AGENT,
    "LLM": SpanKind.LLM,
    "EMBEDDING": SpanKind.EMBEDDING,
    "TOOL": SpanKind.TOOL,
    "RETRIEVER": SpanKind.RETRIEVAL,
    "RERANKER": SpanKind.RERANK,
    "CHAIN": SpanKind.CHAIN,
    "GUARDRAIL": SpanKind.GUARDRAIL,
    "EVALUATOR": SpanKind.EVALUATOR,
}

_TRACELOOP_KINDS = {
    "workflow": SpanKind.WORKFLOW,
    "agent": SpanKind.AGENT,
    "tool": SpanKind.TOOL,
    "task": SpanKind.CHAIN,
}

_TRACELOOP_REQUEST_TYPES = {
    "chat": SpanKind.LLM,
    "completion": SpanKind.LLM,
    "embedding": SpanKind.EMBEDDING,
    "rerank": SpanKind.RERANK,
}


def classify(attributes: Mapping[str, Any] | None) -> SpanKind:
    """The span's kind from its attributes: GenAI, then OpenInference, then OpenLLMetry."""
    if not attributes:
        return SpanKind.OTHER
    operation = attributes.get(names.GEN_AI_OPERATION_NAME)
    if isinstance(operation, str) and operation in _GENAI_OPERATIONS:
        return _GENAI_OPERATIONS[operation]
    oi_kind = attributes.get(names.OPENINFERENCE_SPAN_KIND)
    if isinstance(oi_kind, str) and oi_kind.upper() in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[oi_kind.upper()]
    tl_kind = attributes.get(names.TRACELOOP_SPAN_KIND)
    if isinstance(tl_kind, str) and tl_kind.lower() in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[tl_kind.lower()]
    request_type = attributes.get(names.LLM_REQUEST_TYPE)
    if isinstance(request_type, str) and request_type.lower() in _TRACELOOP_REQUEST_TYPES:
        return _TRACELOOP_REQUEST_TYPES[request_type.lower()]
    if isinstance(operation, str) and operation:
        # An unknown GenAI operation is still GenAI work.
        return SpanKind.LLM if attributes.get(names.GEN_AI_REQUEST_MODEL) else SpanKind.OTHER
    if attributes.get(names.GEN_AI_TOOL_NAME):
        return SpanKind.TOOL
    return SpanKind.OTHER
