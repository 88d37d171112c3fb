"""Numbers of the benchmark report: curves, ranks, regret, targets, tests and model costs.

Everything here is a pure function of the trial records (see ``records.py``) and returns
numbers; ``tables.py`` turns them into Markdown and ``plots.py`` into PNG files.

Conventions used throughout:

- a study's *curve* is its best-so-far value after each trial; before its first completed
  trial it counts as the task's worst reference value (see ``reference_values``);
- comparisons are made on oriented values (``sign * value``, lower is better), so the same
  code serves tasks to minimize and to maximize.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import itertools
import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy.stats import mannwhitneyu
from scipy.stats import rankdata

from benchmarks.hpo.records import StudyKey
from benchmarks.hpo.records import TrialRecord


if TYPE_CHECKING:
    from benchmarks.hpo.task import Task


Curve = npt.NDArray[np.float64]
"""Float array: one curve (trials), or one row per seed (seeds x trials)."""

ALPHA = 0.05
"""Significance level of the pairwise Mann-Whitney U tests."""

CLAIM_TARGET = 0.96
"""The value the claim check looks for on tasks of kind ``claim``."""

BASELINE_ARM = "random"
"""The arm whose median final best is each task's target in the trials-to-target table."""

DIRECTIONS = ("minimize", "maximize")
KINDS = ("ml", "tabular", "synthetic", "claim")


@dataclass(frozen=True)
class TaskInfo:
    """What the report needs to know about a task."""

    direction: str
    optimum: float | None
    kind: str

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {self.direction!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")

    @classmethod
    def of(cls, task: Task) -> TaskInfo:
        return cls(direction=task.direction, optimum=task.optimum, kind=task.kind)

    @property
    def sign(self) -> float:
        """Multiplier that turns the task's values into lower-is-better values."""
        return orientation(self.direction)


def orientation(direction: str) -> float:
    """+1 for ``minimize``, -1 for ``maximize``: ``sign * value`` is lower when better."""
    return 1.0 if direction == "minimize" else -1.0


@dataclass(frozen=True)
class TaskResults:
    """One task at one budget: every arm's studies and best-so-far curves.

    ``curves[arm]`` has one row per seed (in increasing seed order) and one column per trial;
    values before a study's first completed trial are ``worst_ref``.
    """

    name: str
    info: TaskInfo
    n_trials: int
    best_ref: float
    worst_ref: float
    curves: Mapping[str, Curve]
    studies: Mapping[str, Sequence[Sequence[TrialRecord]]] = field(repr=False)


# --- Grouping -------------------------------------------------------------------------------


def group_studies(records: Iterable[TrialRecord]) -> dict[StudyKey, list[TrialRecord]]:
    """Each study's records sorted by trial number; studies by budget, task, arm and seed."""
    studies: dict[StudyKey, list[TrialRecord]] = defaultdict(list)
    for record in records:
        studies[record.key].append(record)
    order = sorted(studies, key=lambda k: (k.n_trials, k.task, k.arm, k.seed))
    return {key: sorted(studies[key], key=lambda r: r.number) for key in order}


def best_so_far(study: Sequence[TrialRecord], n_trials: int) -> Curve:
    """Best value after each trial of one study; NaN before its first completed trial.

    A trial missing from the records keeps the previous trial's best value.
    """
    curve = np.full(n_trials, np.nan)
    for record in study:
        if record.best is not None and 0 <= record.number < n_trials:
            curve[record.number] = record.best
    for number in range(1, n_trials):
        if np.isnan(curve[number]):
            curve[number] = curve[number - 1]
    return curve


def reference_values(curves: Iterable[Curve], info: TaskInfo) -> tuple[float, float]:
    """The (best, worst) reference values of a task that normalise its regret.

    Best: the task's known optimum, else the best value of any study. Worst: the worst value
    of any study's first completed trial. Both are NaN when no trial completed.
    """
    rows = np.vstack(list(curves)) * info.sign
    firsts = [row[~np.isnan(row)][0] for row in rows if not np.isnan(row).all()]
    if not firsts:
        return math.nan, math.nan
    worst = float(max(firsts)) * info.sign
    best = info.optimum if info.optimum is not None else float(np.nanmin(rows)) * info.sign
    return float(best), worst


def task_results(
    name: str,
    info: TaskInfo,
    n_trials: int,
    studies: Mapping[str, Sequence[Sequence[TrialRecord]]],
) -> TaskResults:
    raw = {
        arm: np.vstack([best_so_far(s, n_trials) for s in runs]) for arm, runs in studies.items()
    }
    best_ref, worst_ref = reference_values(raw.values(), info)
    curves = {arm: np.where(np.isnan(rows), worst_ref, rows) for arm, rows in raw.items()}
    return TaskResults(name, info, n_trials, best_ref, worst_ref, curves, studies)


def results_by_budget(
    studies: Mapping[StudyKey, Sequence[TrialRecord]], tasks: Mapping[str, TaskInfo]
) -> dict[int, dict[str, TaskResults]]:
    """budget -> task -> results, for the studies as grouped by ``group_studies``."""
    grouped: dict[tuple[int, str], dict[str, list[Sequence[TrialRecord]]]] = {}
    for key, study in studies.items():
        grouped.setdefault((key.n_trials, key.task), {}).setdefault(key.arm, []).append(study)
    results: dict[int, dict[str, TaskResults]] = {}
    for (n_trials, task), arms in sorted(grouped.items()):
        if task not in tasks:
            raise ValueError(f"No TaskInfo for task {task!r}")
        results.setdefault(n_trials, {})[task] = task_results(task, tasks[task], n_trials, arms)
    return results


def model_arms(records: Iterable[TrialRecord]) -> set[str]:
    """Arms that asked a model: any request recorded, or a name starting with ``llm_``."""
    return {r.arm for r in records if r.requests > 0 or r.arm.startswith("llm_")}


def ordered_arms(arms: Iterable[str], models: Iterable[str]) -> list[str]:
    """Arms without a model first, then model arms; alphabetical within each group."""
    model_set = set(models)
    return sorted(set(arms), key=lambda arm: (arm in model_set, arm))


# --- Statistics -----------------------------------------------------------------------------


def mean_and_se(rows: Curve) -> tuple[Curve, Curve]:
    """Mean and standard error over the first axis, ignoring NaN (s.e. 0 for one value)."""
    present = ~np.isnan(rows)
    count = present.sum(axis=0)
    total = np.where(present, rows, 0.0).sum(axis=0)
    mean = np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)
    squares = np.where(present, (rows - mean) ** 2, 0.0).sum(axis=0)
    variance = np.divide(squares, count - 1, out=np.zeros(count.shape), where=count > 1)
    se = np.sqrt(variance / np.maximum(count, 1))
    return mean, se


def average_ranks(results: Iterable[TaskResults]) -> dict[str, Curve]:
    """The rank at each trial, averaged over the tasks, of each arm that ran every task.

    Per task and trial, those arms are ranked by their mean best-so-far over seeds (1 = best;
    tied arms share the average of their ranks). An arm missing from some tasks is left out:
    its average would be over other tasks than everyone else's.
    """
    tasks = list(results)
    if not tasks:
        return {}
    arms = sorted(set.intersection(*(set(task.curves) for task in tasks)))
    totals: dict[str, Curve] = {}
    for task in tasks:
        means = np.vstack([task.curves[arm].mean(axis=0) for arm in arms]) * task.info.sign
        ranks = np.asarray(rankdata(np.nan_to_num(means, nan=np.inf), axis=0), dtype=float)
        for arm, row in zip(arms, ranks, strict=True):
            totals[arm] = totals[arm] + row if arm in totals else row
    return {arm: total / len(tasks) for arm, total in totals.items()}


def normalised_regret(values: Curve, info: TaskInfo, best_ref: float, worst_ref: float) -> Curve:
    """``(values - best_ref) / (worst_ref - best_ref)``, the same in both directions.

    0 is the reference best, 1 the reference worst; values better than ``best_ref`` (a known
    optimum that was beaten) come out negative. If the two references coincide, values at the
    reference are 0 and the others undefined (NaN).
    """
    gap = info.sign * (np.asarray(values, dtype=float) - best_ref)
    scale = info.sign * (worst_ref - best_ref)
    if scale > 0:
        return gap / scale
    return np.where(gap <= 0, 0.0, np.nan)


def final_regrets(task: TaskResults) -> dict[str, Curve]:
    """Each arm's normalised regret at the last trial, one value per seed."""
    return {
        arm: normalised_regret(rows[:, -1], task.info, task.best_ref, task.worst_ref)
        for arm, rows in task.curves.items()
    }


def target_value(task: TaskResults, baseline: str = BASELINE_ARM) -> float:
    """Median final best of the baseline arm (of all arms when the baseline did not run)."""
    arms = [baseline] if baseline in task.curves else sorted(task.curves)
    return float(np.median(np.concatenate([task.curves[arm][:, -1] for arm in arms])))


def trials_to_reach(rows: Curve, target: float, direction: str) -> Curve:
    """Per row (seed): trials until the best-so-far first reaches ``target``; inf if never."""
    sign = orientation(direction)
    reached = sign * rows <= sign * target
    first = np.argmax(reached, axis=1) + 1.0
    return np.where(reached.any(axis=1), first, np.inf)


def lower_median(values: Curve) -> float:
    """The median, or the lower of the two middle values for an even count.

    With unreached targets counted as inf, it is inf exactly when more than half are.
    """
    return float(np.sort(values)[(len(values) - 1) // 2])


def area_under_curve(rows: Curve, direction: str) -> Curve:
    """Per row: mean of the oriented best-so-far curve over the trials (lower is better)."""
    return np.asarray(orientation(direction) * np.atleast_2d(rows).mean(axis=1), dtype=float)


def can_reach(n_x: int, n_y: int, alpha: float = ALPHA) -> bool:
    """Whether the exact two-sided Mann-Whitney test on samples of these sizes can reach
    ``alpha``: its smallest p-value, for fully separated samples, is 2 / C(n_x + n_y, n_x)."""
    return 2 / math.comb(n_x + n_y, n_x) < alpha


def fewest_to_test(n_x: int, alpha: float = ALPHA) -> int:
    """The smallest other sample that a sample of ``n_x`` can be tested against at ``alpha``."""
    return next(n_y for n_y in itertools.count(1) if can_reach(n_x, n_y, alpha))


def lower_sample(x: Curve, y: Curve, alpha: float = ALPHA) -> int:
    """+1 if ``x`` is significantly lower than ``y``, -1 if higher, 0 if not significant.

    Two-sided Mann-Whitney U test; samples that are all equal are never significant, and
    neither are samples too small for any ordering of them to reach ``alpha`` in the exact
    test: with ties scipy falls back to the normal approximation, which can call one seed
    against many tied ones significant.
    """
    if len(x) == 0 or len(y) == 0 or np.unique(np.concatenate([x, y])).size == 1:
        return 0
    if not can_reach(len(x), len(y), alpha):
        return 0
    result = mannwhitneyu(x, y, alternative="two-sided")
    if not float(result.pvalue) < alpha:
        return 0
    return 1 if float(result.statistic) < len(x) * len(y) / 2 else -1


def compare_arms(task: TaskResults, a: str, b: str, alpha: float = ALPHA) -> int:
    """+1 if arm ``a`` beats arm ``b`` on the task, -1 if it loses, 0 for a tie.

    First on the final best values; if that is not significant, on the area under the
    best-so-far curves.
    """
    sign = task.info.sign
    outcome = lower_sample(sign * task.curves[a][:, -1], sign * task.curves[b][:, -1], alpha)
    if outcome:
        return outcome
    direction = task.info.direction
    return lower_sample(
        area_under_curve(task.curves[a], direction),
        area_under_curve(task.curves[b], direction),
        alpha,
    )


def pairwise_outcomes(
    results: Iterable[TaskResults], alpha: float = ALPHA
) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(row arm, column arm) -> (wins, ties, losses) of the row arm over the tasks both ran."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for task in results:
        for a, b in itertools.permutations(sorted(task.curves), 2):
            counts[a, b][1 - compare_arms(task, a, b, alpha)] += 1
    return {pair: (wins, ties, losses) for pair, (wins, ties, losses) in counts.items()}


@dataclass(frozen=True)
class ModelUsage:
    """Per-trial means of one model arm's costs at one budget, over all its trials."""

    arm: str
    trials: int
    requests: float
    tokens: float
    latency: float
    invalid: float
    fallback: float


def model_usage(arm: str, records: Sequence[TrialRecord]) -> ModelUsage:
    n = len(records)
    return ModelUsage(
        arm=arm,
        trials=n,
        requests=sum(r.requests for r in records) / n,
        tokens=sum(r.tokens for r in records) / n,
        latency=sum(r.latency for r in records) / n,
        invalid=sum(r.invalid for r in records) / n,
        fallback=sum(r.fallback for r in records) / n,
    )


def first_reaching(study: Sequence[TrialRecord], threshold: float, direction: str) -> float:
    """Trials until a completed trial's value first reaches ``threshold``; inf if none does."""
    sign = orientation(direction)
    for record in study:
        if record.value is not None and sign * record.value <= sign * threshold:
            return record.number + 1.0
    return math.inf


@dataclass(frozen=True)
class ClaimCheck:
    """One arm on a claim task at one budget."""

    arm: str
    trials: tuple[float, ...]
    """Per seed: trials until a value first reached the threshold (inf if never)."""
    first_reached: int
    """Seeds whose first trial already reached the threshold."""
    low: float
    high: float
    """Lowest and highest value of any completed trial."""


def claim_check(
    arm: str, studies: Sequence[Sequence[TrialRecord]], direction: str, threshold: float
) -> ClaimCheck:
    values = [r.value for study in studies for r in study if r.value is not None]
    trials = tuple(first_reaching(study, threshold, direction) for study in studies)
    first = sum(first_reaching(study[:1], threshold, direction) == 1 for study in studies)
    return ClaimCheck(
        arm=arm,
        trials=trials,
        first_reached=first,
        low=min(values, default=math.nan),
        high=max(values, default=math.nan),
    )
