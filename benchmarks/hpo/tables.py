"""Markdown of the benchmark report: number formatting and the tables of ``stats.py``'s numbers.

Every function here is pure and returns Markdown text.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import math

import numpy as np

from benchmarks.hpo.goals import DEFAULT_ARM
from benchmarks.hpo.goals import EARLY_RIVALS
from benchmarks.hpo.goals import EARLY_TRIAL
from benchmarks.hpo.goals import MEAN_TRIALS
from benchmarks.hpo.goals import REQUEST_LIMITS
from benchmarks.hpo.goals import EarlyRow
from benchmarks.hpo.goals import PairCheck
from benchmarks.hpo.stats import CLAIM_TARGET
from benchmarks.hpo.stats import ClaimCheck
from benchmarks.hpo.stats import Curve
from benchmarks.hpo.stats import ModelUsage
from benchmarks.hpo.stats import TaskResults
from benchmarks.hpo.stats import final_regrets
from benchmarks.hpo.stats import lower_median
from benchmarks.hpo.stats import mean_and_se
from benchmarks.hpo.stats import target_value
from benchmarks.hpo.stats import trials_to_reach


NOT_AVAILABLE = "n/a"


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


# --- Goals of the default -------------------------------------------------------------------


def early_table(rows: Sequence[EarlyRow]) -> str:
    """Tasks x arms: median best-so-far at trial 10, the default's cell bold where it beats
    every rival."""
    rivals = list(dict.fromkeys(name for row in rows for name in row.rivals))
    table_rows = []
    for row in rows:
        cell = fmt(row.default)
        if row.better and all(row.better.values()):
            cell = f"**{cell}**"
        marks = [
            f"{fmt(row.rivals[name])} ({'beaten' if row.better[name] else 'not beaten'})"
            if name in row.rivals
            else NOT_AVAILABLE
            for name in rivals
        ]
        table_rows.append([code(row.task), cell, *marks])
    return markdown_table(["task", code(DEFAULT_ARM), *[code(r) for r in rivals]], table_rows)


def pair_check_table(check: PairCheck) -> str:
    """Per task: the mean normalised regret of the arm and its rival, and the one-sided test
    that the arm's is higher; then the means over the tasks."""
    rows = [
        [
            code(row.task),
            fmt(row.arm_regret),
            fmt(row.rival_regret),
            f"{row.p_value:.3g}",
            "**significantly worse**" if row.worse else "not worse",
        ]
        for row in check.rows
    ]
    table = markdown_table(
        ["task", code(check.arm), code(check.rival), "p (one-sided)", "verdict"], rows
    )
    return (
        f"{table}\n\nMean normalised regret over the {len(check.rows)} tasks: "
        f"{code(check.arm)} {fmt(check.arm_mean)}, {code(check.rival)} "
        f"{fmt(check.rival_mean)}. Significance level {check.level:.3g} (0.05 over "
        f"{len(check.rows)} tasks)."
    )


def goals_summary(
    early: Sequence[EarlyRow],
    checks: Sequence[PairCheck],
    requests: Mapping[int, float],
    tasks: Sequence[str],
) -> str:
    """One line per goal: the measured number, the goal, and whether it is met."""
    lines = ["### Summary", ""]
    for rival, needed in EARLY_RIVALS.items():
        rows = [row for row in early if rival in row.better]
        wins = sum(row.better[rival] for row in rows)
        scaled = math.ceil(needed * len(rows) / 10) if rows else needed
        lines.append(
            f"- Trial {EARLY_TRIAL}, median best-so-far better than {code(rival)}: {wins} of "
            f"{len(rows)} tasks (goal: {needed} of 10) — {_met(wins >= scaled)}."
        )
    for check in checks:
        worse = check.worse_tasks
        lines.append(
            f"- Trial {check.trial}, tasks where {code(check.arm)} is significantly worse "
            f"than {code(check.rival)}: {', '.join(code(t) for t in worse) or 'none'} "
            f"(goal: none) — {_met(not worse)}."
        )
        if check.trial in MEAN_TRIALS:
            lines.append(
                f"- Trial {check.trial}, mean normalised regret of {code(check.arm)} "
                f"{fmt(check.arm_mean)} against {code(check.rival)}'s {fmt(check.rival_mean)} "
                f"(goal: no higher) — {_met(check.arm_mean <= check.rival_mean)}."
            )
    for n_trials, limit in sorted(REQUEST_LIMITS.items()):
        rate = requests.get(n_trials, math.nan)
        if math.isnan(rate):
            continue
        lines.append(
            f"- Model requests per trial of {code(DEFAULT_ARM)} over {n_trials} trials: "
            f"{fmt(rate)} (goal: at most {fmt(limit)}) — {_met(rate <= limit)}."
        )
    lines.append("")
    lines.append(
        f"Tasks compared: {len(tasks)}. Medians and regrets are over the seeds each arm ran "
        f"(trials 10 and 30 from the 30-trial studies and the first 30 trials of the 100-trial "
        f"ones). The test is a one-sided Mann-Whitney U test of the per-seed normalised "
        f"regret, at 0.05 divided by the number of tasks."
    )
    return "\n".join(lines)


def _met(flag: bool) -> str:
    return "met" if flag else "**not met**"
