"""Every span attribute name the package writes or reads, in one place.

Our instrumentors and helpers write these names and the convention readers
read them, so a name spelled here once cannot drift between the two sides.
The readers' priority lists (which of several names wins) live in their
convention modules (``genai``, ``openinference``, ``openllmetry``) and are
built from these constants. Values of ``gen_ai.operation.name`` are here too.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------- OTel GenAI (current)

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_TOTAL_TOKENS: Final = "gen_ai.usage.total_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_COST: Final = "gen_ai.usage.cost"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_INFERENCE_DETAILS_EVENT: Final = "gen_ai.client.inference.operation.details"
"""The span event that carries the messages under the latest experimental conventions."""
OPERATION_COST: Final = "operation.cost"
SESSION_ID: Final = "session.id"
"""Conversation grouping used by OpenInference and Langfuse."""
USER_ID: Final = "user.id"

# Older GenAI names, still read.
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"

# Values of gen_ai.operation.name.
OPERATION_CHAT: Final = "chat"
OPERATION_TEXT_COMPLETION: Final = "text_completion"
OPERATION_GENERATE_CONTENT: Final = "generate_content"
OPERATION_EMBEDDINGS: Final = "embeddings"
OPERATION_INVOKE_AGENT: Final = "invoke_agent"
OPERATION_CREATE_AGENT: Final = "create_agent"
OPERATION_INVOKE_WORKFLOW: Final = "invoke_workflow"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
OPERATION_RETRIEVAL: Final = "retrieval"

# ---------------------------------------------------------------- general OTel

SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_STATUS_CODE: Final = "http.status_code"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_METHOD: Final = "http.method"
HTTP_HOST: Final = "http.host"
NET_PEER_NAME: Final = "net.peer.name"
URL_FULL: Final = "url.full"
DB_SYSTEM: Final = "db.system"
DB_SYSTEM_NAME: Final = "db.system.name"
RPC_SYSTEM: Final = "rpc.system"
MESSAGING_SYSTEM: Final = "messaging.system"

# ---------------------------------------------------------------- ours (infinium.*)

INFINIUM_DESCRIPTION: Final = "infinium.description"
INFINIUM_INPUT_SUMMARY: Final = "infinium.input_summary"
INFINIUM_OUTPUT_SUMMARY: Final = "infinium.output_summary"
INFINIUM_EXPECTED_OUTCOME_PREFIX: Final = "infinium.expected_outcome."
INFINIUM_TASK_OBJECTIVE: Final = INFINIUM_EXPECTED_OUTCOME_PREFIX + "task_objective"
INFINIUM_SECTION_PREFIX: Final = "infinium.section."
INFINIUM_STEP: Final = "infinium.step"
INFINIUM_TOOL_CALLS: Final = "infinium.tool_calls"
INFINIUM_STREAM_ABANDONED: Final = "infinium.stream.abandoned"
"""True on a stream span ended because the span it was opened under ended first."""

# ---------------------------------------------------------------- frameworks' own names

PYDANTIC_AI_ALL_MESSAGES: Final = "pydantic_ai.all_messages"
"""pydantic-ai's agent span: the whole conversation of the run, GenAI parts format."""
PYDANTIC_AI_FINAL_RESULT: Final = "final_result"
"""pydantic-ai's agent span: the run's output."""
LANGFUSE_SESSION_ID: Final = "langfuse.session.id"
LANGFUSE_USER_ID: Final = "langfuse.user.id"

# ---------------------------------------------------------------- OpenInference

OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
AGENT_NAME: Final = "agent.name"
GRAPH_NODE_ID: Final = "graph.node.id"
"""An agent span's node in its graph; CrewAI's instrumentor puts the agent's role here."""
LLM_MODEL_NAME: Final = "llm.model_name"
EMBEDDING_MODEL_NAME: Final = "embedding.model_name"
LLM_PROVIDER: Final = "llm.provider"
LLM_SYSTEM: Final = "llm.system"
LLM_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
LLM_TOKEN_COUNT_TOTAL: Final = "llm.token_count.total"
LLM_COST_TOTAL: Final = "llm.cost.total"
TOOL_NAME: Final = "tool.name"
LLM_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
INPUT_VALUE: Final = "input.value"
OUTPUT_VALUE: Final = "output.value"
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_MIME_TYPE: Final = "output.mime_type"
LLM_INPUT_MESSAGES_PREFIX: Final = "llm.input_messages."
LLM_OUTPUT_MESSAGES_PREFIX: Final = "llm.output_messages."

# ---------------------------------------------------------------- OpenLLMetry (Traceloop)

TRACELOOP_SPAN_KIND: Final = "traceloop.span.kind"
LLM_REQUEST_TYPE: Final = "llm.request.type"
TRACELOOP_ENTITY_NAME: Final = "traceloop.entity.name"
TRACELOOP_WORKFLOW_NAME: Final = "traceloop.workflow.name"
TRACELOOP_ENTITY_INPUT: Final = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT: Final = "traceloop.entity.output"
LLM_USAGE_TOTAL_TOKENS: Final = "llm.usage.total_tokens"
GEN_AI_PROMPT_PREFIX: Final = "gen_ai.prompt."
GEN_AI_COMPLETION_PREFIX: Final = "gen_ai.completion."
