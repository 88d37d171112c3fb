"""Test doubles for code that uses [`LLMSampler`][optuna_llm.LLMSampler].

[`ScriptedLLMServer`][optuna_llm.testing.ScriptedLLMServer] is a real OpenAI-compatible HTTP
server on 127.0.0.1 whose answers come from a list or a function, so tests exercise the real
``openai`` client and network stack and script only what the model says:

```python
from optuna_llm import LLMSampler
from optuna_llm.testing import ScriptedLLMServer, answer

with ScriptedLLMServer([answer({"x": 1.5})]) as server:
    sampler = LLMSampler(model=server.model, client=server.client())
    ...
```

[`RandomAnswers`][optuna_llm.testing.RandomAnswers] answers any request with a valid random
configuration drawn from the JSON schema the sampler sends, which makes a sampler that works
like a model that always obeys.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import json
import random
import sys
import threading
import time
from types import TracebackType
from typing import Any

import openai


LLAMA_CPP_FORMAT_ERROR = "Input should be 'text' or 'json_object'"
"""The message with which llama.cpp's server rejects a response format it does not take."""


@dataclass(frozen=True)
class ChatCall:
    """One request the server received.

    Attributes:
        body: The request's JSON body.
    """

    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request."""
        return list(self.body.get("messages", []))

    @property
    def prompt(self) -> str:
        """All message contents, joined."""
        return "\n\n".join(str(m.get("content", "")) for m in self.messages)

    @property
    def response_format(self) -> str:
        """The format asked for: ``json_schema``, ``json_object_schema`` (a JSON object with a
        schema), ``json_object`` or ``text``."""
        requested = self.body.get("response_format") or {}
        kind = requested.get("type", "text")
        if kind == "json_object" and "schema" in requested:
            return "json_object_schema"
        return str(kind)

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema of the answer, when the request carried one."""
        requested = self.body.get("response_format") or {}
        if "json_schema" in requested:
            return dict(requested["json_schema"].get("schema") or {})
        schema = requested.get("schema")
        return dict(schema) if isinstance(schema, dict) else None


@dataclass(frozen=True)
class Reply:
    """A scripted answer: the model's text, or an HTTP failure.

    Args:
        content: The message text; None sends a message without content.
        status: The HTTP status code.
        body: Raw bytes to send instead of a chat completion.
        headers: Extra HTTP headers, e.g. ``{"Retry-After": "1"}``.
        delay: Seconds to wait before answering.
        refusal: A refusal message instead of content.
        choices: False sends a completion without choices.
    """

    content: str | None = ""
    status: int = 200
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    refusal: str | None = None
    choices: bool = True


Script = Callable[[ChatCall], "str | Reply"] | Iterable["str | Reply"]
"""What a [`ScriptedLLMServer`][optuna_llm.testing.ScriptedLLMServer] answers from: answers in
order, or a function from the request to the answer."""


def answer(params: Mapping[str, Any], rationale: str = "Scripted proposal.") -> str:
    """A well-formed answer proposing ``params``."""
    return json.dumps({"rationale": rationale, "params": dict(params)})


class RandomAnswers:
    """Answers each request with random valid values drawn from the request's schema.

    Args:
        seed: Seeds the draws; the request's own ``seed`` is ignored.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self, call: ChatCall) -> str | Reply:
        """A well-formed answer with a random valid value for every parameter of the schema.

        A request without a schema gets HTTP 400.
        """
        schema = call.schema
        if schema is None:
            message = {"error": {"message": "RandomAnswers needs a request with a schema."}}
            return Reply(status=400, content=None, body=json.dumps(message).encode())
        properties = schema["properties"]["params"]["properties"]
        with self._lock:
            params = {name: self._draw(spec) for name, spec in properties.items()}
        return answer(params, rationale="Random draw.")

    def _draw(self, spec: Mapping[str, Any]) -> Any:
        if "enum" in spec:
            return self._random.choice(spec["enum"])
        low, high = spec["minimum"], spec["maximum"]
        if spec["type"] == "integer":
            return self._random.randint(low, high)
        return self._random.uniform(low, high)


class _QuietHTTPServer(ThreadingHTTPServer):
    """Says nothing when a client hangs up early, as a client refusing a huge answer does."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ScriptedLLMServer:
    """An OpenAI-compatible chat completions server on 127.0.0.1 that answers from a script.

    Use it as a context manager, or call [`start`][optuna_llm.testing.ScriptedLLMServer.start]
    and [`stop`][optuna_llm.testing.ScriptedLLMServer.stop].

    Args:
        script: A list of answers given in order, or a function from the request to the
            answer. An answer is the model's text, or a [`Reply`][optuna_llm.testing.Reply] for
            anything else. Once a list is used up, the server answers HTTP 500.
        model: The model name the server reports.
        accepted_formats: Response formats the server accepts; others are rejected with HTTP
            500 and llama.cpp's message, as llama.cpp's server does for ``json_schema``.

    Attributes:
        model: The model name the server reports.
        requests: Every request received, as [`ChatCall`][optuna_llm.testing.ChatCall]s in
            order, including those a format was rejected in.
    """

    def __init__(
        self,
        script: Script,
        *,
        model: str = "scripted-model",
        accepted_formats: Iterable[str] = (
            "json_schema",
            "json_object_schema",
            "json_object",
            "text",
        ),
    ) -> None:
        self.model = model
        self.requests: list[ChatCall] = []
        self._accepted = frozenset(accepted_formats)
        self._lock = threading.Lock()
        if callable(script):
            self._respond: Callable[[ChatCall], str | Reply] = script
        else:
            replies = iter(list(script))

            def next_reply(call: ChatCall) -> str | Reply:
                with self._lock:
                    reply = next(replies, None)
                if reply is None:
                    return Reply(status=500, content=None, body=b'{"error": "script exhausted"}')
                return reply

            self._respond = next_reply
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The server's endpoint, ``http://127.0.0.1:PORT/v1``.

        Raises:
            RuntimeError: The server is not running.
        """
        if self._server is None:
            raise RuntimeError("The server is not running; use it as a context manager.")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def client(self, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` client for this server; keyword arguments go to the client."""
        kwargs.setdefault("api_key", "scripted-key")
        return openai.OpenAI(base_url=self.base_url, **kwargs)

    def start(self) -> None:
        """Start serving on a free port of 127.0.0.1, in a background thread."""
        self._server = _QuietHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scripted-llm-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wait for the server's thread; safe to call more than once."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> ScriptedLLMServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _reply_to(self, call: ChatCall) -> Reply:
        with self._lock:
            self.requests.append(call)
        if call.response_format not in self._accepted:
            error = {"error": {"message": LLAMA_CPP_FORMAT_ERROR, "type": "internal_server_error"}}
            return Reply(status=500, content=None, body=json.dumps(error).encode())
        reply = self._respond(call)
        return Reply(content=reply) if isinstance(reply, str) else reply

    def _completion(self, call: ChatCall, reply: Reply) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        prompt_tokens = len(call.prompt) // 4 + 1
        completion_tokens = len(reply.content or "") // 4 + 1
        choices = [{"index": 0, "message": message, "finish_reason": "stop"}]
        completion = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices if reply.choices else [],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return json.dumps(completion).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without this the body waits for the
            # client's delayed acknowledgement, about 40 ms a request.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    models = {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                    self._send(200, json.dumps(models).encode(), {})
                else:
                    self._send(404, b'{"error": "not found"}', {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(400, b'{"error": {"message": "invalid JSON"}}', {})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": "not found"}', {})
                    return
                call = ChatCall(body)
                reply = server._reply_to(call)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if reply.body is not None else server._completion(call, reply)
                self._send(reply.status, payload, reply.headers)

            def _send(self, status: int, payload: bytes, headers: Mapping[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # The client gave up, e.g. after its timeout.

        return Handler
