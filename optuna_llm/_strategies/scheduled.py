"""A schedule as a strategy: the model proposes the trials the schedule gives it.

Each trial the schedule gives the model is asked for with the sampler's batch size, one re-ask
and the recent history; spare proposals of a batch serve the next trials, and with
``prefetch`` the next trial's request goes out while this trial's objective runs. Schedules
look at the trial, not at this process, so every worker decides the same way; nothing is
learned, nothing recorded.
"""

from __future__ import annotations

import copy

import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_llm._model.proposer import ModelAsk
from optuna_llm._strategies.turn import Strategy
from optuna_llm._strategies.turn import Turn
from optuna_llm.schedules import ScheduleFn


_logger = optuna.logging.get_logger("optuna.optuna_llm")


class ScheduledStrategy(Strategy):
    """The model on the trials ``schedule`` gives it; the classical sampler on the others."""

    def __init__(self, schedule: ScheduleFn, prefetch: bool) -> None:
        self.schedule = schedule
        self._prefetch = prefetch

    def decide(self, study: Study, trial: FrozenTrial, has_specs: bool) -> Turn:
        """The model's turn when the schedule says so; asking ahead when the next one is too."""
        if not self._scheduled(study, trial):
            return Turn(note="the schedule gave this trial to the classical sampler")
        return Turn(
            ask=ModelAsk(ask_ahead=self._prefetch and self._next_is_scheduled(study, trial))
        )

    def _next_is_scheduled(self, study: Study, trial: FrozenTrial) -> bool:
        next_trial = copy.copy(trial)
        next_trial.number = trial.number + 1
        return self._scheduled(study, next_trial)

    def _scheduled(self, study: Study, trial: FrozenTrial) -> bool:
        try:
            return bool(self.schedule(study, trial))
        except Exception as error:
            _logger.warning(f"Trial {trial.number}: the schedule raised {error!r}.")
            return False
