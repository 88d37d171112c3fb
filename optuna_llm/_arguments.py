"""Validation of LLMSampler's constructor arguments: a bad value raises ValueError naming it."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study

from optuna_llm._chat import LLMClient
from optuna_llm._model.client import is_client
from optuna_llm.budget import Budget
from optuna_llm.guide import Guide


def validate_arguments(
    *,
    model: str | None,
    task: str,
    client: object,
    fallback_sampler: object,
    timeout: float,
    max_retries: int,
    temperature: float | None,
    max_tokens: int | None,
    max_history_trials: int,
    search_space: Mapping[str, BaseDistribution] | None,
    param_descriptions: Mapping[str, str] | None,
    schedule: object,
    guide: object = None,
    budget: object = None,
    batch_size: int,
    prefetch: bool,
    related_studies: Sequence[object],
) -> None:
    if isinstance(related_studies, str) or not all(
        isinstance(item, str | Study) for item in related_studies
    ):
        raise ValueError(
            f"`related_studies` must be a list of study names or Study objects, "
            f"got {related_studies!r}."
        )
    if not isinstance(prefetch, bool):
        raise ValueError(f"`prefetch` must be True or False, got {prefetch!r}.")
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    if schedule is not None and not callable(schedule):
        raise ValueError(
            f"`schedule` must be callable as (study, trial) -> bool, got {schedule!r}."
        )
    if guide is not None and not isinstance(guide, Guide):
        raise ValueError(f"`guide` must be an optuna_llm.Guide, got {guide!r}.")
    if guide is not None and schedule is not None:
        raise ValueError(
            "`guide` sets the guided default and `schedule` replaces it: pass one of them."
        )
    if budget is not None and not isinstance(budget, Budget):
        raise ValueError(f"`budget` must be an optuna_llm.Budget, got {budget!r}.")
    if client is not None and not is_client(client):
        raise ValueError(f"`client` must be an openai.OpenAI or an LLMClient, got {client!r}.")
    if not isinstance(client, LLMClient) and (not isinstance(model, str) or not model.strip()):
        raise ValueError(f"`model` must name the model to ask, got {model!r}.")
    if not isinstance(task, str):
        raise ValueError(f"`task` must be a string, got {task!r}.")
    if fallback_sampler is not None and not isinstance(fallback_sampler, BaseSampler):
        raise ValueError(
            f"`fallback_sampler` must be an Optuna sampler, got {fallback_sampler!r}."
        )
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not timeout > 0:
        raise ValueError(f"`timeout` must be a positive number of seconds, got {timeout!r}.")
    if not _is_int(max_retries) or max_retries < 0:
        raise ValueError(f"`max_retries` must be a non-negative integer, got {max_retries!r}.")
    if temperature is not None and (
        not isinstance(temperature, int | float) or not 0 <= temperature <= 2
    ):
        raise ValueError(f"`temperature` must be between 0 and 2, got {temperature!r}.")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise ValueError(f"`max_tokens` must be a positive integer, got {max_tokens!r}.")
    if not _is_int(max_history_trials) or max_history_trials < 1:
        raise ValueError(
            f"`max_history_trials` must be a positive integer, got {max_history_trials!r}."
        )
    for name, distribution in (search_space or {}).items():
        if not isinstance(name, str) or not isinstance(distribution, BaseDistribution):
            raise ValueError(
                f"`search_space` must map names to Optuna distributions, got {name!r}: "
                f"{distribution!r}."
            )
    for name, description in (param_descriptions or {}).items():
        if not isinstance(name, str) or not isinstance(description, str):
            raise ValueError(
                f"`param_descriptions` must map names to strings, got {name!r}: {description!r}."
            )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
