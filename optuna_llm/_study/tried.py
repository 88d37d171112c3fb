"""Was this configuration tried, or is it running? The one home of that question.

- :class:`Snapshot` is the study as one trial's sampling sees it, read once: finished trials,
  running ones with the plans their samplers stored (see ``_trial_attrs``), and the trial itself.
- :class:`HandedOut` remembers what this process handed out, so that two threads given the same
  answer at the same time cannot both use it.
- :func:`fits` says whether a spare proposal still suits a trial.

Pure but for :class:`HandedOut`, a small thread-safe registry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
import threading
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.storages import InMemoryStorage
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._study.search_space import format_params
from optuna_llm._study.trial_attrs import planned_params


# Configurations remembered to keep parallel threads from repeating each other.
MAX_HANDED_OUT = 1024


@dataclass(frozen=True)
class Snapshot:
    """The study as one trial's sampling sees it, read once.

    ``earlier`` is every trial but ``trial``; with a plan for ``trial`` (a request made ahead
    for the next trial), it holds ``trial`` too, as a running trial with that plan.
    """

    trial: FrozenTrial
    trials: list[FrozenTrial]
    earlier: list[FrozenTrial]
    finished: list[tuple[int, dict[str, Any]]]
    running: list[tuple[int, dict[str, Any]]]
    plans: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, study: Study, trial: FrozenTrial) -> Snapshot:
        return cls.of_trials(study._get_trials(deepcopy=False, use_cache=True), trial)

    @classmethod
    def of_trials(
        cls,
        trials: list[FrozenTrial],
        trial: FrozenTrial,
        plan: Mapping[str, Any] | None = None,
    ) -> Snapshot:
        plans = {trial._trial_id: dict(plan)} if plan is not None else {}
        earlier = [t for t in trials if plan is not None or t._trial_id != trial._trial_id]
        snapshot = cls(
            trial=trial, trials=trials, earlier=earlier, finished=[], running=[], plans=plans
        )
        for t in earlier:
            if t.state.is_finished():
                snapshot.finished.append((t.number, t.params))
            elif t.state == TrialState.RUNNING:
                snapshot.running.append((t.number, snapshot.params_of(t)))
        return snapshot

    def holding(self, plan: Mapping[str, Any]) -> Snapshot:
        """This view with its own trial running with ``plan``: what the next trial will see."""
        return Snapshot.of_trials(self.trials, self.trial, plan=plan)

    @property
    def n_finished(self) -> int:
        return len(self.finished)

    def params_of(self, trial: FrozenTrial) -> dict[str, Any]:
        """A trial's parameters, with those planned for it when it is running."""
        plan = self.plans.get(trial._trial_id)
        return {**plan, **trial.params} if plan is not None else known_params(trial)

    def repeats(self, params: Mapping[str, Any]) -> int | None:
        """The trial a configuration repeats: a finished one, or a running one holding it."""
        number = find_duplicate(params, self.finished)
        return number if number is not None else find_covering(params, self.running)


class HandedOut:
    """The configurations this process has handed out lately, and to which trials.

    Check and claim happen under one lock, so two threads that get the same answer at the same
    time cannot both use it, even when the other trial finished in between and was not yet
    stored when this trial read the study.
    """

    def __init__(self) -> None:
        self._items: OrderedDict[int, tuple[int, dict[str, Any]]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def claim(self, trial_number: int, params: Mapping[str, Any]) -> int | None:
        """Claim ``params`` for a trial, unless handed out already; then say to which trial."""
        with self._lock:
            number = find_covering(params, self._items.values())
            if number is None:
                self._count += 1
                self._items[self._count] = (trial_number, dict(params))
                while len(self._items) > MAX_HANDED_OUT:
                    self._items.popitem(last=False)
            return number

    def __getstate__(self) -> dict[str, object]:
        # What was handed out belongs to the process that handed it out.
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]


def held_by_another_worker(
    study: Study, trial: FrozenTrial, params: Mapping[str, Any]
) -> int | None:
    """The trial of another process that has or plans ``params``, read afresh from storage.

    Each worker stores its plan before it checks the others', so of two workers that got the
    same configuration the second to check always sees the first; at worst both give it up.
    Within one process the proposer's claims (:class:`HandedOut`) already prevent this.
    """
    if not params or isinstance(study._storage, InMemoryStorage):
        return None
    # Read afresh: the trial that took the configuration may have started, or even finished,
    # after this trial read the study.
    trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
    return Snapshot.of_trials(trials, trial).repeats(params)


def fits(
    params: Mapping[str, Any],
    search_space: Mapping[str, BaseDistribution],
    snapshot: Snapshot,
) -> bool:
    """Whether a spare proposal still suits a trial: valid in its space and not tried yet."""
    shared = [name for name in search_space if name in params]
    return (
        bool(shared)
        and all(contains(search_space[name], params[name]) for name in shared)
        and snapshot.repeats(params) is None
    )


def find_duplicate(
    params: Mapping[str, Any], others: Iterable[tuple[int, Mapping[str, Any]]]
) -> int | None:
    """The number of the first trial whose parameters all equal those in ``params``.

    A proposal may hold conditional parameters a trial did not use; it still repeats that trial
    when every parameter the trial did use has the same value.
    """
    for number, other in others:
        if other and all(
            name in params and _same_value(params[name], value) for name, value in other.items()
        ):
            return number
    return None


def find_covering(
    params: Mapping[str, Any], others: Iterable[tuple[int, Mapping[str, Any]]]
) -> int | None:
    """The number of the first running trial that already holds every value in ``params``.

    A running trial's parameters may still be incomplete, so it repeats a proposal only when
    what is known of it covers the whole proposal.
    """
    for number, other in others:
        if params and all(
            name in other and _same_value(other[name], value) for name, value in params.items()
        ):
            return number
    return None


def duplicate_error(number: int, params: Mapping[str, Any]) -> str:
    """The re-ask message for a configuration that repeats trial ``number``."""
    return (
        f"the configuration {format_params(params)} repeats trial {number}; "
        "propose a configuration that differs from every trial shown."
    )


def known_params(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's parameters, with those planned but not yet suggested for a running one."""
    if trial.state != TrialState.RUNNING:
        return trial.params
    return {**(planned_params(trial) or {}), **trial.params}


def contains(distribution: BaseDistribution, value: Any) -> bool:
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (TypeError, ValueError):
        return False


def _same_value(a: Any, b: Any) -> bool:
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)
