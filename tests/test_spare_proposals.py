"""Batched proposals: one request, several trials; spare proposals, staleness, many workers."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
import subprocess
import sys
import textwrap
import threading
from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
import pytest

from optuna_llm import LLMSampler
from optuna_llm._model.parse import Proposal
from optuna_llm._model.spare_proposals import ProposalQueue
from optuna_llm.schedules import Always
from optuna_llm.schedules import FirstTrials
from optuna_llm.testing import ChatCall
from optuna_llm.testing import ScriptedLLMServer


SPACE = {"x": FloatDistribution(0, 1), "n": IntDistribution(1, 1000)}


def objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1) + trial.suggest_int("n", 1, 1000)


class DistinctBatches:
    """Answers each request with as many new configurations as it may hold."""

    def __init__(self) -> None:
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def __call__(self, call: ChatCall) -> str:
        schema = call.schema or {}
        size = schema.get("properties", {}).get("proposals", {}).get("maxItems", 1)
        with self.lock:
            numbers = [next(self.counter) for _ in range(size)]
        proposals = [
            {"rationale": f"proposal {i}", "params": {"x": (i % 97) / 100, "n": i + 1}}
            for i in numbers
        ]
        return json.dumps({"proposals": proposals})


def _sampler(server: ScriptedLLMServer, **kwargs: Any) -> LLMSampler:
    kwargs.setdefault("schedule", Always())
    return LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        search_space=SPACE,
        seed=0,
        **kwargs,
    )


def test_one_request_serves_a_batch_of_trials() -> None:
    with ScriptedLLMServer(DistinctBatches()) as server:
        sampler = _sampler(server, batch_size=4)
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=12)
        assert len(server.requests) == 3
        assert server.requests[0].schema is not None
        assert server.requests[0].schema["properties"]["proposals"]["maxItems"] == 4
        assert "Propose the next 4 configurations." in server.requests[0].prompt
    assert [t.user_attrs["llm:source"] for t in study.trials] == ["llm"] * 12
    assert [t.user_attrs["llm:rationale"] for t in study.trials] == [
        f"proposal {i}" for i in range(12)
    ]
    assert [t.params["n"] for t in study.trials] == list(range(1, 13))
    # The request's usage is recorded on the trial that asked.
    assert ["llm:tokens" in t.user_attrs for t in study.trials] == [True, False, False, False] * 3


def test_repeats_within_a_batch_and_of_earlier_trials_are_dropped() -> None:
    first = {"x": 0.5, "n": 5}
    batches = [
        {"proposals": [{"rationale": "a", "params": first}]},
        {
            "proposals": [
                {"rationale": "repeat of trial 0", "params": first},
                {"rationale": "b", "params": {"x": 0.25, "n": 7}},
                {"rationale": "same as b", "params": {"x": 0.25, "n": 7}},
                {"rationale": "c", "params": {"x": 0.75, "n": 9}},
            ]
        },
    ]
    with ScriptedLLMServer([json.dumps(b) for b in batches]) as server:
        study = optuna.create_study(sampler=_sampler(server, batch_size=4))
        study.optimize(objective, n_trials=3)
        assert len(server.requests) == 2
    assert [t.params for t in study.trials] == [first, {"x": 0.25, "n": 7}, {"x": 0.75, "n": 9}]


def test_stale_spare_proposals_are_dropped() -> None:
    # Trial 0 asks for two; trials 1 to 3 go to the classical sampler; by trial 4 three trials
    # have finished since the batch was made, more than it held, so it asks again.
    schedule = FirstTrials(1) | (lambda study, trial: trial.number == 4)
    with ScriptedLLMServer(DistinctBatches()) as server:
        study = optuna.create_study(sampler=_sampler(server, batch_size=2, schedule=schedule))
        study.optimize(objective, n_trials=5)
        assert len(server.requests) == 2
    assert study.trials[4].user_attrs["llm:rationale"] == "proposal 2"


def test_spare_proposal_that_no_longer_fits_is_dropped() -> None:
    # Trial 0 asks for two; trial 1, from the classical sampler, narrows n to [100, 1000], so
    # the spare proposal (n = 2) no longer fits trial 2, which asks again.
    def narrowed(trial: optuna.Trial) -> float:
        low = 1 if trial.number == 0 else 100
        return trial.suggest_float("x", 0, 1) + trial.suggest_int("n", low, 1000)

    schedule = FirstTrials(1) | (lambda study, trial: trial.number == 2)
    with ScriptedLLMServer(DistinctBatches()) as server:
        study = optuna.create_study(sampler=_sampler(server, batch_size=2, schedule=schedule))
        study.optimize(narrowed, n_trials=3)
        assert len(server.requests) == 2
    assert study.trials[2].user_attrs["llm:rationale"] == "proposal 2"


def test_proposal_queue_drops_stale_and_unusable_items() -> None:
    queue = ProposalQueue(max_staleness=2)
    queue.put([Proposal({"x": 1}), Proposal({"x": 2})], finished_at=0, asked_by=0)
    queue.put([Proposal({"x": 3})], finished_at=2, asked_by=1)
    assert queue.take(3, lambda item: True) is not None  # x=3; x=1 and x=2 are stale
    assert len(queue) == 0
    queue.put([Proposal({"x": 4}), Proposal({"x": 5})], finished_at=3, asked_by=2)
    item = queue.take(3, lambda item: item.params["x"] == 5)
    assert item is not None and item.params == {"x": 5} and item.asked_by == 2


def test_invalid_batch_size() -> None:
    with pytest.raises(ValueError, match="`batch_size`"):
        LLMSampler(model="m", batch_size=0)


WORKER = textwrap.dedent(
    """
    import sys
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna_llm import LLMSampler
    from optuna_llm.schedules import Always

    base_url, storage_url, n_trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if storage_url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend
        storage = JournalStorage(JournalFileBackend(storage_url[len("journal:"):]))
    else:
        storage = storage_url
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = {"x": FloatDistribution(0, 1), "n": IntDistribution(1, 1000)}
    sampler = LLMSampler(
        model="scripted-model", base_url=base_url, search_space=space, seed=0,
        schedule=Always(), batch_size=4, max_retries=0,
    )
    study = optuna.load_study(study_name="shared", storage=storage, sampler=sampler)
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 1, 1000), n_trials=n_trials
    )
    """
)


class SameBatchTwice:
    """Hands every batch out twice, so that two workers get the same configurations."""

    def __init__(self) -> None:
        self.inner = DistinctBatches()
        self.last: str | None = None
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, call: ChatCall) -> str:
        with self.lock:
            if self.count % 2 == 0:
                self.last = self.inner(call)
            self.count += 1
            assert self.last is not None
            return self.last


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_worker_processes_never_run_the_same_configuration(tmp_path: Path, kind: str) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
        storage: Any = url
    else:
        path = tmp_path / "shared.log"
        url = f"journal:{path}"
        storage = JournalStorage(JournalFileBackend(str(path)))
    optuna.create_study(study_name="shared", storage=storage)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    n_per_worker = 12
    with ScriptedLLMServer(SameBatchTwice()) as server:
        workers = [
            subprocess.Popen(
                [sys.executable, str(script), server.base_url, url, str(n_per_worker)]
            )
            for _ in range(2)
        ]
        assert [worker.wait(timeout=300) for worker in workers] == [0, 0]
        n_requests = len(server.requests)
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 2 * n_per_worker
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    from_model = [
        tuple(sorted(t.params.items())) for t in trials if t.user_attrs["llm:source"] == "llm"
    ]
    assert len(from_model) == len(set(from_model)), "a configuration was handed out twice"
    assert len(from_model) >= n_per_worker, "most trials still come from the model"
    assert n_requests <= 2 * n_per_worker / 2
