"""When the guided sampler asks the model after its warm-up, and which answers it keeps.

Pure checks, and :class:`TrackRecord`, the only state: the model is asked every
``ask_every`` trials while its proposals do well, and half as often after each one that does
not, so its share of the trials follows how it does in this study, down to almost none.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import math
import threading
from typing import Any

from optuna.distributions import BaseDistribution

from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._unit import distance


# A proposal this close to a tried configuration (root mean square share of the ranges, see
# _unit.distance) tells the study nothing new.
NEAR_REPEAT_DISTANCE = 0.02
# A proposal "did well" when its value ranks in this best share of the study's values.
GOOD_SHARE = 0.25
MAX_INTERVAL_FACTOR = 8


def is_flat(values: Sequence[float], window: int) -> bool:
    """Whether the last ``window`` values are all the same: the objective gives no signal."""
    recent = [v for v in values[-window:] if math.isfinite(v)]
    if len(recent) < window:
        return False
    scale = max(abs(v) for v in recent) or 1.0
    return max(recent) - min(recent) <= 1e-12 * scale


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


class TrackRecord(PicklesWithoutLock):
    """Which trials after the warm-up ask the model, by the model's results so far.

    The first asks at ``first``; after a proposal that did well the next asks ``every`` trials
    later, after one that did not (or that was turned down) twice as long as the last gap, up
    to ``MAX_INTERVAL_FACTOR`` times ``every``. A trial that asks holds the turn until its
    outcome is recorded, or until a trial that long after it asks instead (the first never
    told). Thread-safe.
    """

    def __init__(self, first: int, every: int) -> None:
        self._every = every
        self._interval = every
        self._next = first
        self._held_by: int | None = None
        self._lock = threading.Lock()

    def claim(self, number: int) -> bool:
        """Whether trial ``number`` asks the model."""
        with self._lock:
            if number < self._next:
                return False
            longest = self._every * MAX_INTERVAL_FACTOR
            if self._held_by is not None and number < self._held_by + longest:
                return False
            self._held_by = number
            return True

    def record(self, number: int, *, success: bool) -> None:
        """The outcome of the model's turn at trial ``number``."""
        with self._lock:
            if success:
                self._interval = self._every
            else:
                self._interval = min(self._interval * 2, self._every * MAX_INTERVAL_FACTOR)
            self._next = number + self._interval
            if self._held_by == number:
                self._held_by = None

    @property
    def interval(self) -> int:
        with self._lock:
            return self._interval
