"""The study as one trial's sampling sees it: trials read once, and what repeats them.

Pure helpers of the sampler. A running trial's configuration is known from the plan a sampler
stored for it (see ``_trial_attrs``) together with the parameters it has suggested so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._parse import find_covering
from optuna_llm._parse import find_duplicate
from optuna_llm._trial_attrs import planned_params


@dataclass(frozen=True)
class Snapshot:
    """The study as one trial's sampling sees it, read once."""

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
        """The study without ``trial``; with ``plan``, including it as a running trial holding
        that configuration, as a request made ahead for the next trial needs."""
        plans = {trial._trial_id: dict(plan)} if plan is not None else {}
        earlier = [t for t in trials if plan is not None or t._trial_id != trial._trial_id]
        snapshot = cls(trials=trials, earlier=earlier, finished=[], running=[], plans=plans)
        for t in earlier:
            if t.state.is_finished():
                snapshot.finished.append((t.number, t.params))
            elif t.state == TrialState.RUNNING:
                snapshot.running.append((t.number, snapshot.params_of(t)))
        return snapshot

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
