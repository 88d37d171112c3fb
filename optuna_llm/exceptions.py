"""Errors raised by optuna-llm.

Every error derives from [`OptunaLLMError`][optuna_llm.exceptions.OptunaLLMError], whose
``retryable`` attribute says whether asking again can help:

```text
OptunaLLMError
├── ModelRequestError          the request failed: unreachable, timed out, rejected, no answer
│   └── EndpointUnavailableError   the endpoint itself did not answer: refused, timed out,
│                                  HTTP 5xx, or 429 past its Retry-After
├── InvalidAnswerError         the model answered, but not with a usable configuration
└── LocalModelError            the bundled local model or its server cannot run
```

Inside [`LLMSampler`][optuna_llm.LLMSampler] these never reach ``study.optimize``: the sampler
logs one line and lets its fallback sampler propose the trial instead. They surface only from
the lower-level helpers and from configuration mistakes, which raise ``ValueError`` at
construction as Optuna's own samplers do. Only
[`ReplayMismatchError`][optuna_llm.audit.ReplayMismatchError], raised by a strict replay,
stops a study, on purpose: a replay that diverges from its recording should fail loudly.
"""

from __future__ import annotations


class OptunaLLMError(Exception):
    """Base class of every optuna-llm error.

    Attributes:
        retryable: Whether the same request may succeed if sent again.
    """

    retryable: bool = False


class ModelRequestError(OptunaLLMError):
    """The model could not be asked: connection refused, timeout, HTTP error, empty reply.

    The ``openai`` client has already retried transport errors by the time this is raised.
    """

    retryable = True


class EndpointUnavailableError(ModelRequestError):
    """The endpoint did not answer: connection refused, timeout, HTTP 5xx, or 429 after retries.

    These are the failures that say the endpoint is down rather than the answer being wrong.
    Three in a row make [`LLMSampler`][optuna_llm.LLMSampler] stop asking for a while (see
    [a dead endpoint][a-dead-endpoint]); a client of your own can raise it to the same effect.
    """


class InvalidAnswerError(OptunaLLMError):
    """The model's answer was not a usable configuration.

    The message is written for the model: it is sent back verbatim in the one re-ask.
    """

    retryable = True


class LocalModelError(OptunaLLMError):
    """The local model server cannot run.

    A missing extra, a missing or corrupt model, a taken port, or a server that died on start;
    the message says what to do.
    """
