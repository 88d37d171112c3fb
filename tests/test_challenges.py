"""The guided default's pure parts: prior draws, unit coordinates, gates, track record."""

from __future__ import annotations

import logging

import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import TPESampler
from optuna.trial import create_trial
import pytest

from optuna_llm import Guide
from optuna_llm import LLMSampler
from optuna_llm._classical import ClassicalSampler
from optuna_llm._classical import fallback_name
from optuna_llm._classical import gp_available
from optuna_llm._classical import suits_gp
from optuna_llm._strategies.challenges import Challenge
from optuna_llm._strategies.challenges import challenge_due
from optuna_llm._strategies.challenges import did_well
from optuna_llm._strategies.challenges import holds_turn
from optuna_llm._strategies.challenges import near_repeat
from optuna_llm._strategies.challenges import rated_competitive
from optuna_llm._strategies.guided import is_flat
from optuna_llm._strategies.prior_draws import draw_from_prior
from optuna_llm._strategies.prior_draws import latin_hypercube_position
from optuna_llm._strategies.unit_interval import distance
from optuna_llm._strategies.unit_interval import from_unit
from optuna_llm._strategies.unit_interval import to_unit
from optuna_llm.testing import ScriptedLLMServer


LOG_RATE = FloatDistribution(1e-5, 1e-1, log=True)
DEPTH = IntDistribution(2, 12, step=2)
STEPPED = FloatDistribution(0.0, 1.0, step=0.25)
KIND = CategoricalDistribution(("gbdt", "dart", "goss"))


def test_unit_coordinates_follow_log_scale_and_steps() -> None:
    assert to_unit(1e-3, LOG_RATE) == pytest.approx(0.5)
    assert from_unit(0.5, LOG_RATE) == pytest.approx(1e-3)
    assert from_unit(0.52, DEPTH) == 8 and from_unit(2.0, DEPTH) == 12
    assert from_unit(0.3, STEPPED) == 0.25
    assert to_unit(5.0, FloatDistribution(5.0, 5.0)) == 0.5


def test_distance_mixes_numbers_and_choices() -> None:
    space = {"rate": LOG_RATE, "kind": KIND}
    assert distance({"rate": 1e-3, "kind": "dart"}, {"rate": 1e-3, "kind": "dart"}, space) == 0
    assert distance({"rate": 1e-5, "kind": "dart"}, {"rate": 1e-1, "kind": "dart"}, space) == (
        pytest.approx(0.5**0.5)
    )
    assert distance({"rate": 1e-3}, {"kind": "goss"}, space) == 1.0


def test_latin_hypercube_positions_take_one_stratum_each() -> None:
    positions = [latin_hypercube_position(3, "rate", i, 8) for i in range(8)]
    assert sorted(int(p * 8) for p in positions) == list(range(8))
    assert positions != [latin_hypercube_position(3, "depth", i, 8) for i in range(8)]


def test_prior_draws_are_valid_and_centred_on_the_start() -> None:
    space = {"rate": LOG_RATE, "depth": DEPTH, "step": STEPPED, "kind": KIND}
    center = {"rate": 1e-2, "depth": 6, "step": 0.5, "kind": "goss"}
    draws = [
        draw_from_prior(center, space, width=0.15, index=i, n_draws=40, seed=0) for i in range(40)
    ]
    for draw in draws:
        for name, distribution in space.items():
            assert distribution._contains(distribution.to_internal_repr(draw[name]))
    rates = sorted(to_unit(d["rate"], LOG_RATE) for d in draws)
    assert rates[20] == pytest.approx(to_unit(1e-2, LOG_RATE), abs=0.05)
    # Half the draws take the model's choice; the other half spread over all choices.
    assert 20 <= sum(d["kind"] == "goss" for d in draws) <= 30
    assert {d["kind"] for d in draws} == set(KIND.choices)


def test_a_parameter_without_a_prior_is_drawn_uniformly() -> None:
    draws = [
        draw_from_prior({}, {"rate": LOG_RATE}, width=0.15, index=i, n_draws=10, seed=1)
        for i in range(10)
    ]
    units = sorted(to_unit(d["rate"], LOG_RATE) for d in draws)
    assert [int(u * 10) for u in units] == list(range(10))


def test_flat_means_the_last_window_values_are_equal() -> None:
    assert is_flat([3.0, 1.0, 1.0, 1.0], window=3)
    assert not is_flat([1.0, 1.0], window=3)
    assert not is_flat([1.0, 1.0, 1.0 + 1e-6], window=3)


def test_near_repeat_is_within_two_percent_of_the_ranges() -> None:
    space = {"x": FloatDistribution(0, 100)}
    assert near_repeat({"x": 50.0}, [{"x": 51.0}], space)
    assert not near_repeat({"x": 50.0}, [{"x": 53.0}], space)


def test_competitive_means_the_nearest_evaluated_neighbour_is_in_the_better_half() -> None:
    space = {"x": FloatDistribution(0, 10)}
    evaluated = [({"x": float(x)}, float(x)) for x in range(10)]  # lower x is better
    assert rated_competitive({"x": 2.2}, evaluated, space, minimize=True)
    assert not rated_competitive({"x": 8.0}, evaluated, space, minimize=True)
    assert rated_competitive({"x": 8.0}, evaluated, space, minimize=False)
    assert rated_competitive({"x": 8.0}, [], space, minimize=True)


def test_did_well_means_the_best_quarter() -> None:
    values = [float(v) for v in range(1, 9)]
    # Two of eight values make the best quarter: a value with fewer than two better ones.
    assert did_well(0.5, values, minimize=True)
    assert did_well(1.5, values, minimize=True)
    assert not did_well(2.5, values, minimize=True)
    assert did_well(8.5, values, minimize=False)


def test_the_gap_doubles_after_each_miss_and_resets_after_a_success() -> None:
    def due(number: int, *earlier: tuple[int, bool | None]) -> bool:
        return challenge_due(number, 10, 10, [Challenge(n, did) for n, did in earlier])

    assert not due(9) and due(10)
    assert not due(11, (10, None)), "the turn is held until its outcome is known"
    assert not due(29, (10, False)) and due(30, (10, False))
    assert not due(69, (10, False), (30, False)) and due(70, (10, False), (30, False))
    assert due(80, (10, False), (30, False), (70, True))
    misses = [(n, False) for n in (10, 30, 70, 150, 230, 310)]
    assert not due(389, *misses) and due(390, *misses), "at most 8 times ask_every apart"


def test_a_turn_never_told_is_given_up() -> None:
    running = [Challenge(10, None)]
    assert not challenge_due(50, 10, 10, running)
    assert challenge_due(90, 10, 10, running)
    assert holds_turn(running[0], 89, 10) and not holds_turn(running[0], 90, 10)


@pytest.mark.parametrize(
    "guide",
    [
        {"warmup_trials": 0},
        {"prior_share": 1.5},
        {"prior_width": 0.0},
        {"ask_every": -1},
        {"flat_window": 1},
        {"warmup_trials": True},
    ],
)
def test_guide_rejects_bad_constants(guide: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(guide))):
        Guide(**guide)  # type: ignore[arg-type]


def test_guide_spreads_its_prior_draws_over_the_warm_up() -> None:
    half = Guide(prior_share=0.5)
    assert [half.is_prior_draw(s) for s in range(1, 10)] == [True, False] * 4 + [True]
    assert half.n_prior_draws == 5
    assert Guide(prior_share=1.0).n_prior_draws == 9
    assert Guide(prior_share=0.0).n_prior_draws == 0
    assert Guide(prior_share=0.3, warmup_trials=11).n_prior_draws == 3


def _trial(params: dict[str, float], value: float) -> optuna.trial.FrozenTrial:
    space: dict[str, BaseDistribution] = {name: FloatDistribution(0, 1) for name in params}
    return create_trial(params=params, distributions=space, value=value)


def test_gp_suits_a_fixed_space_only() -> None:
    assert suits_gp([_trial({"a": 0.1}, 1.0), _trial({"a": 0.2}, 2.0)])
    assert not suits_gp([_trial({"a": 0.1}, 1.0), _trial({"b": 0.2}, 2.0)])


def test_classical_sampler_takes_tpe_for_a_conditional_space() -> None:
    sampler = ClassicalSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    study.add_trials([_trial({"a": 0.1}, 1.0), _trial({"b": 0.2}, 2.0)])
    study.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=3)
    trial = study.trials[-1]
    assert sampler._choice(study, trial) is sampler._tpe


def test_classical_sampler_takes_gp_where_it_suits() -> None:
    pytest.importorskip("torch")
    assert gp_available()
    sampler = ClassicalSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("a", 0, 1) ** 2, n_trials=12)
    assert sampler._choice(study, study.trials[-1]) is sampler._gp


def test_the_classical_sampler_in_use_is_logged_once_and_named_in_provenance(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sampler = ClassicalSampler(seed=0)
    study = optuna.create_study(study_name="named", sampler=sampler)
    with caplog.at_level(logging.INFO, logger="optuna.optuna_llm"):
        study.optimize(lambda t: t.suggest_float("a", 0, 1) ** 2, n_trials=4)
    expected = "GPSampler" if gp_available() else "TPESampler"
    lines = [r.getMessage() for r in caplog.records if "classical sampler is" in r.getMessage()]
    assert lines == [
        f"Study 'named', from trial 0: the classical sampler is {expected} ("
        + (
            "GP suits a fixed space of fewer than 250 trials)."
            if gp_available()
            else ("GP needs torch: pip install 'optuna-llm[gp]').")
        )
    ]
    assert [sampler.name_for(t) for t in study.trials] == [expected] * 4
    assert fallback_name(sampler, study.trials[0]) == expected
    assert fallback_name(TPESampler(), study.trials[0]) == "TPESampler"


def test_a_trials_log_line_names_the_sampler_that_ran(
    random_server: ScriptedLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    sampler = LLMSampler(
        model=random_server.model,
        client=random_server.client(max_retries=0),
        seed=0,
        guide=Guide(ask_every=0),
    )
    study = optuna.create_study(sampler=sampler)
    with caplog.at_level(logging.INFO, logger="optuna.optuna_llm"):
        study.optimize(lambda t: t.suggest_float("a", 0, 1) ** 2, n_trials=12)
    expected = "GPSampler" if gp_available() else "TPESampler"
    assert (
        f"Trial 11: {expected} proposed every parameter instead of the model, because the "
        "classical sampler's turn."
    ) in [record.getMessage() for record in caplog.records]
