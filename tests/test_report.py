"""The model's Markdown report on a study, from Python and from the command line."""

from __future__ import annotations

from pathlib import Path
import socket
import subprocess
import sys

import optuna
from optuna.trial import Trial
import pytest

from optuna_llm import LLMSampler
from optuna_llm import ModelRequestError
from optuna_llm import report
from optuna_llm.cli import main
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer


REPORT = "## What mattered\n\n`x` near 2 (trial 3).\n"


def objective(trial: Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    if trial.number == 1:
        raise RuntimeError("diverged")
    if trial.number == 2:
        trial.report(50.0, step=1)
        raise optuna.TrialPruned()
    return (x - 2) ** 2


def _study(storage: str | None = None) -> optuna.Study:
    study = optuna.create_study(study_name="demo", storage=storage)
    for x in [0.0, 5.0, -3.0, 2.1, 9.0]:
        study.enqueue_trial({"x": x})
    study.optimize(objective, n_trials=5, catch=(RuntimeError,))
    return study


def test_report_asks_for_free_text_about_the_whole_study() -> None:
    study = _study()
    with ScriptedLLMServer([REPORT]) as server:
        text = report(study, model=server.model, client=server.client(), task="Find x.")
        call = server.requests[0]
    assert text == REPORT.strip()
    assert "response_format" not in call.body
    assert "Markdown" in call.messages[0]["content"]
    prompt = call.prompt
    assert "Task: Find x." in prompt
    assert "trial 1 (failed)" in prompt
    assert "trial 2 (pruned): pruned at step 1 with 50" in prompt
    assert "Best so far: trial 3." in prompt
    assert prompt.endswith("Write the report.")


def test_report_without_a_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="No model to ask"):
        report(_study())


def test_report_with_an_unreachable_model_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ModelRequestError, match="cannot reach"):
        report(_study(), model="m", base_url=f"http://127.0.0.1:{port}/v1", timeout=2)


def test_cli_prints_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    _study(storage)
    with ScriptedLLMServer([REPORT]) as server:
        code = main(
            [
                "report",
                "--storage",
                storage,
                "--study",
                "demo",
                "--model",
                server.model,
                "--base-url",
                server.base_url,
            ]
        )
    assert code == 0
    assert capsys.readouterr().out == REPORT.strip() + "\n"


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    _study(storage)
    assert main(["report", "--storage", storage, "--study", "demo"]) == 2
    assert "no model to ask" in capsys.readouterr().err
    assert main(["report", "--storage", storage, "--study", "nope", "--model", "m"]) == 1
    assert "optuna-llm: error:" in capsys.readouterr().err


def test_cli_runs_as_a_module(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    _study(storage)
    with ScriptedLLMServer([REPORT]) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "optuna_llm.cli",
                "report",
                "--storage",
                storage,
                "--study",
                "demo",
                "--model",
                server.model,
                "--base-url",
                server.base_url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == REPORT.strip()


def test_cli_prints_what_the_model_cost_the_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    proposals = RandomAnswers(seed=0)

    def model(call: ChatCall) -> str | Reply:
        return REPORT if call.schema is None else proposals(call)

    with ScriptedLLMServer(model) as server:
        for _ in range(2):  # two workers, one after the other
            sampler = LLMSampler(
                model=server.model, base_url=server.base_url, schedule=Always(), seed=0
            )
            study = optuna.create_study(
                study_name="used", storage=storage, sampler=sampler, load_if_exists=True
            )
            study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        assert main(["usage", "--storage", storage, "--study", "used"]) == 0
        # Trial 0 knows no parameter yet; the five others asked.
        assert capsys.readouterr().out.startswith("5 requests, ")
        argv = ["report", "--storage", storage, "--study", "used", "--model", server.model]
        assert main([*argv, "--base-url", server.base_url]) == 0
    assert "_Model use by the study's sampler: 5 requests, " in capsys.readouterr().out
    assert main(["usage", "--storage", storage, "--study", "nope"]) == 1
