"""The fault matrix and the scale test, measured: what each fault does to a study.

Runs the 50-trial study of every fault in :mod:`optuna_llm.fault_injection` on a journal file
and prints a Markdown table: trials run, trials complete, trials that fell back, seconds, and
one affected trial's ``llm:reason``. Then runs a 45-trial study whose endpoint hangs for the
first 20 trials (default settings, ``timeout=2``) and prints what the outage cost. Then runs
WORKERS worker processes on a journal file
(and on PostgreSQL with ``--postgres URL``) twice, once with LLMSampler on an instant
scripted model and once with TPE alone, and prints trials per second and their ratio.

Run it from the repository root::

    python benchmarks/reliability.py [--postgres postgresql+psycopg2://user@127.0.0.1/db]
    python benchmarks/reliability.py --part dead-endpoint
"""

from __future__ import annotations

import argparse
import multiprocessing
from pathlib import Path
import sys
import tempfile
import time

import optuna
from optuna.storages import BaseStorage
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from optuna_llm import LLMSampler
from optuna_llm.fault_injection import FAULTS
from optuna_llm.fault_injection import SPACE
from optuna_llm.fault_injection import objective
from optuna_llm.fault_injection import run_fault
from optuna_llm.fault_injection import run_outage
from optuna_llm.schedules import Always
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


PARTS = ("faults", "dead-endpoint", "scale")
WORKERS = 4
TRIALS_PER_WORKER = 50


def fault_matrix(scratch: Path) -> None:
    print("| fault | trials | complete | fell back | seconds | reason recorded |")
    print("|---|---:|---:|---:|---:|---|")
    totals = [0, 0]
    for i, name in enumerate(FAULTS):
        journal = str(scratch / f"fault-{i}.log")
        started = time.perf_counter()
        run_fault(name, JournalStorage(JournalFileBackend(journal)))
        seconds = time.perf_counter() - started
        trials = optuna.load_study(
            study_name="faults", storage=JournalStorage(JournalFileBackend(journal))
        ).trials
        complete = sum(t.state == TrialState.COMPLETE for t in trials)
        fell_back = [t for t in trials if t.user_attrs.get("llm:source") != "llm"]
        reason = fell_back[-1].user_attrs.get("llm:reason", "") if fell_back else ""
        reason = " ".join(reason.split())[:90].replace("|", "\\|")
        print(
            f"| {name} | {len(trials)} | {complete} | {len(fell_back)} | {seconds:.1f} | "
            f"{reason or '(model values used)'} |"
        )
        totals[0] += len(trials)
        totals[1] += len(trials) - complete
    print(f"\n{len(FAULTS)} faults, {totals[0]} trials run, {totals[1]} not complete.")


def dead_endpoint() -> None:
    down_for, n_trials, timeout = 20, 45, 2.0
    print(
        f"\nAn endpoint that hangs for the first {down_for} of {n_trials} trials "
        f"(default settings, timeout={timeout:g} s)\n"
    )
    outage = run_outage(n_trials=n_trials, down_for=down_for, timeout=timeout)
    after = ", ".join(map(str, outage.model_trials(start=down_for))) or "none"
    usage = outage.usage
    print(
        f"| timeouts in trials 0-{down_for - 1} | their seconds | model trials "
        f"{down_for}-{n_trials - 1} | failed requests, seconds in `sampler.usage` |"
    )
    print("|---:|---:|---|---:|")
    print(
        f"| {outage.requests_while_down} | {outage.seconds_while_down:.1f} | {after} | "
        f"{usage.failed_requests}, {usage.failed_seconds:.1f} |"
    )


def _worker(storage: str, base_url: str | None, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if base_url is None:
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = LLMSampler(
            model="scripted-model",
            base_url=base_url,
            search_space=SPACE,
            schedule=Always(),
            seed=seed,
        )
    study = optuna.load_study(study_name="scale", storage=_storage(storage), sampler=sampler)
    study.optimize(objective, n_trials=TRIALS_PER_WORKER)


def _storage(storage: str) -> str | BaseStorage:
    if storage.startswith("journal:"):
        return JournalStorage(JournalFileBackend(storage.removeprefix("journal:")))
    return storage


def _workers(storage: str, base_url: str | None, name: str) -> tuple[float, int]:
    optuna.create_study(study_name="scale", storage=_storage(storage))
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(storage, base_url, seed)) for seed in range(WORKERS)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    trials = optuna.load_study(study_name="scale", storage=_storage(storage)).trials
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    print(f"| {name} | {len(trials)} | {complete} | {seconds:.1f} | {complete / seconds:.1f} |")
    optuna.delete_study(study_name="scale", storage=_storage(storage))
    return seconds, complete


def scale(scratch: Path, postgres: str | None) -> None:
    print(f"\n{WORKERS} worker processes x {TRIALS_PER_WORKER} trials, instant scripted model\n")
    print("| storage, sampler | trials | complete | seconds | trials/s |")
    print("|---|---:|---:|---:|---:|")
    storages = {"journal file": f"journal:{scratch / 'scale.log'}"}
    if postgres:
        storages["PostgreSQL"] = postgres
    ratios = []
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        for label, storage in storages.items():
            llm_seconds, _ = _workers(storage, server.base_url, f"{label}, LLMSampler")
            tpe_seconds, _ = _workers(storage, None, f"{label}, TPE alone")
            ratios.append(f"{label} {llm_seconds / tpe_seconds:.2f}x")
    print("\nLLMSampler's wall time relative to TPE alone: " + ", ".join(ratios))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="a PostgreSQL URL for the scale test")
    parser.add_argument(
        "--part", choices=PARTS, action="append", help="run only these parts (default: all)"
    )
    args = parser.parse_args()
    parts = args.part or PARTS
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as scratch:
        if "faults" in parts:
            fault_matrix(Path(scratch))
        if "dead-endpoint" in parts:
            dead_endpoint()
        if "scale" in parts:
            scale(Path(scratch), args.postgres)
    return 0


if __name__ == "__main__":
    sys.exit(main())
