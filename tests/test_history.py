from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import itertools
import math
import random
from typing import Any

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from optuna.trial import create_trial
import pytest

from optuna_llm._study.history import HistoryView
from optuna_llm._study.history import TrialRecord
from optuna_llm._study.history import pareto_front_mask
from optuna_llm._study.history import select_history
from optuna_llm._study.history import violation_of


X = FloatDistribution(0.0, 1.0)
MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE


def _trial(
    state: TrialState = TrialState.COMPLETE,
    values: float | Sequence[float] | None = None,
    x: float = 0.5,
    constraints: dict[str, float] | None = None,
    intermediate: dict[int, float] | None = None,
) -> FrozenTrial:
    if isinstance(values, int | float):
        values = [values]
    return create_trial(
        state=state,
        values=values,
        params={"x": x},
        distributions={"x": X},
        constraints=constraints,
        intermediate_values=intermediate,
    )


def _stored(
    trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection] = (MIN,)
) -> list[FrozenTrial]:
    """The trials as a study stores them: numbered in order."""
    study = optuna.create_study(directions=list(directions))
    study.add_trials(trials)
    return study.trials


def _select(
    trials: Sequence[FrozenTrial],
    max_trials: int,
    directions: Sequence[StudyDirection] = (MIN,),
) -> HistoryView:
    return select_history(trials, directions, max_trials)


def _numbers(view: HistoryView, *, best: bool | None = None) -> list[int]:
    return [r.number for r in view.records if best is None or r.best == best]


def _mixed_study(n: int, seed: int, n_running: int = 5) -> list[FrozenTrial]:
    """``n`` finished trials of every state, then ``n_running`` running ones."""
    rng = random.Random(seed)
    trials = []
    for _ in range(n):
        state = rng.choices(
            [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.WAITING],
            weights=[6, 2, 1, 1],
        )[0]
        value = rng.uniform(-10, 10) if state == TrialState.COMPLETE else None
        intermediate = {0: rng.random(), 3: rng.random()} if state == TrialState.PRUNED else None
        trials.append(_trial(state, value, x=rng.random(), intermediate=intermediate))
    trials += [_trial(TrialState.RUNNING, x=rng.random()) for _ in range(n_running)]
    return _stored(trials)


# --- select_history: what is shown --------------------------------------------------------


def test_empty_study() -> None:
    view = _select([], 30)
    assert view.records == []
    assert view.counts == {"complete": 0, "running": 0, "pruned": 0, "failed": 0}
    assert view.n_trials == 0


def test_small_study_is_shown_whole_and_counted() -> None:
    trials = _stored(
        [
            _trial(values=3.0, x=0.1),
            _trial(TrialState.PRUNED, x=0.2, intermediate={1: 0.7}),
            _trial(TrialState.WAITING),
            _trial(TrialState.FAIL, x=0.3),
            _trial(values=1.0, x=0.4),
            _trial(TrialState.RUNNING, x=0.5),
        ]
    )
    view = _select(trials, 30)
    assert view.counts == {"complete": 2, "running": 1, "pruned": 1, "failed": 1}
    assert view.n_trials == 5
    assert view.records == [
        TrialRecord(0, "complete", {"x": 0.1}, values=(3.0,)),
        TrialRecord(1, "pruned", {"x": 0.2}, last_intermediate=(1, 0.7)),
        TrialRecord(3, "failed", {"x": 0.3}),
        TrialRecord(4, "complete", {"x": 0.4}, values=(1.0,), best=True),
        TrialRecord(5, "running", {"x": 0.5}),
    ]


@pytest.mark.parametrize("max_trials", [1, 2, 3, 4, 5, 7, 10, 30, 100])
@pytest.mark.parametrize("seed", [0, 1])
def test_never_more_than_max_trials_and_nearly_full(max_trials: int, seed: int) -> None:
    trials = _mixed_study(300, seed)
    view = _select(trials, max_trials)
    numbers = _numbers(view)
    # Past the room there is, a block of up to a third of it is kept free for new trials to be
    # appended to (see test_selection_changes_in_steps_so_prompts_share_prefixes).
    n_running = min(5, max(1, max_trials // 5))
    block = max(1, (max_trials - n_running) // 3)
    assert max_trials - block < len(numbers) <= max_trials
    assert numbers == sorted(set(numbers))
    by_number = {trial.number: trial for trial in trials}
    for record in view.records:
        assert by_number[record.number].state != TrialState.WAITING
    assert view.n_trials == sum(trial.state != TrialState.WAITING for trial in trials)


@pytest.mark.parametrize("max_trials", [0, -1])
def test_no_slots_shows_nothing_but_still_counts(max_trials: int) -> None:
    view = _select(_mixed_study(20, seed=0), max_trials)
    assert view.records == []
    assert view.n_trials > 0


def test_selection_is_deterministic() -> None:
    trials = _mixed_study(500, seed=3)
    first = _select(trials, 17)
    assert _select(list(trials), 17) == first
    assert _select(_mixed_study(500, seed=3), 17) == first


@pytest.mark.parametrize("max_trials", [1, 2, 5, 30])
@pytest.mark.parametrize("direction", [MIN, MAX])
def test_best_trial_is_shown_and_marked(max_trials: int, direction: StudyDirection) -> None:
    rng = random.Random(max_trials)
    values = [rng.uniform(-100, 100) for _ in range(300)]
    n_running = 0 if max_trials == 1 else 10
    running = [_trial(TrialState.RUNNING) for _ in range(n_running)]
    trials = _stored(
        [_trial(values=v) for v in values] + running,
        [direction],
    )
    view = _select(trials, max_trials, [direction])
    best = values.index(min(values) if direction == MIN else max(values))
    assert _numbers(view, best=True) == [best]


def test_first_of_equally_good_trials_is_the_best() -> None:
    trials = _stored([_trial(values=v) for v in [3.0, 1.0, 2.0, 1.0, 1.0]])
    assert _numbers(_select(trials, 30), best=True) == [1]


def test_most_recent_finished_trials_are_shown() -> None:
    trials = _mixed_study(300, seed=5, n_running=0)
    finished = [t.number for t in trials if t.state.is_finished()]
    view = _select(trials, 10)
    # Three slots in ten go to the most recent, whatever their outcome.
    assert set(finished[-3:]) <= set(_numbers(view))


@pytest.mark.parametrize("state", [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE])
def test_latest_trial_is_shown_whatever_its_state(state: TrialState) -> None:
    trials = [_trial(values=float(i)) for i in range(100)]
    value = 1e6 if state == TrialState.COMPLETE else None
    trials = _stored([*trials, _trial(state, value)])
    assert 100 in _numbers(_select(trials, 5))


def test_worst_trial_is_shown_to_give_the_range() -> None:
    trials = _stored([_trial(values=1e9), *(_trial(values=float(i)) for i in range(100))])
    view = _select(trials, 10)
    assert 0 in _numbers(view)


def test_running_trials_are_shown_most_recent_first() -> None:
    trials = _stored(
        [_trial(values=float(i)) for i in range(100)]
        + [_trial(TrialState.RUNNING, x=i / 10) for i in range(5)]
    )
    view = _select(trials, 10)
    running = [r for r in view.records if r.state == "running"]
    # A fifth of the slots: the two most recent of the five running trials.
    assert [r.number for r in running] == [103, 104]
    assert all(r.values is None and r.violation is None and not r.best for r in running)
    view = _select(trials, 30)
    assert [r.number for r in view.records if r.state == "running"] == list(range(100, 105))


def test_params_of_gives_the_parameters_shown() -> None:
    trials = _stored([_trial(values=1.0, x=0.1), _trial(TrialState.RUNNING, x=0.2)])
    calls: list[int] = []

    def params_of(trial: FrozenTrial) -> Mapping[str, Any]:
        calls.append(trial.number)
        if trial.state == TrialState.RUNNING:
            return {**trial.params, "proposed": "adam"}
        return trial.params

    view = select_history(trials, [MIN], 30, params_of)
    assert [r.params for r in view.records] == [{"x": 0.1}, {"x": 0.2, "proposed": "adam"}]
    assert sorted(calls) == [0, 1]
    # The records hold copies: changing one does not change the trial.
    view.records[0].params["x"] = 99.0
    assert trials[0].params == {"x": 0.1}


# --- select_history: how each trial is shown ---------------------------------------------


def test_pruned_trial_shows_its_last_intermediate_value() -> None:
    trials = _stored(
        [
            _trial(TrialState.PRUNED, intermediate={0: 1.0, 5: 0.3, 2: 0.5}),
            _trial(TrialState.PRUNED),
        ]
    )
    first, second = _select(trials, 30).records
    assert first == TrialRecord(0, "pruned", {"x": 0.5}, last_intermediate=(5, 0.3))
    assert second.last_intermediate is None
    assert second.values is None


def test_failed_trial_shows_no_outcome() -> None:
    trial = _trial(TrialState.FAIL, intermediate={3: 0.2}, constraints={"c0": 1.0})
    (record,) = _select(_stored([trial]), 30).records
    assert record == TrialRecord(0, "failed", {"x": 0.5})


@pytest.mark.parametrize(
    ("constraints", "violation"),
    [
        (None, None),
        ({"c0": -1.0}, 0.0),
        ({"c0": 0.0}, 0.0),
        ({"c0": 0.5}, 0.5),
        ({"c0": 0.5, "c1": -2.0, "c2": 0.25}, 0.75),
    ],
)
def test_completed_trial_shows_its_constraint_violation(
    constraints: dict[str, float] | None, violation: float | None
) -> None:
    (record,) = _select(_stored([_trial(values=1.0, constraints=constraints)]), 30).records
    assert record.violation == violation
    assert record.values == (1.0,)


def test_feasible_trial_is_best_before_a_better_infeasible_one() -> None:
    trials = _stored(
        [
            _trial(values=0.0, constraints={"c0": 0.1}),
            _trial(values=5.0, constraints={"c0": -1.0}),
            _trial(values=7.0, constraints={"c0": 0.0}),
        ]
    )
    assert _numbers(_select(trials, 30), best=True) == [1]


def test_without_feasible_trials_the_least_violating_is_best() -> None:
    trials = _stored(
        [
            _trial(values=0.0, constraints={"c0": 2.0}),
            _trial(values=9.0, constraints={"c0": 0.1, "c1": 0.2}),
            _trial(values=1.0, constraints={"c0": 0.5}),
        ]
    )
    assert _numbers(_select(trials, 30), best=True) == [1]


# --- select_history: several objectives --------------------------------------------------


def _brute_force_front(losses: np.ndarray) -> list[bool]:
    return [
        not any(bool(np.all(other <= point) and np.any(other < point)) for other in losses)
        for point in losses
    ]


@pytest.mark.parametrize("seed", range(4))
def test_pareto_front_is_marked_best(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 20, size=(80, 2)).astype(float)
    trials = _stored([_trial(values=list(v)) for v in values], [MIN, MAX])
    view = _select(trials, 100, [MIN, MAX])
    front = _brute_force_front(values * np.array([1.0, -1.0]))
    assert _numbers(view, best=True) == [i for i, on in enumerate(front) if on]


def test_infeasible_trials_are_not_on_the_pareto_front() -> None:
    trials = _stored(
        [
            _trial(values=[0.0, 0.0], constraints={"c0": 1.0}),
            _trial(values=[1.0, 1.0], constraints={"c0": 0.0}),
            _trial(values=[2.0, 0.5], constraints={"c0": -1.0}),
            _trial(values=[2.0, 2.0], constraints={"c0": -1.0}),
        ],
        [MIN, MIN],
    )
    assert _numbers(_select(trials, 30, [MIN, MIN]), best=True) == [1, 2]


def test_every_shown_trial_on_a_large_pareto_front_is_flagged() -> None:
    # Fifty trials trading one objective for the other: all on the front.
    trials = _stored([_trial(values=[float(i), float(-i)]) for i in range(50)], [MIN, MIN])
    view = _select(trials, 10, [MIN, MIN])
    assert 7 < len(view.records) <= 10
    assert _numbers(view, best=True) == _numbers(view)


def test_selection_changes_in_steps_so_prompts_share_prefixes() -> None:
    rng = random.Random(0)
    trials = _stored([_trial(values=rng.uniform(-1, 1)) for _ in range(200)])
    views = [_numbers(_select(trials[:n], 30)) for n in range(100, 160)]
    extended = [later[: len(earlier)] == earlier for earlier, later in itertools.pairwise(views)]
    # The shown trials only grow at the end, except once per block of 10 new trials.
    assert extended.count(False) <= 6
    assert all(len(view) <= 30 for view in views)


def test_objectives_in_different_directions() -> None:
    trials = _stored(
        [_trial(values=[1.0, 5.0]), _trial(values=[1.0, 6.0]), _trial(values=[0.5, 1.0])],
        [MIN, MAX],
    )
    view = _select(trials, 30, [MIN, MAX])
    # Trial 0 is dominated by trial 1 (same loss, higher score).
    assert _numbers(view, best=True) == [1, 2]
    assert view.records[1].values == (1.0, 6.0)


# --- pareto_front_mask -------------------------------------------------------------------


@pytest.mark.parametrize("n_objectives", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 2, 10, 150])
@pytest.mark.parametrize("seed", range(3))
def test_pareto_front_mask_matches_brute_force(n_objectives: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for losses in (
        rng.integers(0, 4, size=(n, n_objectives)).astype(float),  # many ties
        rng.normal(size=(n, n_objectives)),
    ):
        mask = pareto_front_mask(losses)
        assert mask.dtype == bool
        assert mask.shape == (n,)
        assert mask.tolist() == _brute_force_front(losses)


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        ([[1, 2], [2, 1], [2, 2], [1, 2]], [True, True, False, True]),
        ([[0, 0], [0, 1], [1, 0]], [True, False, False]),
        ([[3], [1], [2], [1]], [False, True, False, True]),
        ([[1, 1, 1], [0, 2, 2], [2, 0, 2], [2, 2, 0], [2, 2, 2]], [True, True, True, True, False]),
        ([[-math.inf, 0], [0, -1]], [True, True]),
    ],
)
def test_pareto_front_mask_small_cases(losses: list[list[float]], expected: list[bool]) -> None:
    assert pareto_front_mask(np.array(losses, dtype=float)).tolist() == expected


# --- violation_of ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system_attrs", "expected"),
    [
        ({}, None),
        ({"constraints:c0": -0.5}, 0.0),
        ({"constraints:c0": 0.5}, 0.5),
        ({"constraints:c0": 0.5, "constraints:c1": 1.5, "constraints:c2": -9.0}, 2.0),
        ({"constraints": [0.25, -1.0, 0.5]}, 0.75),  # the old format, a list
        ({"other": 1.0}, None),
    ],
)
def test_violation_of(system_attrs: dict[str, Any], expected: float | None) -> None:
    trial = create_trial(value=1.0, system_attrs=system_attrs)
    violation = violation_of(trial)
    assert violation == expected
    if expected is not None:
        assert type(violation) is float


def test_violation_of_a_trial_made_with_constraints() -> None:
    assert violation_of(_trial(values=1.0, constraints={"a": 1, "b": 2})) == 3.0
