from __future__ import annotations

from pathlib import Path
import pickle
from typing import Any

import optuna
from optuna.samplers import TPESampler
import pytest

from optuna_llm import Budget
from optuna_llm import ChatReply
from optuna_llm import LLMSampler
from optuna_llm import study_usage
from optuna_llm._model.usage_meter import UsageMeter
from optuna_llm.budget import Usage
from optuna_llm.schedules import Always
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


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
        ({"scope": "worker"}, "scope"),
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


def _sphere(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -5, 5) ** 2 + trial.suggest_float("y", -5, 5) ** 2


def _sampler(server: ScriptedLLMServer, budget: Budget) -> LLMSampler:
    return LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        schedule=Always(),
        budget=budget,
        fallback_sampler=TPESampler(seed=0),
    )


@pytest.mark.parametrize(("scope", "sent"), [("study", 3), ("sampler", 6)])
def test_a_study_budget_holds_across_resumed_runs(tmp_path: Path, scope: str, sent: int) -> None:
    storage = f"sqlite:///{tmp_path / 'budget.db'}"
    budget = Budget(max_requests=3, scope=scope)  # type: ignore[arg-type]
    optuna.create_study(study_name="budget", storage=storage)
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        for _ in range(2):  # a run, then a resumed run with a new sampler
            sampler = _sampler(server, budget)
            study = optuna.load_study(study_name="budget", storage=storage, sampler=sampler)
            study.optimize(_sphere, n_trials=5)
    assert len(server.requests) == sent
    assert study_usage(study).requests == sent
    # Trial 0 has no known parameter; the other nine ask the model or meet the budget.
    reasons = [t.user_attrs.get("llm:reason", "") for t in study.trials]
    assert sum("budget: 3 requests spent" in reason for reason in reasons) == 9 - sent


def _usage_of(sampler: optuna.samplers.BaseSampler) -> Usage:
    assert isinstance(sampler, LLMSampler)
    return sampler.usage


def test_study_usage_adds_up_every_sampler_and_ignores_copies(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'usage.db'}"
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        study = optuna.create_study(storage=storage, sampler=_sampler(server, Budget()))
        study.optimize(_sphere, n_trials=3)
        first = _usage_of(study.sampler)
        study.sampler = _sampler(server, Budget())
        study.optimize(_sphere, n_trials=2)
    total = study_usage(study)
    # Trial 0 knows no parameter yet; the other four ask.
    assert total.requests == 4 == first.requests + 2
    assert total.total_tokens > first.total_tokens > 0
    # A retry callback copies a failed trial's records to its retry: they count once.
    failed = study.trials[1]
    study.add_trial(
        optuna.trial.create_trial(
            params=failed.params,
            distributions=failed.distributions,
            value=1.0,
            system_attrs=failed.system_attrs,
        )
    )
    assert study_usage(study) == total
