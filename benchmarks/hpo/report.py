"""The benchmark's Markdown report: curves, ranks, regret, targets, tests and model costs.

``render_report`` assembles one section per budget (``n_trials``) from the numbers of
``stats.py``, the tables of ``tables.py`` and the plots of ``plots.py``; the section functions
here add the prose around them. Every sentence it writes either describes the method or is
computed from the trial records (see ``records.py``), so the report can be regenerated whenever
the records change. Claim tasks (``kind == "claim"``) only appear in their own section.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.hpo.goals import CHECKED_TRIALS
from benchmarks.hpo.goals import DEFAULT_ARM
from benchmarks.hpo.goals import EARLY_TRIAL
from benchmarks.hpo.goals import PAIRS
from benchmarks.hpo.goals import REQUEST_LIMITS
from benchmarks.hpo.goals import PairCheck
from benchmarks.hpo.goals import early_rows
from benchmarks.hpo.goals import pair_check
from benchmarks.hpo.goals import requests_per_trial
from benchmarks.hpo.plots import ArmStyle
from benchmarks.hpo.plots import arm_styles
from benchmarks.hpo.plots import plot_average_rank
from benchmarks.hpo.plots import plot_best_so_far
from benchmarks.hpo.records import TrialRecord
from benchmarks.hpo.stats import ALPHA
from benchmarks.hpo.stats import BASELINE_ARM
from benchmarks.hpo.stats import CLAIM_TARGET
from benchmarks.hpo.stats import TaskInfo
from benchmarks.hpo.stats import TaskResults
from benchmarks.hpo.stats import average_ranks
from benchmarks.hpo.stats import claim_check
from benchmarks.hpo.stats import fewest_to_test
from benchmarks.hpo.stats import group_studies
from benchmarks.hpo.stats import model_arms
from benchmarks.hpo.stats import model_usage
from benchmarks.hpo.stats import ordered_arms
from benchmarks.hpo.stats import pairwise_outcomes
from benchmarks.hpo.stats import results_by_budget
from benchmarks.hpo.tables import borda_table
from benchmarks.hpo.tables import claim_table
from benchmarks.hpo.tables import code
from benchmarks.hpo.tables import direction_symbol
from benchmarks.hpo.tables import early_table
from benchmarks.hpo.tables import fmt
from benchmarks.hpo.tables import goals_summary
from benchmarks.hpo.tables import model_table
from benchmarks.hpo.tables import pair_check_table
from benchmarks.hpo.tables import pairwise_table
from benchmarks.hpo.tables import plural
from benchmarks.hpo.tables import regret_table
from benchmarks.hpo.tables import target_table


__all__ = ["TaskInfo", "render_report"]
"""What ``__main__.py`` uses; ``TaskInfo`` is defined in ``stats.py`` and re-exported here."""


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
    by_budget = results_by_budget(studies, tasks)
    sections = [
        budget_section(n_trials, list(results.values()), models, styles, images)
        for n_trials, results in by_budget.items()
    ]
    goals = goals_section(by_budget, records, models)
    return "\n\n".join([*goals, *sections]) + "\n"


def goals_section(
    by_budget: Mapping[int, Mapping[str, TaskResults]],
    records: Sequence[TrialRecord],
    models: Iterable[str],
) -> list[str]:
    """The default's goals, first: each model arm against its classical rival at trials 10,
    30 and 100, trial 10 against TPE and GP, requests per trial. Empty without the default."""
    compared = {
        n: [t for t in results.values() if t.info.kind != "claim"]
        for n, results in by_budget.items()
    }
    checks: list[PairCheck] = []
    for arm, rival in PAIRS:
        for trial in CHECKED_TRIALS:
            # The shortest budget that reaches the trial and ran both arms holds the most seeds.
            for budget in sorted(n for n in compared if n >= trial):
                check = pair_check(compared[budget], arm, rival, trial)
                if check is not None:
                    checks.append(check)
                    break
    early_budget = min(
        (
            n
            for n, results in compared.items()
            if n >= EARLY_TRIAL and any(DEFAULT_ARM in t.curves for t in results)
        ),
        default=None,
    )
    early = early_rows(compared[early_budget]) if early_budget is not None else []
    if not early and not checks:
        return []
    blocks = [f"## Goals of the default ({code(DEFAULT_ARM)})"]
    if early:
        blocks += [f"### Trial {EARLY_TRIAL}: median best-so-far", early_table(early)]
    for check in checks:
        blocks += [
            f"### {code(check.arm)} against {code(check.rival)} at trial {check.trial}",
            pair_check_table(check),
        ]
    requests = {n: requests_per_trial(records, n) for n in sorted(REQUEST_LIMITS)}
    blocks.append(goals_summary(early, checks, requests, [row.task for row in early]))
    return blocks


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
        "At each trial the arms that ran every task are ranked on each task by their mean "
        "best value so far (1 = best, ties share the average rank); the plot shows each "
        "arm's rank averaged over the tasks. Arms missing from some task are left out.",
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
        f"a tie; so is every pair with too few seeds for any outcome of the exact test to "
        f"reach {ALPHA} (one seed against fewer than {fewest_to_test(1)}, two against fewer "
        f"than {fewest_to_test(2)}, three against fewer than {fewest_to_test(3)}). Each cell "
        f"counts the row arm's wins, ties and losses against the column arm over the "
        f"{len(results)} tasks.",
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
