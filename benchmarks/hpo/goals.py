"""The default's goals, checked on the saved records: pure functions of ``stats`` results.

The goals (search-quality issue "trust the model as far as the study confirms it"):

- ``llm_default`` never significantly worse than GP on any task at trials 10, 30 and 100, and
  ``llm_default_enqueued`` never significantly worse than ``defaults_gp``: a one-sided
  Mann-Whitney test on the per-seed normalised regret, at a level corrected for the number of
  tasks (Bonferroni);
- at trials 30 and 100, a mean normalised regret over the tasks no higher than the rival's;
- at trial 10, ``llm_default``'s median best-so-far better than TPE's on at least 7 tasks of
  10, and than GP's on at least 7;
- at most 0.2 model requests per trial over 30 trials, and 0.1 over 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

from benchmarks.hpo.records import TrialRecord
from benchmarks.hpo.stats import ALPHA
from benchmarks.hpo.stats import TaskResults
from benchmarks.hpo.stats import normalised_regret


DEFAULT_ARM = "llm_default"
ENQUEUED_ARM = "llm_default_enqueued"
EARLY_TRIAL = 10
EARLY_RIVALS = {"tpe": 7, "gp": 7}
# Each model arm and the classical arm it must not lose to.
PAIRS = ((DEFAULT_ARM, "gp"), (ENQUEUED_ARM, "defaults_gp"))
CHECKED_TRIALS = (10, 30, 100)
# Trials at which the mean regret must be no higher than the rival's.
MEAN_TRIALS = (30, 100)
REQUEST_LIMITS = {30: 0.2, 100: 0.1}


@dataclass(frozen=True)
class EarlyRow:
    """One task at trial 10: the median best-so-far of the default and of each rival."""

    task: str
    default: float
    rivals: Mapping[str, float]
    better: Mapping[str, bool]


def early_rows(
    results: Sequence[TaskResults], trial: int = EARLY_TRIAL, arm: str = DEFAULT_ARM
) -> list[EarlyRow]:
    """Median best-so-far after ``trial`` trials, for the tasks where the default ran."""
    rows = []
    for task in results:
        if arm not in task.curves or task.n_trials < trial:
            continue
        medians = {
            name: float(np.median(curves[:, trial - 1])) for name, curves in task.curves.items()
        }
        rivals = {name: medians[name] for name in EARLY_RIVALS if name in medians}
        sign = task.info.sign
        better = {name: sign * medians[arm] < sign * value for name, value in rivals.items()}
        rows.append(EarlyRow(task.name, medians[arm], rivals, better))
    return rows


@dataclass(frozen=True)
class PairRow:
    """One task at one trial: the seeds' mean normalised regret of the arm and its rival, and
    the one-sided test that the arm's regret is higher."""

    task: str
    arm_regret: float
    rival_regret: float
    p_value: float
    worse: bool


@dataclass(frozen=True)
class PairCheck:
    """An arm against its rival at one trial, over the tasks both ran."""

    arm: str
    rival: str
    trial: int
    rows: Sequence[PairRow]
    level: float

    @property
    def arm_mean(self) -> float:
        return float(np.mean([row.arm_regret for row in self.rows]))

    @property
    def rival_mean(self) -> float:
        return float(np.mean([row.rival_regret for row in self.rows]))

    @property
    def worse_tasks(self) -> list[str]:
        return [row.task for row in self.rows if row.worse]


def regret_at(task: TaskResults, arm: str, trial: int) -> np.ndarray:
    """Per seed, the arm's normalised regret after ``trial`` trials."""
    values = task.curves[arm][:, trial - 1]
    return np.asarray(normalised_regret(values, task.info, task.best_ref, task.worst_ref))


def worse_p_value(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided Mann-Whitney p-value that ``x`` tends to be higher than ``y``; 1 when all
    values are equal."""
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) == 0 or len(y) == 0 or np.unique(np.concatenate([x, y])).size == 1:
        return 1.0
    return float(mannwhitneyu(x, y, alternative="greater").pvalue)


def pair_check(
    results: Sequence[TaskResults], arm: str, rival: str, trial: int, alpha: float = ALPHA
) -> PairCheck | None:
    """``arm`` against ``rival`` after ``trial`` trials, on the tasks where both ran at least
    that long; None when there are none. The level is ``alpha`` over the number of tasks."""
    tasks = [t for t in results if arm in t.curves and rival in t.curves and t.n_trials >= trial]
    if not tasks:
        return None
    level = alpha / len(tasks)
    rows = []
    for task in tasks:
        mine, theirs = regret_at(task, arm, trial), regret_at(task, rival, trial)
        p_value = worse_p_value(mine, theirs)
        rows.append(
            PairRow(
                task.name,
                float(np.nanmean(mine)),
                float(np.nanmean(theirs)),
                p_value,
                p_value < level,
            )
        )
    return PairCheck(arm, rival, trial, rows, level)


def requests_per_trial(
    records: Sequence[TrialRecord], n_trials: int, arm: str = DEFAULT_ARM
) -> float:
    """Mean requests per trial over the first ``n_trials`` trials of the arm's studies that
    ran at least that long, each seed of a task once (a study's first trials may also be
    saved as a shorter one); NaN when there are none."""
    per_study: dict[tuple[str, int, int], float] = {}
    for record in records:
        if record.arm != arm or record.n_trials < n_trials or record.number >= n_trials:
            continue
        key = (record.task, record.seed, record.n_trials)
        per_study[key] = per_study.get(key, 0.0) + record.requests
    per_seed = {(task, seed): count for (task, seed, _), count in sorted(per_study.items())}
    if not per_seed:
        return float("nan")
    return float(np.mean(list(per_seed.values()))) / n_trials
