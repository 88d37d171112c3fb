"""The endpoint breaker: a dead endpoint costs a few timeouts, not one per trial and retry."""

from __future__ import annotations

import logging
import pickle
import re
import socket
import time
from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
import pytest

from optuna_llm import LLMSampler
from optuna_llm._model.breaker import FAILURES_TO_OPEN
from optuna_llm._model.breaker import FIRST_COOLDOWN
from optuna_llm._model.breaker import MAX_COOLDOWN
from optuna_llm._model.breaker import EndpointBreaker
from optuna_llm.fault_injection import DownUntil
from optuna_llm.fault_injection import run_outage
from optuna_llm.schedules import Always
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer


SPACE = {"x": FloatDistribution(0, 1)}
UNAVAILABLE = re.compile(r"the endpoint is unavailable since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0, 1)


def _open(breaker: EndpointBreaker, at: int = 0) -> None:
    for number in range(at, at + FAILURES_TO_OPEN):
        breaker.failed(number, "no answer within 2 s.")


def _sampler(base_url: str, **kwargs: Any) -> LLMSampler:
    """A sampler asking the model on every trial, with the client's default retries."""
    return LLMSampler(
        model="scripted-model",
        base_url=base_url,
        search_space=SPACE,
        schedule=Always(),
        seed=0,
        **kwargs,
    )


def _reasons(study: optuna.Study) -> list[str]:
    return [t.user_attrs.get("llm:reason", "") for t in study.trials]


# --- the state machine ----------------------------------------------------------------------


def test_requests_go_out_without_retries_once_one_has_failed() -> None:
    breaker = EndpointBreaker()
    assert breaker.admit(0).retry
    breaker.failed(0, "no answer within 2 s.")
    admission = breaker.admit(1)
    assert admission.refusal is None and not admission.retry
    breaker.answered()
    assert breaker.admit(2).retry


def test_opens_after_failures_in_a_row_and_says_since_when_and_why() -> None:
    breaker = EndpointBreaker()
    for number in range(FAILURES_TO_OPEN - 1):
        breaker.failed(number, "cannot reach http://127.0.0.1:9/v1.")
        assert not breaker.is_open
    breaker.failed(FAILURES_TO_OPEN - 1, "cannot reach http://127.0.0.1:9/v1.")
    assert breaker.is_open
    refusal = breaker.admit(FAILURES_TO_OPEN).refusal
    assert refusal is not None and UNAVAILABLE.match(refusal)
    assert refusal.endswith("(cannot reach http://127.0.0.1:9/v1.)")


def test_an_answer_between_failures_starts_the_count_again() -> None:
    breaker = EndpointBreaker()
    for number in range(3 * FAILURES_TO_OPEN):
        if number % FAILURES_TO_OPEN == FAILURES_TO_OPEN - 1:
            breaker.answered()
        else:
            breaker.failed(number, "HTTP 503 from the endpoint.")
    assert not breaker.is_open


def test_one_probe_after_the_cooldown_and_a_cooldown_that_doubles() -> None:
    breaker = EndpointBreaker()
    _open(breaker)
    opened_at = FAILURES_TO_OPEN - 1
    probes = []
    cooldown = FIRST_COOLDOWN
    for number in range(opened_at + 1, opened_at + 200):
        admission = breaker.admit(number)
        if admission.refusal is None:
            assert admission.probe and not admission.retry
            # Nobody else probes while a probe is out.
            assert breaker.admit(number).refusal is not None
            probes.append(number)
            breaker.failed(number, "no answer within 2 s.", probe=True)
    gaps = [b - a for a, b in zip([opened_at, *probes], probes, strict=False)]
    expected: list[int] = []
    while len(expected) < len(gaps):
        expected.append(cooldown)
        cooldown = min(2 * cooldown, MAX_COOLDOWN)
    assert gaps == expected
    assert gaps[-1] == MAX_COOLDOWN


def test_a_probe_that_gets_an_answer_closes_the_breaker() -> None:
    breaker = EndpointBreaker()
    _open(breaker)
    probe = breaker.admit(FAILURES_TO_OPEN - 1 + FIRST_COOLDOWN)
    assert probe.probe
    breaker.answered()
    assert not breaker.is_open
    assert breaker.admit(100).retry


def test_a_late_failure_of_an_earlier_request_does_not_count_as_the_probe() -> None:
    breaker = EndpointBreaker()
    _open(breaker)
    number = FAILURES_TO_OPEN - 1 + FIRST_COOLDOWN
    assert breaker.admit(number).probe
    breaker.failed(number, "no answer within 2 s.")  # sent before the breaker opened
    assert breaker.admit(number + 1).refusal is not None  # the probe is still out
    breaker.answered()
    assert not breaker.is_open


def test_a_probe_not_sent_lets_the_next_trial_probe() -> None:
    breaker = EndpointBreaker()
    _open(breaker)
    number = FAILURES_TO_OPEN - 1 + FIRST_COOLDOWN
    probe = breaker.admit(number)
    breaker.release(probe)
    assert breaker.admit(number + 1).probe


def test_one_log_line_when_it_opens_and_one_when_it_closes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    breaker = EndpointBreaker("http://127.0.0.1:9/v1", "TPESampler")
    with caplog.at_level(logging.INFO, logger="optuna.optuna_llm"):
        _open(breaker)
        for number in range(FAILURES_TO_OPEN, 40):
            if breaker.admit(number).refusal is None:
                breaker.failed(number, "no answer within 2 s.", probe=True)
        breaker.admit(100)
        breaker.answered()
        breaker.answered()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "http://127.0.0.1:9/v1 is unavailable" in messages[0]
    assert "TPESampler proposes" in messages[0]
    assert "answers again" in messages[1]


def test_a_pickled_breaker_finds_out_for_itself() -> None:
    breaker = EndpointBreaker("e")
    _open(breaker)
    copy = pickle.loads(pickle.dumps(breaker))
    assert not copy.is_open and copy.endpoint == "e"


# --- against a scripted endpoint --------------------------------------------------------------


def test_a_hung_endpoint_costs_a_few_timeouts_not_one_per_trial_and_retry() -> None:
    with ScriptedLLMServer(lambda call: Reply(delay=1.0)) as server:
        sampler = _sampler(server.base_url, timeout=0.3)
        study = optuna.create_study(sampler=sampler)
        study.optimize(_objective, n_trials=12)
        n_requests = len(server.requests)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    # The first request uses its retries (1 + 2 attempts), the next two none, and the
    # breaker opens: then only probes, after 2 and 4 more trials.
    assert n_requests == 3 + (FAILURES_TO_OPEN - 1) + 2
    reasons = _reasons(study)
    assert all("no answer within 0.3 s" in reason for reason in reasons)
    assert sum(bool(UNAVAILABLE.search(reason)) for reason in reasons) == 12 - FAILURES_TO_OPEN - 2
    usage = sampler.usage
    assert usage.failed_requests == FAILURES_TO_OPEN + 2
    assert usage.failed_seconds >= 0.3 * n_requests
    assert usage.requests == 0


def test_a_refusing_endpoint_is_asked_only_now_and_then() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sampler = _sampler(f"http://127.0.0.1:{port}/v1")
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective, n_trials=40)
    sources = {t.user_attrs["llm:source"] for t in study.trials}
    assert sources == {"fallback"}
    asked = [t.number for t in study.trials if t.user_attrs["llm:reason"].startswith("request")]
    assert asked[:FAILURES_TO_OPEN] == list(range(FAILURES_TO_OPEN))
    assert len(asked) <= FAILURES_TO_OPEN + 5  # probes after 2, 4, 8, 16 trials, then every 16
    assert sampler.usage.failed_requests == len(asked)
    unavailable = [t for t in study.trials if t.number not in asked]
    assert all("cannot reach" in t.user_attrs["llm:reason"] for t in unavailable)


def test_a_503_that_recovers_gives_the_trials_back_to_the_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = DownUntil(Reply(status=503, body=b'{"error": {"message": "overloaded"}}'), 9)
    with ScriptedLLMServer(endpoint) as server:
        sampler = _sampler(server.base_url, max_retries=0)
        study = optuna.create_study(sampler=sampler)
        with caplog.at_level(logging.INFO, logger="optuna.optuna_llm"):
            study.optimize(_objective, n_trials=30, callbacks=[endpoint.callback])
    sources = [t.user_attrs["llm:source"] for t in study.trials]
    assert set(sources[:10]) == {"fallback"}
    back = sources.index("llm")
    # A probe at most MAX_COOLDOWN trials after the recovery gets an answer; from then on
    # the model proposes every trial.
    assert 10 <= back <= 10 + MAX_COOLDOWN
    assert sources[back:] == ["llm"] * (30 - back)
    messages = [r.getMessage() for r in caplog.records]
    breaker_lines = [m for m in messages if m.startswith("The model's endpoint")]
    assert len(breaker_lines) == 2
    assert "is unavailable" in breaker_lines[0] and "HTTP 503" in breaker_lines[0]
    assert "answers again" in breaker_lines[1]


def test_threads_share_one_breaker() -> None:
    endpoint = DownUntil(Reply(delay=0.6), 30)

    def objective(trial: optuna.Trial) -> float:
        time.sleep(0.05)
        return _objective(trial)

    with ScriptedLLMServer(endpoint) as server:
        sampler = _sampler(server.base_url, max_retries=0, timeout=0.3)
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=60, n_jobs=4, callbacks=[endpoint.callback])
    trials = study.trials
    assert sorted(t.number for t in trials) == list(range(60))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Four threads ask at once until the breaker opens; after that one probe at a time. Without
    # the breaker, each of the 31 trials of the outage would ask. (Counted while the endpoint
    # is down only: when the recovery is seen depends on the probes' timing, not the breaker.)
    assert endpoint.requests_while_down <= 15
    assert any(UNAVAILABLE.search(reason) for reason in _reasons(study))
    assert any(t.user_attrs["llm:source"] == "llm" for t in trials if t.number > 30)


def test_a_dead_endpoint_for_20_trials_costs_at_most_8_timeouts() -> None:
    # The goal: default settings, timeout=2, default schedule, 45 trials.
    outage = run_outage(n_trials=45, down_for=20, timeout=2.0)
    assert outage.requests_while_down <= 8
    assert outage.model_trials(start=20), "the model proposes again once the endpoint answers"
    assert len(outage.trials) == 45
