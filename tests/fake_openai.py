"""A local OpenAI-compatible chat server for tests: real HTTP on loopback, so the real
``openai`` SDK and ``httpx`` raise their real error types (401, 429, 503, dropped
connections) at the roles.

``responder(request_json) -> Reply`` decides each answer; every request is logged with its
arrival time (``server.requests``). :func:`asks_by` tells which structured-output method a
request used, for responders that play a server honouring only some of them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One answer: a chat completion with ``content`` (and a ``tool_call``, ``{"name",
    "arguments"}``, if given), or an HTTP error ``status`` (with ``headers``), or
    ``drop=True`` to close the connection without answering."""

    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    tool_call: dict[str, Any] | None = None


@dataclass
class Logged:
    at: float
    body: dict[str, Any]
    reply: Reply


def completion(content: str, model: str, tool_call: dict[str, Any] | None = None) -> dict[str, Any]:
    words = len(content.split())
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_call is not None:
        arguments = tool_call["arguments"]
        message["content"] = content or None
        message["tool_calls"] = [
            {
                "id": "call_fake",
                "type": "function",
                "function": {
                    "name": tool_call["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_call is not None else "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words},
    }


class FakeOpenAI:
    """``with FakeOpenAI(responder) as server:`` then point a client at ``server.base_url``."""

    def __init__(self, responder: Callable[[dict[str, Any]], Reply]) -> None:
        self.responder = responder
        self.requests: list[Logged] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = outer.responder(body)
                with outer._lock:
                    outer.requests.append(Logged(time.monotonic(), body, reply))
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply.status == 200:
                    payload = completion(reply.content, body.get("model", "fake"), reply.tool_call)
                else:
                    payload = {"error": {"message": reply.content or "fake error", "type": "x"}}
                data = json.dumps(payload).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def model(self, name: str = "fake-model", **options: Any) -> Any:
        """A ``ChatOpenAI`` on this server (the SDK's own retries off, as the library's
        model specs set them)."""
        from langchain_openai import ChatOpenAI

        options.setdefault("max_retries", 0)
        return ChatOpenAI(model=name, base_url=self.base_url, api_key="sk-test", **options)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def role_of(body: dict[str, Any]) -> str:
    """Which of the library's roles sent a request, read off its prompt."""
    messages = body.get("messages") or []
    first = str(messages[0].get("content", "")) if messages else ""
    if "reviewing a chat between a user and an AI assistant" in json.dumps(messages):
        return "judge"
    if first.startswith("You are playing a human user"):
        return "simulated_user"
    return "assistant"


def asks_by(body: dict[str, Any]) -> str:
    """The structured-output method a request used: ``json_schema`` or ``json_mode`` (its
    ``response_format``), ``function_calling`` (``tools``), else ``text``."""
    kind = (body.get("response_format") or {}).get("type")
    if kind == "json_schema":
        return "json_schema"
    if kind == "json_object":
        return "json_mode"
    return "function_calling" if body.get("tools") else "text"


def tool_name(body: dict[str, Any]) -> str:
    """The name of the (first) tool a request offers."""
    return body["tools"][0]["function"]["name"]
