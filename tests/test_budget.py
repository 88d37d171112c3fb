from __future__ import annotations

import pickle
from typing import Any

import pytest

from optuna_llm import Budget
from optuna_llm import ChatReply
from optuna_llm._model.usage_meter import UsageMeter
from optuna_llm.budget import Usage


def _reply(prompt: int = 1000, completion: int = 100, latency: float = 0.5) -> ChatReply:
    return ChatReply("{}", "json_schema", latency, prompt, completion)


PRICED: dict[str, Any] = {
    "price_per_million_input_tokens": 0.15,
    "price_per_million_output_tokens": 0.6,
}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"max_requests": -1}, "max_requests"),
        ({"max_requests": 1.5}, "max_requests"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"requests_per_minute": -5}, "requests_per_minute"),
        ({"max_cost": 1.0}, "max_cost"),
        ({"max_cost": 1.0, "price_per_million_input_tokens": 1.0}, "max_cost"),
        ({"price_per_million_output_tokens": True}, "price_per_million_output_tokens"),
    ],
)
def test_invalid_budgets_raise_value_error(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        Budget(**kwargs)


def test_usage_adds_up_requests_tokens_cost_and_latency() -> None:
    budget = Budget(**PRICED)
    usage = Usage().plus(_reply(), budget).plus(_reply(2000, 50, 1.5), budget)
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens) == (2, 3000, 150)
    assert usage.total_tokens == 3150
    assert usage.latency == pytest.approx(2.0)
    assert usage.cost == pytest.approx((3000 * 0.15 + 150 * 0.6) / 1e6)


def test_usage_without_prices_has_no_cost() -> None:
    assert Usage().plus(_reply(), Budget(max_requests=3)).cost is None
    assert Usage().plus(_reply(), None).cost is None


def test_replies_without_token_counts_count_as_zero() -> None:
    usage = Usage().plus(ChatReply("{}", "text", 0.1), None)
    assert (usage.requests, usage.total_tokens) == (1, 0)


def test_request_limit_counts_claims() -> None:
    meter = UsageMeter(Budget(max_requests=2))
    assert meter.claim_request() is None
    assert meter.claim_request() is None
    assert meter.claim_request() == "budget: 2 requests spent"


def test_token_limit() -> None:
    meter = UsageMeter(Budget(max_tokens=1500))
    assert meter.claim_request() is None
    meter.add(Usage().plus(_reply(1000, 100), meter.budget))
    assert meter.claim_request() is None
    meter.add(Usage().plus(_reply(300, 100), meter.budget))
    assert meter.claim_request() == "budget: 1500 tokens spent"


def test_cost_limit() -> None:
    meter = UsageMeter(Budget(max_cost=0.0003, **PRICED))
    meter.add(Usage().plus(_reply(1000, 100), meter.budget))  # 0.00021
    assert meter.claim_request() is None
    meter.add(Usage().plus(_reply(1000, 100), meter.budget))
    assert meter.claim_request() == "budget: cost limit 0.0003 reached"
    assert meter.usage.cost == pytest.approx(0.00042)


def test_rate_limit_refuses_within_the_minute() -> None:
    meter = UsageMeter(Budget(requests_per_minute=3))
    assert [meter.claim_request() for _ in range(4)] == [
        None,
        None,
        None,
        "rate limit: 3 requests per minute",
    ]


def test_rate_limit_frees_up_after_a_minute() -> None:
    meter = UsageMeter(Budget(requests_per_minute=1))
    assert meter.claim_request() is None
    # The window is a minute of monotonic time; age the recorded request instead of waiting.
    meter._recent_requests[0] -= 61.0
    assert meter.claim_request() is None


def test_no_budget_never_refuses() -> None:
    meter = UsageMeter(None)
    assert all(meter.claim_request() is None for _ in range(100))


def test_meter_pickles() -> None:
    meter = UsageMeter(Budget(max_requests=5))
    meter.add(Usage().plus(_reply(), meter.budget))
    copy = pickle.loads(pickle.dumps(meter))
    assert copy.usage == meter.usage
    assert copy.claim_request() is None


def test_failed_requests_count_apart_from_answered_ones() -> None:
    usage = Usage().plus(_reply(latency=1.0), None).plus_failure(2.0).plus_failure(2.5)
    assert (usage.requests, usage.latency) == (1, 1.0)
    assert (usage.failed_requests, usage.failed_seconds) == (2, 4.5)
    total = usage + Usage().plus_failure(1.0)
    assert (total.failed_requests, total.failed_seconds) == (3, 5.5)
    meter = UsageMeter(None)
    meter.add(total)
    assert meter.usage == total
