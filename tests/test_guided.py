"""The guided default, end to end through the scripted server: start, prior, challenges, guards."""

from __future__ import annotations

from collections.abc import Callable
import datetime
import math
from pathlib import Path
import socket
import threading
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import Trial
from optuna.trial import TrialState
import pytest

from optuna_llm import Guide
from optuna_llm import LLMSampler
from optuna_llm._classical import ClassicalSampler
from optuna_llm._model.prompt import START_REQUEST
from optuna_llm._strategies.challenges import Challenge
from optuna_llm._strategies.guided import CHALLENGE_KEY
from optuna_llm._strategies.guided import DID_WELL_KEY
from optuna_llm._strategies.guided import START_KEY
from optuna_llm._strategies.guided import TURN_KEY
from optuna_llm._strategies.guided import Answered
from optuna_llm._strategies.guided import Challenger
from optuna_llm._strategies.guided import PlanRecord
from optuna_llm._strategies.guided import Start
from optuna_llm._strategies.guided import plan_turn
from optuna_llm._strategies.guided import read_plan
from optuna_llm._strategies.turn import Turn
from optuna_llm._study.trial_attrs import Provenance
from optuna_llm._study.trial_attrs import read_record
from optuna_llm.audit import read_audit_log
from optuna_llm.fault_injection import DownUntil
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SPACE = {
    "x": FloatDistribution(-10, 10),
    "y": FloatDistribution(-10, 10),
    "z": FloatDistribution(-10, 10),
}
OPTIMUM = {"x": 6.0, "y": -4.0, "z": 2.0}
NEAR_OPTIMUM = {"x": 5.0, "y": -3.0, "z": 3.0}
FAR_CORNER = {"x": -10.0, "y": 10.0, "z": -10.0}


def sphere(trial: Trial) -> float:
    return sum((trial.suggest_float(name, -10, 10) - OPTIMUM[name]) ** 2 for name in SPACE)


# The guided default with challenges every 10 trials after the start-up.
CHALLENGING = Guide(ask_every=10)
# The guided default asking the model in the background.
AHEAD = Guide(ask_ahead=True)


def _always(params: dict[str, Any]) -> Callable[[ChatCall], str]:
    """A model that answers every request, start or challenge, with ``params``."""
    return lambda call: answer(params)


def _guided(server: ScriptedLLMServer, seed: int, **kwargs: Any) -> LLMSampler:
    kwargs.setdefault("fallback_sampler", TPESampler(seed=seed))
    return LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        search_space=SPACE,
        seed=seed,
        **kwargs,
    )


def _run(sampler: optuna.samplers.BaseSampler, n_trials: int) -> Study:
    study = optuna.create_study(sampler=sampler)
    study.optimize(sphere, n_trials=n_trials)
    return study


def _best_after(study: Study, n: int) -> float:
    return min(t.value for t in study.trials[:n] if t.value is not None)


def _sources(study: Study) -> list[str | None]:
    return [t.user_attrs.get("llm:source") for t in study.trials]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_right_prior_speeds_up_a_toy_problem(seed: int) -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        guided = _run(_guided(server, seed), n_trials=10)
    alone = _run(TPESampler(seed=seed), n_trials=10)
    # The start is 3 from the optimum; ten random trials in [-10, 10]^3 come nowhere near it.
    assert _best_after(guided, 1) == pytest.approx(3.0)
    assert _best_after(alone, 10) > 4 * _best_after(guided, 10)
    # The start leads, so every start-up slot after the first comparison draws around it.
    assert _sources(guided) == ["llm", "fallback"] + ["prior"] * 8


def test_prior_draws_spread_around_the_start_within_its_width() -> None:
    guide = Guide(prior_share=1.0, prior_width=0.05)
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = _run(_guided(server, 0, guide=guide), n_trials=10)
    draws = [t.params for t in study.trials if t.user_attrs["llm:source"] == "prior"]
    assert len(draws) == 8, "every slot once the start has beaten trial 1"
    for name in SPACE:
        values = sorted(d[name] for d in draws)
        # Width 0.05·√n of a range of 20: standard deviations of 1.7 to 3 by trial 9.
        assert abs(sum(values) / len(values) - NEAR_OPTIMUM[name]) < 2.0
        assert values[-1] - values[0] > 2.0, "the draws fill the prior, not one point"


def _start_then(start: dict[str, Any], later: dict[str, Any]) -> Callable[[ChatCall], str]:
    """A model that answers the start request with ``start`` and challenges with ``later``."""
    return lambda call: answer(start if START_REQUEST in call.prompt else later)


def test_a_wrong_prior_is_forgotten_after_the_warm_up() -> None:
    near_corner = {"x": -9.9, "y": 9.9, "z": -9.9}
    with ScriptedLLMServer(_start_then(FAR_CORNER, near_corner)) as server:
        sampler = _guided(server, 0, guide=CHALLENGING)
        study = _run(sampler, n_trials=80)
    sources = _sources(study)
    # Trial 1 beats the corner at once, so nothing is drawn around it; the classical sampler
    # is in charge, and each challenge (a near-repeat of the start, in the worst region) is
    # turned down.
    assert "prior" not in sources
    assert set(sources[1:]) == {"fallback"}
    assert len(server.requests) == 1 + 3, "the start, then challenges at trials 10, 30 and 70"
    reasons = [study.trials[n].user_attrs["llm:reason"] for n in (10, 30, 70)]
    assert all("nearly repeats" in reason for reason in reasons)
    rules = {study.trials[n].user_attrs.get("llm:turned_down") for n in range(80)}
    assert rules == {None, "near_repeat"}
    # Forgotten: the last 40 trials are as good as the classical sampler's own.
    alone = _run(TPESampler(seed=0), n_trials=80)
    assert _best_after(study, 80) < 4 * _best_after(alone, 80) + 1.0


def test_a_repeated_answer_costs_one_request_and_no_re_ask() -> None:
    with ScriptedLLMServer(_always(OPTIMUM)) as server:
        study = _run(_guided(server, 0, guide=Guide(prior_share=0.0, ask_every=10)), n_trials=12)
    assert study.trials[0].user_attrs["llm:source"] == "llm"  # the optimum itself
    # Trial 10's challenge repeats trial 0 exactly: one request, and the candidate is used.
    assert len(server.requests) == 2
    assert study.trials[10].user_attrs["llm:source"] == "fallback"
    assert "repeats trial 0" in study.trials[10].user_attrs["llm:reason"]


def test_a_challenger_in_the_worse_half_is_turned_down(tmp_path: Path) -> None:
    worst = {"x": -10.0, "y": 10.0, "z": -10.0}
    log = tmp_path / "audit.jsonl"
    with ScriptedLLMServer(_start_then(NEAR_OPTIMUM, worst)) as server:
        study = _run(_guided(server, 0, audit_log=log, guide=CHALLENGING), n_trials=11)
    challenged = study.trials[10]
    assert challenged.user_attrs["llm:source"] == "fallback"
    assert "worse half" in challenged.user_attrs["llm:reason"]
    assert challenged.user_attrs["llm:turned_down"] == "worse_half"
    # The audit log says which rule turned the answer down, after the exchange that gave it.
    *_, exchange, verdict = read_audit_log(log)
    assert (exchange["trial"], exchange["outcome"], exchange["params"]) == (10, "used", worst)
    assert (verdict["trial"], verdict["outcome"], verdict["rule"]) == (
        10,
        "turned down",
        "worse_half",
    )
    assert verdict["params"] == worst and "worse half" in verdict["problem"]


def test_a_good_challenger_is_used_and_keeps_its_turns() -> None:
    proposals = iter([NEAR_OPTIMUM, OPTIMUM, {"x": 6.5, "y": -3.5, "z": 2.5}])
    with ScriptedLLMServer(lambda call: answer(next(proposals))) as server:
        study = _run(_guided(server, 0, guide=Guide(prior_share=0.0, ask_every=10)), n_trials=21)
    sources = _sources(study)
    assert sources[10] == "llm" and study.trials[10].params == pytest.approx(OPTIMUM)
    # It did well, so the model is asked again after ask_every trials, not twice as many.
    assert sources[20] == "llm"
    assert len(server.requests) == 3


def test_a_flat_history_stops_the_model() -> None:
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        sampler = _guided(server, 0, guide=CHALLENGING)
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: 0.0 * sphere(t) + 1.0, n_trials=40)
    assert len(server.requests) == 1, "only the start: a flat history asks nothing more"
    sources = _sources(study)
    assert sources[0] == "llm"
    # Five equal values make the history flat: no more prior draws, no challenges.
    assert "prior" not in sources[5:]
    assert all("flat" in study.trials[n].user_attrs["llm:reason"] for n in (5, 7, 10, 30))


def test_the_model_comes_back_once_the_history_is_no_longer_flat() -> None:
    def objective(trial: Trial) -> float:
        value = sphere(trial)
        return 1.0 if trial.number < 12 else value

    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        study = optuna.create_study(sampler=_guided(server, 0, guide=CHALLENGING))
        study.optimize(objective, n_trials=20)
    asked = sorted({call.prompt.count("trial ") for call in server.requests})
    assert len(server.requests) == 2, "the start, and a challenge once values differ again"
    assert asked  # both requests carried a history view


@pytest.mark.parametrize("guide", [None, AHEAD], ids=["waiting", "ahead"])
def test_the_fallback_path_is_unchanged_when_the_model_is_unreachable(guide: Guide | None) -> None:
    sampler = LLMSampler(
        model="m",
        base_url=f"http://127.0.0.1:{_closed_port()}/v1",
        max_retries=0,
        search_space=SPACE,
        seed=1,
        fallback_sampler=TPESampler(seed=1),
        guide=guide,
    )
    guided = _run(sampler, n_trials=40)
    alone = _run(TPESampler(seed=1), n_trials=40)
    assert [t.params for t in guided.trials] == [t.params for t in alone.trials]
    assert set(_sources(guided)) == {"fallback"}
    assert "cannot reach" in guided.trials[0].user_attrs["llm:reason"]


def test_start_request_asks_for_the_recommended_configuration() -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        _run(_guided(server, 0, guide=CHALLENGING), n_trials=11)
    start, challenge = server.requests
    assert START_REQUEST in start.messages[-1]["content"]
    assert (
        "The classical optimizer will evaluate this configuration next"
        in (challenge.messages[-1]["content"])
    )
    # One configuration per request, whatever the batch size.
    assert "proposals" not in str(challenge.schema)


def test_without_a_known_space_the_start_is_asked_once_parameters_are_known() -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        sampler = LLMSampler(model=server.model, client=server.client(max_retries=0), seed=0)
        study = _run(sampler, n_trials=3)
    assert _sources(study)[:2] == ["fallback", "llm"]
    assert "no parameter is known" in study.trials[0].user_attrs["llm:reason"]


def test_prior_trials_are_recorded_for_the_dashboard() -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = _run(_guided(server, 0), n_trials=4)
    prior = study.trials[3]
    assert prior.user_attrs["llm:source"] == "prior"
    assert prior.user_attrs["llm:model_share"] == 1.0
    assert "llm:reason" not in prior.user_attrs


def test_conditional_parameters_come_from_the_classical_sampler_in_prior_draws() -> None:
    space = {
        "kind": CategoricalDistribution(("a", "b")),
        "depth": IntDistribution(1, 8),
    }

    def objective(trial: Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        depth = trial.suggest_int("depth", 1, 8)
        extra = trial.suggest_float("extra", 0, 1) if kind == "b" else 0.0
        return depth + extra

    with ScriptedLLMServer(_always({"kind": "b", "depth": 3})) as server:
        sampler = LLMSampler(
            model=server.model, client=server.client(max_retries=0), search_space=space, seed=0
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=10)
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    assert {s for s in _sources(study)} <= {"llm", "partial", "prior", "fallback"}


def test_guide_and_schedule_are_exclusive() -> None:
    with pytest.raises(ValueError, match="pass one of them"):
        LLMSampler(model="m", guide=Guide(), schedule=Always())
    with pytest.raises(ValueError, match=r"optuna_llm\.Guide"):
        LLMSampler(model="m", guide={"warmup_trials": 5})  # type: ignore[arg-type]


def test_default_classical_sampler_is_chosen_per_study() -> None:
    sampler = LLMSampler(model="m", seed=0)
    assert isinstance(sampler._fallback, ClassicalSampler)
    assert isinstance(LLMSampler(model="m", schedule=Always())._fallback, TPESampler)


@pytest.mark.parametrize("seed", [0, 7])
def test_draws_repeat_for_the_same_seed(seed: int) -> None:
    def params(study: Study) -> list[dict[str, Any]]:
        return [t.params for t in study.trials]

    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        first = _run(_guided(server, seed), n_trials=6)
        second = _run(_guided(server, seed), n_trials=6)
    assert params(first) == params(second)
    assert not math.isclose(first.trials[1].params["x"], first.trials[3].params["x"])


def test_a_challenge_shows_at_most_ten_trials() -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        guide = Guide(warmup_trials=30, prior_share=0.0, ask_every=10)
        _run(_guided(server, 0, guide=guide), n_trials=31)
    challenges = server.requests[1:]
    assert len(challenges) == 1
    history = challenges[0].messages[-1]["content"].split("History:")[1]
    shown = [line for line in history.splitlines() if line.startswith("trial ")]
    assert len(shown) == 10
    assert "Shown: the 10 best of 30 trials" in history
    assert "trial 0 (complete): value 3 |" in history, "the start, second best, is shown"


def test_the_dashboard_note_says_which_mechanism_proposed() -> None:
    prior = Provenance(source="prior", model_share=1.0)
    assert "a start-up draw from the prior around a guess the study confirmed" in (
        prior.as_markdown("ClassicalSampler")
    )
    turned_down = Provenance(
        source="fallback",
        model_share=0.0,
        reason="the model's proposal nearly repeats a tried configuration",
    )
    note = turned_down.as_markdown("ClassicalSampler")
    assert "ClassicalSampler, instead of the model" in note
    assert "nearly repeats" in note


def test_a_start_lost_to_an_outage_is_asked_again_once_the_endpoint_answers() -> None:
    endpoint = DownUntil(Reply(status=503), last_down=19)
    with ScriptedLLMServer(endpoint) as server:
        study = optuna.create_study(sampler=_guided(server, 0))
        study.optimize(sphere, n_trials=50, callbacks=[endpoint.callback])
    assert endpoint.requests_while_down >= 3
    (start,) = [t for t in study.trials if read_record(t, START_KEY) is not None]
    assert 20 <= start.number < 40, "the first probe after the outage asks for the start"
    assert start.user_attrs["llm:source"] == "llm"
    sources = _sources(study)
    # The start is tested against 20 and more trials of the classical sampler: drawn around
    # only if it leads them.
    assert "prior" not in sources[: start.number]


def _trial(
    number: int,
    state: TrialState = TrialState.COMPLETE,
    records: dict[str, Any] | None = None,
    began: datetime.datetime | None = None,
) -> FrozenTrial:
    trial = optuna.trial.create_trial(
        params={"x": 0.0},
        distributions={"x": FloatDistribution(-10, 10)},
        value=float(number) if state == TrialState.COMPLETE else None,
        state=state,
        system_attrs={key: {"trial": number, "value": v} for key, v in (records or {}).items()},
    )
    trial.number = number
    trial.datetime_start = began or EPOCH + datetime.timedelta(seconds=number)
    return trial


EPOCH = datetime.datetime(2026, 1, 1)


def test_plan_is_read_from_the_trials_records() -> None:
    answered_at = EPOCH + datetime.timedelta(seconds=4.5)
    start = {"params": NEAR_OPTIMUM, "seed": 7, "answered_at": answered_at.isoformat()}
    records: dict[int, dict[str, Any]] = {
        0: {TURN_KEY: "start"},  # asked, the endpoint never answered
        2: {TURN_KEY: "start", START_KEY: start},  # answered while trials 3 and 4 began
        15: {TURN_KEY: "challenge", DID_WELL_KEY: False},
        35: {TURN_KEY: "challenge"},
    }
    trials = [_trial(n, records=records.get(n)) for n in range(36)]
    trials[35].state = TrialState.RUNNING
    plan = read_plan(trials, now=EPOCH, hold_seconds=60)
    assert plan.start == Start(2, NEAR_OPTIMUM, 7, answered_at)
    assert plan.asking == ()
    assert plan.challenges == (Challenge(15, False), Challenge(35, None))
    assert plan.after_start == tuple(range(5, 36))
    guide = CHALLENGING

    def turn(number: int) -> Turn:
        return plan_turn(number, plan, trials, guide, has_specs=True)

    # Trials 3 and 4 began before the answer; the start-up is trials 5 to 13, and trial 0
    # (the classical sampler's) leads, so nothing is drawn around the start.
    assert "before the model's start was known" in (turn(4).note or "")
    assert [turn(n).draw for n in range(5, 14)] == [None] * 9
    assert "best trial is not the model's start" in (turn(5).note or "")
    before = read_plan(trials[:15], now=EPOCH, hold_seconds=60)
    first = plan_turn(14, before, trials[:15], guide, has_specs=True)
    assert first.ask is not None, "the first challenge: slot 10 of the warm-up"
    # Trial 15's challenge did not do well: the next is due 20 trials later.
    assert turn(16).note == "the classical sampler's turn"
    assert turn(34).ask is None and turn(36).ask is None, "trial 35 holds the turn"


def test_a_start_claim_counts_until_it_ends_or_is_held_too_long() -> None:
    now = EPOCH + datetime.timedelta(seconds=10)
    asking = [_trial(5, TrialState.RUNNING, records={TURN_KEY: "start"})]  # began 5 s ago
    assert read_plan(asking, now=now, hold_seconds=60).asking == (5,)
    assert read_plan(asking, now=now, hold_seconds=1).asking == (), "its worker died"
    plan = read_plan(asking, now=now, hold_seconds=60)
    assert plan_turn(6, plan, [], Guide(), has_specs=True).note == (
        "the model's start is not known yet"
    )
    ended = [_trial(5, TrialState.FAIL, records={TURN_KEY: "start"})]
    plan = read_plan(ended, now=now, hold_seconds=60)
    assert plan_turn(6, plan, [], Guide(), has_specs=True).ask is not None
    # The start-up is over: the classical sampler goes on without the model's start.
    assert plan_turn(40, plan, [], Guide(), has_specs=True).ask is None


def test_records_copied_to_a_retried_trial_are_not_its_own() -> None:
    # Optuna's retry callbacks copy a failed trial's system attributes to its retry.
    copied = _trial(0, TrialState.RUNNING, records={TURN_KEY: "start"})
    copied.number = 9
    plan = read_plan([copied], now=datetime.datetime.now(), hold_seconds=60)
    assert plan == PlanRecord(None, (), (), ())


def test_threads_of_one_process_share_one_plan() -> None:
    with ScriptedLLMServer(_start_then(NEAR_OPTIMUM, FAR_CORNER)) as server:
        study = optuna.create_study(sampler=_guided(server, 0))
        study.optimize(sphere, n_trials=40, n_jobs=4)
    starts = [call for call in server.requests if START_REQUEST in call.prompt]
    assert len(starts) == 1
    assert _sources(study).count("llm") == 1
    assert _sources(study).count("prior") <= Guide().n_prior_draws


def _answers_once(began: threading.Event, params: dict[str, Any]) -> Callable[[ChatCall], str]:
    """A model that answers only once ``began`` is set, or after 10 s."""

    def model(call: ChatCall) -> str:
        began.wait(10)
        return answer(params)

    return model


def test_by_default_the_trial_that_asks_for_the_start_runs_it() -> None:
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = _run(_guided(server, 0), n_trials=2)
    assert read_record(study.trials[0], START_KEY)["ahead"] is False
    assert study.trials[0].params == NEAR_OPTIMUM


def test_asked_ahead_no_trial_waits_for_the_start() -> None:
    # The model answers only once trial 0's objective runs: had trial 0 waited for the answer,
    # it would have waited 10 s, then run the start itself.
    began = threading.Event()

    def objective(trial: Trial) -> float:
        began.set()
        return sphere(trial)

    with ScriptedLLMServer(_answers_once(began, NEAR_OPTIMUM)) as server:
        study = optuna.create_study(sampler=_guided(server, 0, guide=AHEAD))
        study.optimize(objective, n_trials=4)
    asking, start = study.trials[0], study.trials[1]
    assert asking.user_attrs["llm:source"] == "fallback"
    assert "asked for its start in the background" in asking.user_attrs["llm:reason"]
    assert read_record(asking, START_KEY)["params"] == NEAR_OPTIMUM
    assert start.user_attrs["llm:source"] == "llm"
    assert start.params == NEAR_OPTIMUM
    assert start.user_attrs["llm:rationale"] == "Scripted proposal."
    assert start.user_attrs["llm:tokens"] > 0, "the request's cost is shown where it is used"
    assert "llm:tokens" not in asking.user_attrs
    assert len(server.requests) == 1


def test_asked_ahead_the_start_is_run_by_the_first_trial_the_user_did_not_enqueue() -> None:
    defaults = {"x": 0.0, "y": 0.0, "z": 0.0}
    with ScriptedLLMServer(_always(NEAR_OPTIMUM)) as server:
        study = optuna.create_study(sampler=_guided(server, 0, guide=AHEAD))
        study.enqueue_trial(defaults)
        study.enqueue_trial({"x": 1.0, "y": 1.0, "z": 1.0})
        study.optimize(sphere, n_trials=4)
    # Trial 0, enqueued, asks; trial 1, enqueued too, keeps its values; trial 2 runs the start.
    assert read_record(study.trials[0], START_KEY) is not None
    assert [t.params for t in study.trials[:2]] == [defaults, {"x": 1.0, "y": 1.0, "z": 1.0}]
    assert study.trials[2].params == NEAR_OPTIMUM
    assert _sources(study)[2] == "llm"


def test_asked_ahead_no_trial_waits_for_a_challenge() -> None:
    guide = Guide(warmup_trials=3, prior_share=0.0, ask_every=10, ask_ahead=True)
    began = threading.Event()
    challenger = {"x": 6.5, "y": -3.5, "z": 2.5}

    def model(call: ChatCall) -> str:
        if START_REQUEST in call.prompt:
            return answer(NEAR_OPTIMUM)
        began.wait(10)
        return answer(challenger)

    def objective(trial: Trial) -> float:
        if trial.number == 4:
            began.set()
        return sphere(trial)

    with ScriptedLLMServer(model) as server:
        study = optuna.create_study(sampler=_guided(server, 0, guide=guide))
        study.optimize(objective, n_trials=6)
    # Trial 0 asks for the start, trial 1 runs it, trials 2 and 3 end the start-up: trial 4
    # challenges, and the model answers only once trial 4's objective runs.
    asking, ran = study.trials[4], study.trials[5]
    assert read_record(asking, TURN_KEY) == "challenge"
    _, challenge = server.requests
    # The request showed the candidate the asking trial ran, and the asking trial ran it.
    assert "will evaluate this configuration next" in challenge.prompt
    assert asking.user_attrs["llm:source"] == "fallback"
    assert "challenge in the background" in asking.user_attrs["llm:reason"]
    assert ran.params == challenger and ran.user_attrs["llm:source"] == "llm"
    assert ran.user_attrs["llm:rationale"] == "Scripted proposal."
    assert read_record(ran, DID_WELL_KEY) is True


def test_asked_ahead_a_turned_down_challenger_is_recorded_on_the_trial_that_would_run_it(
    tmp_path: Path,
) -> None:
    worst = {"x": -10.0, "y": 10.0, "z": -10.0}
    log = tmp_path / "audit.jsonl"
    guide = Guide(ask_every=10, ask_ahead=True)
    with ScriptedLLMServer(_start_then(NEAR_OPTIMUM, worst)) as server:
        study = _run(_guided(server, 0, audit_log=log, guide=guide), n_trials=13)
    # Trial 0 asks for the start and trial 1 runs it; the start-up ends at trial 10, trial 11
    # asks for a challenger and trial 12 turns it down.
    challenged = study.trials[12]
    assert challenged.user_attrs["llm:source"] == "fallback"
    assert challenged.user_attrs["llm:turned_down"] == "worse_half"
    assert read_record(challenged, DID_WELL_KEY) is False
    *_, exchange, verdict = read_audit_log(log)
    assert (exchange["trial"], exchange["outcome"]) == (11, "used")
    assert (verdict["trial"], verdict["outcome"], verdict["rule"]) == (
        12,
        "turned down",
        "worse_half",
    )


def test_a_plan_asked_ahead_is_read_from_the_trials_records() -> None:
    def answered(params: dict[str, Any], seconds: float, **more: Any) -> dict[str, Any]:
        when = EPOCH + datetime.timedelta(seconds=seconds)
        return {"params": params, "answered_at": when.isoformat(), **more}

    records: dict[int, dict[str, Any]] = {
        0: {TURN_KEY: "start"},  # asked, the endpoint never answered
        # Answered while trials 3 and 4 began: trial 5, enqueued, keeps its values, and trial
        # 6 runs the start.
        2: {TURN_KEY: "start", START_KEY: answered(NEAR_OPTIMUM, 4.5, seed=7, ahead=True)},
        16: {TURN_KEY: "challenge", CHALLENGE_KEY: answered(OPTIMUM, 16.5)},
        17: {DID_WELL_KEY: False},
        36: {TURN_KEY: "challenge", CHALLENGE_KEY: answered(FAR_CORNER, 36.5)},
    }
    trials = [_trial(n, records=records.get(n)) for n in range(38)]
    trials[5].system_attrs["fixed_params"] = {"x": 1.0}
    trials[37].state = TrialState.RUNNING
    plan = read_plan(trials, now=EPOCH, hold_seconds=60)
    start = Start(2, NEAR_OPTIMUM, 7, EPOCH + datetime.timedelta(seconds=4.5), ahead=True)
    assert plan.start == start
    assert plan.asking == ()
    assert plan.after_start == tuple(range(5, 38))
    assert plan.runner == 6
    # Trial 16's challenger ran on trial 17 and did not do well; trial 36's runs on 37.
    assert plan.challenges == (Challenge(16, False), Challenge(36, None))
    assert plan.challengers == ((37, Challenger(36, FAR_CORNER, "", EPOCH + _s(36.5))),)
    guide = Guide(ask_every=10, ask_ahead=True)

    def turn(number: int) -> Turn:
        return plan_turn(number, plan, trials, guide, has_specs=True)

    assert "before the model's start was known" in (turn(4).note or "")
    assert turn(5).note == "the user enqueued the trial's values"
    assert turn(6).draw == Answered("the model's start", 2, NEAR_OPTIMUM)
    # The start-up is trials 6 to 15, and trial 0 (the classical sampler's) leads, so nothing
    # is drawn around the start.
    assert [turn(n).draw for n in range(7, 16)] == [None] * 9
    assert "best trial is not the model's start" in (turn(7).note or "")
    asking = [*trials[:16], _trial(16, TrialState.RUNNING)]
    before = read_plan(asking, now=EPOCH, hold_seconds=60)
    first = plan_turn(16, before, trials[:16], guide, has_specs=True)
    assert first.background is not None, "the first challenge: slot 10 of the start-up"
    # Trial 16's challenge did not do well: the next is due 20 trials later.
    assert turn(18).note == "the classical sampler's turn"
    ran = turn(37)
    assert ran.draw == Answered("the model's challenger", 36, FAR_CORNER)
    assert ran.screen is not None
    assert turn(38).background is None, "trial 36's challenge holds the turn"


def _s(seconds: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=seconds)
