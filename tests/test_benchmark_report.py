"""The benchmark report: its numbers on hand-made records, its plots, and its small parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.hpo.goals import early_rows
from benchmarks.hpo.goals import pair_check
from benchmarks.hpo.goals import requests_per_trial
from benchmarks.hpo.goals import worse_p_value
from benchmarks.hpo.records import StudyKey
from benchmarks.hpo.records import TrialRecord
from benchmarks.hpo.report import render_report
from benchmarks.hpo.stats import TaskInfo
from benchmarks.hpo.stats import TaskResults
from benchmarks.hpo.stats import area_under_curve
from benchmarks.hpo.stats import average_ranks
from benchmarks.hpo.stats import best_so_far
from benchmarks.hpo.stats import compare_arms
from benchmarks.hpo.stats import fewest_to_test
from benchmarks.hpo.stats import lower_median
from benchmarks.hpo.stats import lower_sample
from benchmarks.hpo.stats import model_arms
from benchmarks.hpo.stats import normalised_regret
from benchmarks.hpo.stats import reference_values
from benchmarks.hpo.stats import trials_to_reach
from benchmarks.hpo.tables import fmt


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SEEDS = range(4)
BUDGETS = (5, 8)

TASKS = {
    "peak": TaskInfo(direction="maximize", optimum=None, kind="ml"),
    "bowl": TaskInfo(direction="minimize", optimum=0.0, kind="synthetic"),
    "iris": TaskInfo(direction="maximize", optimum=None, kind="claim"),
}

# Value of trial t (from 0) of seed s, per task and arm. `good` is better everywhere;
# `llm_pure` gives exactly the values of `random`, so the two must tie.
Values = Callable[[int, int], float]
VALUES: dict[str, dict[str, Values]] = {
    "peak": {
        "random": lambda t, s: 0.1 * t + 0.01 * s,
        "good": lambda t, s: 0.5 + 0.1 * t + 0.01 * s,
    },
    "bowl": {
        "random": lambda t, s: 10 - t + 0.1 * s,
        "good": lambda t, s: 5 - 0.5 * t + 0.1 * s,
    },
    "iris": {
        "random": lambda t, s: 0.895 + 0.01 * (t + s),
        "good": lambda t, s: 0.97,
    },
}


def _record(
    key: StudyKey, number: int, value: float | None, best: float | None, *, model: bool = False
) -> TrialRecord:
    """One trial; a model arm asks on even trials, answers invalidly on trial 0 and falls back
    on trial 1."""
    asked = model and number % 2 == 0
    return TrialRecord(
        task=key.task,
        arm=key.arm,
        seed=key.seed,
        n_trials=key.n_trials,
        number=number,
        state="COMPLETE" if value is not None else "FAIL",
        value=value,
        best=best,
        params={},
        source="model" if asked else None,
        requests=int(asked),
        tokens=120 if asked else 0,
        latency=0.5 if asked else 0.0,
        invalid=int(model and number == 0),
        fallback=model and number == 1,
        seconds=0.01,
    )


def _study(task: str, arm: str, seed: int, n_trials: int) -> list[TrialRecord]:
    values = VALUES[task]["random" if arm == "llm_pure" else arm]
    better = max if TASKS[task].direction == "maximize" else min
    key = StudyKey(task, arm, seed, n_trials)
    records: list[TrialRecord] = []
    best: float | None = None
    for number in range(n_trials):
        value = values(number, seed)
        best = value if best is None else better(best, value)
        records.append(_record(key, number, value, best, model=arm == "llm_pure"))
    return records


def _records() -> list[TrialRecord]:
    return [
        record
        for n_trials in BUDGETS
        for task in TASKS
        for arm in ("random", "good", "llm_pure")
        for seed in SEEDS
        for record in _study(task, arm, seed, n_trials)
    ]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    images = tmp_path_factory.mktemp("report") / "images"
    return render_report(_records(), TASKS, images, "img/bench"), images


def _section(report: str, n_trials: int) -> str:
    start = report.index(f"## {n_trials} trials per study\n")
    end = report.find("\n## ", start)
    return report[start:] if end == -1 else report[start:end]


def _rows(report: str, n_trials: int, heading: str, nth: int = 0) -> list[list[str]]:
    """The cells of the nth pipe table after a heading of one budget, header first."""
    text = _section(report, n_trials)
    lines = text[text.index(f"### {heading}") :].splitlines()
    tables: list[list[list[str]]] = []
    previous = ""
    for line in lines:
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append([cell.strip() for cell in line.strip().strip("|").split("|")])
        previous = line
    header, _, *body = tables[nth]
    return [header, *body]


def _table(report: str, n_trials: int, heading: str) -> dict[str, dict[str, str]]:
    """The first pipe table after a heading of one budget: first cell -> column -> cell."""
    header, *body = _rows(report, n_trials, heading)
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}


def test_report_writes_one_png_per_plot_and_budget(rendered: tuple[str, Path]) -> None:
    report, images = rendered
    for n_trials in BUDGETS:
        for name in (f"best_so_far_n{n_trials}.png", f"average_rank_n{n_trials}.png"):
            assert (images / name).read_bytes().startswith(PNG_MAGIC)
            assert f"](img/bench/{name})" in _section(report, n_trials)
    assert sorted(path.name for path in images.iterdir()) == sorted(
        f"{plot}_n{n}.png" for plot in ("best_so_far", "average_rank") for n in BUDGETS
    )


def test_overview_counts_tasks_arms_and_seeds(rendered: tuple[str, Path]) -> None:
    report, _ = rendered
    assert (
        "3 tasks (`bowl`, `iris`, `peak`) and 3 arms (`good`, `random`, `llm_pure`); 4 seeds"
        in (_section(report, 5))
    )


def test_regret_table_puts_the_better_arm_first(rendered: tuple[str, Path]) -> None:
    report, _ = rendered
    table = _table(report, 5, "Normalised regret")
    assert set(table) == {"`good`", "`random`", "`llm_pure`"}
    assert "`iris`" not in table["`good`"]  # claim tasks have their own section
    # peak (maximize): best seen 0.93 (good, trial 5, seed 3), worst first trial 0.0;
    # good's final bests are 0.90 .. 0.93, random's 0.40 .. 0.43.
    assert table["`good`"]["`peak`"] == f"**{fmt(0.015 / 0.93)} ± {fmt(0.01291 / 2 / 0.93)}**"
    assert table["`random`"]["`peak`"].startswith(f"{fmt(0.515 / 0.93)} ± ")
    # bowl (minimize, optimum 0): worst first trial 10.3; good's final bests 3.0 .. 3.3.
    assert table["`good`"]["`bowl`"].startswith(f"**{fmt(3.15 / 10.3)} ± ")
    assert table["`good`"]["mean"] == f"**{fmt((0.015 / 0.93 + 3.15 / 10.3) / 2)}**"
    for arm in ("`random`", "`llm_pure`"):
        assert not any(cell.startswith("**") for cell in table[arm].values())
    assert table["`random`"] == table["`llm_pure`"]


def test_pairwise_tests_find_the_better_arm_and_tie_identical_ones(
    rendered: tuple[str, Path],
) -> None:
    report, _ = rendered
    matrix = _table(report, 5, "Pairwise tests")
    assert matrix["`good`"] == {"`good`": "n/a", "`random`": "2-0-0", "`llm_pure`": "2-0-0"}
    assert matrix["`random`"] == {"`good`": "0-0-2", "`random`": "n/a", "`llm_pure`": "0-2-0"}
    assert matrix["`llm_pure`"]["`random`"] == "0-2-0"
    assert _rows(report, 5, "Pairwise tests", nth=1) == [
        ["rank", "arm", "points (wins)", "ties", "losses"],
        ["1", "`good`", "4", "0", "0"],
        ["2", "`llm_pure`", "0", "2", "2"],
        ["2", "`random`", "0", "2", "2"],
    ]


def test_trials_to_target_by_hand(rendered: tuple[str, Path]) -> None:
    report, _ = rendered
    # 5 trials. peak: random's final bests 0.40 .. 0.43, target their median 0.415; good's
    # first trial already reaches it; random's seeds 2 and 3 reach it at trial 5, 0 and 1 never.
    # bowl: random's final bests 6.0 .. 6.3, target 6.15; random's seeds 0 and 1 reach it at
    # trial 5 (10 - 4 + 0.1 s).
    table = _table(report, 5, "Trials to reach a target")
    assert table["`good`"] == {"`bowl` ≤ 6.15": "1 (4/4)", "`peak` ≥ 0.415": "1 (4/4)"}
    assert table["`random`"] == {"`bowl` ≤ 6.15": "5 (2/4)", "`peak` ≥ 0.415": "5 (2/4)"}
    # 8 trials: peak's target is 0.715, reached at trial 8 by seeds 2 and 3.
    assert _table(report, 8, "Trials to reach a target")["`random`"]["`peak` ≥ 0.715"] == "8 (2/4)"


def test_model_table_has_per_trial_means(rendered: tuple[str, Path]) -> None:
    report, _ = rendered
    # llm_pure asks on even trials (120 tokens, 0.5 s), one invalid answer on trial 0 and a
    # fallback on trial 1; 3 tasks x 4 seeds of each budget.
    five = _table(report, 5, "Model arms")
    assert list(five) == ["`llm_pure`"]
    assert five["`llm_pure`"] == {
        "trials": "60",
        "requests": "0.6",
        "tokens": "72",
        "latency (s)": "0.3",
        "invalid": "0.2",
        "fallback rate": "0.2",
    }
    eight = _table(report, 8, "Model arms")["`llm_pure`"]
    assert (eight["trials"], eight["requests"], eight["tokens"]) == ("96", "0.5", "60")
    assert (eight["latency (s)"], eight["invalid"], eight["fallback rate"]) == (
        "0.25",
        "0.125",
        "0.125",
    )


def test_claim_check_counts_trials_to_096(rendered: tuple[str, Path]) -> None:
    report, _ = rendered
    # random: 0.895 + 0.01 (t + s) first reaches 0.96 at t = 7 - s, i.e. after 8 - s trials.
    eight = _table(report, 8, "Claim check: `iris`")
    assert eight["`random`"] == {
        "seeds": "4",
        "trials to ≥ 0.96 (median)": "6",
        "(max)": "8",
        "first trial ≥ 0.96": "0/4",
        "min value": "0.895",
        "max value": "0.995",
    }
    assert eight["`good`"]["trials to ≥ 0.96 (median)"] == "1"
    assert eight["`good`"]["first trial ≥ 0.96"] == "4/4"
    five = _table(report, 5, "Claim check: `iris`")["`random`"]
    assert (five["trials to ≥ 0.96 (median)"], five["(max)"]) == (">5", ">5")
    assert five["max value"] == "0.965"


def test_report_needs_every_task_described(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No TaskInfo for task 'bowl'"):
        render_report(_records(), {"peak": TASKS["peak"]}, tmp_path, "img")
    assert render_report([], TASKS, tmp_path, "img") == "No finished studies.\n"


def test_task_info_rejects_unknown_direction() -> None:
    with pytest.raises(ValueError, match="direction"):
        TaskInfo(direction="up", optimum=None, kind="ml")


def test_best_so_far_is_nan_before_the_first_completed_trial_and_fills_gaps() -> None:
    key = StudyKey("t", "a", 0, 5)
    study = [_record(key, 0, None, None), _record(key, 1, 3.0, 3.0), _record(key, 3, 1.0, 1.0)]
    curve = best_so_far(study, 5)
    assert np.isnan(curve[0])
    assert curve[1:].tolist() == [3.0, 3.0, 1.0, 1.0]


def test_reference_values() -> None:
    curves = [np.array([[np.nan, 3.0, 2.0], [5.0, 4.0, 1.0]])]
    assert reference_values(curves, TaskInfo("minimize", None, "ml")) == (1.0, 5.0)
    assert reference_values(curves, TaskInfo("minimize", 0.5, "ml")) == (0.5, 5.0)
    assert reference_values(
        [np.array([[1.0, 2.0], [3.0, 3.0]])], TaskInfo("maximize", None, "ml")
    ) == (
        3.0,
        1.0,
    )
    assert all(math.isnan(v) for v in reference_values([np.full((1, 2), np.nan)], TASKS["peak"]))


def test_normalised_regret_in_both_directions() -> None:
    maximize = TaskInfo("maximize", None, "ml")
    minimize = TaskInfo("minimize", 0.0, "synthetic")
    assert normalised_regret(np.array([1.0, 0.75, 0.5]), maximize, 1.0, 0.5).tolist() == [
        0.0,
        0.5,
        1.0,
    ]
    assert normalised_regret(np.array([2.5]), minimize, 0.0, 10.0).tolist() == [0.25]
    degenerate = normalised_regret(np.array([2.0, 3.0]), minimize, 2.0, 2.0)
    assert degenerate[0] == 0.0
    assert np.isnan(degenerate[1])


def test_area_under_curve_is_lower_for_the_better_curve() -> None:
    assert area_under_curve(np.array([[1.0, 2.0, 3.0]]), "minimize").tolist() == [2.0]
    assert area_under_curve(np.array([[1.0, 2.0, 3.0]]), "maximize").tolist() == [-2.0]
    rows = np.array([[1.0, 2.0, 3.0], [3.0, 3.0, 3.0]])
    faster, slower = area_under_curve(rows, "maximize")[::-1]
    assert faster < slower


def _task(direction: str, curves: dict[str, list[list[float]]]) -> TaskResults:
    arrays = {arm: np.array(rows, dtype=float) for arm, rows in curves.items()}
    return TaskResults("t", TaskInfo(direction, None, "ml"), 2, 0.0, 0.0, arrays, {})


def test_average_ranks_average_ties_and_tasks() -> None:
    first = _task("minimize", {"a": [[1, 1]], "b": [[2, 1]], "c": [[3, 1]]})
    second = _task("maximize", {"a": [[1, 5]], "b": [[2, 5]], "c": [[2, 4]]})
    ranks = average_ranks([first, second])
    assert ranks["a"].tolist() == [2.0, 1.75]
    assert ranks["b"].tolist() == [1.75, 1.75]
    assert ranks["c"].tolist() == [2.25, 2.5]


def test_average_ranks_leave_out_arms_missing_from_a_task() -> None:
    first = _task("minimize", {"a": [[2, 2]], "b": [[3, 3]], "partial": [[1, 1]]})
    second = _task("minimize", {"a": [[2, 2]], "b": [[1, 1]]})
    ranks = average_ranks([first, second])
    assert set(ranks) == {"a", "b"}
    assert ranks["a"].tolist() == [1.5, 1.5]


def test_lower_sample_ties_identical_samples() -> None:
    same = np.array([1.0, 1.0, 1.0, 1.0])
    assert lower_sample(same, same) == 0
    assert lower_sample(np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0, 7.0, 8.0])) == 1
    assert lower_sample(np.array([5.0, 6.0, 7.0, 8.0]), np.array([1.0, 2.0, 3.0, 4.0])) == -1
    assert lower_sample(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0  # too few seeds
    assert lower_sample(np.array([]), same) == 0


def test_one_seed_is_never_significant_against_tied_seeds() -> None:
    # The normal approximation scipy uses with ties gives p = 0.008 here.
    one = np.array([2.0])
    tied = np.array([1.0] * 9)
    assert lower_sample(one, tied) == 0
    assert lower_sample(tied, one) == 0
    assert lower_sample(np.array([2.0, 2.5]), np.array([1.0] * 10 + [0.5])) == -1


def test_fewest_seeds_the_exact_test_needs() -> None:
    assert [fewest_to_test(n) for n in (1, 2, 3, 4)] == [40, 8, 5, 4]


def test_equal_final_values_are_decided_by_the_area_under_the_curve() -> None:
    fast = [[3.0 + 0.1 * s, 1.0] for s in range(4)]
    slow = [[5.0 + 0.1 * s, 1.0] for s in range(4)]
    task = _task("minimize", {"fast": fast, "slow": slow})
    assert compare_arms(task, "fast", "slow") == 1
    assert compare_arms(task, "slow", "fast") == -1
    maximize = _task("maximize", {"fast": fast, "slow": slow})
    assert compare_arms(maximize, "fast", "slow") == -1


def test_trials_to_reach_and_lower_median() -> None:
    rows = np.array([[5.0, 3.0, 1.0], [5.0, 5.0, 5.0], [2.0, 2.0, 2.0]])
    trials = trials_to_reach(rows, 3.0, "minimize")
    assert trials.tolist() == [2.0, math.inf, 1.0]
    assert lower_median(trials) == 2.0
    assert lower_median(np.array([1.0, math.inf, math.inf, math.inf])) == math.inf
    assert lower_median(np.array([4.0, 1.0, math.inf, math.inf])) == 4.0
    assert trials_to_reach(rows, 5.0, "maximize").tolist() == [1.0, 1.0, math.inf]


def test_model_arms_by_name_or_requests() -> None:
    plain = _record(StudyKey("t", "tpe", 0, 2), 0, 1.0, 1.0)
    custom = _record(StudyKey("t", "custom", 0, 2), 0, 1.0, 1.0, model=True)
    named = _record(StudyKey("t", "llm_pure", 0, 2), 1, 1.0, 1.0)
    assert model_arms([plain, custom, named]) == {"custom", "llm_pure"}


def _goal_task(name: str, curves: dict[str, list[list[float]]]) -> TaskResults:
    arrays = {arm: np.array(rows, dtype=float) for arm, rows in curves.items()}
    n_trials = next(iter(arrays.values())).shape[1]
    return TaskResults(name, TaskInfo("minimize", 0.0, "ml"), n_trials, 0.0, 10.0, arrays, {})


def test_early_rows_compare_medians_at_trial_10() -> None:
    flat = [[5.0] * 12] * 3
    task = _goal_task(
        "t",
        {"llm_default": [[4.0] * 12] * 3, "tpe": flat, "gp": [[3.0] * 12] * 3},
    )
    (row,) = early_rows([task])
    assert row.default == 4.0
    assert row.better == {"tpe": True, "gp": False}


def test_pair_check_tests_one_sided_at_a_level_corrected_for_the_tasks() -> None:
    seeds = 10
    worse = _goal_task(
        "worse",
        {
            "llm_default": [[6.0 + s / 10] * 3 for s in range(seeds)],
            "gp": [[1.0 + s / 10] * 3 for s in range(seeds)],
        },
    )
    better = _goal_task(
        "better",
        {
            "llm_default": [[1.0 + s / 10] * 3 for s in range(seeds)],
            "gp": [[6.0 + s / 10] * 3 for s in range(seeds)],
        },
    )
    check = pair_check([worse, better], "llm_default", "gp", trial=3)
    assert check is not None
    assert check.level == pytest.approx(0.025)
    assert check.worse_tasks == ["worse"], "one-sided: being better is never a loss"
    assert check.arm_mean == pytest.approx((0.645 + 0.145) / 2)
    assert check.rival_mean == pytest.approx((0.145 + 0.645) / 2)
    assert pair_check([worse], "llm_default", "gp", trial=4) is None, "too few trials"
    assert pair_check([worse], "absent", "gp", trial=3) is None
    # Three seeds a side cannot reach a level of 0.05 over 10 tasks.
    few = _goal_task("few", {a: rows[:3] for a, rows in worse.curves.items()})  # type: ignore[misc]
    check = pair_check([few] * 10, "llm_default", "gp", trial=3)
    assert check is not None and check.worse_tasks == []


def test_worse_p_value_of_equal_samples_is_one() -> None:
    assert worse_p_value(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 1.0
    assert worse_p_value(np.array([]), np.array([1.0])) == 1.0


def test_requests_per_trial_counts_the_first_trials_of_long_enough_studies() -> None:
    key = StudyKey("t", "llm_default", 0, 100)
    records = [
        replace(_record(key, n, 1.0, 1.0), requests=int(n in (0, 10, 30))) for n in range(100)
    ]
    assert requests_per_trial(records, 30) == pytest.approx(2 / 30)
    assert requests_per_trial(records, 100) == pytest.approx(3 / 100)
    assert math.isnan(requests_per_trial(records, 200))
    # The first 30 trials saved again as a 30-trial study count once.
    derived = [replace(r, n_trials=30) for r in records[:30]]
    assert requests_per_trial(records + derived, 30) == pytest.approx(2 / 30)
