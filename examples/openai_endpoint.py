"""Tune an SVM on scikit-learn's wine data with a model behind any OpenAI-compatible endpoint.

Run it against OpenAI::

    export OPENAI_API_KEY=sk-...
    python examples/openai_endpoint.py --model gpt-4o-mini

or against a local server (Ollama, vLLM, llama.cpp, LM Studio), where no key is needed::

    python examples/openai_endpoint.py --model qwen2.5:1.5b --base-url http://127.0.0.1:11434/v1

Needs scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

import argparse

import optuna
from sklearn.datasets import load_wine
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from optuna_llm import LLMSampler


def objective(trial: optuna.Trial) -> float:
    x, y = load_wine(return_X_y=True)
    kernel = trial.suggest_categorical("kernel", ["rbf", "linear", "poly"])
    c = trial.suggest_float("C", 1e-3, 1e3, log=True)
    if kernel == "linear":
        model = SVC(kernel=kernel, C=c)
    else:
        gamma = trial.suggest_float("gamma", 1e-5, 10.0, log=True)
        model = SVC(kernel=kernel, C=c, gamma=gamma)
    pipeline = make_pipeline(StandardScaler(), model)
    return float(cross_val_score(pipeline, x, y, cv=3).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model name the endpoint serves")
    parser.add_argument("--base-url", default=None, help="endpoint; defaults to OpenAI's")
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()

    sampler = LLMSampler(
        model=args.model,
        base_url=args.base_url,
        task="SVC on the 13 standardized features of the UCI wine data, 3-fold CV accuracy.",
        seed=0,
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=args.trials)

    sources = [trial.user_attrs.get("llm:source", "fallback") for trial in study.trials]
    print(f"Best accuracy {study.best_value:.4f} with {study.best_params}")
    print(f"{sources.count('llm')} of {len(sources)} trials came whole from the model.")


if __name__ == "__main__":
    main()
