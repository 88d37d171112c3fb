"""Knowledge from earlier studies: their best configurations as prior experience."""

from __future__ import annotations

import json
import re

import optuna
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection
from optuna.trial import Trial
import pytest

from optuna_llm import LLMSampler
from optuna_llm._study.related_studies import HEADER
from optuna_llm._study.related_studies import RelatedStudy
from optuna_llm._study.related_studies import describe_related
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


SPACE = {"lr": FloatDistribution(1e-4, 1, log=True), "depth": IntDistribution(2, 12)}


def objective(trial: Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1, log=True)
    return abs(lr - 0.03) + abs(trial.suggest_int("depth", 2, 12) - 7) / 10


def _finished_study(storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    study = optuna.create_study(study_name=name, storage=storage)
    for lr, depth in [(0.5, 2), (0.03, 7), (0.001, 12), (0.02, 6)]:
        study.enqueue_trial({"lr": lr, "depth": depth})
    study.optimize(objective, n_trials=4)
    return study


def copy_prior_best(call: ChatCall) -> str:
    """A model that proposes the first configuration listed as prior experience."""
    section = call.prompt.split(HEADER, 1)[1]
    params = json.loads(re.search(r"\| (\{.*\})", section).group(1))  # type: ignore[union-attr]
    return json.dumps({"rationale": "Start from the related study's best.", "params": params})


@pytest.mark.parametrize("by_name", [True, False])
def test_first_proposal_starts_from_the_related_studys_best(by_name: bool) -> None:
    storage = optuna.storages.InMemoryStorage()
    old = _finished_study(storage, "churn-v1")
    with ScriptedLLMServer(copy_prior_best) as server:
        sampler = LLMSampler(
            model=server.model,
            client=server.client(),
            search_space=SPACE,
            schedule=Always(),
            related_studies=["churn-v1"] if by_name else [old],
        )
        study = optuna.create_study(study_name="churn-v2", storage=storage, sampler=sampler)
        study.optimize(objective, n_trials=1)
        first_prompt = server.requests[0].prompt
    assert HEADER in first_prompt
    assert '- study "churn-v1" (minimize), trial 1: value 0 | {"lr": 0.03, "depth": 7}' in (
        first_prompt
    )
    # The section comes before this study's own history.
    assert first_prompt.index(HEADER) < first_prompt.index("History:")
    assert study.trials[0].params == {"lr": 0.03, "depth": 7}
    assert study.trials[0].user_attrs["llm:source"] == "llm"


def test_missing_related_study_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        sampler = LLMSampler(
            model=server.model,
            client=server.client(),
            search_space=SPACE,
            schedule=Always(),
            related_studies=["no-such-study"],
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=2)
        assert all(HEADER not in call.prompt for call in server.requests)
    assert sum("no-such-study" in r.getMessage() for r in caplog.records) == 1
    assert [t.user_attrs["llm:source"] for t in study.trials] == ["llm"] * 2


def test_describe_related_lists_the_best_trials_of_each_study() -> None:
    storage = optuna.storages.InMemoryStorage()
    old = _finished_study(storage, "a")
    text = describe_related(
        [
            RelatedStudy("a", [StudyDirection.MINIMIZE], old.trials),
            RelatedStudy("empty", [StudyDirection.MAXIMIZE], []),
        ]
    )
    assert text is not None
    assert text.splitlines() == [
        HEADER,
        '- study "a" (minimize), trial 1: value 0 | {"lr": 0.03, "depth": 7}',
    ]
    assert describe_related([]) is None


def test_invalid_related_studies() -> None:
    with pytest.raises(ValueError, match="`related_studies`"):
        LLMSampler(model="m", related_studies="churn-v1")
    with pytest.raises(ValueError, match="`related_studies`"):
        LLMSampler(model="m", related_studies=[3])  # type: ignore[list-item]
