"""Requests made ahead: the next proposal is asked for while the objective runs."""

from __future__ import annotations

import threading
import time

import optuna
from optuna.distributions import FloatDistribution

from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.schedules import FirstTrials
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SPACE = {"x": FloatDistribution(0, 1)}


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("optuna-llm-prefetch")]


def _sampler(server: ScriptedLLMServer, **kwargs: object) -> LLMSampler:
    kwargs.setdefault("schedule", Always())
    return LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        search_space=SPACE,
        seed=0,
        prefetch=True,
        **kwargs,  # type: ignore[arg-type]
    )


def test_next_proposal_is_asked_for_while_the_objective_runs() -> None:
    seen_during_objective: list[int] = []
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:

        def objective(trial: optuna.Trial) -> float:
            x = trial.suggest_float("x", 0, 1)
            time.sleep(0.3)
            seen_during_objective.append(len(server.requests))
            return x

        study = optuna.create_study(sampler=_sampler(server))
        study.optimize(objective, n_trials=4)
    # Trial 0 asks and then asks ahead for trial 1; every later trial takes the proposal made
    # ahead and asks ahead for the next: one request more than trials so far, each time.
    assert seen_during_objective == [2, 3, 4, 5]
    assert [t.user_attrs["llm:source"] for t in study.trials] == ["llm"] * 4
    assert all(t.user_attrs["llm:tokens"] > 0 for t in study.trials)
    assert _prefetch_threads() == []


def test_no_request_ahead_when_the_schedule_gives_the_next_trial_away() -> None:
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        study = optuna.create_study(sampler=_sampler(server, schedule=FirstTrials(2)))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
        assert len(server.requests) == 2
    assert [t.user_attrs["llm:source"] for t in study.trials] == ["llm"] * 2 + ["fallback"] * 3


def test_slow_answer_made_ahead_is_awaited_at_the_end_of_the_trial() -> None:
    script: list[str | Reply] = [answer({"x": 0.1}), Reply(content=answer({"x": 0.2}), delay=0.8)]
    with ScriptedLLMServer(script) as server:
        study = optuna.create_study(sampler=_sampler(server, timeout=5.0))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert [t.params["x"] for t in study.trials] == [0.1, 0.2]
    assert _prefetch_threads() == []


def test_answer_made_ahead_later_than_the_timeout_is_discarded() -> None:
    script: list[str | Reply] = [
        answer({"x": 0.1}),
        Reply(content=answer({"x": 0.2}), delay=1.5),
        answer({"x": 0.3}),
    ]
    with ScriptedLLMServer(script) as server:
        study = optuna.create_study(sampler=_sampler(server, timeout=0.3))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        time.sleep(0.5)
    # The request made ahead timed out; trial 1 asked for itself.
    assert [t.params["x"] for t in study.trials] == [0.1, 0.3]
    assert _prefetch_threads() == []


def test_prefetch_with_threads_and_batches_completes_every_trial() -> None:
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        sampler = _sampler(server, batch_size=3)
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=20, n_jobs=2)
    assert len(study.trials) == 20
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    configurations = [t.params["x"] for t in study.trials]
    assert len(set(configurations)) == 20
    assert _prefetch_threads() == []
