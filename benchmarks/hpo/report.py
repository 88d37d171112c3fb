"""The benchmark's Markdown report: curves, ranks, regret, targets, tests and model costs.

Everything here is a pure function of the trial records (see ``records.py``): it returns numbers
or Markdown text, or writes one PNG file. ``render_report`` assembles them into one section per
budget (``n_trials``). Every sentence it writes either describes the method or is computed from
the records, so the report can be regenerated whenever the records change.

Conventions used throughout:

- a study's *curve* is its best-so-far value after each trial; before its first completed
  trial it counts as the task's worst reference value (see ``reference_values``);
- comparisons are made on oriented values (``sign * value``, lower is better), so the same
  code serves tasks to minimize and to maximize;
- claim tasks (``kind == "claim"``) only appear in their own section.
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
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Literal

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
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

NOT_AVAILABLE = "n/a"

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
    """Each arm's rank at each trial, averaged over the tasks it ran.

    Per task and trial, arms are ranked by their mean best-so-far over seeds (1 = best; tied
    arms share the average of their ranks).
    """
    totals: dict[str, Curve] = {}
    counts: dict[str, int] = defaultdict(int)
    for task in results:
        arms = sorted(task.curves)
        means = np.vstack([task.curves[arm].mean(axis=0) for arm in arms]) * task.info.sign
        ranks = np.asarray(rankdata(np.nan_to_num(means, nan=np.inf), axis=0), dtype=float)
        for arm, row in zip(arms, ranks, strict=True):
            totals[arm] = totals[arm] + row if arm in totals else row
            counts[arm] += 1
    return {arm: totals[arm] / counts[arm] for arm in totals}


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


def lower_sample(x: Curve, y: Curve, alpha: float = ALPHA) -> int:
    """+1 if ``x`` is significantly lower than ``y``, -1 if higher, 0 if not significant.

    Two-sided Mann-Whitney U test; samples that are all equal are never significant.
    """
    if len(x) == 0 or len(y) == 0 or np.unique(np.concatenate([x, y])).size == 1:
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


# --- Formatting -----------------------------------------------------------------------------


def fmt(value: float) -> str:
    """Four significant digits; ``n/a`` for NaN."""
    if math.isnan(value):
        return NOT_AVAILABLE
    return f"{value + 0.0:.4g}"


def fmt_trials(value: float, n_trials: int) -> str:
    return f">{n_trials}" if math.isinf(value) else fmt(value)


def fmt_mean_se(values: Curve) -> str:
    """``mean ± s.e.`` over the non-NaN values (just the mean for a single value)."""
    present = values[~np.isnan(values)]
    mean, se = mean_and_se(present)
    if present.size < 2:
        return fmt(float(mean))
    return f"{fmt(float(mean))} ± {fmt(float(se))}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def code(name: str) -> str:
    return f"`{name}`"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown pipe table; the first column is left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def direction_symbol(direction: str) -> str:
    return "≤" if direction == "minimize" else "≥"


# --- Tables ---------------------------------------------------------------------------------


def _lowest(values: Iterable[float]) -> float:
    return min((v for v in values if not math.isnan(v)), default=math.nan)


def regret_table(results: Sequence[TaskResults], arms: Sequence[str]) -> str:
    """Arms x tasks: final normalised regret, mean ± s.e. over seeds, best arm per task bold."""
    regrets = {task.name: final_regrets(task) for task in results}
    means = {
        (task, arm): float(mean_and_se(values)[0])
        for task, by_arm in regrets.items()
        for arm, values in by_arm.items()
    }
    overall = {
        arm: float(np.mean([means[task.name, arm] for task in results]))
        for arm in arms
        if all((task.name, arm) in means for task in results)
    }
    best = {
        task.name: _lowest(means[task.name, a] for a in regrets[task.name]) for task in results
    }
    best_overall = _lowest(overall.values())
    rows = []
    for arm in arms:
        row = [code(arm)]
        for task in results:
            if arm not in regrets[task.name]:
                row.append(NOT_AVAILABLE)
                continue
            cell = fmt_mean_se(regrets[task.name][arm])
            row.append(f"**{cell}**" if means[task.name, arm] == best[task.name] else cell)
        mean = overall.get(arm, math.nan)
        row.append(f"**{fmt(mean)}**" if mean == best_overall else fmt(mean))
        rows.append(row)
    return markdown_table(["arm", *[code(task.name) for task in results], "mean"], rows)


def target_table(results: Sequence[TaskResults], arms: Sequence[str]) -> str:
    """Arms x tasks: median trials to reach the task's target, and seeds that reached it."""
    header = ["arm"]
    cells: dict[tuple[str, str], str] = {}
    for task in results:
        target = target_value(task)
        header.append(f"{code(task.name)} {direction_symbol(task.info.direction)} {fmt(target)}")
        for arm, curves in task.curves.items():
            trials = trials_to_reach(curves, target, task.info.direction)
            median = fmt_trials(lower_median(trials), task.n_trials)
            reached = int(np.isfinite(trials).sum())
            cells[task.name, arm] = f"{median} ({reached}/{len(trials)})"
    rows = [
        [code(arm)] + [cells.get((t.name, arm), NOT_AVAILABLE) for t in results] for arm in arms
    ]
    return markdown_table(header, rows)


def pairwise_table(
    outcomes: Mapping[tuple[str, str], tuple[int, int, int]], arms: Sequence[str]
) -> str:
    """Row arm against column arm: wins-ties-losses over tasks."""
    rows = []
    for a in arms:
        row = [code(a)]
        for b in arms:
            w_t_l = outcomes.get((a, b))
            row.append(NOT_AVAILABLE if w_t_l is None else "-".join(str(n) for n in w_t_l))
        rows.append(row)
    return markdown_table(["W-T-L", *[code(arm) for arm in arms]], rows)


def borda_table(
    outcomes: Mapping[tuple[str, str], tuple[int, int, int]], arms: Sequence[str]
) -> str:
    """Arms ranked by their total pairwise wins (tied arms share the better rank)."""
    totals = {arm: np.zeros(3, dtype=int) for arm in arms}
    for (a, _), w_t_l in outcomes.items():
        if a in totals:
            totals[a] += np.asarray(w_t_l)
    ranked = sorted(arms, key=lambda arm: (-totals[arm][0], arm))
    rows = []
    for arm in ranked:
        rank = 1 + sum(totals[other][0] > totals[arm][0] for other in arms)
        wins, ties, losses = (str(int(n)) for n in totals[arm])
        rows.append([str(rank), code(arm), wins, ties, losses])
    return markdown_table(["rank", "arm", "points (wins)", "ties", "losses"], rows)


def model_table(usages: Sequence[ModelUsage]) -> str:
    rows = [
        [
            code(u.arm),
            str(u.trials),
            fmt(u.requests),
            fmt(u.tokens),
            fmt(u.latency),
            fmt(u.invalid),
            fmt(u.fallback),
        ]
        for u in usages
    ]
    header = ["arm", "trials", "requests", "tokens", "latency (s)", "invalid", "fallback rate"]
    return markdown_table(header, rows)


def claim_table(checks: Sequence[ClaimCheck], n_trials: int, direction: str) -> str:
    symbol = f"{direction_symbol(direction)} {fmt(CLAIM_TARGET)}"
    header = [
        "arm",
        "seeds",
        f"trials to {symbol} (median)",
        "(max)",
        f"first trial {symbol}",
        "min value",
        "max value",
    ]
    rows = [
        [
            code(c.arm),
            str(len(c.trials)),
            fmt_trials(lower_median(np.asarray(c.trials)), n_trials),
            fmt_trials(max(c.trials), n_trials),
            f"{c.first_reached}/{len(c.trials)}",
            fmt(c.low),
            fmt(c.high),
        ]
        for c in checks
    ]
    return markdown_table(header, rows)


# --- Plots ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmStyle:
    """How an arm is drawn in every plot: its colour, dashed for model arms."""

    colour: str
    dashed: bool

    @property
    def linestyle(self) -> Literal["-", "--"]:
        return "--" if self.dashed else "-"


def arm_styles(arms: Sequence[str], models: Iterable[str]) -> dict[str, ArmStyle]:
    """One colour per arm, in the given order, the same in every plot; model arms dashed."""
    palette = [
        to_hex(colour)
        for name in ("tab10", "Dark2", "Set1")
        for colour in matplotlib.color_sequences[name]
    ]
    model_set = set(models)
    return {
        arm: ArmStyle(palette[i % len(palette)], arm in model_set) for i, arm in enumerate(arms)
    }


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100, metadata={"Software": None})


def _legend(figure: Figure, arms: Sequence[str], styles: Mapping[str, ArmStyle]) -> None:
    handles = [
        Line2D([], [], color=styles[arm].colour, linestyle=styles[arm].linestyle, label=arm)
        for arm in arms
    ]
    figure.legend(
        handles=handles, loc="outside lower center", ncol=min(len(arms), 5), frameon=False
    )


def plot_best_so_far(
    results: Sequence[TaskResults], arms: Sequence[str], styles: Mapping[str, ArmStyle], path: Path
) -> None:
    """One subplot per task: mean best-so-far over seeds, shaded ± one standard error."""
    columns = min(3, len(results))
    rows = math.ceil(len(results) / columns)
    legend_rows = math.ceil(len(arms) / 5)
    figure = Figure(figsize=(4.5 * columns, 3.3 * rows + 0.35 * legend_rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, task in zip(axes, results, strict=False):
        trials = np.arange(1, task.n_trials + 1)
        for arm in arms:
            if arm not in task.curves:
                continue
            mean, se = mean_and_se(task.curves[arm])
            style = styles[arm]
            ax.plot(trials, mean, color=style.colour, linestyle=style.linestyle)
            ax.fill_between(
                trials, mean - se, mean + se, color=style.colour, alpha=0.2, linewidth=0
            )
        ax.set_title(task.name)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"best so far ({task.info.direction})")
        ax.grid(alpha=0.3)
    for ax in axes[len(results) :]:
        ax.set_visible(False)
    _legend(figure, arms, styles)
    _save(figure, path)


def plot_average_rank(
    ranks: Mapping[str, Curve], arms: Sequence[str], styles: Mapping[str, ArmStyle], path: Path
) -> None:
    """Average rank over tasks at each trial, one line per arm."""
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = figure.subplots()
    for arm in arms:
        if arm in ranks:
            trials = np.arange(1, len(ranks[arm]) + 1)
            style = styles[arm]
            ax.plot(trials, ranks[arm], color=style.colour, linestyle=style.linestyle, label=arm)
    ax.set_xlabel("trial")
    ax.set_ylabel("average rank over tasks (1 = best)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    _save(figure, path)


# --- Report ---------------------------------------------------------------------------------


def render_report(
    records: Sequence[TrialRecord],
    tasks: Mapping[str, TaskInfo],
    images_dir: Path,
    image_prefix: str,
) -> str:
    """The benchmark's Markdown report, one section per budget; writes its PNGs to images_dir.

    Images are linked as ``{image_prefix}/{file}``.
    """
    studies = group_studies(records)
    if not studies:
        return "No finished studies.\n"
    models = model_arms(records)
    arms = ordered_arms((key.arm for key in studies), models)
    styles = arm_styles(arms, models)
    images = Images(images_dir, image_prefix)
    images_dir.mkdir(parents=True, exist_ok=True)
    sections = [
        budget_section(n_trials, list(results.values()), models, styles, images)
        for n_trials, results in results_by_budget(studies, tasks).items()
    ]
    return "\n\n".join(sections) + "\n"


def budget_section(
    n_trials: int,
    results: Sequence[TaskResults],
    models: Iterable[str],
    styles: Mapping[str, ArmStyle],
    images: Images,
) -> str:
    """Every table and plot of one budget."""
    arms = ordered_arms((arm for task in results for arm in task.curves), models)
    compared = [task for task in results if task.info.kind != "claim"]
    claims = [task for task in results if task.info.kind == "claim"]
    blocks = [f"## {n_trials} trials per study", overview(results, arms)]
    if compared:
        compared_arms = ordered_arms((arm for task in compared for arm in task.curves), models)
        blocks += curves_section(n_trials, compared, compared_arms, styles, images)
        blocks += regret_section(compared, compared_arms)
        blocks += target_section(compared, compared_arms)
        blocks += pairwise_section(compared, compared_arms)
    model_set = set(models)
    blocks += model_section(results, [arm for arm in arms if arm in model_set])
    for task in claims:
        blocks += claim_section(task, arms)
    return "\n\n".join(blocks)


def overview(results: Sequence[TaskResults], arms: Sequence[str]) -> str:
    seeds = [len(rows) for task in results for rows in task.curves.values()]
    low, high = min(seeds), max(seeds)
    per_study = str(low) if low == high else f"{low} to {high}"
    names = ", ".join(code(task.name) for task in results)
    return (
        f"{plural(len(results), 'task')} ({names}) and {plural(len(arms), 'arm')} "
        f"({', '.join(code(arm) for arm in arms)}); {per_study} seeds per task and arm."
    )


@dataclass(frozen=True)
class Images:
    """Where the PNGs are written, and the prefix the Markdown links them with."""

    directory: Path
    prefix: str

    def link(self, file: str, alt: str) -> str:
        return f"![{alt}]({self.prefix.rstrip('/')}/{file})"


def curves_section(
    n_trials: int,
    results: Sequence[TaskResults],
    arms: Sequence[str],
    styles: Mapping[str, ArmStyle],
    images: Images,
) -> list[str]:
    curves_file = f"best_so_far_n{n_trials}.png"
    ranks_file = f"average_rank_n{n_trials}.png"
    plot_best_so_far(results, arms, styles, images.directory / curves_file)
    plot_average_rank(average_ranks(results), arms, styles, images.directory / ranks_file)
    return [
        "### Best value so far",
        images.link(curves_file, f"Best value so far, {n_trials} trials"),
        "Mean over seeds of the best value after each trial; the band is ± one standard error; "
        "model arms are dashed. "
        "Before a study's first completed trial its best value counts as the worst reference "
        "value defined under the regret table.",
        "### Average rank",
        images.link(ranks_file, f"Average rank, {n_trials} trials"),
        "At each trial the arms are ranked on each task by their mean best value so far "
        "(1 = best, ties share the average rank); the plot shows each arm's rank averaged "
        "over the tasks it ran.",
    ]


def regret_section(results: Sequence[TaskResults], arms: Sequence[str]) -> list[str]:
    return [
        "### Normalised regret at the last trial",
        regret_table(results, arms),
        "Regret = (best - y_best) / (y_worst - y_best), mean ± standard error over seeds, "
        "where y_best is the task's known optimum if there is one, else the best value any "
        "study of the task reached at this budget, and y_worst is the worst value among all "
        "studies' first completed trials (0 = the reference best, 1 = the worst first trial). "
        "Bold: the lowest mean per column; the mean column averages the tasks and is only "
        "given for arms that ran every task.",
    ]


def target_section(results: Sequence[TaskResults], arms: Sequence[str]) -> list[str]:
    return [
        "### Trials to reach a target",
        target_table(results, arms),
        f"Target per task (in the column header): the median final best value of the "
        f"{code(BASELINE_ARM)} arm at this budget, or of all arms where {code(BASELINE_ARM)} did "
        f"not run. Cells: median number of trials over seeds to reach it (the lower middle "
        f"value for an even number of seeds; >N when more than half of the seeds never "
        f"reached it), and in parentheses the seeds that reached it.",
    ]


def pairwise_section(results: Sequence[TaskResults], arms: Sequence[str]) -> list[str]:
    outcomes = pairwise_outcomes(results)
    return [
        "### Pairwise tests",
        pairwise_table(outcomes, arms),
        f"For each task and pair of arms, a two-sided Mann-Whitney U test on the seeds' final "
        f"best values (alpha = {ALPHA}); if it is not significant, the same test on the area "
        f"under the best-so-far curve (its mean over trials, oriented so that lower is better). A "
        f"significant difference is a win for the arm with the better values, anything else "
        f"a tie. Each cell counts the row arm's wins, ties and losses against the column arm "
        f"over the {len(results)} tasks.",
        borda_table(outcomes, arms),
    ]


def model_section(results: Sequence[TaskResults], models: Sequence[str]) -> list[str]:
    usages = []
    for arm in models:
        records = [r for task in results for study in task.studies.get(arm, ()) for r in study]
        if records:
            usages.append(model_usage(arm, records))
    if not usages:
        return []
    claims = " (claim tasks included)" if any(t.info.kind == "claim" for t in results) else ""
    return [
        "### Model arms",
        model_table(usages),
        f"Means per trial over every trial of every task{claims} and seed: requests sent to "
        f"the model, tokens and seconds they cost, invalid answers, and the share of trials in "
        f"which some value came from the classical sampler (fallback).",
    ]


def claim_section(task: TaskResults, arms: Sequence[str]) -> list[str]:
    checks = [
        claim_check(arm, task.studies[arm], task.info.direction, CLAIM_TARGET)
        for arm in arms
        if arm in task.studies
    ]
    symbol = f"{direction_symbol(task.info.direction)} {fmt(CLAIM_TARGET)}"
    return [
        f"### Claim check: {code(task.name)}",
        claim_table(checks, task.n_trials, task.info.direction),
        f"Trials are counted from 1 until a completed trial's value is {symbol} (>N: not "
        f"within the N trials); the median is the lower middle value for an even number of "
        f"seeds; first trial: seeds whose first trial already was; min and "
        f"max: over every completed trial of every seed.",
    ]
