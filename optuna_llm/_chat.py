"""The words of a chat exchange with a model: messages, a request, a reply, and the client
protocol that answers one; plain data shared by the sampler, the audit log and the budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol
from typing import runtime_checkable


Message = dict[str, str]
"""One chat message: ``{"role": ..., "content": ...}``."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to ask for; without a schema, the answer is free text.

    ``retry`` False asks the client not to retry transport errors: the sampler sends requests
    that way once the endpoint has failed, so that a dead endpoint costs one timeout, not one
    per retry. A frozen dataclass.

    Attributes:
        messages: The chat messages, each ``{"role": ..., "content": ...}``.
        schema: The JSON schema the answer must follow, or ``None`` for free text.
        seed: The ``seed`` to send, for endpoints that honour it.
        temperature: The sampling temperature; ``None`` leaves the endpoint's default.
        max_tokens: Upper bound on the answer's tokens; ``None`` sends no bound.
        retry: Whether the client may retry transport errors.
    """

    messages: Sequence[Message]
    schema: dict[str, Any] | None
    seed: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    retry: bool = True


@dataclass(frozen=True)
class ChatReply:
    """The model's text and what it cost. A frozen dataclass.

    Attributes:
        text: The model's answer, as sent.
        response_format: The format the answer was asked for in: one of ``json_schema``,
            ``json_object_schema``, ``json_object`` and ``text``.
        latency: Seconds the request took.
        prompt_tokens: Prompt tokens, as the endpoint reported them; ``None`` if it did not.
        completion_tokens: Answer tokens, as the endpoint reported them; ``None`` if it did
            not.
    """

    text: str
    response_format: str
    latency: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@runtime_checkable
class LLMClient(Protocol):
    """Anything that answers chat requests; ``OpenAIChatClient`` is the usual one.

    Pass one as ``LLMSampler(client=...)`` to use a transport other than the ``openai``
    client. Its ``model`` and ``endpoint`` attributes, when it has them, name it in the audit
    log and in the sampler's log lines.

    Example:
        ```python
        from optuna_llm import ChatReply, ChatRequest, LLMSampler


        class MyClient:
            def complete(self, request: ChatRequest) -> ChatReply:
                text = ...  # the model's answer to request.messages, following request.schema
                return ChatReply(text=text, response_format="text", latency=0.0)


        sampler = LLMSampler(client=MyClient())
        ```
    """

    def complete(self, request: ChatRequest) -> ChatReply:
        """Answer the request; without retries of its own when ``request.retry`` is false.

        Raises:
            EndpointUnavailableError: The endpoint did not answer (refused, timed out, HTTP 5xx
                or 429); three in a row make the sampler stop asking for a while.
            ModelRequestError: No answer could be had for another reason.
            InvalidAnswerError: The answer was empty.
        """
        ...
