"""optuna-dashboard shows where each trial's values came from: attributes and a note."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.request

import optuna
from optuna.distributions import FloatDistribution
import pytest

from optuna_llm import LLMSampler
from optuna_llm.schedules import FirstTrials
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def study_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        sampler = LLMSampler(
            model=server.model,
            client=server.client(),
            search_space={"x": FloatDistribution(-5, 5)},
            schedule=FirstTrials(2),
        )
        study = optuna.create_study(study_name="shown", storage=url, sampler=sampler)
        study.optimize(lambda t: t.suggest_float("x", -5, 5) ** 2, n_trials=3)
    return url


@pytest.fixture
def dashboard(study_url: str) -> Iterator[str]:
    port = _free_port()
    command = [str(Path(sys.executable).parent / "optuna-dashboard"), study_url]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/api/studies", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_dashboard_shows_source_rationale_and_note(dashboard: str) -> None:
    studies = _get(f"{dashboard}/api/studies")["study_summaries"]
    study_id = next(s["study_id"] for s in studies if s["study_name"] == "shown")
    detail = _get(f"{dashboard}/api/studies/{study_id}?after=0")
    trials = detail["trials"]
    attrs = [{a["key"]: a["value"] for a in trial["user_attrs"]} for trial in trials]
    assert [a["llm:source"] for a in attrs] == ["llm", "llm", "fallback"]
    assert [a["llm:model_share"] for a in attrs] == ["1.0", "1.0", "0.0"]
    # A numeric attribute is "sortable": the dashboard sorts its trial table column and
    # plots it as a Smart Selection axis, where dragging over 1.0 filters the model's trials.
    sortable = {a["key"]: a["sortable"] for a in detail["union_user_attrs"]}
    assert sortable["llm:model_share"] is True
    assert attrs[0]["llm:rationale"] == "Random draw."
    assert attrs[2]["llm:reason"] == "the schedule gave this trial to the classical sampler"
    first_note = trials[0]["note"]["body"]
    assert "**Proposed by** the model." in first_note
    assert "**Model's rationale:** Random draw." in first_note
    assert "tokens" in first_note
    assert "**Proposed by** TPESampler, instead of the model." in trials[2]["note"]["body"]
