"""The samplers compared, each as an arm: a name and how to build it for one seeded study."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from benchmarks.hpo.task import Task
from optuna_llm import Guide
from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.schedules import ScheduleFn
from optuna_llm.schedules import default_schedule


# Requests to the local model on two busy cores take 5 to 30 s; a late answer would turn the
# model's arms into TPE without saying so.
MODEL_TIMEOUT = 180.0


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server the model arms ask."""

    base_url: str
    model: str


@dataclass(frozen=True)
class StudySetup:
    """Everything one benchmark study needs besides the task."""

    seed: int
    endpoint: Endpoint | None = None
    audit_log: Path | None = None


@dataclass(frozen=True)
class Arm:
    """A sampler setting under test.

    ``needs_model`` arms ask a live model; ``anonymous`` ones see parameters renamed ``x0``,
    ``x1``, ... and a neutral task text; ``defaults_first`` ones run the task's default
    configuration as their first trial.
    """

    name: str
    build: Callable[[Task, StudySetup], BaseSampler]
    needs_model: bool = False
    anonymous: bool = False
    defaults_first: bool = False


def _random(task: Task, setup: StudySetup) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=setup.seed)


def _qmc(task: Task, setup: StudySetup) -> BaseSampler:
    return optuna.samplers.QMCSampler(
        seed=setup.seed, scramble=True, warn_independent_sampling=False
    )


def _tpe(task: Task, setup: StudySetup) -> BaseSampler:
    return optuna.samplers.TPESampler(seed=setup.seed)


def _tpe_independent(task: Task, setup: StudySetup) -> BaseSampler:
    # Optuna 5's TPESampler is multivariate by default for one objective; this is the classic
    # TPE that models each parameter on its own.
    return optuna.samplers.TPESampler(seed=setup.seed, multivariate=False)


def _cmaes(task: Task, setup: StudySetup) -> BaseSampler:
    return optuna.samplers.CmaEsSampler(seed=setup.seed, warn_independent_sampling=False)


def _gp(task: Task, setup: StudySetup) -> BaseSampler:
    return optuna.samplers.GPSampler(seed=setup.seed, warn_independent_sampling=False)


def _llm(schedule: ScheduleFn | None) -> Callable[[Task, StudySetup], BaseSampler]:
    def build(task: Task, setup: StudySetup) -> BaseSampler:
        if setup.endpoint is None:
            raise ValueError("this arm asks a model, but no endpoint was given")
        return _llm_sampler(task, setup, setup.endpoint, schedule)

    return build


def _llm_guided(
    guide: Guide | None, *, tpe: bool = False
) -> Callable[[Task, StudySetup], BaseSampler]:
    """Exactly what users get from ``LLMSampler(...)`` without a schedule: its own classical
    sampler (TPE with ``tpe``, as a plain install without the ``gp`` extra gets), and
    ``guide`` only where an ablation changes a constant."""

    def build(task: Task, setup: StudySetup) -> BaseSampler:
        if setup.endpoint is None:
            raise ValueError("this arm asks a model, but no endpoint was given")
        fallback = optuna.samplers.TPESampler(seed=setup.seed) if tpe else None
        return LLMSampler(
            model=setup.endpoint.model,
            base_url=setup.endpoint.base_url,
            task=task.description,
            search_space=task.search_space,
            param_descriptions=task.param_descriptions,
            seed=setup.seed,
            guide=guide,
            fallback_sampler=fallback,
            timeout=MODEL_TIMEOUT,
            audit_log=setup.audit_log,
        )

    return build


def _confirm(share: float, width: float) -> Guide:
    return Guide(prior_share=share, prior_width=width, ask_every=0)


def _llm_unreachable(task: Task, setup: StudySetup) -> BaseSampler:
    # Port 9 on loopback refuses at once: every trial takes the fallback path, which measures
    # what the safety net costs and whether it matches TPE alone.
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", model="unreachable")
    return _llm_sampler(task, setup, endpoint, Always(), retries=0)


def _llm_sampler(
    task: Task,
    setup: StudySetup,
    endpoint: Endpoint,
    schedule: ScheduleFn | None,
    retries: int = 2,
) -> LLMSampler:
    return LLMSampler(
        model=endpoint.model,
        base_url=endpoint.base_url,
        task=task.description,
        search_space=task.search_space,
        param_descriptions=task.param_descriptions,
        seed=setup.seed,
        fallback_sampler=optuna.samplers.TPESampler(seed=setup.seed),
        schedule=schedule,
        timeout=MODEL_TIMEOUT,
        max_retries=retries,
        audit_log=setup.audit_log,
    )


ARMS: Mapping[str, Arm] = {
    arm.name: arm
    for arm in (
        Arm("random", _random),
        Arm("qmc", _qmc),
        Arm("tpe", _tpe),
        Arm("tpe_independent", _tpe_independent),
        Arm("cmaes", _cmaes),
        Arm("gp", _gp),
        Arm("defaults_random", _random, defaults_first=True),
        # Controls for any gain credited to a model: the defaults, then a classical sampler.
        Arm("defaults_tpe", _tpe, defaults_first=True),
        Arm("defaults_gp", _gp, defaults_first=True),
        Arm("llm_fallback", _llm_unreachable),
        Arm("llm_pure", _llm(Always()), needs_model=True),
        # The default before the guided one: the model for the first 10 trials, then every 5th.
        Arm("llm_hybrid", _llm(default_schedule()), needs_model=True),
        Arm("llm_default", _llm_guided(None), needs_model=True),
        # The default as a plain install runs it (TPE), and after the user enqueued the task's
        # defaults with study.enqueue_trial, as the docs recommend for known defaults.
        Arm("llm_default_tpe", _llm_guided(None, tpe=True), needs_model=True),
        Arm("llm_default_enqueued", _llm_guided(None), needs_model=True, defaults_first=True),
        # The default asking for its start in the background, so that no trial waits for it.
        Arm("llm_default_ahead", _llm_guided(Guide(ask_ahead=True)), needs_model=True),
        Arm(
            "llm_default_enqueued_ahead",
            _llm_guided(Guide(ask_ahead=True)),
            needs_model=True,
            defaults_first=True,
        ),
        # Ablations of the guided default, one constant each.
        Arm("llm_start_only", _llm_guided(Guide(prior_share=0.0, ask_every=0)), needs_model=True),
        Arm("llm_no_challenge", _llm_guided(Guide(ask_every=0)), needs_model=True),
        # The confirmed-prior variants compared on the design tasks: the share of start-up
        # trials that may draw from a confirmed prior, and the prior's width at trial 1
        # (it fades as the square root of the trial's number).
        Arm("llm_confirm_half_narrow", _llm_guided(_confirm(0.5, 0.05)), needs_model=True),
        Arm("llm_confirm_half_wide", _llm_guided(_confirm(0.5, 0.1)), needs_model=True),
        Arm("llm_confirm_all_narrow", _llm_guided(_confirm(1.0, 0.05)), needs_model=True),
        Arm("llm_confirm_all_wide", _llm_guided(_confirm(1.0, 0.1)), needs_model=True),
        # The model asked for the library's documented defaults instead of a recommended start.
        Arm(
            "llm_confirm_defaults",
            _llm_guided(replace(_confirm(0.5, 0.05), start="defaults")),
            needs_model=True,
        ),
        Arm("llm_anonymous", _llm(Always()), needs_model=True, anonymous=True),
    )
}


def anonymised(task: Task) -> Task:
    """The task as the anonymous arm sees it: parameters ``x0``, ``x1``, ... and no story.

    Categorical choices keep their values; only names and the task text are hidden.
    """
    names = {real: f"x{i}" for i, real in enumerate(task.param_names)}

    def objective(trial: optuna.Trial) -> float:
        return task.objective(_RenamingTrial(trial, names))  # type: ignore[arg-type]

    direction = "Minimize" if task.direction == "minimize" else "Maximize"
    return replace(
        task,
        description=f"{direction} a black-box function of {len(names)} parameters.",
        objective=objective,
        param_names=tuple(names.values()),
        search_space={names[n]: d for n, d in task.search_space.items()},
        defaults={names[n]: v for n, v in task.defaults.items()},
        param_descriptions={},
    )


class _RenamingTrial:
    """A trial whose ``suggest_*`` calls ask the study under other names."""

    def __init__(self, trial: optuna.Trial, names: Mapping[str, str]) -> None:
        self._trial = trial
        self._names = names

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self._trial.suggest_float(self._names[name], *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self._trial.suggest_int(self._names[name], *args, **kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._trial.suggest_categorical(self._names[name], *args, **kwargs)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._trial, attribute)
