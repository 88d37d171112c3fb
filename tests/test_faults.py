"""Fault injection: whatever the model's server does, every trial of the study ends.

Each fault of :mod:`optuna_llm.fault_injection` runs a 50-trial study against a scripted
OpenAI-compatible server on 127.0.0.1 through the real ``openai`` client, on a real storage.
No exception may escape ``optimize``, the storage must hold exactly the 50 trials, all
complete, and every trial the fault touched must record that its values came from the
fallback and why.
"""

from __future__ import annotations

from pathlib import Path
import random
import re
import threading
import time

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
import pytest

from optuna_llm import ChatReply
from optuna_llm import ChatRequest
from optuna_llm import LLMSampler
from optuna_llm.fault_injection import FAULTS
from optuna_llm.fault_injection import FIXED
from optuna_llm.fault_injection import N_TRIALS
from optuna_llm.fault_injection import SPACE
from optuna_llm.fault_injection import from_valid
from optuna_llm.fault_injection import objective
from optuna_llm.fault_injection import run_fault
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


@pytest.mark.parametrize("name", list(FAULTS))
def test_every_trial_ends_and_records_the_fallback(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where "text that looks like code" would leave its file
    fault = FAULTS[name]
    run_fault(name, JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))))

    reloaded = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    trials = optuna.load_study(study_name="faults", storage=reloaded).trials
    assert [t.number for t in trials] == list(range(N_TRIALS))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(set(t.params) == set(SPACE) for t in trials)
    sources = [t.user_attrs["llm:source"] for t in trials]
    if fault.reason is None:
        assert sources == ["llm"] * N_TRIALS
        return
    # A copy is used once, by the first trial to get it; every other trial falls back.
    copies = name.startswith("copy of")
    affected = [t for t in trials if not (copies and t.params == FIXED)]
    assert len(affected) >= N_TRIALS - 1
    for trial in affected:
        assert trial.user_attrs["llm:source"] in ("fallback", "partial"), trial.number
        reason = trial.user_attrs["llm:reason"]
        assert re.search(fault.reason, reason, re.DOTALL), reason
    assert not (tmp_path / "pwned").exists()


def test_a_slow_server_gets_a_retry_after_429() -> None:
    attempts: list[float] = []
    lock = threading.Lock()

    def script(call: ChatCall) -> str | Reply:
        with lock:
            attempts.append(time.monotonic())
            first = len(attempts) == 1
        if first:
            return Reply(status=429, headers={"Retry-After": "0.2"}, body=b'{"error": {}}')
        return answer(FIXED)

    with ScriptedLLMServer(script) as server:
        sampler = LLMSampler(
            model=server.model, base_url=server.base_url, search_space=SPACE, max_retries=1
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=1)
    assert study.trials[0].user_attrs["llm:source"] == "llm"
    assert attempts[1] - attempts[0] >= 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_faults_mixed_at_random(seed: int, tmp_path: Path) -> None:
    chooser = random.Random(seed)
    lock = threading.Lock()
    scripts = {
        name: fault.script()
        for name, fault in FAULTS.items()
        if fault.timeout > 1 and name != "connection refused"
    }
    scripts["valid"] = from_valid(answer)()
    names = sorted(scripts)
    chosen: list[str] = []

    def script(call: ChatCall) -> str | Reply:
        with lock:
            name = chooser.choice(names)
            chosen.append(name)
        return scripts[name](call)

    url = f"sqlite:///{tmp_path / 'mixed.db'}"
    with ScriptedLLMServer(script) as server:
        sampler = LLMSampler(
            model=server.model,
            base_url=server.base_url,
            search_space=SPACE,
            schedule=Always(),
            max_retries=0,
            seed=seed,
        )
        study = optuna.create_study(storage=url, sampler=sampler, study_name="mixed")
        study.optimize(objective, n_trials=100, n_jobs=2)

    trials = optuna.load_study(study_name="mixed", storage=url).trials
    assert sorted(t.number for t in trials) == list(range(100))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len(set(chosen)) > 10  # the mix really did mix
    for trial in trials:
        source = trial.user_attrs["llm:source"]
        assert source in ("llm", "partial", "fallback")
        if source != "llm":
            assert trial.user_attrs["llm:reason"]


class _BrokenClient:
    """A client of the user's own that fails in a way nobody foresaw."""

    def complete(self, request: ChatRequest) -> ChatReply:
        raise RuntimeError("socket closed by a proxy, key sk-abcdef1234567890")


def test_any_error_of_a_client_is_a_fallback_with_its_reason() -> None:
    sampler = LLMSampler(client=_BrokenClient(), search_space=SPACE, schedule=Always())
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=3)
    reasons = [t.user_attrs["llm:reason"] for t in study.trials]
    assert all(r.startswith("request failed: RuntimeError: socket closed") for r in reasons)
    assert not any("sk-abcdef1234567890" in r for r in reasons)
