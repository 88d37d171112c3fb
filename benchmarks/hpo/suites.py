"""The two entry points: a quick suite (a few tasks and seeds) and the full one."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.hpo.records import StudyKey
from benchmarks.hpo.task import Task


CLASSICAL_ARMS = (
    "random",
    "qmc",
    "tpe",
    "tpe_independent",
    "cmaes",
    "gp",
    "defaults_random",
    "llm_fallback",
)
# The controls "the library's defaults, then TPE or GP": 100 trials for the first half of the
# seeds (their first 30 trials are their 30-trial results), 30 trials for the second half.
DEFAULTS_ARMS = ("defaults_tpe", "defaults_gp")
# The per-trial model arms of earlier versions, kept at the 3 seeds they were run with.
MODEL_ARMS = ("llm_pure", "llm_hybrid", "llm_anonymous")
# What users get by default, and the same after the task's defaults were enqueued: 30 trials
# with every seed, and 100 trials with the first half of them.
DEFAULT_ARMS = (
    "llm_default",
    "llm_default_enqueued",
    # The same, asking for the start in the background (Guide(ask_ahead=True)).
    "llm_default_ahead",
    "llm_default_enqueued_ahead",
)
# The default as a plain install runs it (TPE), at 30 trials with the first half of the seeds.
SHORT_DEFAULT_ARMS = ("llm_default_tpe",)
# The default without its prior: the model's start as one trial, then GP.
ABLATION_ARMS = ("llm_start_only",)
# The guided default's constants were chosen on these tasks only (the "design" suite); the
# other five tasks check that the choice holds.
DESIGN_TASKS = (
    "lgbm_breast_cancer",
    "svc_wine",
    "nn_australian",
    "fcnet_naval_propulsion",
    "shifted_hartmann6",
)
DESIGN_SEEDS = 3
DESIGN_ARMS = (
    "llm_confirm_half_narrow",
    "llm_confirm_half_wide",
    "llm_confirm_all_narrow",
    "llm_confirm_all_wide",
    "llm_confirm_defaults",
    "llm_start_only",
)


@dataclass(frozen=True)
class Group:
    """Some arms, each run on some tasks for each budget and seed."""

    arms: Sequence[str]
    budgets: Sequence[int]
    seeds: int
    claim: bool = False
    first_seed: int = 0

    def keys(self, tasks: Sequence[str]) -> list[StudyKey]:
        return [
            StudyKey(task, arm, seed, budget)
            for task in tasks
            for arm in self.arms
            for budget in self.budgets
            for seed in range(self.first_seed, self.first_seed + self.seeds)
        ]


@dataclass(frozen=True)
class Suite:
    name: str
    quick_tasks_only: bool
    groups: Sequence[Group]
    only_tasks: Sequence[str] = ()
    # Budgets reported from the first trials of longer studies (see records.first_trials).
    derived_budgets: Sequence[int] = ()

    def keys(self, tasks: Mapping[str, Task]) -> list[StudyKey]:
        chosen = [
            t
            for t in tasks.values()
            if (t.quick or not self.quick_tasks_only)
            and (not self.only_tasks or t.name in self.only_tasks)
        ]
        plain = [t.name for t in chosen if t.kind != "claim"]
        claims = [t.name for t in chosen if t.kind == "claim"]
        return [k for g in self.groups for k in g.keys(claims if g.claim else plain)]


def suite(name: str, *, model_seeds: int = 10, seeds: int = 10) -> Suite:
    if name == "quick":
        return Suite(
            "quick",
            quick_tasks_only=True,
            groups=(
                Group(("random", "tpe", "defaults_random"), (15,), 3),
                Group(("llm_hybrid",), (15,), 1),
                Group(("random", "tpe"), (20,), 3, claim=True),
            ),
        )
    if name == "full":
        return Suite(
            "full",
            quick_tasks_only=False,
            groups=(
                Group(CLASSICAL_ARMS, (100,), seeds),
                Group(DEFAULTS_ARMS, (100,), seeds // 2),
                Group(DEFAULTS_ARMS, (30,), seeds - seeds // 2, first_seed=seeds // 2),
                Group(DEFAULT_ARMS, (30,), model_seeds),
                Group(DEFAULT_ARMS, (100,), model_seeds // 2),
                Group(SHORT_DEFAULT_ARMS, (30,), model_seeds // 2),
                Group(ABLATION_ARMS, (30,), model_seeds // 2),
                Group(MODEL_ARMS, (30,), 3),
                Group(("random", "tpe", "defaults_random"), (20,), seeds, claim=True),
                Group(("llm_pure",), (20,), 3, claim=True),
            ),
            derived_budgets=(30,),
        )
    if name == "design":
        # The default's variants compared at 30 trials with 3 seeds, on the design tasks only.
        return Suite(
            "design",
            quick_tasks_only=False,
            groups=(Group((*DESIGN_ARMS, "gp"), (30,), DESIGN_SEEDS),),
            only_tasks=DESIGN_TASKS,
        )
    raise ValueError(f"unknown suite {name!r}: use 'quick', 'full' or 'design'")
