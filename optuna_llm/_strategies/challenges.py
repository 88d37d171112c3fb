"""The guided default's challenges, all their rules in one place; pure functions.

After the warm-up the model may challenge the classical sampler's candidate:

- **when**: :func:`challenge_due` reads the study's earlier challenges. The first is due
  ``every`` trials after the start's warm-up; after one that did well the next is due
  ``every`` trials later, after one that did not (or was turned down) twice the last gap, up to
  ``MAX_INTERVAL_FACTOR`` times ``every``. A challenge still running holds the turn until it
  ends, or until a trial that long after it takes the turn instead.
- **which answers are kept**: :func:`turned_down` drops a near-repeat of a tried configuration
  and one whose nearest evaluated neighbour is in the study's worse half.
- **what did well**: :func:`challenge_succeeded`, a value in the best quarter of one objective,
  or on the Pareto front of several.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._strategies.turn import Rejection
from optuna_llm._strategies.unit_interval import distance
from optuna_llm._study.history import pareto_front_mask
from optuna_llm._study.tried import Snapshot


# A proposal this close to a tried configuration (root mean square share of the ranges, see
# unit_interval.distance) tells the study nothing new.
NEAR_REPEAT_DISTANCE = 0.02
# A proposal "did well" when its value ranks in this best share of the study's values.
GOOD_SHARE = 0.25
MAX_INTERVAL_FACTOR = 8


@dataclass(frozen=True)
class Challenge:
    """An earlier challenge of the study: its trial, and whether it did well (None while it
    runs)."""

    number: int
    did_well: bool | None


def challenge_due(number: int, first: int, every: int, earlier: Sequence[Challenge]) -> bool:
    """Whether trial ``number`` challenges, given the study's ``earlier`` challenges."""
    due, interval, holder = first, every, None
    for challenge in sorted(earlier, key=lambda c: c.number):
        if challenge.did_well is None:
            holder = challenge.number
            continue
        interval = every if challenge.did_well else min(interval * 2, every * MAX_INTERVAL_FACTOR)
        due = challenge.number + interval
    if number < due:
        return False
    return holder is None or number >= holder + every * MAX_INTERVAL_FACTOR


def holds_turn(challenge: Challenge, number: int, every: int) -> bool:
    """Whether a running challenge still holds the turn at trial ``number``."""
    return challenge.did_well is None and number < challenge.number + every * MAX_INTERVAL_FACTOR


NEAR_REPEAT = Rejection("near_repeat", "the model's proposal nearly repeats a tried configuration")
WORSE_HALF = Rejection(
    "worse_half", "the model's proposal lies where the study has seen only its worse half"
)


def turned_down(
    params: Mapping[str, Any],
    view: Snapshot,
    distributions: Mapping[str, BaseDistribution],
    directions: Sequence[StudyDirection],
) -> Rejection | None:
    """Which rule turns a challenger down, or None when it is worth a trial."""
    tried = [params for _, params in view.finished + view.running]
    if near_repeat(params, tried, distributions):
        return NEAR_REPEAT
    if len(directions) == 1:
        evaluated = [(t.params, t.values[0]) for t in view.earlier if _complete(t)]
        minimize = directions[0] == StudyDirection.MINIMIZE
        if not rated_competitive(params, evaluated, distributions, minimize=minimize):
            return WORSE_HALF
    return None


def challenge_succeeded(
    trial: FrozenTrial,
    values: Sequence[float] | None,
    finished: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
) -> bool:
    """Whether a challenger did well: among the best quarter of one objective's values, or on
    the Pareto front of several."""
    if values is None:
        return False
    others = [t.values for t in finished if _complete(t) and t.number != trial.number]
    if len(directions) == 1:
        minimize = directions[0] == StudyDirection.MINIMIZE
        return did_well(values[0], [v[0] for v in others], minimize=minimize)
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    losses = np.array([*others, list(values)], dtype=float) * signs
    return bool(pareto_front_mask(losses)[-1])


def near_repeat(
    params: Mapping[str, Any],
    tried: Sequence[Mapping[str, Any]],
    distributions: Mapping[str, BaseDistribution],
) -> bool:
    """Whether ``params`` lies within ``NEAR_REPEAT_DISTANCE`` of a tried configuration."""
    return any(distance(params, other, distributions) < NEAR_REPEAT_DISTANCE for other in tried)


def rated_competitive(
    params: Mapping[str, Any],
    evaluated: Sequence[tuple[Mapping[str, Any], float]],
    distributions: Mapping[str, BaseDistribution],
    *,
    minimize: bool,
) -> bool:
    """Whether the evaluated configuration nearest to ``params`` is among the better half.

    A nearest-neighbour rating, cheap and free of any sampler's internals: a proposal in a
    region where the study has only seen poor values is not worth a trial.
    """
    if not evaluated:
        return True
    nearest = min(evaluated, key=lambda item: distance(params, item[0], distributions))[1]
    values = sorted(value for _, value in evaluated)
    median = values[(len(values) - 1) // 2] if minimize else values[len(values) // 2]
    return nearest <= median if minimize else nearest >= median


def did_well(value: float, values: Sequence[float], *, minimize: bool) -> bool:
    """Whether ``value`` ranks among the best ``GOOD_SHARE`` of ``values``."""
    if not values:
        return True
    better = sum(1 for v in values if (v < value if minimize else v > value))
    return better < max(1, math.ceil(GOOD_SHARE * len(values)))


def _complete(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and trial.values is not None
