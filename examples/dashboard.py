"""Run a short study into a SQLite file, then look at it in optuna-dashboard with a model.

The sampler records on every trial where its values came from: the user attributes
``llm:source`` (``llm``, ``partial``, ``prior`` or ``fallback``), ``llm:model_share``,
``llm:rationale`` (the model's one-sentence reason) or ``llm:reason`` (why the classical
sampler proposed), tokens and latency, plus a Markdown note on the trial's page. After the
study, the example serves optuna-dashboard on the file, its LLM features answered by the same
model, until Ctrl-C::

    pip install "optuna-llm[local,examples]"
    python examples/dashboard.py                          # the bundled local model
    python examples/dashboard.py --base-url https://api.openai.com/v1 --model gpt-4o-mini

then open http://127.0.0.1:8080/dashboard/. With ``--no-serve`` it stops after the study and
prints the command that serves the dashboard later.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import sys

from _endpoint import add_endpoint_arguments
from _endpoint import open_endpoint
from _endpoint import parse_arguments
import optuna
from sklearn.datasets import load_wine
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


STUDY = "knn-wine"
TASK = (
    "k-nearest neighbours on the 13 standardized features of scikit-learn's wine data "
    "(178 samples, 3 classes); maximize 3-fold cross-validated accuracy."
)


def objective(trial: optuna.Trial) -> float:
    x, y = load_wine(return_X_y=True)
    model = KNeighborsClassifier(
        n_neighbors=trial.suggest_int("n_neighbors", 1, 50, log=True),
        weights=trial.suggest_categorical("weights", ["uniform", "distance"]),
        p=trial.suggest_float("p", 1.0, 3.0),
    )
    return float(cross_val_score(make_pipeline(StandardScaler(), model), x, y, cv=3).mean())


def show_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    source = trial.user_attrs.get("llm:source", "-")
    why = trial.user_attrs.get("llm:rationale") or trial.user_attrs.get("llm:reason", "")
    if source == "prior":
        why = "drawn from the prior around the model's start"
    print(
        f"trial {trial.number:2d}  accuracy {trial.value:.4f}  [{source}] {why[:90]}", flush=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_arguments(parser)
    parser.add_argument("--storage", default="sqlite:///optuna-llm-dashboard.db")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1", help="where optuna-dashboard listens")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="stop after the study and print the command that serves the dashboard",
    )
    args = parse_arguments(parser, argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with open_endpoint(args) as endpoint:
        print(f"Asking {endpoint.describe()}.", flush=True)
        sampler = endpoint.sampler(task=TASK, seed=args.seed)
        study = optuna.create_study(
            study_name=STUDY,
            storage=args.storage,
            direction="maximize",
            sampler=sampler,
            load_if_exists=True,
        )
        study.optimize(objective, n_trials=args.trials, callbacks=[show_trial])
        print(
            f"Best accuracy {study.best_value:.4f} in trial {study.best_trial.number}; "
            f"study {STUDY!r} in {args.storage}."
        )

        if args.no_serve:
            command = f"optuna-llm dashboard {args.storage}"
            if not endpoint.local:
                command += f" --base-url {endpoint.base_url} --model {endpoint.model}"
            print("Serve it with optuna-dashboard and a model:")
            print(f"  {command}")
            return 0
        # Imported only here: the study above needs nothing of the dashboard.
        from optuna_llm.dashboard import run_dashboard  # noqa: PLC0415

        # It prints the dashboard's address and serves until Ctrl-C.
        run_dashboard(
            args.storage,
            host=args.host,
            port=args.port,
            base_url=endpoint.base_url,
            model=endpoint.model,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
