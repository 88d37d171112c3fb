"""Talking to a model: the ``LLMClient`` protocol, its OpenAI-compatible implementation, and
the one place that builds a client from the user's arguments (:func:`make_client`).

The only module that sends requests through ``openai`` (``testing`` and ``local`` merely hand
users a ready ``openai.OpenAI`` for their servers). Transport errors are retried by the
``openai`` client itself (``max_retries``, honouring ``Retry-After``); this module adds only what
differs between OpenAI-compatible servers: which structured response format an endpoint
accepts. It tries the most structured one first, steps down at once when the endpoint rejects
it, and remembers what worked. Failures that mean the endpoint itself did not answer raise
:class:`~optuna_llm.EndpointUnavailableError`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import openai

from optuna_llm._chat import ChatReply
from optuna_llm._chat import ChatRequest
from optuna_llm._chat import LLMClient
from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm.exceptions import EndpointUnavailableError
from optuna_llm.exceptions import InvalidAnswerError
from optuna_llm.exceptions import ModelRequestError


RESPONSE_FORMATS = ("json_schema", "json_object_schema", "json_object", "text")
"""Request formats from most to least structured.

``json_schema`` is OpenAI's structured output; ``json_object_schema`` is a JSON object with a
``schema`` field, which llama.cpp's server turns into a grammar; ``json_object`` is plain JSON
mode; ``text`` asks for nothing and relies on the prompt and tolerant parsing.
"""

# A real answer is bounded by max_tokens (a few KB); a response far larger than that comes
# from a broken or hostile server and is refused before it is read or parsed.
MAX_RESPONSE_BYTES = 1_000_000
MAX_ANSWER_CHARS = 100_000

_REJECTION_HINTS = ("response_format", "json_schema", "json_object", "'text'", "schema")
_PLACEHOLDER_API_KEY = "not-needed"
_SECRET_LIKE = re.compile(r"(?:sk|key|token)-[A-Za-z0-9_\-*.]{4,}", re.IGNORECASE)


class OpenAIChatClient(PicklesWithoutLock):
    """Chat completions from any OpenAI-compatible endpoint through the ``openai`` client.

    The [`LLMClient`][optuna_llm.LLMClient] the sampler uses by default, built from its
    ``model``, ``client`` and ``base_url``.

    The object pickles without its ``openai`` client or any API key; after unpickling, a
    client is rebuilt from the base URL and the environment.

    Args:
        model: The model name the endpoint serves.
        client: A ready ``openai.OpenAI`` client. Without one, a client is built on first use
            from ``base_url`` and the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``).
        base_url: The endpoint, e.g. ``http://127.0.0.1:8080/v1``, when no client is given.
        timeout: Seconds to wait for one HTTP request.
        max_retries: Retries of transport errors, made by the ``openai`` client.
    """

    def __init__(
        self,
        *,
        model: str,
        client: openai.OpenAI | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self._client = client
        self._base_url = str(client.base_url) if client is not None else base_url
        self._timeout = timeout
        self._max_retries = max_retries
        self._formats = list(RESPONSE_FORMATS)
        self._confirmed_format: str | None = None
        self._token_limit_param = "max_tokens"
        self._lock = threading.Lock()

    @property
    def response_format(self) -> str:
        """The most structured response format not yet rejected by the endpoint."""
        return self._formats[0]

    @property
    def endpoint(self) -> str:
        """The endpoint's scheme, host and path, without credentials."""
        url = urlsplit(self._base_url or os.environ.get("OPENAI_BASE_URL") or "")
        if not url.hostname:
            return "api.openai.com"
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.hostname}{port}{url.path}".rstrip("/")

    def __repr__(self) -> str:
        return f"OpenAIChatClient(model={self.model!r}, endpoint={self.endpoint!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_client": None}

    def complete(self, request: ChatRequest) -> ChatReply:
        """Answer the request in the most structured format the endpoint accepts.

        A format the endpoint rejects is dropped at once, without retries, and the next one
        tried; the format that worked is remembered.

        Raises:
            EndpointUnavailableError: The endpoint did not answer: refused, timed out, HTTP
                5xx or 429.
            ModelRequestError: Any other HTTP error, a refusal, a response with no choices,
                or one that is unreadable or too large.
            InvalidAnswerError: The answer was empty.
        """
        while True:
            response_format = self._formats[0] if request.schema is not None else "text"
            probing = request.schema is not None and self._confirmed_format != response_format
            try:
                return self._complete_once(request, response_format, probing)
            except openai.APIStatusError as error:
                if not probing or not self._step_down(response_format, error):
                    detail = self._redact(str(error.message))[:300]
                    unavailable = error.status_code >= 500 or error.status_code == 429
                    raise (EndpointUnavailableError if unavailable else ModelRequestError)(
                        f"HTTP {error.status_code} from the endpoint: {detail}"
                    ) from error
            except openai.APITimeoutError as error:
                raise EndpointUnavailableError(f"no answer within {self._timeout:g} s.") from error
            except openai.APIConnectionError as error:
                if isinstance(error.__cause__, ResponseTooLargeError):
                    raise ModelRequestError(str(error.__cause__)) from error
                raise EndpointUnavailableError(f"cannot reach {self.endpoint}.") from error
            except openai.OpenAIError as error:
                raise ModelRequestError(self._redact(str(error))) from error
            except ValueError as error:
                # The body was not JSON, or not UTF-8: a proxy's error page, a cut connection.
                detail = self._redact(str(error))[:200]
                raise ModelRequestError(
                    f"unreadable response from the endpoint: {detail}"
                ) from error

    def _complete_once(
        self, request: ChatRequest, response_format: str, probing: bool
    ) -> ChatReply:
        client = self._openai_client()
        retries = client.max_retries if request.retry else 0
        kwargs = self._request_kwargs(request, response_format)
        start = time.perf_counter()
        try:
            # A probe of a format not yet known to work is not retried: servers that reject a
            # format do so at once, often with an HTTP 500 the client would retry twice. Any
            # other failure of the probe spends one of the retries.
            first_try = _with_retries(client, 0 if probing else retries)
            completion = first_try.chat.completions.create(**kwargs)
        except openai.APIStatusError as error:
            if _is_token_limit_rejection(error) and self._token_limit_param == "max_tokens":
                self._token_limit_param = "max_completion_tokens"
                return self._complete_once(request, response_format, probing)
            if _is_format_rejection(error) or not probing or retries == 0:
                raise
            time.sleep(min(_retry_after(error), self._timeout))
            completion = _with_retries(client, retries - 1).chat.completions.create(**kwargs)
        except (openai.APIConnectionError, openai.APITimeoutError):
            if not probing or retries == 0:
                raise
            completion = _with_retries(client, retries - 1).chat.completions.create(**kwargs)
        latency = time.perf_counter() - start
        if request.schema is not None:
            with self._lock:
                self._confirmed_format = response_format
        return _reply_from(completion, response_format, latency)

    def _request_kwargs(self, request: ChatRequest, response_format: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "timeout": self._timeout,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None:
            kwargs[self._token_limit_param] = request.max_tokens
        if response_format == "json_schema":
            strict = _every_property_required(request.schema)
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "configuration",
                    "schema": request.schema,
                    "strict": strict,
                },
            }
        elif response_format == "json_object_schema":
            kwargs["response_format"] = {"type": "json_object", "schema": request.schema}
        elif response_format == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def _step_down(self, response_format: str, error: openai.APIStatusError) -> bool:
        """Drop a format the endpoint rejected; False when it was not a rejection of it."""
        if not _is_format_rejection(error) or len(self._formats) == 1:
            return False
        with self._lock:
            if self._formats[0] == response_format:
                self._formats.pop(0)
        return True

    def _redact(self, text: str) -> str:
        """``redact``, also hiding the key of a client the user passed in."""
        return redact(text, self._client.api_key if self._client is not None else None)

    def _openai_client(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                self._client = _build_openai_client(
                    self._base_url, timeout=self._timeout, max_retries=self._max_retries
                )
            return self._client


ClientLike = openai.OpenAI | LLMClient
"""What users may pass as ``client``: a ready ``openai.OpenAI`` or any :class:`LLMClient`."""


def is_client(value: object) -> bool:
    return isinstance(value, openai.OpenAI | LLMClient)


def make_client(
    *,
    model: str | None,
    client: ClientLike | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    max_retries: int = 2,
) -> LLMClient:
    """The client to ask: ``client`` itself when it is an :class:`LLMClient`, else an
    :class:`OpenAIChatClient` for ``model`` over ``client`` or ``base_url``.

    Raises:
        ValueError: Neither a model name nor an ``LLMClient`` was given.
    """
    if isinstance(client, LLMClient):
        return client
    if not model:
        raise ValueError(
            "No model to ask: pass `model` (with `base_url` for a local server) or an LLMClient."
        )
    return OpenAIChatClient(
        model=model, client=client, base_url=base_url, timeout=timeout, max_retries=max_retries
    )


def _with_retries(client: openai.OpenAI, max_retries: int) -> openai.OpenAI:
    if max_retries == client.max_retries:
        return client
    return client.with_options(max_retries=max_retries)


def _build_openai_client(
    base_url: str | None, *, timeout: float, max_retries: int
) -> openai.OpenAI:
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    api_key = os.environ.get("OPENAI_API_KEY")
    if api_key is None and base_url is not None:
        # Local servers (llama.cpp, Ollama, vLLM, LM Studio) need no key, but the client does.
        api_key = _PLACEHOLDER_API_KEY
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=max_retries,
        http_client=openai.DefaultHttpxClient(event_hooks={"response": [_refuse_large_response]}),
    )


def _retry_after(error: openai.APIStatusError) -> float:
    """Seconds the server asked to wait (``Retry-After``), as the openai client reads them."""
    value = error.response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    return seconds if 0 < seconds <= 60 else 0.0


class ResponseTooLargeError(Exception):
    """The endpoint announced a response larger than :data:`MAX_RESPONSE_BYTES`."""


def _refuse_large_response(response: Any) -> None:
    """Refuse an oversized body from its headers, before it is read."""
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise ResponseTooLargeError(
            f"the response is {int(declared):,} bytes, over the {MAX_RESPONSE_BYTES:,} accepted."
        )


def _reply_from(completion: Any, response_format: str, latency: float) -> ChatReply:
    if not getattr(completion, "choices", None):
        raise ModelRequestError("the endpoint answered with no choices.")
    message = completion.choices[0].message
    if getattr(message, "refusal", None):
        raise ModelRequestError(f"the model refused: {str(message.refusal)[:200]}")
    text = message.content
    if not isinstance(text, str) or not text.strip():
        raise InvalidAnswerError("The answer was empty.")
    if len(text) > MAX_ANSWER_CHARS:
        raise ModelRequestError(
            f"the answer is {len(text):,} characters, over the {MAX_ANSWER_CHARS:,} accepted."
        )
    usage = getattr(completion, "usage", None)
    return ChatReply(
        text=text,
        response_format=response_format,
        latency=latency,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )


def _every_property_required(schema: Any) -> bool:
    """Whether OpenAI's strict mode can take the schema: every object requires every property."""
    if isinstance(schema, dict):
        if "properties" in schema and set(schema.get("required", ())) != set(schema["properties"]):
            return False
        return all(_every_property_required(value) for value in schema.values())
    if isinstance(schema, list):
        return all(_every_property_required(value) for value in schema)
    return True


def _error_text(error: openai.APIStatusError) -> str:
    return f"{error.message} {error.body}".lower()


def _is_format_rejection(error: openai.APIStatusError) -> bool:
    return error.status_code in (400, 415, 422, 500, 501) and any(
        hint in _error_text(error) for hint in _REJECTION_HINTS
    )


def _is_token_limit_rejection(error: openai.APIStatusError) -> bool:
    text = _error_text(error)
    return error.status_code == 400 and "max_tokens" in text and "max_completion_tokens" in text


def redact(text: str, *secrets: str | None) -> str:
    """Hide anything that looks like an API key, the key in the environment, and ``secrets``."""
    for secret in (os.environ.get("OPENAI_API_KEY"), *secrets):
        if secret and secret != _PLACEHOLDER_API_KEY:
            text = text.replace(secret, "***")
    return _SECRET_LIKE.sub("***", text)
