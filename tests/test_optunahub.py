"""The OptunaHub package in optunahub/samplers/llm_sampler.

It is loaded the way OptunaHub loads a registry package, runs studies against a scripted model
over HTTP, and its files are checked against the registry's format.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import json
from pathlib import Path
import re
import runpy
import sys
import tomllib
import types
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import Trial
from optuna.trial import TrialState
import optunahub
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
import pytest
import yaml  # type: ignore[import-untyped]

import optuna_llm
from optuna_llm import schedules
from optuna_llm.local import LocalLLMServer
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer


REPO = Path(__file__).resolve().parents[1]
REGISTRY_ROOT = REPO / "optunahub"
PACKAGE = "samplers/llm_sampler"
PACKAGE_DIR = REGISTRY_ROOT / PACKAGE
MODULE_NAME = "optunahub_registry.package.samplers.llm_sampler"

EXPORTS: dict[str, object] = {
    "Budget": optuna_llm.Budget,
    "EveryKth": schedules.EveryKth,
    "FirstTrials": schedules.FirstTrials,
    "Guide": optuna_llm.Guide,
    "LLMSampler": optuna_llm.LLMSampler,
    "LocalLLMServer": LocalLLMServer,
    "Share": schedules.Share,
}
REGISTRY_FILES = {"__init__.py", "LICENSE", "README.md", "example.py", "requirements.txt"}
FRONT_MATTER_KEYS = ("author", "title", "description", "tags", "optuna_versions", "license")
SECTIONS = ["Abstract", "APIs", "Installation", "Example", "Others"]

SPACE: dict[str, BaseDistribution] = {
    "x": FloatDistribution(-5.0, 5.0),
    "n": IntDistribution(1, 8),
    "kind": CategoricalDistribution(["a", "b"]),
}
TASK = "Minimize x^2 + n, plus 1 when kind is b."


def objective(trial: Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    n = trial.suggest_int("n", 1, 8)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    return x**2 + n + (kind == "b")


class RecordedAnswers:
    """RandomAnswers that keeps the text of every answer it gives."""

    def __init__(self, seed: int) -> None:
        self._answers = RandomAnswers(seed)
        self.texts: list[str] = []

    def __call__(self, call: ChatCall) -> str | Reply:
        reply = self._answers(call)
        assert isinstance(reply, str), reply
        self.texts.append(reply)
        return reply


def _load() -> types.ModuleType:
    return optunahub.load_local_module(package=PACKAGE, registry_root=str(REGISTRY_ROOT))


@pytest.fixture(scope="module")
def hub() -> types.ModuleType:
    return _load()


@pytest.fixture
def answers() -> RecordedAnswers:
    return RecordedAnswers(seed=0)


@pytest.fixture
def server(answers: RecordedAnswers) -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(answers) as server:
        yield server


def _sources(study: optuna.Study) -> list[Any]:
    return [trial.user_attrs.get("llm:source") for trial in study.trials]


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match is not None, "README.md does not start with a front matter"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict)
    return data, text[match.end() :]


def _readme() -> str:
    return (PACKAGE_DIR / "README.md").read_text(encoding="utf-8")


def _pyproject() -> dict[str, Any]:
    with (REPO / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)


def _module_names_and_packages(source: str) -> tuple[set[str], list[Any]]:
    """The attributes read from `module`, and the packages passed to `load_module`."""
    tree = ast.parse(source)
    names = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "module"
    }
    packages = [
        keyword.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load_module"
        for keyword in node.keywords
        if keyword.arg == "package" and isinstance(keyword.value, ast.Constant)
    ]
    return names, packages


def test_the_package_re_exports_the_projects_objects(hub: types.ModuleType) -> None:
    assert hub.__name__ == MODULE_NAME
    assert Path(str(hub.__file__)) == PACKAGE_DIR / "__init__.py"
    assert sorted(hub.__all__) == sorted(EXPORTS)
    for name, exported in EXPORTS.items():
        assert getattr(hub, name) is exported, name


def test_the_package_holds_the_registry_files_and_no_copy_of_the_project() -> None:
    files = {path.name for path in PACKAGE_DIR.iterdir() if path.name != "__pycache__"}
    assert files == REGISTRY_FILES


def test_the_loaded_sampler_runs_a_guided_study_over_http(
    hub: types.ModuleType, server: ScriptedLLMServer, answers: RecordedAnswers
) -> None:
    sampler = hub.LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        task=TASK,
        seed=0,
        search_space=SPACE,
    )
    assert isinstance(sampler, optuna_llm.LLMSampler)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=6)

    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 6
    # The model's recommended start, then the start-up: the classical sampler's random trials,
    # and draws from the prior around the start while it leads.
    sources = _sources(study)
    assert sources[0] == "llm" and set(sources[1:]) <= {"prior", "fallback"}
    assert len(server.requests) == 1
    assert TASK in server.requests[0].prompt
    proposed = json.loads(answers.texts[0])["params"]
    assert study.trials[0].params == proposed
    assert study.trials[0].user_attrs["llm:rationale"] == "Random draw."
    for trial in study.trials:
        share = 0.0 if trial.user_attrs["llm:source"] == "fallback" else 1.0
        assert trial.user_attrs["llm:model_share"] == share
    assert sampler.usage.requests == 1


def test_the_loaded_schedule_and_budget_reach_the_sampler(
    hub: types.ModuleType, server: ScriptedLLMServer
) -> None:
    sampler = hub.LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        seed=0,
        schedule=hub.EveryKth(2),
        budget=hub.Budget(max_requests=1),
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=6)

    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 6
    reasons = [trial.user_attrs.get("llm:reason", "") for trial in study.trials]
    assert _sources(study) == ["fallback", "fallback", "llm", "fallback", "fallback", "fallback"]
    assert reasons[0].startswith("new to the study")
    assert reasons[1] == reasons[3] == reasons[5]
    assert reasons[1].startswith("the schedule gave this trial")
    assert reasons[4].startswith("budget: 1 requests spent")
    assert len(server.requests) == 1


def test_the_loaded_guide_reaches_the_sampler(
    hub: types.ModuleType, server: ScriptedLLMServer
) -> None:
    sampler = hub.LLMSampler(
        model=server.model,
        client=server.client(max_retries=0),
        seed=0,
        search_space=SPACE,
        guide=hub.Guide(warmup_trials=3, ask_every=2),
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=6)

    assert _sources(study)[0] == "llm"
    # The default never asks after the start; this guide challenges from trial 3 on.
    assert len(server.requests) >= 2


def test_without_the_project_loading_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, MODULE_NAME, raising=False)
    monkeypatch.setitem(sys.modules, "optuna_llm", None)
    with pytest.raises(ModuleNotFoundError, match="pip install optuna-llm"):
        _load()


def test_a_broken_install_of_the_project_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, MODULE_NAME, raising=False)
    monkeypatch.setitem(sys.modules, "optuna_llm.local", None)
    with pytest.raises(ModuleNotFoundError) as raised:
        _load()
    assert raised.value.name == "optuna_llm.local"
    assert "pip install" not in str(raised.value)


def test_readme_front_matter_has_what_the_registry_requires() -> None:
    data, _ = _front_matter(_readme())
    for key in FRONT_MATTER_KEYS:
        assert data.get(key) not in (None, "", []), key
    for key in ("author", "title", "description", "license"):
        assert isinstance(data[key], str), key
    assert all(isinstance(tag, str) for tag in data["tags"])
    assert "sampler" in data["tags"]
    assert data["license"] == "MIT License"
    optuna_requirement = next(
        Requirement(line)
        for line in _pyproject()["project"]["dependencies"]
        if Requirement(line).name == "optuna"
    )
    for version in data["optuna_versions"]:
        assert isinstance(version, str), version
        assert optuna_requirement.specifier.contains(version), version


def test_readme_has_the_registry_sections_and_no_html() -> None:
    _, body = _front_matter(_readme())
    headings = re.findall(r"^## (.+)$", body, re.MULTILINE)
    assert headings == SECTIONS
    prose = re.sub(r"```.*?```", "", body, flags=re.DOTALL)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    assert re.findall(r"<[A-Za-z!/][^>]*>", prose) == []
    assert f"https://hub.optuna.org/{PACKAGE}/requirements.txt" in body


def test_readme_examples_compile_and_use_exported_names(hub: types.ModuleType) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _readme(), re.DOTALL)
    assert len(blocks) >= 2
    packages: list[Any] = []
    for block in blocks:
        compile(block, "README.md", "exec")
        names, loaded = _module_names_and_packages(block)
        assert names <= set(hub.__all__), names - set(hub.__all__)
        packages += loaded
    assert packages == [PACKAGE]


def test_example_compiles_and_uses_exported_names(hub: types.ModuleType) -> None:
    source = (PACKAGE_DIR / "example.py").read_text(encoding="utf-8")
    compile(source, "example.py", "exec")
    names, packages = _module_names_and_packages(source)
    assert names == {"LLMSampler", "LocalLLMServer"}
    assert names <= set(hub.__all__)
    assert packages == [PACKAGE]


def test_example_runs_against_an_openai_compatible_endpoint(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    server: ScriptedLLMServer,
) -> None:
    loaded: list[str] = []

    def load_module(package: str, **kwargs: Any) -> types.ModuleType:
        loaded.append(package)
        return optunahub.load_local_module(package=package, registry_root=str(REGISTRY_ROOT))

    monkeypatch.setattr(optunahub, "load_module", load_module)
    monkeypatch.setenv("OPENAI_API_KEY", "scripted-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    runpy.run_path(str(PACKAGE_DIR / "example.py"), run_name="__main__")

    assert loaded == [PACKAGE]
    assert server.requests, "the example sent no request to the endpoint"
    assert {call.body["model"] for call in server.requests} == {"gpt-4o-mini"}
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"Best value \S+ with \{'x': .+, 'y': .+\}", lines[0]), lines
    counts = re.fullmatch(
        r"Proposed by the model: (\d+), by its prior: (\d+), by the classical sampler: (\d+)",
        lines[1],
    )
    assert counts is not None, lines
    assert sum(int(count) for count in counts.groups()) == 20
    assert int(counts.group(1)) >= 1


def test_requirements_name_the_project_and_nothing_else() -> None:
    lines = (PACKAGE_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines()
    requirements = [Requirement(line) for line in lines if line.strip()]
    names = [canonicalize_name(requirement.name) for requirement in requirements]
    assert names == [canonicalize_name(_pyproject()["project"]["name"])]


def test_license_is_the_projects_mit_license() -> None:
    text = (PACKAGE_DIR / "LICENSE").read_text(encoding="utf-8")
    assert _pyproject()["project"]["license"] == "MIT"
    assert text.startswith("MIT License\n")
    assert "Copyright (c)" in text
    assert "optuna-llm developers" in text
    assert "<" not in text
    assert "Permission is hereby granted, free of charge" in text
