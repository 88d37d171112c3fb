"""Fault injection: whatever the model's server does, every trial of the study ends.

Each fault runs a 50-trial study against a scripted OpenAI-compatible server on 127.0.0.1
through the real ``openai`` client, on a real storage. No exception may escape ``optimize``,
the storage must hold exactly the 50 trials, all complete, and every trial the fault touched
must record that its values came from the fallback and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import json
from pathlib import Path
import random
import re
import socket
import threading
import time
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
import pytest

from optuna_llm import ChatReply
from optuna_llm import ChatRequest
from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


N_TRIALS = 50
SPACE = {
    "x": FloatDistribution(-5, 5),
    "y": FloatDistribution(0, 1),
    "n": IntDistribution(1, 9),
    "c": CategoricalDistribution(["a", "b"]),
}
FIXED = {"x": 1.5, "y": 0.25, "n": 3, "c": "a"}


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", 0, 1)
    n = trial.suggest_int("n", 1, 9)
    c = trial.suggest_categorical("c", ["a", "b"])
    return x**2 + y + n + (c == "b")


def _valid(call: ChatCall, draws: RandomAnswers) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(str(draws(call)))["params"]
    return params


def _completion_body(content: bytes) -> bytes:
    """A chat completion whose message content is given as raw bytes."""
    return (
        b'{"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": '
        b'[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "'
        + content
        + b'"}}]}'
    )


Script = Callable[[ChatCall], "str | Reply"]


@dataclass(frozen=True)
class Fault:
    """What the server does, and what each trial must record because of it.

    ``reason`` is a pattern every affected trial's ``llm:reason`` must match; None means the
    sampler repairs or ignores the fault and the model's values are used.
    """

    script: Callable[[], Script]
    reason: str | None
    timeout: float = 5.0
    retries: int = 0
    n_jobs: int = 1


def _always(reply: Reply) -> Callable[[], Script]:
    return lambda: lambda call: reply


def _from_valid(change: Callable[[dict[str, Any]], str | Reply]) -> Callable[[], Script]:
    def script() -> Script:
        draws = RandomAnswers(seed=0)
        return lambda call: change(_valid(call, draws))

    return script


def _slow_objective_copy() -> Script:
    return lambda call: answer(FIXED)


FAULTS: dict[str, Fault] = {
    "connection refused": Fault(_always(Reply()), r"cannot reach http://127\.0\.0\.1:\d+/v1"),
    "hangs past the timeout": Fault(
        _always(Reply(delay=1.0)), r"no answer within 0\.2 s", timeout=0.2
    ),
    "answers slowly": Fault(_from_valid(lambda p: Reply(answer(p), delay=0.05)), None),
    "429 with Retry-After": Fault(
        _always(Reply(status=429, headers={"Retry-After": "0.01"}, body=b'{"error": {}}')),
        r"HTTP 429",
        retries=1,
    ),
    "500": Fault(_always(Reply(status=500, body=b'{"error": {"message": "boom"}}')), "HTTP 500"),
    "503": Fault(_always(Reply(status=503, body=b"Service Unavailable")), "HTTP 503"),
    "truncated answer": Fault(_always(Reply('{"params": {"x": 1.2, "y"')), "invalid answer"),
    "truncated response body": Fault(
        _always(Reply(body=b'{"id": "c", "choices": [{"index": 0, "mess')), "unreadable response"
    ),
    "not JSON at all": Fault(_always(Reply(body=b"<html>Bad gateway</html>")), "unreadable"),
    "wrong types": Fault(
        _always(Reply(answer({"x": "far", "y": [0.5], "n": {"v": 2}, "c": 7}))), "invalid answer"
    ),
    "out of range": Fault(_from_valid(lambda p: answer({**p, "x": p["x"] * 1000})), None),
    "NaN and Infinity": Fault(
        _from_valid(lambda p: json.dumps({"params": {**p, "x": "NaN", "y": "Infinity"}})),
        "invalid answer",
    ),
    "unknown keys": Fault(_from_valid(lambda p: answer({**p, "dropout": 0.5, "z": "w"})), None),
    "missing keys": Fault(
        _from_valid(lambda p: answer({"x": p["x"]})), r"(invalid answer|no value for).*[\"']y[\"']"
    ),
    "copy of a finished trial": Fault(_always(Reply(answer(FIXED))), "repeats trial"),
    "copy of a running trial": Fault(_slow_objective_copy, "repeats trial", n_jobs=2),
    "no choices": Fault(_always(Reply(choices=False)), "no choices"),
    "refusal": Fault(_always(Reply(content=None, refusal="I cannot help.")), "refused"),
    "think block": Fault(
        _from_valid(lambda p: "<think>\nMaybe x = 99?\n</think>\n" + answer(p)), None
    ),
    "unterminated think block": Fault(
        _always(Reply("<think> the best x is probably " + "very " * 50)), "invalid answer"
    ),
    "several megabytes": Fault(_from_valid(lambda p: answer(p) + " " * 3_000_000), "1,000,000"),
    "invalid UTF-8": Fault(
        _always(Reply(body=_completion_body(b'{\\"params\\": {\\"x\\": 1.0}} \xff\xfe'))),
        "unreadable response",
    ),
    "text that looks like code": Fault(
        _always(Reply("```python\nimport os\nos.system('touch pwned')\n```")), "invalid answer"
    ),
    "empty answer": Fault(_always(Reply("")), "invalid answer"),
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run(fault: Fault, base_url: str, storage: Any) -> optuna.Study:
    sampler = LLMSampler(
        model="scripted-model",
        base_url=base_url,
        search_space=SPACE,
        schedule=Always(),
        timeout=fault.timeout,
        max_retries=fault.retries,
        seed=0,
    )
    study = optuna.create_study(storage=storage, sampler=sampler, study_name="faults")
    if fault.n_jobs > 1:
        # Long enough that the second worker asks while the first trial is still running.
        def slow(trial: optuna.Trial) -> float:
            value = objective(trial)
            time.sleep(0.05)
            return value

        study.optimize(slow, n_trials=N_TRIALS, n_jobs=fault.n_jobs)
    else:
        study.optimize(objective, n_trials=N_TRIALS)
    return study


@pytest.mark.parametrize("name", list(FAULTS))
def test_every_trial_ends_and_records_the_fallback(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where "text that looks like code" would leave its file
    fault = FAULTS[name]
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    if name == "connection refused":
        _run(fault, f"http://127.0.0.1:{_closed_port()}/v1", storage)
    else:
        with ScriptedLLMServer(fault.script()) as server:
            _run(fault, server.base_url, storage)

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
    scripts["valid"] = _from_valid(answer)()
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
