"""Choose a classifier family, then tune that family's own parameters: a conditional space.

Each trial first picks one of four scikit-learn classifiers for the wine data, then suggests
only that classifier's parameters, so every parameter but ``classifier`` exists in some
trials only. The sampler shows the model the parameters the study has seen, marks those that
only some trials used as conditional, and fills in from the classical sampler (TPE for a
conditional space) whatever the model leaves out or has not seen yet::

    pip install "optuna-llm[local,examples]"
    python examples/conditional_space.py                  # the bundled local model
    python examples/conditional_space.py --base-url https://api.openai.com/v1 --model gpt-4o-mini

Any other OpenAI-compatible endpoint works the same way (``--base-url``, ``--model``). The study
lives in memory unless ``--storage URL`` keeps it; a later run with the same storage continues it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import sys

from _endpoint import add_endpoint_arguments
from _endpoint import open_endpoint
from _endpoint import parse_arguments
import optuna
from sklearn.base import ClassifierMixin
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from optuna_llm import Guide


TASK = (
    "Classify the 178 wines of scikit-learn's wine data set (13 standardized numeric "
    "features, 3 classes). First choose a classifier family, then tune only that family's "
    "parameters; maximize 3-fold cross-validated accuracy."
)

# The parameters each family suggests: only trials of that family have them.
FAMILY_PARAMS = {
    "svc": ("svc_C", "svc_gamma"),
    "random_forest": ("rf_n_estimators", "rf_max_depth", "rf_max_features"),
    "knn": ("knn_n_neighbors", "knn_weights"),
    "logistic_regression": ("logreg_C",),
}


def build_classifier(trial: optuna.Trial) -> ClassifierMixin:
    family = trial.suggest_categorical("classifier", list(FAMILY_PARAMS))
    if family == "svc":
        return SVC(
            C=trial.suggest_float("svc_C", 1e-3, 1e3, log=True),
            gamma=trial.suggest_float("svc_gamma", 1e-5, 10.0, log=True),
        )
    if family == "random_forest":
        return RandomForestClassifier(
            n_estimators=trial.suggest_int("rf_n_estimators", 10, 100, log=True),
            max_depth=trial.suggest_int("rf_max_depth", 2, 16, log=True),
            max_features=trial.suggest_float("rf_max_features", 0.2, 1.0),
            random_state=0,
        )
    if family == "knn":
        return KNeighborsClassifier(
            n_neighbors=trial.suggest_int("knn_n_neighbors", 1, 40, log=True),
            weights=trial.suggest_categorical("knn_weights", ["uniform", "distance"]),
        )
    return LogisticRegression(C=trial.suggest_float("logreg_C", 1e-4, 1e2, log=True))


def objective(trial: optuna.Trial) -> float:
    x, y = load_wine(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), build_classifier(trial))
    return float(cross_val_score(pipeline, x, y, cv=3).mean())


def describe(trial: optuna.trial.FrozenTrial) -> str:
    params = ", ".join(
        f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in trial.params.items()
        if name != "classifier"
    )
    return f"{trial.params['classifier']}({params})"


def show_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    source = trial.user_attrs.get("llm:source", "-")
    print(f"trial {trial.number:2d}  accuracy {trial.value:.4f}  [{source:8s}] {describe(trial)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_arguments(parser)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage", default=None, help="storage URL; default: in memory")
    args = parse_arguments(parser, argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with open_endpoint(args) as endpoint:
        print(f"Asking {endpoint.describe()}.", flush=True)
        # Shown the study every 5 trials after the start-up, the model sees the parameters
        # of every family the study has run, marked as conditional.
        sampler = endpoint.sampler(task=TASK, seed=args.seed, guide=Guide(ask_every=5))
        study = optuna.create_study(
            study_name="conditional-space",
            storage=args.storage,
            direction="maximize",
            sampler=sampler,
            load_if_exists=True,
        )
        study.optimize(objective, n_trials=args.trials, callbacks=[show_trial])

    trials = study.trials
    print()
    print(f"Best accuracy {study.best_value:.4f} in trial {study.best_trial.number}:")
    print(f"  {describe(study.best_trial)}")
    print("Per classifier family (each trial has only its own family's parameters):")
    for family, names in FAMILY_PARAMS.items():
        used = [t for t in trials if t.params["classifier"] == family]
        if not used:
            print(f"  {family:20s} no trial")
            continue
        best = max(used, key=lambda t: t.value or 0.0)
        print(
            f"  {family:20s} trials {len(used):2d}, best {best.value:.4f} (trial "
            f"{best.number}); parameters {', '.join(names)}"
        )
    sources = [t.user_attrs.get("llm:source", "fallback") for t in trials]
    print(
        f"Values from the model in {sources.count('llm')} trials, partly from the model in "
        f"{sources.count('partial')}, from its prior in {sources.count('prior')}, from the "
        f"classical sampler in {sources.count('fallback')}. Model requests: "
        f"{sampler.usage.requests}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
