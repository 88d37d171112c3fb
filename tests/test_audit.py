"""The audit log of exchanges and the client that replays it."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import textwrap

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.trial import Trial
import pytest

from optuna_llm import Guide
from optuna_llm import LLMSampler
from optuna_llm.audit import ReplayClient
from optuna_llm.audit import ReplayMismatchError
from optuna_llm.audit import prompt_hash
from optuna_llm.audit import read_audit_log
from optuna_llm.schedules import Always
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SPACE = {"x": FloatDistribution(-5, 5), "kind": CategoricalDistribution(["a", "b"])}


def objective(trial: Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    return x**2 + (1.0 if trial.suggest_categorical("kind", ["a", "b"]) == "b" else 0.0)


def test_one_line_per_exchange_with_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-AUDITSECRET0123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    log = tmp_path / "audit.jsonl"
    script: list[str | Reply] = [
        "not JSON",
        answer({"x": 1.5, "kind": "a"}, rationale="near zero"),
        Reply(status=503, body=b'{"error": {"message": "busy"}}'),
    ]
    with ScriptedLLMServer(script) as server:
        base_url = server.base_url
        sampler = LLMSampler(
            model=server.model,
            base_url=base_url,
            max_retries=0,
            search_space=SPACE,
            schedule=Always(),
            audit_log=log,
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=2)
    records = read_audit_log(log)
    assert [(r["trial"], r["outcome"]) for r in records] == [
        (0, "re-ask"),
        (0, "used"),
        (1, "failed"),
    ]
    first, second, third = records
    assert first["answer"] == "not JSON" and "no JSON object" in first["problem"]
    assert second["params"] == {"kind": "a", "x": 1.5}
    assert second["prompt_sha256"] == prompt_hash(second["prompt"])
    assert second["response_format"] == "json_schema"
    assert second["model"] == server.model
    assert second["endpoint"] == base_url
    assert second["prompt_tokens"] > 0 and second["latency"] >= 0
    assert third["answer"] is None and "HTTP 503" in third["error"]
    assert secret not in log.read_text()


def test_replay_gives_the_same_parameters_trial_by_trial(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"

    def run(client_kwargs: dict[str, object]) -> list[dict[str, object]]:
        sampler = LLMSampler(
            seed=3,
            search_space=SPACE,
            guide=Guide(ask_every=10),
            **client_kwargs,  # type: ignore[arg-type]
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=16)
        return [t.params for t in study.trials]

    with ScriptedLLMServer(RandomAnswers(seed=5)) as server:
        recorded = run({"model": server.model, "client": server.client(), "audit_log": log})
    replayed = run({"client": ReplayClient(log)})
    assert replayed == recorded
    # The guide asked for the start (trial 0) and challenged the classical sampler's
    # candidate once (trial 10), whose answer passed the screen.
    records = read_audit_log(log)
    assert [(r["trial"], r["outcome"]) for r in records] == [(0, "used"), (10, "used")]


def test_strict_replay_fails_on_an_unknown_prompt(tmp_path: Path) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_text("")
    sampler = LLMSampler(client=ReplayClient(log), search_space=SPACE)
    study = optuna.create_study(sampler=sampler)
    with pytest.raises(ReplayMismatchError, match="holds no answer"):
        study.optimize(objective, n_trials=1)


def test_lenient_replay_falls_back_on_an_unknown_prompt(tmp_path: Path) -> None:
    log = tmp_path / "empty.jsonl"
    log.write_text("")
    sampler = LLMSampler(client=ReplayClient(log, strict=False), search_space=SPACE)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=2)
    assert [t.user_attrs["llm:source"] for t in study.trials] == ["fallback"] * 2
    assert "holds no answer" in study.trials[0].user_attrs["llm:reason"]


WRITER = textwrap.dedent(
    """
    import sys
    from optuna_llm.audit import AuditLog
    log = AuditLog(sys.argv[1])
    for i in range(200):
        log.write({"writer": sys.argv[2], "i": i, "padding": "x" * 5000})
    """
)


def test_concurrent_processes_write_whole_lines(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    log = tmp_path / "shared.jsonl"
    writers = [subprocess.Popen([sys.executable, str(script), str(log), name]) for name in "abc"]
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0]
    lines = log.read_text().splitlines()
    assert len(lines) == 600
    records = [json.loads(line) for line in lines]
    for name in "abc":
        assert [r["i"] for r in records if r["writer"] == name] == list(range(200))
