"""A loopback OpenAI-compatible chat model shared by the framework tests.

One agent invocation asks one question: the first chat completion asks for the
``get_weather`` tool, the next one (once the tool's result is in the
conversation) answers with text, both with usage. Frameworks that finish
through a ``final_answer`` tool (smolagents) are answered with that tool call
instead. Streaming is served when a request asks for it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ANSWER",
    "MODEL",
    "QUESTION",
    "TOOL_ARGUMENTS",
    "TOOL_NAME",
    "TOOL_RESULT",
    "USAGE",
    "FakeModel",
    "get_weather",
]

MODEL = "gpt-4o-mini"
QUESTION = "What is the weather in Paris?"
ANSWER = "It is sunny in Paris, 22 C."
TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = {"city": "Paris"}
TOOL_RESULT = "Sunny, 22 C"
# (prompt, completion) tokens of the tool-call turn and of the answer turn.
USAGE = ((20, 5), (30, 8))


def get_weather(city: str) -> str:
    """Return the current weather in a city."""
    return TOOL_RESULT if city == "Paris" else "unknown"


class FakeModel:
    """``with FakeModel() as fake: fake.base_url`` (ends in /v1); ``calls`` counts completions."""

    def __init__(self) -> None:
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(self, body: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, int]]:
        """The assistant message for ``body`` and its (prompt, completion) usage."""
        with self._lock:
            self.calls += 1
            self.requests.append(body)
        conversation = json.dumps(body.get("messages", []))
        tools = [t.get("function", {}).get("name") for t in body.get("tools") or []]
        if TOOL_RESULT not in conversation:
            return _tool_call(TOOL_NAME, TOOL_ARGUMENTS, "call_1"), USAGE[0]
        if "final_answer" in tools:
            return _tool_call("final_answer", {"answer": ANSWER}, "call_2"), USAGE[1]
        return {"role": "assistant", "content": ANSWER}, USAGE[1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                message, (prompt, completion) = fake.reply(body)
                usage = {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                if body.get("stream"):
                    self._stream(message, usage, finish)
                    return
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{fake.calls}",
                        "object": "chat.completion",
                        "created": 1_760_000_000,
                        "model": MODEL,
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": usage,
                    },
                )

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, message: dict[str, Any], usage: dict[str, int], finish: str) -> None:
                base = {
                    "id": f"chatcmpl-{fake.calls}",
                    "object": "chat.completion.chunk",
                    "created": 1_760_000_000,
                    "model": MODEL,
                }
                deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
                if message.get("tool_calls"):
                    call = message["tool_calls"][0]
                    deltas.append({"tool_calls": [{"index": 0, **call}]})
                else:
                    deltas.append({"content": message["content"]})
                chunks = [
                    {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]}
                    for d in deltas
                ]
                chunks.append(
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
                )
                chunks.append({**base, "choices": [], "usage": usage})
                payload = (
                    b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
                    + b"data: [DONE]\n\n"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _tool_call(name: str, arguments: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }
