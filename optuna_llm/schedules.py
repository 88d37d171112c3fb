"""Which trials ask the model and which the classical sampler: schedules for hybrid runs.

A schedule is any callable ``(study, trial) -> bool`` that says whether the model proposes the
trial; the classes here cover the common cases and compose with ``|`` (either says yes) and
``&`` (both say yes). Decisions depend only on the trial's number, so every worker of a
distributed study makes the same ones. A schedule that raises counts as "no", with a
warning. A bad argument to one of the classes raises ``ValueError`` naming it.

Example:
    ```python
    from optuna_llm import LLMSampler
    from optuna_llm.schedules import EveryKth, FirstTrials

    # The model for the first 8 trials, then for every 4th.
    sampler = LLMSampler(model="gpt-4o-mini", schedule=FirstTrials(8) | EveryKth(4))
    ```
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any

from optuna.study import Study
from optuna.trial import FrozenTrial


ScheduleFn = Callable[[Study, FrozenTrial], bool]
"""What ``LLMSampler(schedule=...)`` takes: whether the model proposes ``trial`` of ``study``."""


class Schedule:
    """Base class of the schedules; ``a | b`` and ``a & b`` compose them.

    Subclasses implement ``__call__``. The right-hand side of ``|`` and ``&`` may be any
    callable schedule, such as a function.
    """

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether the model proposes ``trial``."""
        raise NotImplementedError

    def __or__(self, other: ScheduleFn) -> Schedule:
        """[`AnyOf(self, other)`][optuna_llm.schedules.AnyOf]: the model when either says so."""
        return AnyOf(self, other)

    def __and__(self, other: ScheduleFn) -> Schedule:
        """[`AllOf(self, other)`][optuna_llm.schedules.AllOf]: the model when both say so."""
        return AllOf(self, other)

    def __repr__(self) -> str:
        fields = ", ".join(f"{value!r}" for value in self._fields())
        return f"{self.__class__.__name__}({fields})"

    def _fields(self) -> tuple[Any, ...]:
        return ()


class Always(Schedule):
    """The model proposes every trial."""

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Always true."""
        return True


class Never(Schedule):
    """The model proposes no trial: the sampler behaves exactly like its fallback."""

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Always false."""
        return False


class FirstTrials(Schedule):
    """The model proposes trials ``0`` to ``n - 1``; the classical sampler the rest."""

    def __init__(self, n: int) -> None:
        _require_int("n", n, minimum=0)
        self.n = n

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether ``trial`` is one of the first ``n``."""
        return trial.number < self.n

    def _fields(self) -> tuple[Any, ...]:
        return (self.n,)


class EveryKth(Schedule):
    """The model proposes every ``k``-th trial, starting with trial ``offset``."""

    def __init__(self, k: int, offset: int = 0) -> None:
        _require_int("k", k, minimum=1)
        _require_int("offset", offset, minimum=0)
        self.k = k
        self.offset = offset

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether ``trial`` is ``offset``, ``offset + k``, ``offset + 2k``, ..."""
        return trial.number >= self.offset and (trial.number - self.offset) % self.k == 0

    def _fields(self) -> tuple[Any, ...]:
        return (self.k, self.offset)


class Share(Schedule):
    """The model proposes a ``fraction`` of the trials after ``warmup``, evenly interleaved.

    Trials before ``warmup`` are left to the classical sampler; combine with
    [`FirstTrials`][optuna_llm.schedules.FirstTrials] to give the warm-up to the model instead.
    """

    def __init__(self, fraction: float, warmup: int = 0) -> None:
        if not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            raise ValueError(f"`fraction` must be between 0 and 1, got {fraction!r}.")
        _require_int("warmup", warmup, minimum=0)
        self.fraction = float(fraction)
        self.warmup = warmup

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether ``trial`` is one of the ``fraction`` of the trials after ``warmup``."""
        i = trial.number - self.warmup
        if i < 0:
            return False
        # Trial i asks the model when it brings the running count of model trials to the next
        # whole number: a share of 0.25 gives trials 3, 7, 11, ... after the warm-up.
        return math.floor((i + 1) * self.fraction + 1e-9) > math.floor(i * self.fraction + 1e-9)

    def _fields(self) -> tuple[Any, ...]:
        return (self.fraction, self.warmup)


class AnyOf(Schedule):
    """The model proposes a trial when any of the schedules says so."""

    def __init__(self, *schedules: ScheduleFn) -> None:
        self.schedules = tuple(_checked(s) for s in schedules)

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether any of the schedules says yes; they are asked in order until one does."""
        return any(schedule(study, trial) for schedule in self.schedules)

    def _fields(self) -> tuple[Any, ...]:
        return self.schedules


class AllOf(Schedule):
    """The model proposes a trial when every schedule says so."""

    def __init__(self, *schedules: ScheduleFn) -> None:
        self.schedules = tuple(_checked(s) for s in schedules)

    def __call__(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether every schedule says yes; they are asked in order until one says no."""
        return all(schedule(study, trial) for schedule in self.schedules)

    def _fields(self) -> tuple[Any, ...]:
        return self.schedules


def default_schedule() -> Schedule:
    """The model for the first 10 trials, then for every 5th: a hybrid, as the evidence favours.

    A model's prior helps most at the start, where TPE would draw its 10 start-up trials at
    random; later the classical sampler, which learns from the study itself, does most of the
    work while the model keeps proposing a minority of trials.
    """
    return FirstTrials(10) | EveryKth(5, offset=10)


def _checked(schedule: ScheduleFn) -> ScheduleFn:
    if not callable(schedule):
        raise ValueError(
            f"A schedule must be callable as (study, trial) -> bool, got {schedule!r}."
        )
    return schedule


def _require_int(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer of at least {minimum}, got {value!r}.")
