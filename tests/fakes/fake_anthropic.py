"""A loopback endpoint speaking the Anthropic Messages API (JSON and SSE).

    with FakeAnthropic() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="test", max_retries=0)

Settable: ``model``, ``reply``, ``input_tokens``, ``output_tokens``,
``cache_read_tokens``, ``cache_creation_tokens``, ``tool_calls`` (list of
``(name, input_dict)``), ``error_status``.
"""

from __future__ import annotations

import json
from typing import Any

from ._server import FakeServer, Reply

__all__ = ["FakeAnthropic"]


class FakeAnthropic(FakeServer):
    def __init__(
        self,
        *,
        model: str = "claude-fake-1",
        reply: str = "Hello from the fake.",
        input_tokens: int = 21,
        output_tokens: int = 9,
        cache_read_tokens: int | None = None,
        cache_creation_tokens: int | None = None,
        tool_calls: list[tuple[str, dict[str, Any]]] | None = None,
        error_status: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.reply = reply
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cache_read_tokens = cache_read_tokens
        self.cache_creation_tokens = cache_creation_tokens
        self.tool_calls = list(tool_calls or [])
        self.error_status = error_status

    def respond(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if self.error_status is not None:
            return Reply(
                self.error_status,
                {"type": "error", "error": {"type": "api_error", "message": "fake failure"}},
            )
        if not path.endswith("/v1/messages"):
            return super().respond(method, path, query, body)
        body = body if isinstance(body, dict) else {}
        return Reply(events=self._events()) if body.get("stream") else Reply(body=self._message())

    def _usage(self, output_tokens: int) -> dict[str, Any]:
        usage: dict[str, Any] = {"input_tokens": self.input_tokens, "output_tokens": output_tokens}
        if self.cache_read_tokens is not None:
            usage["cache_read_input_tokens"] = self.cache_read_tokens
        if self.cache_creation_tokens is not None:
            usage["cache_creation_input_tokens"] = self.cache_creation_tokens
        return usage

    def _stop_reason(self) -> str:
        return "tool_use" if self.tool_calls else "end_turn"

    def _content(self) -> list[dict[str, Any]]:
        if self.tool_calls:
            return [
                {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": arguments}
                for i, (name, arguments) in enumerate(self.tool_calls)
            ]
        return [{"type": "text", "text": self.reply}]

    def _message(self) -> dict[str, Any]:
        return {
            "id": "msg_fake_1",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self._content(),
            "stop_reason": self._stop_reason(),
            "stop_sequence": None,
            "usage": self._usage(self.output_tokens),
        }

    def _events(self) -> list[tuple[str | None, Any]]:
        start = dict(self._message(), content=[], stop_reason=None, usage=self._usage(1))
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        for index, block in enumerate(self._content()):
            if block["type"] == "text":
                head = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": w} for w in _halves(block["text"])]
            else:
                head = dict(block, input={})
                text = json.dumps(block["input"])
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in _halves(text)]
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": head},
                )
            )
            for delta in deltas:
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop_reason(), "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [text[:middle], text[middle:]]
