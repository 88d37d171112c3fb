"""The classical sampler of the guided default: GP where it suits the study, TPE otherwise.

The rule follows OptunaHub's AutoSampler: Gaussian-process BO is the stronger sampler on small
budgets over a fixed search space, but it needs ``torch`` and ``scipy``, samples conditional
parameters at random, and slows down as trials accumulate. TPE has none of these limits.
``pip install "optuna-llm[gp]"`` brings what GP needs. Which one a study gets is logged once,
and again whenever it changes, and each trial's provenance names the sampler that ran.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
import importlib.util
import threading
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import GPSampler
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._pickling import PicklesWithoutLock


# AutoSampler leaves GP after this many trials; its fitting time grows with their number.
MAX_GP_TRIALS = 250
_MAX_OPEN_TRIALS = 1024

_logger = optuna.logging.get_logger("optuna.optuna_llm")


def gp_available() -> bool:
    """Whether Optuna's GPSampler can run here."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "scipy"))


def suits_gp(trials: Sequence[FrozenTrial]) -> bool:
    """Whether the finished trials describe a space GP models well: not conditional (every
    trial has the same parameters) and not yet too many trials."""
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(finished) >= MAX_GP_TRIALS:
        return False
    names = {frozenset(t.params) for t in finished}
    return len(names) <= 1


class ClassicalSampler(PicklesWithoutLock, BaseSampler):
    """GPSampler while the study suits it and GP is installed, TPESampler otherwise.

    The choice is made once per trial, so every hook of a trial goes to the same sampler.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._tpe = TPESampler(seed=seed)
        self._gp = (
            GPSampler(seed=seed, warn_independent_sampling=False) if gp_available() else None
        )
        # Kept after the trial ends, so that its provenance can name the sampler; bounded.
        self._choices: OrderedDict[int, BaseSampler] = OrderedDict()
        self._announced: dict[int, BaseSampler] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(gp={self._gp is not None})"

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
        if self._gp is not None:
            self._gp.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._choice(study, trial).before_trial(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._choice(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._choice(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        sampler = self._choice(study, trial)
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._choice(study, trial).after_trial(study, trial, state, values)

    def name_for(self, trial: FrozenTrial) -> str:
        """The name of the sampler that ran ``trial``, or of this class when none did."""
        with self._lock:
            chosen = self._choices.get(trial._trial_id)
        return type(chosen or self).__name__

    def _choice(self, study: Study, trial: FrozenTrial) -> BaseSampler:
        with self._lock:
            chosen = self._choices.get(trial._trial_id)
        if chosen is not None:
            return chosen
        chosen = self._tpe
        if self._gp is not None and suits_gp(study._get_trials(deepcopy=False, use_cache=True)):
            chosen = self._gp
        with self._lock:
            chosen = self._choices.setdefault(trial._trial_id, chosen)
            while len(self._choices) > _MAX_OPEN_TRIALS:
                self._choices.popitem(last=False)
            announce = self._announced.get(study._study_id) is not chosen
            self._announced[study._study_id] = chosen
        if announce:
            _logger.info(_announcement(study, trial, chosen, gp=self._gp is not None))
        return chosen


def _announcement(study: Study, trial: FrozenTrial, chosen: BaseSampler, *, gp: bool) -> str:
    why = (
        "GP needs torch: pip install 'optuna-llm[gp]'"
        if not gp
        else ("GP suits a fixed space of fewer than 250 trials")
    )
    return (
        f"Study {study.study_name!r}, from trial {trial.number}: the classical sampler is "
        f"{type(chosen).__name__} ({why})."
    )


def fallback_name(sampler: BaseSampler, trial: FrozenTrial) -> str:
    """The name of the classical sampler that proposed for ``trial``: GPSampler or TPESampler
    under the default, else the fallback's own class."""
    return (
        sampler.name_for(trial)
        if isinstance(sampler, ClassicalSampler)
        else type(sampler).__name__
    )
