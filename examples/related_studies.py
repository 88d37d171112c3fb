"""Warm-start a study from a related earlier study in the same storage.

First an earlier study tunes an RBF-kernel SVC on scikit-learn's wine data, with plain TPE,
no model. Then a new study tunes the same model on the breast cancer data, with
``LLMSampler(related_studies=["svc-wine"])``: every prompt shows the model the earlier study's
best trials as prior experience, so the new study's first trial, the model's recommended
start, and the warm-up drawn around it can begin where the earlier study ended::

    pip install "optuna-llm[local,examples]"
    python examples/related_studies.py                    # the bundled local model
    python examples/related_studies.py --base-url https://api.openai.com/v1 --model gpt-4o-mini

By default both studies live in memory. With ``--storage sqlite:///studies.db`` they are kept,
and a later run reuses the earlier study. ``--audit-log FILE`` records every exchange with the
model; the example then prints what the model was shown of the earlier study.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import sys

from _endpoint import add_endpoint_arguments
from _endpoint import open_endpoint
from _endpoint import parse_arguments
import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from sklearn.datasets import load_breast_cancer
from sklearn.datasets import load_wine
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from optuna_llm.audit import read_audit_log


EARLIER_STUDY = "svc-wine"
C_RANGE = (1e-3, 1e3)
GAMMA_RANGE = (1e-5, 10.0)
# Known up front, so that the new study's first trial is already the model's proposal.
SPACE: dict[str, BaseDistribution] = {
    "C": FloatDistribution(*C_RANGE, log=True),
    "gamma": FloatDistribution(*GAMMA_RANGE, log=True),
}
TASK = (
    "RBF-kernel SVC on the 30 standardized features of scikit-learn's breast cancer data "
    "(569 samples, binary); maximize 3-fold cross-validated accuracy."
)
PRIOR_HEADING = "Prior experience from related studies"


def make_objective(x: np.ndarray, y: np.ndarray) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        model = SVC(
            C=trial.suggest_float("C", *C_RANGE, log=True),
            gamma=trial.suggest_float("gamma", *GAMMA_RANGE, log=True),
        )
        pipeline = make_pipeline(StandardScaler(), model)
        return float(cross_val_score(pipeline, x, y, cv=3).mean())

    return objective


def run_earlier_study(storage: str | optuna.storages.BaseStorage, trials: int, seed: int) -> None:
    """The earlier study, on the wine data with TPE; an existing one is reused."""
    study = optuna.create_study(
        study_name=EARLIER_STUDY,
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        load_if_exists=True,
    )
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if done < trials:
        study.optimize(make_objective(*load_wine(return_X_y=True)), n_trials=trials - done)
    best = study.best_trial
    print(
        f"Earlier study {EARLIER_STUDY!r} ({len(study.trials)} trials, TPE): best accuracy "
        f"{best.value:.4f} with C={best.params['C']:.4g}, gamma={best.params['gamma']:.4g} "
        f"(trial {best.number})",
        flush=True,
    )


def prior_section(audit_log: str) -> str | None:
    """The part of the first prompt that showed the model the related studies."""
    for record in read_audit_log(audit_log):
        for message in record.get("prompt") or []:
            for paragraph in str(message.get("content", "")).split("\n\n"):
                if paragraph.startswith(PRIOR_HEADING):
                    return paragraph
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_arguments(parser)
    parser.add_argument("--storage", default=None, help="storage URL; default: in memory")
    parser.add_argument("--study", default="svc-breast-cancer", help="name of the new study")
    parser.add_argument("--earlier-trials", type=int, default=30)
    parser.add_argument("--trials", type=int, default=8, help="trials of the new study")
    parser.add_argument("--audit-log", default=None, help="file to record the exchanges in")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_arguments(parser, argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The related studies are looked up by name in the storage of the study being optimized.
    storage = args.storage or optuna.storages.InMemoryStorage()

    run_earlier_study(storage, args.earlier_trials, args.seed)
    with open_endpoint(args) as endpoint:
        print(f"Asking {endpoint.describe()}.", flush=True)
        sampler = endpoint.sampler(
            task=TASK,
            search_space=SPACE,
            related_studies=[EARLIER_STUDY],
            audit_log=args.audit_log,
            seed=args.seed,
        )
        try:
            study = optuna.create_study(
                study_name=args.study, storage=storage, direction="maximize", sampler=sampler
            )
        except optuna.exceptions.DuplicatedStudyError:
            print(
                f"A study named {args.study!r} exists already; pass --study NAME.", file=sys.stderr
            )
            return 1
        study.optimize(make_objective(*load_breast_cancer(return_X_y=True)), n_trials=args.trials)

    print()
    print(f"The new study {args.study!r}, on the breast cancer data:")
    for trial in study.trials:
        source = trial.user_attrs.get("llm:source", "fallback")
        why = trial.user_attrs.get("llm:rationale") or trial.user_attrs.get("llm:reason", "")
        if source == "prior":
            why = "drawn from the prior around the model's start"
        print(
            f"  trial {trial.number:2d}  accuracy {trial.value:.4f}  C={trial.params['C']:<9.4g} "
            f"gamma={trial.params['gamma']:<9.4g} [{source}] {why[:80]}"
        )
    print(
        f"Best accuracy {study.best_value:.4f} in trial {study.best_trial.number}; "
        f"model requests: {sampler.usage.requests}."
    )
    if args.audit_log:
        shown = prior_section(args.audit_log)
        print()
        if shown:
            print("What the model was shown of the earlier study:")
            print(shown)
        else:
            print("No prompt held prior experience from related studies.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
