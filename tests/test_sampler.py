from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import json
import logging
import pickle
import re
import socket
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import RandomSampler
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import Trial
from optuna.trial import TrialState
import pytest

from optuna_llm import Budget
from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.schedules import EveryKth
from optuna_llm.schedules import FirstTrials
from optuna_llm.schedules import default_schedule
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SPACE: dict[str, BaseDistribution] = {
    "classifier": CategoricalDistribution(["svc", "forest"]),
    "C": FloatDistribution(1e-3, 1e3, log=True),
    "depth": IntDistribution(2, 32),
    "lr": FloatDistribution(0.0, 1.0, step=0.1),
}


def conditional_objective(trial: Trial) -> float:
    classifier = trial.suggest_categorical("classifier", ["svc", "forest"])
    if classifier == "svc":
        score = trial.suggest_float("C", 1e-3, 1e3, log=True)
    else:
        score = trial.suggest_int("depth", 2, 32)
    return score + trial.suggest_float("lr", 0.0, 1.0, step=0.1)


def _sampler(server: ScriptedLLMServer, **kwargs: Any) -> LLMSampler:
    kwargs.setdefault("seed", 0)
    kwargs.setdefault("schedule", Always())
    return LLMSampler(model=server.model, client=server.client(max_retries=0), **kwargs)


def _sources(study: Study) -> list[str | None]:
    return [trial.user_attrs.get("llm:source") for trial in study.trials]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"model": ""}, "model"),
        ({"model": None}, "model"),
        ({"task": 3}, "task"),
        ({"client": "http://x"}, "client"),
        ({"fallback_sampler": "tpe"}, "fallback_sampler"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"temperature": 3.0}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_history_trials": 0}, "max_history_trials"),
        ({"search_space": {"x": (0, 1)}}, "search_space"),
        ({"param_descriptions": {"x": 1}}, "param_descriptions"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(
    kwargs: dict[str, Any], name: str
) -> None:
    arguments: dict[str, Any] = {"model": "m", **kwargs}
    with pytest.raises(ValueError, match=f"`{name}`"):
        LLMSampler(**arguments)


def test_fallback_cannot_be_another_llm_sampler() -> None:
    with pytest.raises(ValueError, match="fallback_sampler"):
        LLMSampler(model="m", fallback_sampler=LLMSampler(model="m"))


def test_whole_configurations_come_from_the_model(random_server: ScriptedLLMServer) -> None:
    n_requests = len(random_server.requests)
    study = optuna.create_study(sampler=_sampler(random_server, search_space=SPACE))
    study.optimize(conditional_objective, n_trials=6)
    assert _sources(study) == ["llm"] * 6
    assert all(t.user_attrs["llm:rationale"] == "Random draw." for t in study.trials)
    assert len(random_server.requests) - n_requests == 6


def test_first_trial_without_known_space_comes_from_fallback(
    random_server: ScriptedLLMServer,
) -> None:
    study = optuna.create_study(sampler=_sampler(random_server))
    study.optimize(conditional_objective, n_trials=3)
    first = study.trials[0]
    assert first.user_attrs["llm:source"] == "fallback"
    assert first.user_attrs["llm:reason"].startswith("new to the study: ")
    assert "'classifier'" in first.user_attrs["llm:reason"]


def test_new_define_by_run_parameter_goes_to_the_fallback(
    random_server: ScriptedLLMServer,
) -> None:
    study = optuna.create_study(sampler=_sampler(random_server))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=1)
    last = study.trials[-1]
    assert last.user_attrs["llm:source"] == "partial"
    assert last.user_attrs["llm:model_share"] == 0.5
    assert last.user_attrs["llm:reason"] == "new to the study: 'y'"


# Each trial's scripted exchange: the first answer and, when it is bad, the answer to the
# re-ask. The expected source says which values the trial ended up using.
GOOD = {"classifier": "svc", "C": 1.0, "lr": 0.5}
BAD_ANSWER_SCRIPT: list[tuple[list[str | Reply], str, str | None]] = [
    ([answer(GOOD)], "llm", None),
    (["<think>C near 10</think>\n```json\n" + answer({**GOOD, "C": 10.0}) + "\n```"], "llm", None),
    (
        ["I would try a forest.", answer({"classifier": "forest", "depth": 8, "lr": 0.3})],
        "llm",
        None,
    ),
    (["no idea", "still no idea"], "fallback", "invalid answer"),
    ([answer({"classifier": "svc", "C": 1e9, "lr": 7.0})], "llm", None),
    ([answer({**GOOD, "C": "big"}), answer({**GOOD, "C": [1]})], "partial", "expected a number"),
    (['{"params": {"classifier": "svc", "C": NaN, "lr": 0.1}}'] * 2, "partial", "finite"),
    ([Reply(status=500, body=b'{"error": {"message": "boom"}}')], "fallback", "HTTP 500"),
    ([answer(GOOD), answer(GOOD)], "fallback", "repeats trial 0"),
    ([Reply(content=None, refusal="I will not.")], "fallback", "refused"),
    ([Reply(content=""), answer({"classifier": "svc", "C": 2.5, "lr": 0.9})], "llm", None),
    ([answer({"classifier": "svc", "C": 3.0})] * 2, "partial", '"lr": missing'),
    ([answer({"classifier": "knn", "C": 3.0, "lr": 0.2})] * 2, "partial", "not one of"),
]


def test_every_kind_of_bad_answer_still_completes_the_trial(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    script = [reply for replies, _, _ in BAD_ANSWER_SCRIPT for reply in replies]
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    with ScriptedLLMServer(script) as server:
        sampler = _sampler(server, search_space=SPACE)
        study = optuna.create_study(storage=storage, sampler=sampler)
        with caplog.at_level(logging.WARNING, logger="optuna.optuna_llm"):
            study.optimize(conditional_objective, n_trials=len(BAD_ANSWER_SCRIPT))
        assert len(server.requests) == len(script), "each bad answer gets exactly one re-ask"

    reloaded = optuna.load_study(study_name=study.study_name, storage=storage)
    trials = reloaded.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * len(BAD_ANSWER_SCRIPT)
    for trial, (_, source, reason) in zip(trials, BAD_ANSWER_SCRIPT, strict=True):
        assert trial.user_attrs["llm:source"] == source, trial.number
        if reason is None:
            assert "llm:reason" not in trial.user_attrs, trial.number
        else:
            assert reason in trial.user_attrs["llm:reason"], trial.number
        for key, value in trial.user_attrs.items():
            assert not isinstance(value, str) or len(value) <= 500, key

    assert trials[1].params["C"] == 10.0
    assert trials[2].params == {"classifier": "forest", "depth": 8, "lr": 0.3}
    assert trials[4].params == {"classifier": "svc", "C": 1e3, "lr": 1.0}, "clipped into range"
    assert trials[5].params["lr"] == 0.5 and trials[5].params["C"] != "big"
    assert trials[8].params != trials[0].params
    # One log line per trial that fell back, none for trials the model fully proposed.
    fallback_lines = [r for r in caplog.records if "instead of the model" in r.getMessage()]
    n_fallbacks = sum(source != "llm" for _, source, _ in BAD_ANSWER_SCRIPT)
    assert len(fallback_lines) == n_fallbacks


def test_reask_carries_the_validation_error() -> None:
    with ScriptedLLMServer(["nonsense", answer({"x": 0.5})]) as server:
        sampler = _sampler(server, search_space={"x": FloatDistribution(0, 1)})
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    first, second = server.requests
    assert second.messages[: len(first.messages)] == first.messages
    assert second.messages[-2] == {"role": "assistant", "content": "nonsense"}
    assert "no JSON object" in second.messages[-1]["content"]
    assert study.trials[0].params == {"x": 0.5}


def test_unreachable_model_falls_back_on_every_trial(caplog: pytest.LogCaptureFixture) -> None:
    sampler = LLMSampler(
        model="m",
        base_url=f"http://127.0.0.1:{_closed_port()}/v1",
        max_retries=0,
        search_space={"x": FloatDistribution(-5, 5)},
        schedule=Always(),
    )
    study = optuna.create_study(sampler=sampler)
    with caplog.at_level(logging.WARNING, logger="optuna.optuna_llm"):
        study.optimize(lambda t: t.suggest_float("x", -5, 5) ** 2, n_trials=5)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    assert _sources(study) == ["fallback"] * 5
    assert all("cannot reach" in t.user_attrs["llm:reason"] for t in study.trials)
    # Trials 0 to 2 ask and fail, each with a warning; the breaker then opens, with one line
    # of its own, keeps trial 3 from asking, and lets trial 4 probe.
    asked = [t.number for t in study.trials if t.user_attrs["llm:reason"].startswith("request")]
    assert asked == [0, 1, 2, 4]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("instead of the model" in m for m in messages) == len(asked)
    assert sum("endpoint" in m and "is unavailable" in m for m in messages) == 1
    assert "the endpoint is unavailable since" in study.trials[3].user_attrs["llm:reason"]


def test_late_answer_falls_back() -> None:
    late = Reply(content=answer({"x": 0.5}), delay=1.0)
    with ScriptedLLMServer(lambda call: late) as server:
        sampler = _sampler(server, timeout=0.2, search_space={"x": FloatDistribution(0, 1)})
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert _sources(study) == ["fallback"] * 2
    assert "no answer within 0.2 s" in study.trials[0].user_attrs["llm:reason"]


def test_running_trials_of_other_threads_are_not_repeated() -> None:
    # The model always proposes the same configuration; with two threads, at most the first
    # trial may use it and every other trial must differ.
    same = answer({"x": 0.5, "y": 0.5})
    with ScriptedLLMServer(lambda call: Reply(content=same, delay=0.05)) as server:
        space = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}
        study = optuna.create_study(sampler=_sampler(server, search_space=space))
        study.optimize(
            lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1),
            n_trials=8,
            n_jobs=2,
        )
    configurations = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(configurations)) == 8
    assert _sources(study).count("llm") == 1


def test_parallel_threads_on_sqlite(tmp_path: Any, random_server: ScriptedLLMServer) -> None:
    storage = f"sqlite:///{tmp_path / 'parallel.db'}"
    study = optuna.create_study(storage=storage, sampler=_sampler(random_server))
    study.optimize(conditional_objective, n_trials=20, n_jobs=2)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 20
    assert _sources(study).count("llm") >= 15, "\n".join(
        str((t.params, t.user_attrs)) for t in study.trials
    )
    assert {t.number for t in trials} == set(range(20))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_multi_objective_prompt_shows_directions_and_pareto_front(
    random_server: ScriptedLLMServer,
) -> None:
    study = optuna.create_study(
        directions=["minimize", "maximize"], sampler=_sampler(random_server)
    )
    study.set_metric_names(["error", "speed"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), 6)
    prompt = random_server.requests[-1].prompt
    assert 'minimize "error", maximize "speed"' in prompt
    assert "Pareto" in prompt
    assert re.search(r"error [0-9.e-]+, speed [0-9.e-]+", prompt)
    assert _sources(study)[1:] == ["llm"] * 5


def test_pruned_failed_and_infeasible_trials_are_described(
    random_server: ScriptedLLMServer,
) -> None:
    def objective(trial: Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.set_constraint("budget", x - 0.5)
        if trial.number == 1:
            trial.report(0.25, step=3)
            raise optuna.TrialPruned()
        if trial.number == 2:
            raise RuntimeError("diverged")
        return x

    study = optuna.create_study(sampler=_sampler(random_server))
    study.optimize(objective, n_trials=5, catch=(RuntimeError,))
    prompt = random_server.requests[-1].prompt
    assert "trial 1 (pruned): pruned at step 3 with 0.25" in prompt
    assert "trial 2 (failed)" in prompt
    assert "infeasible by" in prompt or all(t.params["x"] <= 0.5 for t in study.trials)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 3


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_metric_names_and_task_are_in_the_prompt(random_server: ScriptedLLMServer) -> None:
    sampler = _sampler(
        random_server,
        task="LightGBM on a churn table",
        search_space={"num_leaves": IntDistribution(8, 256, log=True)},
        param_descriptions={"num_leaves": "leaves per tree"},
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.set_metric_names(["auc"])
    study.optimize(lambda t: float(t.suggest_int("num_leaves", 8, 256, log=True)), n_trials=1)
    prompt = random_server.requests[-1].prompt
    assert "Task: LightGBM on a churn table" in prompt
    assert 'Objective: maximize "auc".' in prompt
    assert '"num_leaves": int in [8, 256], log scale. leaves per tree' in prompt


def test_same_seed_gives_same_requests_and_fallback_values() -> None:
    def run(seed: int) -> tuple[list[int], list[dict[str, Any]]]:
        with ScriptedLLMServer(lambda call: "no JSON here") as server:
            sampler = _sampler(server, seed=seed, search_space={"x": FloatDistribution(0, 1)})
            study = optuna.create_study(sampler=sampler)
            study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
        seeds = [int(call.body["seed"]) for call in server.requests]
        return seeds, [t.params for t in study.trials]

    assert run(3) == run(3)
    assert run(3)[0] != run(4)[0]


class _RecordingSampler(RandomSampler):
    def __init__(self) -> None:
        super().__init__(seed=0)
        self.calls: list[str] = []

    def reseed_rng(self) -> None:
        self.calls.append("reseed_rng")
        super().reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.calls.append("before_trial")

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.calls.append("after_trial")


def test_hooks_and_reseed_are_forwarded_to_the_fallback(
    random_server: ScriptedLLMServer,
) -> None:
    fallback = _RecordingSampler()
    sampler = _sampler(random_server, fallback_sampler=fallback)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    sampler.reseed_rng()
    assert fallback.calls == ["before_trial", "after_trial"] * 2 + ["reseed_rng"]


def test_default_fallback_of_a_schedule_is_tpe_with_the_same_seed() -> None:
    sampler = LLMSampler(model="m", seed=5, schedule=Always())
    fallback = sampler._fallback
    assert isinstance(fallback, TPESampler)
    assert fallback._random_sampler._rng.rng.randint(1000) == RandomSampler(
        seed=5
    )._rng.rng.randint(1000)


def test_pickled_sampler_keeps_working(random_server: ScriptedLLMServer) -> None:
    sampler = _sampler(random_server, search_space={"x": FloatDistribution(0, 1)})
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    copy = pickle.loads(pickle.dumps(sampler))
    study.sampler = copy
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert _sources(study) == ["llm"] * 4


def test_api_key_never_reaches_storage_logs_or_repr(
    tmp_path: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-VERYSECRET0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    leak = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}"}}).encode()
    storage = f"sqlite:///{tmp_path / 'secret.db'}"
    with ScriptedLLMServer(lambda call: Reply(status=401, body=leak)) as server:
        sampler = LLMSampler(
            model="m", base_url=server.base_url, max_retries=0, search_space=SPACE
        )
        study = optuna.create_study(storage=storage, sampler=sampler)
        with caplog.at_level(logging.DEBUG):
            study.optimize(conditional_objective, n_trials=3)
    assert _sources(study) == ["fallback"] * 3
    assert "HTTP 401" in study.trials[0].user_attrs["llm:reason"]
    assert secret not in caplog.text
    assert secret not in repr(sampler)
    assert secret.encode() not in (tmp_path / "secret.db").read_bytes()
    assert secret.encode() not in pickle.dumps(sampler)


@pytest.mark.parametrize("make_reply", [lambda call: "{}", lambda call: "[1, 2, 3]"])
def test_answers_without_params_fall_back(make_reply: Callable[[ChatCall], str]) -> None:
    with ScriptedLLMServer(make_reply) as server:
        sampler = _sampler(server, search_space={"x": FloatDistribution(0, 1)})
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert _sources(study) == ["fallback"]
    assert len(server.requests) == 2


def test_running_trial_of_another_worker_is_not_repeated(tmp_path: Any) -> None:
    # Two workers share one storage. The first has asked for a trial and not told it yet;
    # the model then offers the second worker the same configuration.
    storage = f"sqlite:///{tmp_path / 'workers.db'}"
    space = {"x": FloatDistribution(0, 1), "y": IntDistribution(1, 9)}
    same, other = answer({"x": 0.5, "y": 3}), answer({"x": 0.25, "y": 4})
    with ScriptedLLMServer([same, same, other]) as server:
        first = optuna.create_study(
            study_name="shared", storage=storage, sampler=_sampler(server, search_space=space)
        )
        running = first.ask()
        assert running.suggest_float("x", 0, 1) == 0.5  # y is planned but not suggested yet
        second = optuna.load_study(
            study_name="shared", storage=storage, sampler=_sampler(server, search_space=space)
        )
        trial = second.ask()
        assert (trial.suggest_float("x", 0, 1), trial.suggest_int("y", 1, 9)) == (0.25, 4)
    reask = server.requests[2].messages[-1]["content"]
    assert f"repeats trial {running.number}" in reask
    assert 'trial 0 (running) | {"x": 0.5, "y": 3}' in server.requests[1].prompt


def test_schedule_decides_which_trials_ask_the_model(random_server: ScriptedLLMServer) -> None:
    before = len(random_server.requests)
    sampler = _sampler(
        random_server,
        search_space={"x": FloatDistribution(0, 1)},
        schedule=FirstTrials(2) | EveryKth(3),
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=7)
    model_trials = [0, 1, 3, 6]
    assert len(random_server.requests) - before == len(model_trials)
    for trial in study.trials:
        if trial.number in model_trials:
            assert trial.user_attrs["llm:source"] == "llm"
        else:
            assert trial.user_attrs["llm:source"] == "fallback"
            assert (
                "schedule gave this trial to the classical sampler"
                in (trial.user_attrs["llm:reason"])
            )
            assert "llm:tokens" not in trial.user_attrs


def test_default_schedule_is_hybrid(random_server: ScriptedLLMServer) -> None:
    sampler = LLMSampler(
        model=random_server.model,
        client=random_server.client(),
        search_space={"x": FloatDistribution(0, 1)},
        schedule=default_schedule(),
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=16)
    llm_trials = [t.number for t in study.trials if t.user_attrs["llm:source"] == "llm"]
    assert llm_trials == [*range(10), 10, 15]


def test_classical_sampler_learns_from_the_model_trials(random_server: ScriptedLLMServer) -> None:
    # CMA-ES after three model trials: it starts from the history the model made.
    fallback = optuna.samplers.CmaEsSampler(seed=0, n_startup_trials=3)
    sampler = _sampler(
        random_server,
        search_space={"x": FloatDistribution(-5, 5), "y": FloatDistribution(-5, 5)},
        schedule=FirstTrials(3),
        fallback_sampler=fallback,
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(
        lambda t: t.suggest_float("x", -5, 5) ** 2 + t.suggest_float("y", -5, 5) ** 2, 8
    )
    assert _sources(study) == ["llm"] * 3 + ["fallback"] * 5
    # CMA-ES keeps its optimizer state in system attributes once it samples jointly.
    assert any(key.startswith("cma:") for key in study.trials[-1].system_attrs)


def test_failing_schedule_gives_the_trial_to_the_classical_sampler(
    random_server: ScriptedLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(study: Study, trial: FrozenTrial) -> bool:
        raise KeyError("oops")

    sampler = _sampler(random_server, search_space={"x": FloatDistribution(0, 1)}, schedule=broken)
    study = optuna.create_study(sampler=sampler)
    with caplog.at_level(logging.WARNING, logger="optuna.optuna_llm"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert _sources(study) == ["fallback"] * 2
    assert sum("the schedule raised KeyError" in r.getMessage() for r in caplog.records) == 2


def test_request_budget_hands_over_with_one_log_line(
    random_server: ScriptedLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(random_server.requests)
    sampler = _sampler(
        random_server, search_space={"x": FloatDistribution(0, 1)}, budget=Budget(max_requests=3)
    )
    study = optuna.create_study(sampler=sampler)
    with caplog.at_level(logging.WARNING, logger="optuna.optuna_llm"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=6)
    assert len(random_server.requests) - before == 3
    assert _sources(study) == ["llm"] * 3 + ["fallback"] * 3
    assert study.trials[-1].user_attrs["llm:reason"] == "budget: 3 requests spent"
    budget_lines = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(budget_lines) == 1
    assert sampler.usage.requests == 3


def test_reask_is_not_sent_past_the_request_budget() -> None:
    with ScriptedLLMServer(["garbage", answer({"x": 0.5})]) as server:
        sampler = _sampler(
            server, search_space={"x": FloatDistribution(0, 1)}, budget=Budget(max_requests=1)
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert len(server.requests) == 1
    assert "no re-ask, budget: 1 requests spent" in study.trials[0].user_attrs["llm:reason"]


def _spent(study: Study, key: str) -> list[float]:
    """Running total of a per-trial usage attribute, trial by trial."""
    total, totals = 0.0, []
    for trial in study.trials:
        total += trial.user_attrs.get(key, 0)
        totals.append(total)
    return totals


@pytest.mark.parametrize(
    ("budget", "key", "limit"),
    [
        (Budget(max_tokens=1000), "llm:tokens", 1000),
        (
            Budget(
                max_cost=0.002,
                price_per_million_input_tokens=2.0,
                price_per_million_output_tokens=8.0,
            ),
            "llm:cost",
            0.002,
        ),
    ],
)
def test_token_and_cost_limits_stop_asking_once_reached(
    budget: Budget, key: str, limit: float
) -> None:
    with ScriptedLLMServer(RandomAnswers(seed=1)) as server:
        sampler = _sampler(server, search_space={"x": FloatDistribution(0, 1)}, budget=budget)
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=8)
    sources = _sources(study)
    n_model = sources.count("llm")
    assert sources == ["llm"] * n_model + ["fallback"] * (8 - n_model)
    assert 1 < n_model < 8, "the limit must stop the model within the study"
    spent = _spent(study, key)
    # A request is sent while less than the limit is spent, and not once it is.
    assert spent[n_model - 2] < limit <= spent[n_model - 1]
    assert study.trials[-1].user_attrs["llm:reason"].startswith("budget: ")


def test_rate_limit_gives_trials_past_it_to_the_classical_sampler() -> None:
    with ScriptedLLMServer(RandomAnswers(seed=1)) as server:
        sampler = _sampler(
            server,
            search_space={"x": FloatDistribution(0, 1)},
            budget=Budget(requests_per_minute=2),
        )
        study = optuna.create_study(sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
    assert _sources(study) == ["llm", "llm", "fallback", "fallback"]
    assert study.trials[2].user_attrs["llm:reason"] == "rate limit: 2 requests per minute"


def test_usage_is_recorded_per_trial_and_on_the_sampler(random_server: ScriptedLLMServer) -> None:
    prices = Budget(price_per_million_input_tokens=1.0, price_per_million_output_tokens=4.0)
    sampler = _sampler(random_server, search_space={"x": FloatDistribution(0, 1)}, budget=prices)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    tokens = [t.user_attrs["llm:tokens"] for t in study.trials]
    assert all(isinstance(n, int) and n > 0 for n in tokens)
    assert sum(tokens) == sampler.usage.total_tokens
    assert all(0 <= t.user_attrs["llm:latency"] < 5 for t in study.trials)
    usage = sampler.usage
    expected_cost = (usage.prompt_tokens * 1.0 + usage.completion_tokens * 4.0) / 1e6
    assert sum(t.user_attrs["llm:cost"] for t in study.trials) == pytest.approx(expected_cost)


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"schedule": 3}, "schedule"), ({"budget": {}}, "budget")]
)
def test_invalid_schedule_or_budget(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        LLMSampler(model="m", **kwargs)


def test_classical_trials_do_not_call_known_parameters_new(
    random_server: ScriptedLLMServer,
) -> None:
    sampler = _sampler(random_server, schedule=FirstTrials(3))
    study = optuna.create_study(sampler=sampler)
    study.optimize(conditional_objective, n_trials=6)
    for trial in study.trials[3:]:
        assert trial.user_attrs["llm:reason"] == (
            "the schedule gave this trial to the classical sampler"
        )
