"""Was this configuration tried, or is it running? Snapshots, claims and the matching rules."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
import pickle
import threading
from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
import pytest

from optuna_llm._study.tried import MAX_HANDED_OUT
from optuna_llm._study.tried import HandedOut
from optuna_llm._study.tried import Snapshot
from optuna_llm._study.tried import duplicate_error
from optuna_llm._study.tried import find_covering
from optuna_llm._study.tried import find_duplicate
from optuna_llm._study.tried import fits


SPACE = {"x": FloatDistribution(0, 1), "n": IntDistribution(1, 9)}


def _study_with_running_trial() -> tuple[optuna.Study, optuna.trial.FrozenTrial]:
    """Trial 0 finished with x=0.5, n=3; trial 1 running with x=0.25 suggested; trial 2 asked."""
    study = optuna.create_study()
    study.add_trial(
        optuna.trial.create_trial(params={"x": 0.5, "n": 3}, distributions=SPACE, value=1.0)
    )
    running = study.ask()
    running.suggest_float("x", 0, 1)
    current = study.ask()
    frozen = study.trials[current.number]
    return study, frozen


def test_snapshot_sees_finished_and_running_trials_but_not_its_own() -> None:
    study, current = _study_with_running_trial()
    view = Snapshot.of(study, current)
    assert [t.number for t in view.earlier] == [0, 1]
    assert view.n_finished == 1
    assert view.repeats({"x": 0.5, "n": 3}) == 0
    running_x = study.trials[1].params["x"]
    assert view.repeats({"x": running_x}) == 1
    assert view.repeats({"x": running_x, "n": 4}) is None  # trial 1 may still get n != 4


def test_holding_a_plan_makes_the_trial_a_running_one_for_the_next() -> None:
    study, current = _study_with_running_trial()
    view = Snapshot.of(study, current).holding({"x": 0.75, "n": 7})
    assert [t.number for t in view.earlier] == [0, 1, 2]
    assert view.repeats({"x": 0.75, "n": 7}) == 2
    assert view.params_of(current) == {"x": 0.75, "n": 7}
    assert view.n_finished == 1


def test_fits_needs_valid_values_and_an_untried_configuration() -> None:
    study, current = _study_with_running_trial()
    view = Snapshot.of(study, current)
    assert fits({"x": 0.1, "n": 2}, SPACE, view)
    assert not fits({"x": 0.5, "n": 3}, SPACE, view)  # trial 0
    assert not fits({"x": 2.0, "n": 2}, SPACE, view)  # out of range
    assert not fits({"y": 1}, SPACE, view)  # nothing of the space


def test_handed_out_configurations_are_claimed_once() -> None:
    handed_out = HandedOut()
    assert handed_out.claim(3, {"x": 0.5}) is None
    assert handed_out.claim(4, {"x": 0.5}) == 3
    assert handed_out.claim(4, {"x": 0.25}) is None


def test_handed_out_claims_are_exclusive_across_threads() -> None:
    handed_out = HandedOut()
    winners: list[int] = []
    lock = threading.Lock()

    def claim(number: int) -> None:
        if handed_out.claim(number, {"x": 1}) is None:
            with lock:
                winners.append(number)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_handed_out_forgets_the_oldest_and_is_not_pickled() -> None:
    handed_out = HandedOut()
    for number in range(MAX_HANDED_OUT + 1):
        handed_out.claim(number, {"x": number})
    assert handed_out.claim(99_999, {"x": 0}) is None  # the oldest was forgotten
    assert handed_out.claim(99_999, {"x": MAX_HANDED_OUT}) == MAX_HANDED_OUT
    copy = pickle.loads(pickle.dumps(handed_out))
    assert copy.claim(1, {"x": MAX_HANDED_OUT}) is None


# --- find_duplicate ----------------------------------------------------------------------


def _others(*params: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    return [(10 + i, p) for i, p in enumerate(params)]


@pytest.mark.parametrize(
    ("params", "others", "expected"),
    [
        ({"x": 1, "y": "a"}, _others({"x": 1, "y": "a"}), 10),
        ({"x": 1, "y": "a"}, _others({"y": "a", "x": 1}), 10),
        ({"x": 1, "y": "a"}, _others({"x": 2, "y": "a"}), None),
        ({"x": 1, "y": "a"}, _others({"x": 2}, {"x": 1, "y": "a"}, {"x": 1, "y": "a"}), 11),
        # The proposal holds a conditional parameter the trial did not use.
        ({"x": 1, "y": "a"}, _others({"x": 1}), 10),
        # The trial used a parameter the proposal does not hold.
        ({"x": 1}, _others({"x": 1, "y": "a"}), None),
        # A trial without parameters repeats nothing.
        ({"x": 1}, _others({}), None),
        ({}, _others({}), None),
        # Equal numbers are equal, whatever their type; bools are not numbers.
        ({"x": 1}, _others({"x": 1.0}), 10),
        ({"x": 1.0}, _others({"x": 1}), 10),
        ({"x": True}, _others({"x": 1}), None),
        ({"x": 1}, _others({"x": True}), None),
        ({"x": False}, _others({"x": 0}), None),
        ({"x": False}, _others({"x": False}), 10),
        ({"x": "1"}, _others({"x": 1}), None),
        ({"x": None}, _others({"x": None}), 10),
        ({"x": None}, _others({"x": 0}), None),
        ({"x": 0.1}, _others({"x": 0.1 + 1e-12}), None),
        ({"x": 1}, [], None),
    ],
)
def test_find_duplicate(
    params: dict[str, Any], others: list[tuple[int, Mapping[str, Any]]], expected: int | None
) -> None:
    assert find_duplicate(params, others) == expected


def test_find_duplicate_accepts_an_iterator_and_stops_at_the_first_match() -> None:
    seen: list[int] = []

    def others() -> Iterator[tuple[int, Mapping[str, Any]]]:
        for number in range(5):
            seen.append(number)
            yield number, {"x": number}

    assert find_duplicate({"x": 2}, others()) == 2
    assert seen == [0, 1, 2]
    assert find_duplicate({"x": 1}, [(-1, {"x": 1})]) == -1


def test_duplicate_error_names_the_trial_and_the_configuration() -> None:
    message = duplicate_error(7, {"lr": 1e-7, "opt": "adam"})
    assert "repeats trial 7" in message
    assert '{"lr": 1e-7, "opt": "adam"}' in message


@pytest.mark.parametrize(
    ("params", "running", "expected"),
    [
        ({"x": 1, "y": 2}, [(4, {"x": 1, "y": 2, "z": 3})], 4),
        ({"x": 1, "y": 2}, [(4, {"x": 1})], None),
        ({"x": 1, "y": 2}, [(4, {"x": 1, "y": 5})], None),
        ({"flag": True}, [(4, {"flag": 1})], None),
        ({}, [(4, {"x": 1})], None),
        ({"x": 1}, [(2, {"x": 2}), (3, {"x": 1})], 3),
    ],
)
def test_find_covering_needs_the_running_trial_to_hold_every_value(
    params: dict[str, Any], running: list[tuple[int, dict[str, Any]]], expected: int | None
) -> None:
    assert find_covering(params, running) == expected
