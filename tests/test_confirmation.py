"""The guided default trusts a guess only as far as the study confirms it.

End to end through the scripted server: a good start is followed by draws around it; a start
worse than the enqueued defaults is followed by none; a prior that a classical trial beats
stops at once, and no prior outlives the start-up. The pure rules are tested on their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import Trial
import pytest

from optuna_llm import Guide
from optuna_llm import LLMSampler
from optuna_llm._model.prompt import DEFAULTS_REQUEST
from optuna_llm._model.prompt import START_REQUEST
from optuna_llm._strategies.confirmation import confirmed_centre
from optuna_llm._strategies.confirmation import faded_width
from optuna_llm._strategies.guided import PlanRecord
from optuna_llm._strategies.guided import Start
from optuna_llm._strategies.guided import plan_turn
from optuna_llm.testing import ChatCall
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SPACE = {name: FloatDistribution(-10, 10) for name in ("x", "y", "z")}
OPTIMUM = {"x": 6.0, "y": -4.0, "z": 2.0}
NEAR_OPTIMUM = {"x": 5.0, "y": -3.0, "z": 3.0}
FAR_CORNER = {"x": -10.0, "y": 10.0, "z": -10.0}
# Every start-up slot may draw but slot 1, which has only the start to compare with.
DRAWING_SLOTS = tuple(range(2, 10))


def sphere(trial: Trial) -> float:
    return sum((trial.suggest_float(name, -10, 10) - OPTIMUM[name]) ** 2 for name in SPACE)


def _always(params: dict[str, Any]) -> Callable[[ChatCall], str]:
    return lambda call: answer(params)


def _sampler(server: ScriptedLLMServer, seed: int = 0, **kwargs: Any) -> LLMSampler:
    return LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        search_space=SPACE,
        seed=seed,
        fallback_sampler=TPESampler(seed=seed),
        **kwargs,
    )


def _sources(study: Study) -> list[str | None]:
    return [t.user_attrs.get("llm:source") for t in study.trials]


def _distance(params: dict[str, Any], centre: dict[str, Any]) -> float:
    return max(abs(float(params[name]) - float(centre[name])) for name in SPACE)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_good_start_is_followed_by_draws_around_it(seed: int) -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = optuna.create_study(sampler=_sampler(server, seed))
        study.optimize(sphere, n_trials=10)
    sources = _sources(study)
    assert sources[0] == "llm"
    assert [n for n, s in enumerate(sources) if s == "prior"] == list(DRAWING_SLOTS)
    for number in DRAWING_SLOTS:
        trial = study.trials[number]
        best = min(study.trials[:number], key=lambda t: t.value or 0.0)
        width = faded_width(Guide().prior_width, number) * 20
        # Drawn around the best trial so far, within four of the prior's standard deviations.
        assert f"around trial {best.number}" in trial.user_attrs["llm:rationale"]
        assert _distance(trial.params, best.params) < 4 * width
    assert len(server.requests) == 1, "the start is the only request"


def test_a_start_worse_than_the_enqueued_defaults_gets_no_draws_around_it() -> None:
    with ScriptedLLMServer(_always(FAR_CORNER)) as server:
        study = optuna.create_study(sampler=_sampler(server))
        study.enqueue_trial(NEAR_OPTIMUM)
        study.optimize(sphere, n_trials=12)
    (start,) = server.requests
    # The start is asked as before any trial, and never on the enqueued trial.
    assert START_REQUEST in start.prompt and "History: no trials yet." in start.prompt
    assert study.trials[0].params == NEAR_OPTIMUM
    assert study.trials[1].params == FAR_CORNER
    assert study.trials[1].user_attrs["llm:source"] == "llm"
    draws = [t for t in study.trials if t.user_attrs.get("llm:source") == "prior"]
    assert draws, "the enqueued defaults lead, so the study draws around them"
    for trial in draws:
        assert "around trial 1" not in trial.user_attrs["llm:rationale"]
        assert _distance(trial.params, FAR_CORNER) > 5.0


def test_a_prior_a_classical_trial_beats_stops_at_once() -> None:
    leader = 4  # a classical start-up slot: with half the slots drawing, the even ones

    def objective(trial: Trial) -> float:
        value = sphere(trial)
        return -1.0 if trial.number == leader else value

    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = optuna.create_study(sampler=_sampler(server, guide=Guide(prior_share=0.5)))
        study.optimize(objective, n_trials=30)
    sources = _sources(study)
    assert sources[3] == "prior", "confirmed until trial 4"
    assert "prior" not in sources[leader + 1 :]
    reason = study.trials[5].user_attrs["llm:reason"]
    assert "best trial is not the model's start" in reason


def test_no_prior_outlives_the_start_up() -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = optuna.create_study(sampler=_sampler(server, guide=Guide(prior_share=1.0)))
        study.optimize(sphere, n_trials=30)
    sources = _sources(study)
    assert "prior" in sources[:10]
    assert set(sources[10:]) == {"fallback"}
    assert len(server.requests) == 1


def test_the_defaults_question_asks_for_the_library_defaults() -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = optuna.create_study(sampler=_sampler(server, guide=Guide(start="defaults")))
        study.optimize(sphere, n_trials=2)
    (start,) = server.requests
    assert DEFAULTS_REQUEST in start.prompt and START_REQUEST not in start.prompt
    assert study.trials[0].user_attrs["llm:source"] == "llm"


def test_guide_rejects_an_unknown_start() -> None:
    with pytest.raises(ValueError, match="`start` must be"):
        Guide(start="best")  # type: ignore[arg-type]


def _trial(number: int, value: float, source: str | None = None, **system: Any) -> FrozenTrial:
    trial = optuna.trial.create_trial(
        params={"x": float(number)},
        distributions={"x": FloatDistribution(-10, 10)},
        value=value,
        user_attrs={"llm:source": source} if source else {},
        system_attrs=system,
    )
    trial.number = number
    return trial


MINIMIZE = (StudyDirection.MINIMIZE,)


def test_a_guess_is_confirmed_only_once_it_beat_another_trial() -> None:
    start = _trial(0, 1.0, "llm")
    assert confirmed_centre([start], MINIMIZE, 0) is None, "nothing compared yet"
    assert confirmed_centre([start, _trial(1, 5.0, "fallback")], MINIMIZE, 0) is start
    assert confirmed_centre([start, _trial(1, 0.5, "fallback")], MINIMIZE, 0) is None
    maximize = (StudyDirection.MAXIMIZE,)
    assert confirmed_centre([start, _trial(1, 0.5, "fallback")], maximize, 0) is start
    # A tie beats nothing: an objective at chance level confirms no guess.
    assert confirmed_centre([start, _trial(1, 1.0, "fallback")], MINIMIZE, 0) is None
    assert confirmed_centre([start, _trial(1, 1.0), _trial(2, 3.0)], MINIMIZE, 0) is start


def test_enqueued_trials_and_draws_are_guesses_too() -> None:
    enqueued = _trial(0, 0.1, fixed_params={"x": 0.0})
    start = _trial(1, 1.0, "llm")
    draw = _trial(2, 0.05, "prior")
    classical = _trial(3, 2.0, "fallback")
    assert confirmed_centre([enqueued, start, classical], MINIMIZE, 1) is enqueued
    assert confirmed_centre([enqueued, start, draw, classical], MINIMIZE, 1) is draw
    # A trial of the classical sampler's that happens to be number 1 is not the start.
    assert confirmed_centre([_trial(1, 0.0, "fallback"), classical], MINIMIZE, 1) is None


def test_with_several_objectives_the_front_must_hold_guesses_only() -> None:
    both = (StudyDirection.MINIMIZE, StudyDirection.MINIMIZE)

    def trial(number: int, values: list[float], source: str) -> FrozenTrial:
        frozen = optuna.trial.create_trial(
            params={}, distributions={}, values=values, user_attrs={"llm:source": source}
        )
        frozen.number = number
        return frozen

    start = trial(0, [0.0, 0.0], "llm")
    dominated = trial(1, [1.0, 1.0], "fallback")
    rival = trial(2, [-1.0, 2.0], "fallback")
    assert confirmed_centre([start, dominated], both, 0) is start
    assert confirmed_centre([start, dominated, rival], both, 0) is None


def test_the_prior_fades_as_the_study_grows() -> None:
    assert faded_width(0.05, 0) == pytest.approx(0.05)
    assert faded_width(0.05, 3) == pytest.approx(0.1)
    assert faded_width(0.5, 99) == 1.0, "at most the whole range"


def test_an_enqueued_trial_does_not_ask_for_the_start() -> None:
    plan = PlanRecord(None, (), ())
    waiting = plan_turn(0, plan, [], Guide(), has_specs=True, enqueued=True)
    assert waiting.ask is None and waiting.note == "the user enqueued the trial's values"
    assert plan_turn(1, plan, [], Guide(), has_specs=True).ask is not None


def test_draws_need_a_confirmed_guess() -> None:
    start = Start(0, {"x": 0.0}, seed=3)
    plan = PlanRecord(start, (), (), after_start=(1, 2, 3), runner=0)
    guide = Guide(prior_share=1.0)
    confirmed = [_trial(0, 0.0, "llm"), _trial(1, 1.0, "fallback")]
    turn = plan_turn(2, plan, confirmed, guide, has_specs=True)
    assert turn.draw is not None and turn.label == "prior"
    beaten = [_trial(0, 0.0, "llm"), _trial(1, -1.0, "fallback")]
    assert plan_turn(2, plan, beaten, guide, has_specs=True).draw is None
