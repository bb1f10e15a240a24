"""A loopback endpoint speaking the Gemini API's generateContent (JSON and SSE).

    with FakeGoogle() as fake:
        client = genai.Client(
            api_key="test", http_options=types.HttpOptions(base_url=fake.base_url)
        )

Settable: ``model``, ``reply``, ``input_tokens``, ``output_tokens``,
``cached_tokens``, ``tool_calls`` (list of ``(name, args_dict)``), ``error_status``.
"""

from __future__ import annotations

from typing import Any

from ._server import FakeServer, Reply

__all__ = ["FakeGoogle"]

_STATUS_NAMES = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}


class FakeGoogle(FakeServer):
    def __init__(
        self,
        *,
        model: str = "gemini-fake-001",
        reply: str = "Hello from the fake.",
        input_tokens: int = 31,
        output_tokens: int = 13,
        cached_tokens: int | None = None,
        tool_calls: list[tuple[str, dict[str, Any]]] | None = None,
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

    def respond(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if self.error_status is not None:
            status = _STATUS_NAMES.get(self.error_status, "UNKNOWN")
            error = {"code": self.error_status, "message": "fake failure", "status": status}
            return Reply(self.error_status, {"error": error})
        if path.endswith(":generateContent"):
            return Reply(body=self._response(final=True))
        if path.endswith(":streamGenerateContent"):
            return Reply(events=self._events())
        return super().respond(method, path, query, body)

    def _usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "promptTokenCount": self.input_tokens,
            "candidatesTokenCount": self.output_tokens,
            "totalTokenCount": self.input_tokens + self.output_tokens,
        }
        if self.cached_tokens is not None:
            usage["cachedContentTokenCount"] = self.cached_tokens
        return usage

    def _parts(self) -> list[dict[str, Any]]:
        if self.tool_calls:
            return [{"functionCall": {"name": n, "args": a}} for n, a in self.tool_calls]
        return [{"text": self.reply}]

    def _response(
        self, *, final: bool, parts: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": self._parts() if parts is None else parts},
            "index": 0,
        }
        if final:
            candidate["finishReason"] = "STOP"
        response: dict[str, Any] = {
            "candidates": [candidate],
            "modelVersion": self.model,
            "responseId": "resp-google-1",
        }
        if final:
            response["usageMetadata"] = self._usage()
        return response

    def _events(self) -> list[tuple[str | None, Any]]:
        if self.tool_calls:
            return [(None, self._response(final=True))]
        words = self.reply.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        events: list[tuple[str | None, Any]] = [
            (None, self._response(final=False, parts=[{"text": p}])) for p in pieces[:-1]
        ]
        events.append((None, self._response(final=True, parts=[{"text": pieces[-1]}])))
        return events
