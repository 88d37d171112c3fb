"""The default's goals, checked on the saved records: pure functions of ``stats`` results.

The goals (search-quality issue) for ``llm_default``, the arm that runs ``LLMSampler(...)``
with no schedule:

- at trial 10, a better median best-so-far than TPE on at least 7 tasks of 10, and than the
  task's defaults followed by random search on at least 5;
- at trials 30 and 100, a mean normalised regret no worse than GP's, and not significantly
  worse than the best classical arm on any task;
- at most 0.5 model requests per trial over 30 trials, and 0.2 over 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.hpo.records import TrialRecord
from benchmarks.hpo.stats import TaskResults
from benchmarks.hpo.stats import compare_arms
from benchmarks.hpo.stats import final_regrets


DEFAULT_ARM = "llm_default"
EARLY_TRIAL = 10
EARLY_RIVALS = {"tpe": 7, "defaults_random": 5}
REGRET_RIVAL = "gp"
REQUEST_LIMITS = {30: 0.5, 100: 0.2}


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
class RegretCheck:
    """One budget: mean normalised regret of each arm over the tasks, and per task the best
    classical arm and whether the default is significantly worse than it."""

    n_trials: int
    mean_regret: Mapping[str, float]
    best_classical: Mapping[str, str]
    significantly_worse: Mapping[str, bool]


def regret_check(
    results: Sequence[TaskResults],
    classical: Sequence[str],
    arm: str = DEFAULT_ARM,
) -> RegretCheck | None:
    """The regret goals at one budget, over the tasks every compared arm ran; None when the
    default did not run at this budget. The best classical arm of a task is chosen among the
    arms that ran at least as many seeds as the default there."""
    tasks = [t for t in results if arm in t.curves]
    if not tasks:
        return None
    n_trials = tasks[0].n_trials
    means: dict[str, dict[str, float]] = {}
    for task in tasks:
        means[task.name] = {
            name: float(np.nanmean(values)) for name, values in final_regrets(task).items()
        }
    arms = [a for a in means[tasks[0].name] if all(a in means[t.name] for t in tasks)]
    mean_regret = {a: float(np.mean([means[t.name][a] for t in tasks])) for a in arms}
    best_classical: dict[str, str] = {}
    worse: dict[str, bool] = {}
    for task in tasks:
        # Only arms with at least the default's seeds: against fewer, a loss could not show.
        seeds = task.curves[arm].shape[0]
        ran = [a for a in classical if a in task.curves and task.curves[a].shape[0] >= seeds]
        if not ran:
            continue
        best = min(ran, key=lambda a: means[task.name][a])
        best_classical[task.name] = best
        worse[task.name] = compare_arms(task, arm, best) == -1
    return RegretCheck(n_trials, mean_regret, best_classical, worse)


def requests_per_trial(
    records: Sequence[TrialRecord], n_trials: int, arm: str = DEFAULT_ARM
) -> float:
    """Mean requests per trial over the first ``n_trials`` trials of the arm's studies that
    ran at least that long; NaN when there are none."""
    per_study: dict[tuple[str, int, int], float] = {}
    for record in records:
        if record.arm != arm or record.n_trials < n_trials or record.number >= n_trials:
            continue
        key = (record.task, record.seed, record.n_trials)
        per_study[key] = per_study.get(key, 0.0) + record.requests
    if not per_study:
        return float("nan")
    return float(np.mean(list(per_study.values()))) / n_trials
