"""Limits on what the model may cost, and what it has cost so far.

[`Budget`][optuna_llm.budget.Budget] is plain data; [`Usage`][optuna_llm.budget.Usage] adds up
requests, tokens, cost and latency. When a limit is reached the sampler stops asking the model
and the classical sampler proposes instead, with one log line. Prices are the user's, per
million tokens: the package holds no price table.

Example:
    ```python
    from optuna_llm import Budget, LLMSampler

    budget = Budget(
        max_cost=2.0,
        price_per_million_input_tokens=0.15,
        price_per_million_output_tokens=0.60,
        requests_per_minute=30,
    )
    sampler = LLMSampler(model="gpt-4o-mini", budget=budget)
    ...
    print(sampler.usage)
    ```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import fields
from typing import Literal

from optuna_llm._chat import ChatReply


@dataclass(frozen=True)
class Budget:
    """Limits on the model's use; ``None`` means no limit.

    A frozen dataclass. By default the limits hold for the study: every worker process and
    every resumed run counts the requests, tokens and cost booked on the study's trials in its
    storage, and each request is claimed there before it is sent. Workers that claim at the
    same moment can each send one request past ``max_requests``, so the study's overshoot is at
    most one request per worker process. Tokens and cost are known once a request is back, so
    requests under way count only then. ``requests_per_minute`` is a rate of one process's
    requests to its endpoint, whatever the scope.

    Args:
        max_requests: Chat requests in all, re-asks included.
        max_tokens: Prompt and answer tokens in all, as the endpoint reports them.
        max_cost: Cost in all, in the currency of the prices; needs both prices.
        price_per_million_input_tokens: Price of a million prompt tokens.
        price_per_million_output_tokens: Price of a million answer tokens.
        requests_per_minute: Requests in any 60-second window; trials past it go to the
            classical sampler instead of waiting.
        scope: ``"study"`` (the default) for limits on the whole study, across workers and
            runs; ``"sampler"`` for limits on one sampler object (its threads share them;
            each worker process and each run has its own).

    Raises:
        ValueError: A limit or price is negative or not a number, a count is not an integer,
            ``max_cost`` is given without both prices, or ``scope`` is unknown; the message
            names the field.
    """

    max_requests: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    price_per_million_input_tokens: float | None = None
    price_per_million_output_tokens: float | None = None
    requests_per_minute: float | None = None
    scope: Literal["study", "sampler"] = "study"

    def __post_init__(self) -> None:
        if self.scope not in ("study", "sampler"):
            raise ValueError(f"`scope` must be 'study' or 'sampler', got {self.scope!r}.")
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None or spec.name == "scope":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"`{spec.name}` must be a non-negative number, got {value!r}.")
        for name in ("max_requests", "max_tokens"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, int):
                raise ValueError(f"`{name}` must be an integer, got {value!r}.")
        if self.max_cost is not None and not self.priced:
            raise ValueError(
                "`max_cost` needs `price_per_million_input_tokens` and "
                "`price_per_million_output_tokens`."
            )

    @property
    def limits_totals(self) -> bool:
        """Whether a limit on requests, tokens or cost is set."""
        return any(
            limit is not None for limit in (self.max_requests, self.max_tokens, self.max_cost)
        )

    @property
    def priced(self) -> bool:
        """Whether both prices are given, so that requests have a cost."""
        return (
            self.price_per_million_input_tokens is not None
            and self.price_per_million_output_tokens is not None
        )

    def cost_of(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The cost of the tokens at this budget's prices, or None without prices."""
        if (
            self.price_per_million_input_tokens is None
            or self.price_per_million_output_tokens is None
        ):
            return None
        return (
            prompt_tokens * self.price_per_million_input_tokens
            + completion_tokens * self.price_per_million_output_tokens
        ) / 1e6


@dataclass(frozen=True)
class Usage:
    """What the model has been used for: requests, tokens, cost and time spent waiting.

    ``requests``, the tokens, ``cost`` and ``latency`` count the requests that got an answer;
    ``failed_requests`` and ``failed_seconds`` the ones that did not (refused, timed out, an
    HTTP error), which is what an unavailable endpoint costs. A frozen dataclass; two usages
    add up with ``+``.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency: float = 0.0
    failed_requests: int = 0
    failed_seconds: float = 0.0

    @property
    def all_requests(self) -> int:
        """Requests in all, answered or not."""
        return self.requests + self.failed_requests

    @property
    def total_tokens(self) -> int:
        """Prompt and answer tokens together."""
        return self.prompt_tokens + self.completion_tokens

    def describe(self) -> str:
        """One line for people: requests, failed ones, tokens, waiting time and cost."""
        failed = f" ({self.failed_requests} failed)" if self.failed_requests else ""
        cost = f", cost {self.cost:.6g}" if self.cost is not None else ""
        seconds = self.latency + self.failed_seconds
        return (
            f"{self.all_requests} requests{failed}, "
            f"{self.total_tokens} tokens, {seconds:.1f} s waiting for the model{cost}"
        )

    def __add__(self, other: Usage) -> Usage:
        costs = [cost for cost in (self.cost, other.cost) if cost is not None]
        return Usage(
            requests=self.requests + other.requests,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost=sum(costs) if costs else None,
            latency=self.latency + other.latency,
            failed_requests=self.failed_requests + other.failed_requests,
            failed_seconds=self.failed_seconds + other.failed_seconds,
        )

    def plus(self, reply: ChatReply, budget: Budget | None) -> Usage:
        """This usage with one more reply added."""
        prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
        cost = budget.cost_of(prompt, completion) if budget is not None else None
        return dataclasses.replace(
            self,
            requests=self.requests + 1,
            prompt_tokens=self.prompt_tokens + prompt,
            completion_tokens=self.completion_tokens + completion,
            cost=None if cost is None else (self.cost or 0.0) + cost,
            latency=self.latency + reply.latency,
        )

    def plus_failure(self, seconds: float) -> Usage:
        """This usage with one more request that got no answer after ``seconds``."""
        return dataclasses.replace(
            self,
            failed_requests=self.failed_requests + 1,
            failed_seconds=self.failed_seconds + seconds,
        )
