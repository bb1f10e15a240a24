"""A loopback endpoint speaking the OpenAI chat, responses and embeddings APIs.

    with FakeOpenAI(model="gpt-test", reply="hi") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)

Settable attributes (change them between calls): ``model``, ``reply``,
``input_tokens``, ``output_tokens``, ``cached_tokens``, ``tool_calls``
(list of ``(name, arguments_json)``), ``error_status`` (an HTTP status to fail
with, or None). ``requests`` lists what was received.
"""

from __future__ import annotations

from typing import Any

from ._server import FakeServer, Reply

__all__ = ["FakeOpenAI"]


class FakeOpenAI(FakeServer):
    base_path = "/v1"

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini-2024-07-18",
        reply: str = "Hello from the fake.",
        input_tokens: int = 11,
        output_tokens: int = 7,
        cached_tokens: int | None = None,
        tool_calls: list[tuple[str, str]] | None = None,
        error_status: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.reply = reply
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cached_tokens = cached_tokens
        self.tool_calls = list(tool_calls or [])
        self.error_status = error_status
        self.response_id = "chatcmpl-fake-1"

    def respond(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if self.error_status is not None:
            return Reply(
                self.error_status,
                {"error": {"message": "fake failure", "type": "server_error", "code": None}},
            )
        body = body if isinstance(body, dict) else {}
        if path.endswith("/chat/completions"):
            return self._chat(body)
        if path.endswith("/responses"):
            return self._responses(body)
        if path.endswith("/embeddings"):
            return self._embeddings(body)
        return super().respond(method, path, query, body)

    # ------------------------------------------------------------ chat

    def _usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return usage

    def _finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def _chat(self, body: dict[str, Any]) -> Reply:
        if body.get("stream"):
            return Reply(events=self._chat_events(body))
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if self.tool_calls else self.reply,
        }
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in enumerate(self.tool_calls)
            ]
        return Reply(
            body={
                "id": self.response_id,
                "object": "chat.completion",
                "created": 1700000000,
                "model": self.model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": self._finish_reason()}
                ],
                "usage": self._usage(),
            }
        )

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.response_id,
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return chunk

    def _chat_events(self, body: dict[str, Any]) -> list[tuple[str | None, Any]]:
        events: list[tuple[str | None, Any]] = [
            (
                None,
                self._chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]),
            )
        ]
        if self.tool_calls:
            for i, (name, arguments) in enumerate(self.tool_calls):
                head = {
                    "index": i,
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }
                events.append((None, self._chunk([{"index": 0, "delta": {"tool_calls": [head]}}])))
                half = len(arguments) // 2
                for piece in (arguments[:half], arguments[half:]):
                    delta = {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}
                    events.append((None, self._chunk([{"index": 0, "delta": delta}])))
        else:
            words = self.reply.split(" ")
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                events.append((None, self._chunk([{"index": 0, "delta": {"content": piece}}])))
        events.append(
            (None, self._chunk([{"index": 0, "delta": {}, "finish_reason": self._finish_reason()}]))
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append((None, self._chunk([], usage=self._usage())))
        events.append((None, "[DONE]"))
        return events

    # ------------------------------------------------------------ responses

    def _response_object(self, status: str = "completed") -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if self.tool_calls:
            for i, (name, arguments) in enumerate(self.tool_calls):
                output.append(
                    {
                        "type": "function_call",
                        "id": f"fc_{i}",
                        "call_id": f"call_{i}",
                        "name": name,
                        "arguments": arguments,
                        "status": "completed",
                    }
                )
        else:
            output.append(
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": self.reply, "annotations": []}],
                }
            )
        usage: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens or 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        return {
            "id": "resp_fake_1",
            "object": "response",
            "created_at": 1700000000,
            "model": self.model,
            "status": status,
            "output": output,
            "usage": usage,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }

    def _responses(self, body: dict[str, Any]) -> Reply:
        if not body.get("stream"):
            return Reply(body=self._response_object())
        created = dict(self._response_object("in_progress"), output=[], usage=None)
        events: list[tuple[str | None, Any]] = [
            (
                "response.created",
                {"type": "response.created", "sequence_number": 0, "response": created},
            ),
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": 1,
                    "item_id": "msg_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": self.reply,
                    "logprobs": [],
                },
            ),
            (
                "response.completed",
                {
                    "type": "response.completed",
                    "sequence_number": 2,
                    "response": self._response_object(),
                },
            ),
        ]
        return Reply(events=events)

    # ------------------------------------------------------------ embeddings

    def _embeddings(self, body: dict[str, Any]) -> Reply:
        inputs = body.get("input")
        count = len(inputs) if isinstance(inputs, list) else 1
        return Reply(
            body={
                "object": "list",
                "model": self.model,
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, 0.4]}
                    for i in range(count)
                ],
                "usage": {"prompt_tokens": self.input_tokens, "total_tokens": self.input_tokens},
            }
        )
