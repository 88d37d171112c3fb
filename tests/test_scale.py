"""Many workers: processes sharing PostgreSQL or a journal file, and threads in one process.

Every worker runs LLMSampler against one scripted model that hands each configuration to two
requests in a row, as a model asked the same question by two workers would. The checks: every
trial ends, no two trials that ran at the same time used the same model configuration, and a
worker killed in the middle of a trial is recovered by Optuna's heartbeat (PostgreSQL; the
journal storage has no heartbeat) while the others go on.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from pathlib import Path
import random
import signal
import threading
import time

import optuna
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import JournalStorage
from optuna.storages import RDBStorage
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


TOTAL_TRIALS = 200
WORKERS = 4
SPACE = {"x": FloatDistribution(-5, 5), "n": IntDistribution(1, 9)}
StorageSpec = tuple[str, str]


class HerdAnswers:
    """Gives each configuration to two requests in a row, so that workers collide."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self._lock = threading.Lock()

    def __call__(self, call: ChatCall) -> str:
        with self._lock:
            index = next(self._count) // 2
        draw = random.Random(index)
        return answer({"x": round(draw.uniform(-5, 5), 4), "n": draw.randint(1, 9)})


def _storage(spec: StorageSpec) -> optuna.storages.BaseStorage:
    kind, where = spec
    if kind == "journal":
        return JournalStorage(JournalFileBackend(where))
    return RDBStorage(
        where,
        # Generous: on two busy cores a live worker's heartbeat can lag by seconds, and a
        # trial wrongly declared stale would crash its worker's tell().
        heartbeat_interval=1,
        grace_period=6,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
    )


def _objective(trial: optuna.Trial, kill: bool) -> float:
    x = trial.suggest_float("x", -5, 5)
    n = trial.suggest_int("n", 1, 9)
    if kill:
        os.kill(os.getpid(), signal.SIGKILL)  # a worker dying mid-trial, e.g. out of memory
    time.sleep(0.1)  # the study outlasts the grace period, so the killed trial is noticed
    return x**2 + n


def _worker(spec: StorageSpec, base_url: str, worker: int, kill_at: int | None) -> None:
    """One worker process: optimize until the study has TOTAL_TRIALS complete trials."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = LLMSampler(
        model="scripted-model",
        base_url=base_url,
        search_space=SPACE,
        schedule=Always(),
        seed=worker,
    )
    study = optuna.load_study(study_name="scale", storage=_storage(spec), sampler=sampler)
    started = itertools.count()

    def objective(trial: optuna.Trial) -> float:
        return _objective(trial, kill=next(started) == kill_at)

    done = MaxTrialsCallback(TOTAL_TRIALS, states=(TrialState.COMPLETE,))
    study.optimize(objective, n_trials=TOTAL_TRIALS, callbacks=[done])


def _run_workers(spec: StorageSpec, base_url: str, kill_at: int | None = None) -> list[int]:
    optuna.create_study(study_name="scale", storage=_storage(spec))
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(spec, base_url, w, kill_at if w == 0 else None))
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    return [p.exitcode if p.exitcode is not None else -999 for p in processes]


def _overlap(a: FrozenTrial, b: FrozenTrial) -> bool:
    assert a.datetime_start and a.datetime_complete and b.datetime_start and b.datetime_complete
    return a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete


def _assert_no_concurrent_model_duplicates(trials: list[FrozenTrial]) -> None:
    from_model = [t for t in trials if t.user_attrs.get("llm:source") == "llm"]
    assert len(from_model) > TOTAL_TRIALS // 4
    for a, b in itertools.combinations(from_model, 2):
        if a.params == b.params:
            assert not _overlap(a, b), (a.number, b.number, a.params)
    # The herd really collided: some requests were answered with a configuration in use.
    reasons = [t.user_attrs.get("llm:reason", "") for t in trials]
    assert any("same configuration" in r or "repeats trial" in r for r in reasons)


def _finished(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE]


def test_four_processes_on_postgresql_and_a_killed_worker(postgres_url: str) -> None:
    with ScriptedLLMServer(HerdAnswers()) as server:
        exit_codes = _run_workers(("rdb", postgres_url), server.base_url, kill_at=2)
    assert exit_codes == [-signal.SIGKILL, 0, 0, 0]

    trials = optuna.load_study(study_name="scale", storage=postgres_url).trials
    states = [t.state for t in trials]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert TOTAL_TRIALS <= len(_finished(trials)) < TOTAL_TRIALS + WORKERS
    # The killed worker's trial was failed by another worker's heartbeat check and run again.
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert [t.state for t in retries] == [TrialState.COMPLETE]
    assert retries[0].params == failed[0].params
    _assert_no_concurrent_model_duplicates(_finished(trials))


def test_four_processes_on_a_journal_file(tmp_path: Path) -> None:
    spec = ("journal", str(tmp_path / "journal.log"))
    with ScriptedLLMServer(HerdAnswers()) as server:
        assert _run_workers(spec, server.base_url) == [0] * WORKERS

    trials = optuna.load_study(study_name="scale", storage=_storage(spec)).trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert TOTAL_TRIALS <= len(trials) < TOTAL_TRIALS + WORKERS
    _assert_no_concurrent_model_duplicates(trials)


def test_four_threads_in_one_process(tmp_path: Path) -> None:
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    with ScriptedLLMServer(HerdAnswers()) as server:
        sampler = LLMSampler(
            model=server.model, base_url=server.base_url, search_space=SPACE, schedule=Always()
        )
        study = optuna.create_study(study_name="scale", storage=storage, sampler=sampler)
        study.optimize(lambda t: _objective(t, kill=False), n_trials=TOTAL_TRIALS, n_jobs=4)

    trials = study.trials
    assert len(trials) == TOTAL_TRIALS
    assert all(t.state == TrialState.COMPLETE for t in trials)
    _assert_no_concurrent_model_duplicates(trials)
