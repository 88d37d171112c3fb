"""One study, one plan: worker processes and resumed runs share the guided default's decisions.

Every worker is a process of its own with its own ``LLMSampler``, on PostgreSQL directly or
through Optuna's gRPC storage proxy in front of it, against one scripted model in the test
process. The plan (one start request, prior draws only in the start-up once the start leads,
challenges at the study's turns) and ``Budget(max_requests=...)`` must hold for the study, not
per process.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import datetime
import itertools
import multiprocessing
from multiprocessing.synchronize import Barrier
import os
from pathlib import Path
import random
import re
import signal
import socket
import threading
import time
from typing import Any
import uuid

import optuna
from optuna.distributions import FloatDistribution
from optuna.samplers import TPESampler
from optuna.storages import GrpcStorageProxy
from optuna.storages import RDBStorage
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_llm import Budget
from optuna_llm import Guide
from optuna_llm import LLMSampler
from optuna_llm import study_usage
from optuna_llm._model.prompt import START_REQUEST
from optuna_llm._strategies.challenges import Challenge
from optuna_llm._strategies.challenges import challenge_due
from optuna_llm._strategies.guided import DID_WELL_KEY
from optuna_llm._strategies.guided import START_KEY
from optuna_llm._strategies.guided import TURN_KEY
from optuna_llm._study.ledger import CLAIMS_KEY
from optuna_llm._study.ledger import study_totals
from optuna_llm._study.trial_attrs import read_record
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SPACE = {"x": FloatDistribution(-5, 5), "y": FloatDistribution(-5, 5)}
START = {"x": 1.0, "y": -1.0}
# Every start-up slot may draw once the start leads, and challenges every 10 trials after.
PLAN = Guide(prior_share=1.0, ask_every=10)
N_TRIALS = 40
# (kind, where): "rdb" with a URL, "grpc" with the proxy's port, "sqlite" with a URL.
StorageSpec = tuple[str, str]


class PlanModel:
    """Answers the start request with ``START`` and every other request with a random point;
    ``delay`` seconds per answer keep requests of several workers in flight together."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._count = itertools.count()
        self._lock = threading.Lock()

    def __call__(self, call: ChatCall) -> str:
        time.sleep(self.delay)
        if START_REQUEST in call.prompt:
            return answer(START)
        with self._lock:
            draw = random.Random(next(self._count))
        return answer({"x": round(draw.uniform(-5, 5), 3), "y": round(draw.uniform(-5, 5), 3)})


def _storage(spec: StorageSpec, heartbeat: bool = False) -> optuna.storages.BaseStorage:
    kind, where = spec
    if kind == "grpc":
        return GrpcStorageProxy(host="127.0.0.1", port=int(where))
    if heartbeat:
        # Generous: on two busy cores a live worker's heartbeat can lag by seconds, and a trial
        # wrongly declared stale would crash its worker's tell().
        return RDBStorage(where, heartbeat_interval=1, grace_period=6)
    return optuna.storages.get_storage(where)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    time.sleep(float(os.environ.get("WORKER_TRIAL_SECONDS", "0.05")))
    return (x - 2) ** 2 + (y + 2) ** 2


def _worker(
    spec: StorageSpec,
    study_name: str,
    base_url: str,
    seed: int,
    options: dict[str, Any],
) -> None:
    """One worker process: a sampler of its own, optimizing until the study has its trials."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    os.environ["WORKER_TRIAL_SECONDS"] = str(options.get("trial_seconds", 0.05))
    sampler = LLMSampler(
        model="scripted-model",
        base_url=base_url,
        max_retries=0,
        search_space=SPACE,
        seed=seed,
        fallback_sampler=TPESampler(seed=seed),
        budget=options.get("budget"),
        schedule=options.get("schedule"),
        guide=None if options.get("schedule") else PLAN,
    )
    storage = _storage(spec, heartbeat=options.get("heartbeat", False))
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    barrier: Barrier | None = options.get("barrier")
    if barrier is not None:
        barrier.wait()
    total = options.get("n_trials", N_TRIALS)
    done = MaxTrialsCallback(total, states=None)
    study.optimize(_objective, n_trials=total, callbacks=[done])


def _run_workers(
    spec: StorageSpec, base_url: str, n_workers: int, **options: Any
) -> tuple[str, list[int]]:
    """Create a study, run ``n_workers`` worker processes on it; its name and exit codes."""
    name = f"workers-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=_storage(spec))
    context = multiprocessing.get_context("spawn")
    if options.pop("synchronized", False):
        options["barrier"] = context.Barrier(n_workers)
    processes = [
        context.Process(target=_worker, args=(spec, name, base_url, w, options))
        for w in range(n_workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    return name, [p.exitcode if p.exitcode is not None else -999 for p in processes]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _serve_grpc(url: str, port: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.get_storage(url)
    optuna.storages.run_grpc_proxy_server(storage, host="127.0.0.1", port=port)


@contextlib.contextmanager
def _grpc_proxy(url: str) -> Iterator[str]:
    """Optuna's gRPC storage proxy in front of ``url``, in a process of its own; its port."""
    port = _free_port()
    process = multiprocessing.get_context("spawn").Process(target=_serve_grpc, args=(url, port))
    process.start()
    try:
        GrpcStorageProxy(host="127.0.0.1", port=port).wait_server_ready(timeout=60)
        yield str(port)
    finally:
        process.terminate()
        process.join(timeout=30)


@pytest.fixture(scope="module", params=["rdb", "grpc"])
def shared_storage(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[StorageSpec]:
    """PostgreSQL, directly and through the gRPC proxy."""
    if request.param == "rdb":
        yield ("rdb", postgres_url)
        return
    with _grpc_proxy(postgres_url) as port:
        yield ("grpc", port)


def _requests(server: ScriptedLLMServer) -> tuple[int, int]:
    """The start requests and the other requests the server received."""
    starts = sum(START_REQUEST in call.prompt for call in server.requests)
    return starts, len(server.requests) - starts


def _turns(trials: list[FrozenTrial]) -> list[str]:
    """Each trial's role in the plan, as the study records it."""
    roles = []
    for trial in trials:
        turn = read_record(trial, TURN_KEY)
        if trial.user_attrs.get("llm:source") == "prior":
            roles.append("prior")
        elif turn in ("start", "challenge"):
            roles.append(turn)
        else:
            roles.append("classical")
    return roles


def _assert_one_plan(trials: list[FrozenTrial], starts: int, others: int, budget: int) -> None:
    assert starts == 1, "one start request for the whole study"
    (start,) = [t for t in trials if read_record(t, START_KEY) is not None]
    record = read_record(start, START_KEY)
    assert record["params"] == START
    prior = [t.number for t in trials if t.user_attrs.get("llm:source") == "prior"]
    answered_at = datetime.datetime.fromisoformat(record["answered_at"])
    after = [t.number for t in trials if t.number > start.number and t.datetime_start]
    after = [n for n in after if trials[n].datetime_start > answered_at]  # type: ignore[operator]
    assert set(prior) <= set(after[:9]), "prior draws only in the start-up after the answer"
    for number in prior:
        # Drawn around the start or another draw: what led when the trial began.
        centre = re.search(r"around trial (\d+)", trials[number].user_attrs["llm:rationale"])
        assert centre is not None and int(centre[1]) in {start.number, *prior}
    first = after[9]
    # Challenges at the study's turns: each was due given the outcomes of those before it.
    challenges = [t for t in trials if read_record(t, TURN_KEY) == "challenge"]
    assert challenges, "40 trials reach the first challenge"
    earlier: list[Challenge] = []
    for trial in challenges:
        assert challenge_due(trial.number, first, 10, earlier), trial.number
        earlier.append(Challenge(trial.number, read_record(trial, DID_WELL_KEY)))
    # The budget holds for the study: the start and one challenge, then no more requests.
    assert starts + others <= budget
    assert (
        starts + others
        == study_totals(trials)[0]
        == sum(read_record(t, CLAIMS_KEY) or 0 for t in trials)
    ), "each request claimed in the storage"


@pytest.mark.parametrize("n_workers", [4, 8])
def test_workers_follow_one_plan_and_one_budget(
    shared_storage: StorageSpec, n_workers: int
) -> None:
    with ScriptedLLMServer(PlanModel()) as server:
        name, exit_codes = _run_workers(
            shared_storage,
            server.base_url,
            n_workers,
            budget=Budget(max_requests=2),
            synchronized=True,  # every worker's first trial contends for the start
        )
    assert exit_codes == [0] * n_workers
    study = optuna.load_study(study_name=name, storage=_storage(shared_storage))
    trials = study.trials
    assert N_TRIALS <= len(trials) < N_TRIALS + n_workers
    assert all(t.state == TrialState.COMPLETE for t in trials)
    _assert_one_plan(trials, *_requests(server), budget=2)
    assert study_usage(study).requests == len(server.requests)


def test_racing_workers_overshoot_the_budget_by_at_most_one_request_each(
    postgres_url: str,
) -> None:
    # Every trial asks the model, answers are slow, and the workers start together: their
    # claims on the study's budget meet in the storage.
    n_workers, limit = 4, 3
    with ScriptedLLMServer(PlanModel(delay=0.3)) as server:
        name, exit_codes = _run_workers(
            ("rdb", postgres_url),
            server.base_url,
            n_workers,
            budget=Budget(max_requests=limit),
            schedule=Always(),
            n_trials=12,
            synchronized=True,
        )
    assert exit_codes == [0] * n_workers
    sent = len(server.requests)
    assert limit <= sent <= limit + n_workers - 1
    trials = optuna.load_study(study_name=name, storage=postgres_url).trials
    assert sum(read_record(t, CLAIMS_KEY) or 0 for t in trials) == sent == study_totals(trials)[0]
    reasons = [t.user_attrs.get("llm:reason", "") for t in trials]
    assert sum("budget: 3 requests spent" in reason for reason in reasons) == len(trials) - sent


def test_a_worker_killed_while_asking_for_the_start_lets_another_ask(postgres_url: str) -> None:
    victim: dict[str, int | None] = {"pid": None}
    model = PlanModel()

    def kill_the_first_asker(call: ChatCall) -> str:
        pid, victim["pid"] = victim["pid"], None
        if pid is not None and START_REQUEST in call.prompt:
            os.kill(pid, signal.SIGKILL)  # the worker dies with its request in flight
        return model(call)

    spec = ("rdb", postgres_url)
    # Three workers at a second a trial run about 20 trials before the heartbeat fails the dead
    # worker's: well inside the start-up (4 x warmup_trials), when another worker may ask.
    options = {"heartbeat": True, "trial_seconds": 1.0}
    name = f"killed-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=postgres_url)
    context = multiprocessing.get_context("spawn")
    with ScriptedLLMServer(kill_the_first_asker) as server:
        first = context.Process(target=_worker, args=(spec, name, server.base_url, 0, options))
        first.start()
        victim["pid"] = first.pid
        first.join(timeout=120)
        assert first.exitcode == -signal.SIGKILL
        others = [
            context.Process(target=_worker, args=(spec, name, server.base_url, w, options))
            for w in (1, 2, 3)
        ]
        for process in others:
            process.start()
        for process in others:
            process.join(timeout=300)
    assert [p.exitcode for p in others] == [0, 0, 0]

    trials = optuna.load_study(study_name=name, storage=postgres_url).trials
    assert trials[0].state == TrialState.FAIL, "the heartbeat failed the dead worker's trial"
    assert read_record(trials[0], TURN_KEY) == "start"
    assert read_record(trials[0], START_KEY) is None
    starts, _ = _requests(server)
    assert starts == 2, "the dead worker's request, then one by another worker"
    (start,) = [t for t in trials if read_record(t, START_KEY) is not None]
    assert start.number > 0 and start.state == TrialState.COMPLETE
    # Some 20 trials ran before the start: it is drawn around only if it leads them.
    prior = [n for n, turn in enumerate(_turns(trials)) if turn == "prior"]
    assert all(n > start.number for n in prior) and len(prior) <= PLAN.n_prior_draws


def _resume_worker(url: str, name: str, base_url: str, n_trials: int) -> None:
    _worker(("sqlite", url), name, base_url, 0, {"n_trials": n_trials})


def _run_in_processes(url: str, name: str, base_url: str, parts: list[int]) -> None:
    optuna.create_study(study_name=name, storage=url)
    context = multiprocessing.get_context("spawn")
    total = 0
    for part in parts:
        total += part
        process = context.Process(target=_resume_worker, args=(url, name, base_url, total))
        process.start()
        process.join(timeout=300)
        assert process.exitcode == 0


def test_a_resumed_study_continues_its_plan(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    runs = {}
    for label, parts in (("whole", [30]), ("resumed", [15, 15])):
        with ScriptedLLMServer(PlanModel()) as server:
            _run_in_processes(url, label, server.base_url, parts)
        trials = optuna.load_study(study_name=label, storage=url).trials
        assert len(trials) == 30
        runs[label] = (_turns(trials), _requests(server))
    assert runs["resumed"] == runs["whole"]
    turns, (starts, others) = runs["whole"]
    assert (turns.count("start"), starts) == (1, 1)
    assert 1 <= turns.count("prior") <= PLAN.n_prior_draws
    assert turns.count("challenge") == others >= 1
