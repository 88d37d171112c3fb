"""Runs benchmark studies, each in its own single-threaded process, and saves their trials.

Studies whose results are already saved are skipped, so an interrupted run resumes where it
stopped. Studies that ask a model run one at a time (the model server takes the cores it is
given), or ``model_workers`` at a time behind an answer cache; the others run ``workers`` at a
time beside them.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass
import math
import multiprocessing
import os
from pathlib import Path
import sys
import tempfile
import time
import traceback
import warnings

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from benchmarks.hpo.arms import ARMS
from benchmarks.hpo.arms import Endpoint
from benchmarks.hpo.arms import StudySetup
from benchmarks.hpo.arms import anonymised
from benchmarks.hpo.records import StudyKey
from benchmarks.hpo.records import TrialRecord
from benchmarks.hpo.records import is_done
from benchmarks.hpo.records import write_study
from benchmarks.hpo.task import Task
from optuna_llm.audit import read_audit_log


SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class StudyOutcome:
    key: StudyKey
    seconds: float
    best: float | None
    error: str | None = None


def run_study(
    key: StudyKey,
    tasks: Callable[[], dict[str, Task]],
    endpoint: Endpoint | None,
    results: Path,
) -> StudyOutcome:
    """Run one study to the end and save its records (the body of a worker process)."""
    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    arm = ARMS[key.arm]
    task = tasks()[key.task]
    if arm.anonymous:
        task = anonymised(task)
    with tempfile.TemporaryDirectory() as scratch:
        audit_log = Path(scratch) / "exchanges.jsonl"
        setup = StudySetup(seed=key.seed, endpoint=endpoint, audit_log=audit_log)
        study = optuna.create_study(direction=task.direction, sampler=arm.build(task, setup))
        if arm.defaults_first:
            study.enqueue_trial(dict(task.defaults))
        study.optimize(task.objective, n_trials=key.n_trials)
        exchanges = read_audit_log(audit_log) if audit_log.exists() else []
    records = trial_records(key, task.direction, study.trials, exchanges)
    write_study(results, key, records)
    return StudyOutcome(key, time.perf_counter() - started, records[-1].best if records else None)


def trial_records(
    key: StudyKey,
    direction: str,
    trials: Sequence[FrozenTrial],
    exchanges: Sequence[dict[str, object]],
) -> list[TrialRecord]:
    """One record per trial, with the best value so far and what the model cost."""
    records = []
    best: float | None = None
    sign = -1.0 if direction == "minimize" else 1.0
    for trial in sorted(trials, key=lambda t: t.number):
        value = trial.value if trial.state == TrialState.COMPLETE else None
        if (
            value is not None
            and math.isfinite(value)
            and (best is None or sign * value > sign * best)
        ):
            best = value
        own = [e for e in exchanges if e.get("trial") == trial.number]
        source = trial.user_attrs.get("llm:source")
        records.append(
            TrialRecord(
                task=key.task,
                arm=key.arm,
                seed=key.seed,
                n_trials=key.n_trials,
                number=trial.number,
                state=trial.state.name,
                value=value,
                best=best,
                params=dict(trial.params),
                source=source,
                requests=len(own),
                tokens=int(trial.user_attrs.get("llm:tokens", 0)),
                latency=float(trial.user_attrs.get("llm:latency", 0.0)),
                invalid=sum(1 for e in own if e.get("answer") is not None and e.get("problem")),
                fallback=bool(own) and source != "llm",
                seconds=_duration(trial),
            )
        )
    return records


def _duration(trial: FrozenTrial) -> float:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return 0.0
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


@dataclass(frozen=True)
class Plan:
    """The studies to run, model studies apart from the others."""

    model_studies: list[StudyKey]
    other_studies: list[StudyKey]

    @property
    def total(self) -> int:
        return len(self.model_studies) + len(self.other_studies)


# Model studies are slow (about 10 s a request on two cores); a partial run should first cover
# every task with the default, then with its ablations, then the per-trial model arms.
MODEL_ARM_ORDER = (
    "llm_default",
    "llm_default_enqueued",
    "llm_start_only",
    "llm_default_tpe",
    "llm_hybrid",
    "llm_pure",
    "llm_anonymous",
)


def plan(keys: Sequence[StudyKey], results: Path) -> Plan:
    """The studies not yet saved: shorter budgets first, each seed-major, so that a partial
    run covers every arm evenly and gives the short budgets all their seeds."""

    def order(key: StudyKey) -> tuple[int, int, int, str, str]:
        rank = MODEL_ARM_ORDER.index(key.arm) if key.arm in MODEL_ARM_ORDER else 0
        return (key.n_trials, key.seed, rank, key.task, key.arm)

    pending = sorted((k for k in keys if not is_done(results, k)), key=order)
    return Plan(
        model_studies=[k for k in pending if ARMS[k.arm].needs_model],
        other_studies=[k for k in pending if not ARMS[k.arm].needs_model],
    )


def run_plan(
    work: Plan,
    tasks: Callable[[], dict[str, Task]],
    results: Path,
    *,
    workers: int,
    endpoint: Endpoint | None,
    report: Callable[[str], None] = print,
    model_workers: int = 1,
) -> list[StudyOutcome]:
    """Run every planned study; a failing study is reported and the others go on."""
    os.environ.update(SINGLE_THREAD_ENV)
    context = multiprocessing.get_context("spawn")
    progress = _Progress(work.total, report)
    pools = [
        ProcessPoolExecutor(workers, mp_context=context, max_tasks_per_child=1),
        ProcessPoolExecutor(model_workers, mp_context=context, max_tasks_per_child=1),
    ]
    futures: dict[Future[StudyOutcome], StudyKey] = {}
    try:
        for pool, keys in zip(pools, (work.other_studies, work.model_studies), strict=True):
            for key in keys:
                futures[pool.submit(run_study, key, tasks, endpoint, results)] = key
        outcomes = []
        remaining = set(futures)
        while remaining:
            done, remaining = wait(remaining, return_when="FIRST_COMPLETED")
            for future in done:
                outcome = _outcome(future, futures[future])
                outcomes.append(outcome)
                progress.finished(outcome)
        return outcomes
    except KeyboardInterrupt:
        report(
            "interrupted: waiting for the running studies (Ctrl-C again stops them unsaved); "
            "run again to resume"
        )
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _outcome(future: Future[StudyOutcome], key: StudyKey) -> StudyOutcome:
    try:
        return future.result()
    except Exception as error:
        detail = "".join(traceback.format_exception_only(error)).strip()
        return StudyOutcome(key, 0.0, None, error=detail)


class _Progress:
    """One line per finished study: count, what, result, elapsed time and estimated rest."""

    def __init__(self, total: int, report: Callable[[str], None]) -> None:
        self._total = total
        self._done = 0
        self._started = time.monotonic()
        self._report = report

    def finished(self, outcome: StudyOutcome) -> None:
        self._done += 1
        elapsed = time.monotonic() - self._started
        rest = elapsed / self._done * (self._total - self._done)
        key = outcome.key
        what = f"{key.task} {key.arm} seed {key.seed} n={key.n_trials}"
        if outcome.error:
            result = f"FAILED: {outcome.error}"
        else:
            best = "no completed trial" if outcome.best is None else f"best {outcome.best:.6g}"
            result = f"{best} in {outcome.seconds:.0f} s"
        width = len(str(self._total))
        self._report(
            f"[{self._done:{width}d}/{self._total}] {what}: {result} "
            f"(elapsed {_clock(elapsed)}, about {_clock(rest)} left)"
        )
        sys.stdout.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
