from __future__ import annotations

from collections.abc import Callable
import itertools

import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial
import pytest

from optuna_llm.schedules import AllOf
from optuna_llm.schedules import Always
from optuna_llm.schedules import AnyOf
from optuna_llm.schedules import EveryKth
from optuna_llm.schedules import FirstTrials
from optuna_llm.schedules import Never
from optuna_llm.schedules import Schedule
from optuna_llm.schedules import Share
from optuna_llm.schedules import default_schedule


STUDY = optuna.create_study()


def _trial(number: int) -> FrozenTrial:
    trial = optuna.trial.create_trial(value=0.0)
    trial.number = number
    return trial


def _model_trials(schedule: Callable[[Study, FrozenTrial], bool], n: int = 20) -> list[int]:
    return [i for i in range(n) if schedule(STUDY, _trial(i))]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (Always(), list(range(12))),
        (Never(), []),
        (FirstTrials(3), [0, 1, 2]),
        (FirstTrials(0), []),
        (EveryKth(4), [0, 4, 8]),
        (EveryKth(3, offset=2), [2, 5, 8, 11]),
        (Share(0.25), [3, 7, 11]),
        (Share(0.5, warmup=4), [5, 7, 9, 11]),
        (Share(1.0, warmup=10), [10, 11]),
        (Share(0.0), []),
        (FirstTrials(2) | EveryKth(5), [0, 1, 5, 10]),
        (EveryKth(2) & EveryKth(3), [0, 6]),
        (AnyOf(FirstTrials(1), lambda study, trial: trial.number == 7), [0, 7]),
        (AllOf(Always(), Never()), []),
    ],
)
def test_schedules_pick_trials_by_number(schedule: Schedule, expected: list[int]) -> None:
    assert _model_trials(schedule, 12) == expected


@pytest.mark.parametrize("fraction", [0.1, 0.2, 1 / 3, 0.5, 0.9])
def test_share_gives_the_model_that_fraction_evenly(fraction: float) -> None:
    chosen = _model_trials(Share(fraction), 300)
    assert len(chosen) == int(300 * fraction + 1e-9)
    gaps = {b - a for a, b in itertools.pairwise(chosen)}
    assert max(gaps) - min(gaps) <= 1, "evenly interleaved"


def test_default_is_the_model_first_then_every_fifth_trial() -> None:
    assert _model_trials(default_schedule(), 31) == [*range(10), 10, 15, 20, 25, 30]


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda: FirstTrials(-1), "n"),
        (lambda: EveryKth(0), "k"),
        (lambda: EveryKth(2, offset=-1), "offset"),
        (lambda: Share(1.5), "fraction"),
        (lambda: Share(0.5, warmup=-2), "warmup"),
        (lambda: FirstTrials(True), "n"),
    ],
)
def test_invalid_arguments_raise_value_error(factory: Callable[[], Schedule], name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        factory()


def test_composition_rejects_what_cannot_be_called() -> None:
    with pytest.raises(ValueError, match="callable"):
        AnyOf(FirstTrials(1), 3)  # type: ignore[arg-type]


def test_repr_shows_the_composition() -> None:
    assert repr(FirstTrials(10) | EveryKth(5, offset=10)) == (
        "AnyOf(FirstTrials(10), EveryKth(5, 10))"
    )
