"""Four worker processes share one study on PostgreSQL, each with its own LLMSampler.

The workers are separate processes, as they would be on separate machines: each loads the
study from the storage, builds its own sampler for the same model endpoint, and learns what
the others did only through the storage. The guided plan lives in the study too: the four
workers make one request for the model's start between them and share one warm-up around it,
and a budget would hold for the study. A configuration the model hands to two workers at once
runs only once; the second worker takes the classical sampler's proposal instead. Each trial
records which worker ran it (``worker`` and ``pid`` user attributes)::

    pip install "optuna-llm[local,examples]" psycopg2-binary
    createdb optuna_example
    python examples/postgres_workers.py --storage postgresql://USER@127.0.0.1/optuna_example
    OPTUNA_LLM_STORAGE=postgresql://... python examples/postgres_workers.py \\
        --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b

Without ``--base-url`` the bundled local model serves all four workers (it answers one request
at a time, so they queue). The study is created anew; pass ``--study`` to use another name.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
import multiprocessing
import os
import sys

from _endpoint import Endpoint
from _endpoint import add_endpoint_arguments
from _endpoint import open_endpoint
from _endpoint import parse_arguments
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import FloatDistribution
from sklearn.datasets import load_wine
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from optuna_llm import study_usage


STORAGE_ENV = "OPTUNA_LLM_STORAGE"
TASK = "RBF-kernel SVC on the 13 standardized features of the UCI wine data, 3-fold CV accuracy."
C_RANGE = (1e-3, 1e3)
GAMMA_RANGE = (1e-5, 10.0)
# Known up front, so each worker's first trial is already the model's proposal.
SPACE: dict[str, BaseDistribution] = {
    "C": FloatDistribution(*C_RANGE, log=True),
    "gamma": FloatDistribution(*GAMMA_RANGE, log=True),
}


def objective(trial: optuna.Trial, worker: int) -> float:
    trial.set_user_attr("worker", worker)
    trial.set_user_attr("pid", os.getpid())
    x, y = load_wine(return_X_y=True)
    model = SVC(
        C=trial.suggest_float("C", *C_RANGE, log=True),
        gamma=trial.suggest_float("gamma", *GAMMA_RANGE, log=True),
    )
    return float(cross_val_score(make_pipeline(StandardScaler(), model), x, y, cv=3).mean())


def work(
    *, storage: str, study_name: str, endpoint: Endpoint, worker: int, trials: int, seed: int
) -> None:
    """One worker process: its own sampler, the shared study, ``trials`` trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Seeds differ per worker so that their classical samplers draw differently; the start and
    # the warm-up around it come from the study, whatever the seed.
    sampler = endpoint.sampler(task=TASK, search_space=SPACE, seed=seed + worker)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    study.optimize(lambda trial: objective(trial, worker), n_trials=trials)
    print(
        f"worker {worker} (pid {os.getpid()}) done; model requests: {sampler.usage.requests}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_endpoint_arguments(parser)
    parser.add_argument(
        "--storage",
        default=os.environ.get(STORAGE_ENV),
        help=f"PostgreSQL URL, e.g. postgresql://user@host/db (default: ${STORAGE_ENV})",
    )
    parser.add_argument("--study", default="postgres-workers", help="name of the new study")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=6, help="trials per worker")
    parser.add_argument("--seed", type=int, default=0)
    args = parse_arguments(parser, argv)
    if not args.storage:
        parser.error(f"pass --storage postgresql://... or set {STORAGE_ENV}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    try:
        optuna.create_study(study_name=args.study, storage=args.storage, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        print(f"A study named {args.study!r} exists already; pass --study NAME.", file=sys.stderr)
        return 1

    with open_endpoint(args) as endpoint:
        print(f"{args.workers} workers asking {endpoint.describe()}.", flush=True)
        # Spawned, not forked: a fresh interpreter per worker, as on another machine, and no
        # copied database connections or client threads.
        context = multiprocessing.get_context("spawn")
        processes = [
            context.Process(
                target=work,
                kwargs={
                    "storage": args.storage,
                    "study_name": args.study,
                    "endpoint": endpoint,
                    "worker": worker,
                    "trials": args.trials,
                    "seed": args.seed,
                },
                name=f"worker-{worker}",
            )
            for worker in range(args.workers)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    failed = [p.name for p in processes if p.exitcode != 0]

    study = optuna.load_study(study_name=args.study, storage=args.storage)
    trials = study.trials
    print()
    print(f"Study {args.study!r}: {len(trials)} trials from {args.workers} worker processes.")
    for worker, process in enumerate(processes):
        mine = [t for t in trials if t.user_attrs.get("worker") == worker]
        sources = Counter(str(t.user_attrs.get("llm:source", "fallback")) for t in mine)
        print(
            f"  worker {worker} (pid {process.pid}): {len(mine)} trials; "
            + ", ".join(f"{source} {n}" for source, n in sorted(sources.items()))
        )
    print(f"  model requests for the whole study: {study_usage(study).describe()}")
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in trials):
        print("No trial completed.", file=sys.stderr)
        return 1
    best = study.best_trial
    print(
        f"Best accuracy {best.value:.4f} in trial {best.number} (worker "
        f"{best.user_attrs.get('worker')}, {best.user_attrs.get('llm:source', 'fallback')}): "
        f"C={best.params['C']:.4g}, gamma={best.params['gamma']:.4g}"
    )
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
