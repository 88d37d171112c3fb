"""The benchmark runner: studies in their own processes, saved as data, resumable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
import pytest

from benchmarks.hpo.__main__ import RESULTS_END
from benchmarks.hpo.__main__ import RESULTS_START
from benchmarks.hpo.__main__ import _write_between_markers
from benchmarks.hpo.arms import ARMS
from benchmarks.hpo.arms import Endpoint
from benchmarks.hpo.arms import StudySetup
from benchmarks.hpo.arms import anonymised
from benchmarks.hpo.records import StudyKey
from benchmarks.hpo.records import first_trials
from benchmarks.hpo.records import read_records
from benchmarks.hpo.runner import plan
from benchmarks.hpo.runner import run_plan
from benchmarks.hpo.runner import trial_records
from benchmarks.hpo.suites import suite
from benchmarks.hpo.task import Task
from optuna_llm import LLMSampler
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


def _bowl(trial: optuna.Trial) -> float:
    x = trial.suggest_float("width", -3, 3)
    shape = trial.suggest_categorical("shape", ["flat", "steep"])
    return x**2 * (4 if shape == "steep" else 1)


def tiny_tasks() -> dict[str, Task]:
    """A registry the worker processes can import by name."""
    task = Task(
        name="bowl",
        description="Minimize a bowl.",
        direction="minimize",
        objective=_bowl,
        param_names=("width", "shape"),
        search_space={
            "width": FloatDistribution(-3, 3),
            "shape": CategoricalDistribution(["flat", "steep"]),
        },
        defaults={"width": 0.5, "shape": "flat"},
        kind="synthetic",
        optimum=0.0,
    )
    return {task.name: task}


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        yield Endpoint(base_url=server.base_url, model=server.model)


def _keys(arms: tuple[str, ...], seeds: int = 2, n_trials: int = 6) -> list[StudyKey]:
    return [StudyKey("bowl", arm, seed, n_trials) for arm in arms for seed in range(seeds)]


def test_runs_each_study_and_saves_one_record_per_trial(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    keys = _keys(("random", "defaults_random", "llm_pure", "llm_fallback"))
    lines: list[str] = []
    outcomes = run_plan(
        plan(keys, tmp_path),
        tiny_tasks,
        tmp_path,
        workers=2,
        endpoint=endpoint,
        report=lines.append,
    )

    assert [o.error for o in outcomes] == [None] * len(keys)
    assert len(lines) == len(keys) and lines[-1].startswith(f"[{len(keys)}/{len(keys)}]")
    records = list(read_records(tmp_path))
    assert len(records) == len(keys) * 6
    by_arm = {arm: [r for r in records if r.arm == arm] for arm in ("random", "llm_pure")}
    assert all(r.requests == 0 and r.source is None for r in by_arm["random"])
    assert all(r.requests >= 1 and r.tokens > 0 and r.source == "llm" for r in by_arm["llm_pure"])
    first_defaults = [r for r in records if r.arm == "defaults_random" and r.number == 0]
    assert [r.params for r in first_defaults] == [{"width": 0.5, "shape": "flat"}] * 2
    unreachable = [r for r in records if r.arm == "llm_fallback"]
    assert all(r.source == "fallback" and r.requests <= 1 for r in unreachable)
    # The first trials ask and fail; once the endpoint is known to be down, only probes ask.
    first = [r for r in unreachable if r.number == 0]
    assert all(r.fallback and r.requests == 1 for r in first) and len(first) == 2
    assert sum(r.requests for r in unreachable) < len(unreachable)


def test_the_default_with_tpe_and_after_enqueued_defaults(
    tmp_path: Path, endpoint: Endpoint
) -> None:
    keys = _keys(("llm_default_tpe", "llm_default_enqueued"), seeds=1)
    outcomes = run_plan(
        plan(keys, tmp_path), tiny_tasks, tmp_path, workers=1, endpoint=endpoint, report=print
    )
    assert [o.error for o in outcomes] == [None, None]
    records = {(r.arm, r.number): r for r in read_records(tmp_path)}
    # The enqueued defaults run first; the model's start comes next.
    assert records["llm_default_enqueued", 0].params == {"width": 0.5, "shape": "flat"}
    assert records["llm_default_enqueued", 1].source == "llm"
    assert records["llm_default_tpe", 0].source == "llm"
    sampler = ARMS["llm_default_tpe"].build(
        tiny_tasks()["bowl"], StudySetup(seed=0, endpoint=endpoint)
    )
    assert isinstance(sampler, LLMSampler)
    assert isinstance(sampler._proposals.fallback, optuna.samplers.TPESampler)


def test_a_second_run_resumes_with_the_missing_studies_only(tmp_path: Path) -> None:
    keys = _keys(("random", "tpe"))
    run_plan(plan(keys, tmp_path), tiny_tasks, tmp_path, workers=1, endpoint=None, report=print)
    assert plan(keys, tmp_path).total == 0

    (tmp_path / keys[1].file_name).unlink()
    again = plan(keys, tmp_path)
    assert again.other_studies == [keys[1]]


def test_a_failing_study_is_reported_and_the_others_are_saved(tmp_path: Path) -> None:
    keys = _keys(("random", "llm_pure"), seeds=1)  # the model arm has no endpoint
    lines: list[str] = []
    outcomes = run_plan(
        plan(keys, tmp_path), tiny_tasks, tmp_path, workers=1, endpoint=None, report=lines.append
    )
    failed = [o for o in outcomes if o.error]
    assert [o.key.arm for o in failed] == ["llm_pure"]
    assert "no endpoint" in (failed[0].error or "")
    assert any("FAILED" in line for line in lines)
    assert [r.arm for r in read_records(tmp_path)] == ["random"] * 6


def test_model_studies_are_planned_apart_seed_by_seed(tmp_path: Path) -> None:
    work = plan(_keys(("llm_hybrid", "tpe", "llm_pure"), seeds=2), tmp_path)
    assert [(k.seed, k.arm) for k in work.model_studies] == [
        (0, "llm_hybrid"),
        (0, "llm_pure"),
        (1, "llm_hybrid"),
        (1, "llm_pure"),
    ]
    assert [k.arm for k in work.other_studies] == ["tpe", "tpe"]


def test_best_so_far_follows_the_direction_and_skips_failed_trials() -> None:
    study = optuna.create_study(direction="maximize")
    for value in (1.0, None, 3.0, 2.0):
        trial = study.ask()
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    records = trial_records(StudyKey("t", "a", 0, 4), "maximize", study.trials, [])
    assert [r.best for r in records] == [1.0, 1.0, 3.0, 3.0]
    assert [r.state for r in records] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]


def test_anonymised_task_hides_names_but_computes_the_same_values() -> None:
    task = tiny_tasks()["bowl"]
    hidden = anonymised(task)
    assert hidden.param_names == ("x0", "x1")
    assert set(hidden.search_space) == {"x0", "x1"}
    assert "bowl" not in hidden.description and hidden.description.startswith("Minimize")
    study = optuna.create_study()
    study.enqueue_trial({"x0": 2.0, "x1": "steep"})
    study.optimize(hidden.objective, n_trials=1)
    assert study.trials[0].params == {"x0": 2.0, "x1": "steep"}
    assert study.trials[0].value == 16.0


def test_shorter_budgets_come_from_the_first_trials_of_longer_studies(tmp_path: Path) -> None:
    keys = [StudyKey("bowl", "random", 0, 6), StudyKey("bowl", "tpe", 0, 6)]
    keys.append(StudyKey("bowl", "tpe", 0, 3))
    run_plan(plan(keys, tmp_path), tiny_tasks, tmp_path, workers=1, endpoint=None, report=print)
    records = list(read_records(tmp_path))
    derived = first_trials(records, 3)
    assert [(r.arm, r.number, r.n_trials) for r in derived] == [("random", n, 3) for n in range(3)]
    long_random = [r for r in records if r.arm == "random"][:3]
    assert [r.params for r in derived] == [r.params for r in long_random]


def test_full_suite_runs_the_default_at_30_trials_with_10_seeds_and_100_with_5() -> None:
    tasks = tiny_tasks()
    keys = suite("full").keys(tasks)
    for arm in ("llm_default", "llm_default_enqueued"):
        runs = {(k.seed, k.n_trials) for k in keys if k.arm == arm}
        assert runs == {(s, 30) for s in range(10)} | {(s, 100) for s in range(5)}
    for arm in ("llm_default_tpe", "llm_start_only"):
        assert {(k.seed, k.n_trials) for k in keys if k.arm == arm} == {(s, 30) for s in range(5)}
    for arm in ("defaults_tpe", "defaults_gp"):
        runs = {(k.seed, k.n_trials) for k in keys if k.arm == arm}
        assert runs == {(s, 100) for s in range(5)} | {(s, 30) for s in range(5, 10)}
    default = {k for k in keys if k.arm.startswith("llm_default")}
    ablations = {k for k in keys if k.arm == "llm_start_only"}
    earlier = {k for k in keys if k.arm in {"llm_pure", "llm_hybrid", "llm_anonymous"}}
    assert {k.n_trials for k in earlier} == {30} and {k.seed for k in earlier} == {0, 1, 2}
    model = default | ablations | earlier
    others = {
        k
        for k in set(keys) - model
        if not k.arm.startswith("defaults_") or k.arm == "defaults_random"
    }
    assert {k.n_trials for k in others} == {100} and {k.seed for k in others} == set(range(10))
    assert {k.arm for k in others} >= {"random", "qmc", "tpe", "cmaes", "gp", "defaults_random"}


def test_a_partial_run_gives_the_short_budgets_all_their_seeds_first(tmp_path: Path) -> None:
    keys = [
        StudyKey("peak", "llm_default", seed, n_trials)
        for seed in range(3)
        for n_trials in (100, 30)
    ]
    work = plan(keys, tmp_path)
    assert [(k.n_trials, k.seed) for k in work.model_studies] == [
        (30, 0),
        (30, 1),
        (30, 2),
        (100, 0),
        (100, 1),
        (100, 2),
    ]


def test_defaults_then_tpe_starts_from_the_defaults_and_then_follows_tpe(tmp_path: Path) -> None:
    keys = _keys(("defaults_tpe", "tpe"), seeds=1)
    run_plan(plan(keys, tmp_path), tiny_tasks, tmp_path, workers=1, endpoint=None, report=print)
    records = {
        arm: [r for r in read_records(tmp_path) if r.arm == arm] for arm in ("defaults_tpe", "tpe")
    }
    assert records["defaults_tpe"][0].params == {"width": 0.5, "shape": "flat"}
    # After the defaults, TPE with the same seed starts as it starts on its own.
    assert records["defaults_tpe"][1].params == records["tpe"][0].params
    assert len(records["defaults_tpe"]) == len(records["tpe"]) == 6


def test_generated_results_replace_only_their_own_part(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nHand-written.\n")
    _write_between_markers(page, "first")
    _write_between_markers(page, "second")
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nHand-written.\n")
    assert text.count(RESULTS_START) == 1 and text.count(RESULTS_END) == 1
    assert "second" in text and "first" not in text
