"""A catalogue of ways a model's server can misbehave, to test a setup against.

Each [`Fault`][optuna_llm.fault_injection.Fault] scripts a
[`ScriptedLLMServer`][optuna_llm.testing.ScriptedLLMServer] to misbehave in one way (refuse
connections, hang, send 429, truncated or invalid JSON, a copy of an earlier trial, megabytes
of text, invalid UTF-8, ...) and says what an affected trial records in ``llm:reason``.
[`run_fault`][optuna_llm.fault_injection.run_fault] runs a study of
[`N_TRIALS`][optuna_llm.fault_injection.N_TRIALS] trials against one fault; the project's
fault-injection tests and ``benchmarks/reliability.py`` use them, and so can anyone checking
their own storage or settings:

```python
from optuna_llm.fault_injection import FAULTS, run_fault

study = run_fault("hangs past the timeout", "sqlite:///faults.db")
```

[`run_outage`][optuna_llm.fault_injection.run_outage] measures what a dead endpoint costs a
study run with default settings: the server hangs for the first trials, then answers again.
See [the fault matrix][the-fault-matrix] for what each fault did to a study.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import json
import socket
import threading
import time
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from optuna_llm._sampler import LLMSampler
from optuna_llm.budget import Usage
from optuna_llm.schedules import Always
from optuna_llm.schedules import default_schedule
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


N_TRIALS = 50
"""Trials in the study of each fault."""

SPACE = {
    "x": FloatDistribution(-5, 5),
    "y": FloatDistribution(0, 1),
    "n": IntDistribution(1, 9),
    "c": CategoricalDistribution(["a", "b"]),
}
"""The search space of [`objective`][optuna_llm.fault_injection.objective], given to the
sampler up front so that the model proposes from the first trial."""

FIXED = {"x": 1.5, "y": 0.25, "n": 3, "c": "a"}
"""The configuration the faults that copy a trial answer with, again and again."""


def objective(trial: optuna.Trial) -> float:
    """The fault studies' objective: a cheap function of the four parameters of
    [`SPACE`][optuna_llm.fault_injection.SPACE], returned at once."""
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

    Attributes:
        script: Makes a fresh script for
            [`ScriptedLLMServer`][optuna_llm.testing.ScriptedLLMServer].
        reason: A pattern every affected trial's ``llm:reason`` matches; ``None`` means the
            sampler repairs or ignores the fault and the model's values are used.
        timeout: The sampler's ``timeout`` for the fault.
        retries: The sampler's ``max_retries`` for the fault.
        n_jobs: The study's ``n_jobs`` for the fault.
    """

    script: Callable[[], Script]
    reason: str | None
    timeout: float = 5.0
    retries: int = 0
    n_jobs: int = 1


def _always(reply: Reply) -> Callable[[], Script]:
    return lambda: lambda call: reply


def from_valid(change: Callable[[dict[str, Any]], str | Reply]) -> Callable[[], Script]:
    """A fault's script maker: each request gets ``change`` applied to a valid random
    configuration for it, drawn from a fixed seed."""

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
    "answers slowly": Fault(from_valid(lambda p: Reply(answer(p), delay=0.05)), None),
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
    "out of range": Fault(from_valid(lambda p: answer({**p, "x": p["x"] * 1000})), None),
    "NaN and Infinity": Fault(
        from_valid(lambda p: json.dumps({"params": {**p, "x": "NaN", "y": "Infinity"}})),
        "invalid answer",
    ),
    "unknown keys": Fault(from_valid(lambda p: answer({**p, "dropout": 0.5, "z": "w"})), None),
    "missing keys": Fault(
        from_valid(lambda p: answer({"x": p["x"]})), r"(invalid answer|no value for).*[\"']y[\"']"
    ),
    "copy of a finished trial": Fault(_always(Reply(answer(FIXED))), "repeats trial"),
    "copy of a running trial": Fault(_slow_objective_copy, "repeats trial", n_jobs=2),
    "no choices": Fault(_always(Reply(choices=False)), "no choices"),
    "refusal": Fault(_always(Reply(content=None, refusal="I cannot help.")), "refused"),
    "think block": Fault(
        from_valid(lambda p: "<think>\nMaybe x = 99?\n</think>\n" + answer(p)), None
    ),
    "unterminated think block": Fault(
        _always(Reply("<think> the best x is probably " + "very " * 50)), "invalid answer"
    ),
    "several megabytes": Fault(from_valid(lambda p: answer(p) + " " * 3_000_000), "1,000,000"),
    "invalid UTF-8": Fault(
        _always(Reply(body=_completion_body(b'{\\"params\\": {\\"x\\": 1.0}} \xff\xfe'))),
        "unreadable response",
    ),
    "text that looks like code": Fault(
        _always(Reply("```python\nimport os\nos.system('touch pwned')\n```")), "invalid answer"
    ),
    "empty answer": Fault(_always(Reply("")), "invalid answer"),
}
"""Every fault by name: ``"connection refused"``, ``"hangs past the timeout"``,
``"429 with Retry-After"``, ``"invalid UTF-8"``, ``"several megabytes"``, ... 24 in all."""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def run_fault(name: str, storage: str | BaseStorage) -> optuna.Study:
    """Run the study of one fault on ``storage``, as study ``"faults"``, and return it.

    The study runs [`N_TRIALS`][optuna_llm.fault_injection.N_TRIALS] trials of
    [`objective`][optuna_llm.fault_injection.objective] with the schedule ``Always()``, a
    known search space and the fault's settings, against an endpoint that misbehaves as the
    fault says.

    Args:
        name: A key of [`FAULTS`][optuna_llm.fault_injection.FAULTS].
        storage: Where the study goes: a storage URL or object. It must not hold a study
            named ``"faults"`` yet.
    """
    fault = FAULTS[name]
    if name == "connection refused":
        return _run(fault, f"http://127.0.0.1:{_closed_port()}/v1", storage)
    with ScriptedLLMServer(fault.script()) as server:
        return _run(fault, server.base_url, storage)


def _run(fault: Fault, base_url: str, storage: str | BaseStorage) -> optuna.Study:
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


@dataclass(frozen=True)
class Outage:
    """What a study lost to an endpoint that hung for its first trials.

    Attributes:
        requests_while_down: The requests the endpoint received while it hung, each of which
            cost the sampler a timeout.
        seconds_while_down: The wall time of the trials while it hung.
        trials: Every trial of the study.
        usage: The sampler's usage at the end of the study.
    """

    requests_while_down: int
    seconds_while_down: float
    trials: list[FrozenTrial]
    usage: Usage

    def model_trials(self, start: int = 0) -> list[int]:
        """Numbers of the trials from ``start`` on whose values all came from the model."""
        return [
            t.number
            for t in self.trials
            if t.number >= start and t.user_attrs.get("llm:source") == "llm"
        ]


class DownUntil:
    """A script for [`ScriptedLLMServer`][optuna_llm.testing.ScriptedLLMServer]: ``down`` for
    every request until trial ``last_down`` has ended, valid random configurations after that.

    Pass [`callback`][optuna_llm.fault_injection.DownUntil.callback] to
    ``study.optimize(callbacks=[...])``; ``requests_while_down`` counts the requests answered
    with ``down``, ``seconds_while_down`` the time until the endpoint came back.
    """

    def __init__(self, down: Reply, last_down: int) -> None:
        self.down = down
        self.last_down = last_down
        self.requests_while_down = 0
        self.seconds_while_down = 0.0
        self._up = threading.Event()
        self._draws = RandomAnswers(seed=0)
        self._lock = threading.Lock()
        self._started = time.perf_counter()

    def __call__(self, call: ChatCall) -> str | Reply:
        """``down`` while the endpoint is down, else a valid random answer."""
        if self._up.is_set():
            return self._draws(call)
        with self._lock:
            self.requests_while_down += 1
        return self.down

    def callback(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Bring the endpoint back once trial ``last_down`` has ended."""
        if trial.number >= self.last_down and not self._up.is_set():
            self.seconds_while_down = time.perf_counter() - self._started
            self._up.set()


def run_outage(
    storage: str | BaseStorage | None = None,
    *,
    n_trials: int = 45,
    down_for: int = 20,
    timeout: float = 2.0,
) -> Outage:
    """Run a study whose endpoint hangs for the first ``down_for`` trials, then recovers.

    The sampler has default settings but for ``timeout``, a known search space (so that the
    model proposes from the first trial) and ``default_schedule()``, which asks the model on
    the first 10 trials and every 5th after: far more often than the guided default, so that
    the outage is felt. The endpoint holds each request past the timeout until trial
    ``down_for - 1`` has ended, and answers valid configurations after that.

    Args:
        storage: Where the study goes; ``None`` keeps it in memory.
        n_trials: Trials of the study.
        down_for: Trials during which the endpoint hangs.
        timeout: The sampler's ``timeout``, in seconds; each request is held a second longer.
    """
    endpoint = DownUntil(Reply(delay=timeout + 1.0), last_down=down_for - 1)
    with ScriptedLLMServer(endpoint) as server:
        sampler = LLMSampler(
            model="scripted-model",
            base_url=server.base_url,
            search_space=SPACE,
            timeout=timeout,
            seed=0,
            schedule=default_schedule(),
        )
        study = optuna.create_study(storage=storage, sampler=sampler)
        study.optimize(objective, n_trials=n_trials, callbacks=[endpoint.callback])
    return Outage(
        endpoint.requests_while_down, endpoint.seconds_while_down, study.trials, sampler.usage
    )
