"""LLMSampler: the stateful shell that carries out each trial's turn and records the outcome.

One trial's data goes one way: the strategy (``_strategies``) decides the trial's turn from the
study; the proposer (``_model``) asks the model and returns an answer; the classical sampler
completes what the answer lacks; ``_study`` records where each value came from. No string, JSON
or HTTP handling happens here, and no turn is told apart by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import os
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._arguments import validate_arguments
from optuna_llm._classical import ClassicalSampler
from optuna_llm._classical import fallback_name
from optuna_llm._model.client import ClientLike
from optuna_llm._model.client import make_client
from optuna_llm._model.proposer import Proposer
from optuna_llm._strategies.guided import GuidedStrategy
from optuna_llm._strategies.guided import draw_seed
from optuna_llm._strategies.guided import start_hold_seconds
from optuna_llm._strategies.scheduled import ScheduledStrategy
from optuna_llm._strategies.turn import Strategy
from optuna_llm._study.related_studies import RelatedStudies
from optuna_llm._study.trial_attrs import record_provenance
from optuna_llm._study.tried import contains
from optuna_llm._trial.context import TrialContexts
from optuna_llm._trial.proposal import Proposals
from optuna_llm._trial.proposal import RequestSeeds
from optuna_llm.budget import Budget
from optuna_llm.budget import Usage
from optuna_llm.guide import Guide
from optuna_llm.schedules import ScheduleFn


class LLMSampler(BaseSampler):
    """A sampler that combines a language model's knowledge with a classical sampler.

    By default (no ``schedule``) the model is asked once for the recommended starting
    configuration of the task: that is the first trial, and the centre of a prior from which
    the rest of the warm-up is drawn. Then the classical sampler (GP where it suits the study and
    is installed, TPE otherwise) is in charge; every few trials the model may replace its
    candidate with a proposal of its own, only when that proposal is rated competitive, and
    less often each time it does not do well. A flat history stops the model. ``guide`` sets
    the constants; see [`Guide`][optuna_llm.Guide] and
    [hybrid runs][the-default-the-model-guides-a-classical-sampler-decides].

    With a ``schedule``, the model proposes every trial the schedule gives it instead.

    For each trial the model proposes, the sampler shows it the task, the search space and a
    bounded view of the study's history, asks for one configuration as JSON, and validates every
    value against its distribution. Whatever the model cannot deliver (no answer, a late or
    invalid one, a repeat of an earlier trial, a parameter new to the study) comes from
    ``fallback_sampler`` instead, with one log line saying why. No error of the model's ever
    reaches ``study.optimize``. After 3 requests in a row get no answer from the endpoint, the
    sampler stops asking and tries the endpoint again every few trials (see
    [a dead endpoint][a-dead-endpoint]).

    Each trial records where its values came from in user attributes that optuna-dashboard
    shows: ``llm:source`` (``llm``, ``partial``: the model's completed by the classical
    sampler, ``prior``, ``fallback``), ``llm:model_share``, ``llm:reason`` when the classical
    sampler proposed, ``llm:rationale``, and what the requests cost (``llm:tokens``,
    ``llm:latency``, ``llm:cost``); see [provenance][what-each-trial-records].

    The guided plan and the budget live in the study's storage: worker processes sharing it
    act as one sampler, and a resumed study goes on where it stopped (see
    [many workers][many-workers-and-resumed-studies]).

    Example:
        ```python
                from optuna_llm import LLMSampler


        def objective(trial):
            x = trial.suggest_float("x", -10, 10)
            return (x - 2) ** 2


        sampler = LLMSampler(model="gpt-4o-mini", task="Minimize a parabola.", seed=0)
        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=20)
        ```

    Args:
        model: The model name, as the endpoint knows it. Required unless ``client`` is an
            [`LLMClient`][optuna_llm.LLMClient].
        task: What is being optimized, in a few sentences. It goes into every prompt.
        client: A ready ``openai.OpenAI`` client (any OpenAI-compatible endpoint), or an
            [`LLMClient`][optuna_llm.LLMClient]. Without one, a client is built on first use
            from ``base_url`` and the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``).
        base_url: The endpoint when no client is given, e.g. ``http://127.0.0.1:11434/v1``.
            No API key is needed when this is set and ``OPENAI_API_KEY`` is not.
        seed: Seeds the fallback sampler, the prior's draws and the ``seed`` of each request.
        fallback_sampler: The classical sampler: proposes whatever the model does not. Defaults
            to GPSampler while the study suits it (``torch`` and ``scipy`` installed, no
            conditional parameters, under 250 trials) and TPESampler otherwise; with a
            ``schedule``, to ``TPESampler(seed=seed)``.
        timeout: Seconds to wait for one request to the model.
        max_retries: How often the ``openai`` client retries transport errors.
        temperature: Sampling temperature of the model; ``None`` leaves the endpoint's default.
        max_tokens: Upper bound on the tokens of one answer; ``None`` sends no bound.
        max_history_trials: How many trials the prompt shows at most.
        search_space: Distributions known before the first trial, so that the model proposes
            the first trial too. Parameters used by trials always take precedence.
        param_descriptions: A short description per parameter name, shown to the model.
        schedule: Which trials the model proposes: a callable ``(study, trial) -> bool``, such
            as those of [`optuna_llm.schedules`][optuna_llm.schedules] (``default_schedule()``,
            the first 10 trials then every 5th, was the default before the guided one). Without
            one, the guided default decides.
        guide: The guided default's constants ([`Guide`][optuna_llm.Guide]); not with
            ``schedule``.
        budget: Limits on requests, tokens, cost and requests per minute
            ([`Budget`][optuna_llm.Budget]); once one is reached, the fallback proposes.
        batch_size: Configurations asked for per request of a schedule; the spare ones serve
            the next trials while the study has not moved on.
        prefetch: Ask for the next scheduled trial's configuration while this trial's
            objective runs.
        audit_log: A JSON Lines file to which every exchange with the model is appended, for
            audit and for replay with [`ReplayClient`][optuna_llm.ReplayClient].
        related_studies: Studies (names in the same storage, or ``Study`` objects) whose best
            trials the prompt shows as prior experience.

    Raises:
        ValueError: An argument has a bad value (the message names it), ``schedule`` and
            ``guide`` are both given, or ``fallback_sampler`` is another ``LLMSampler``.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        task: str = "",
        client: ClientLike | None = None,
        base_url: str | None = None,
        seed: int | None = None,
        fallback_sampler: BaseSampler | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        temperature: float | None = 0.7,
        max_tokens: int | None = 1024,
        max_history_trials: int = 30,
        search_space: Mapping[str, BaseDistribution] | None = None,
        param_descriptions: Mapping[str, str] | None = None,
        schedule: ScheduleFn | None = None,
        guide: Guide | None = None,
        budget: Budget | None = None,
        batch_size: int = 1,
        prefetch: bool = False,
        audit_log: str | os.PathLike[str] | None = None,
        related_studies: Sequence[str | Study] = (),
    ) -> None:
        validate_arguments(
            model=model,
            task=task,
            client=client,
            fallback_sampler=fallback_sampler,
            timeout=timeout,
            max_retries=max_retries,
            temperature=temperature,
            max_tokens=max_tokens,
            max_history_trials=max_history_trials,
            search_space=search_space,
            param_descriptions=param_descriptions,
            schedule=schedule,
            guide=guide,
            budget=budget,
            batch_size=batch_size,
            prefetch=prefetch,
            related_studies=related_studies,
        )
        if isinstance(fallback_sampler, LLMSampler):
            raise ValueError("`fallback_sampler` cannot be another LLMSampler.")
        self._seeds = RequestSeeds(seed)
        self._fallback = fallback_sampler or (
            TPESampler(seed=seed) if schedule is not None else ClassicalSampler(seed=seed)
        )
        self._proposer = Proposer(
            make_client(
                model=model,
                client=client,
                base_url=base_url,
                timeout=timeout,
                max_retries=max_retries,
            ),
            task=task,
            temperature=temperature,
            max_tokens=max_tokens,
            max_history_trials=max_history_trials,
            batch_size=batch_size,
            budget=budget,
            audit_log=audit_log,
            timeout=timeout,
            fallback_name=self._fallback.__class__.__name__,
        )
        strategy: Strategy = (
            ScheduledStrategy(schedule, prefetch)
            if schedule is not None
            else GuidedStrategy(
                guide or Guide(), draw_seed(seed), start_hold_seconds(timeout, max_retries)
            )
        )
        self._proposals = Proposals(
            self._fallback,
            self._proposer,
            strategy,
            related=RelatedStudies(related_studies),
            known_space=search_space or {},
            descriptions=param_descriptions or {},
            seeds=self._seeds,
            background_seconds=timeout * (max_retries + 1),
        )
        self._contexts = TrialContexts()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(client={self._proposer.client!r}, "
            f"fallback_sampler={self._fallback.__class__.__name__})"
        )

    def reseed_rng(self) -> None:
        """Reseed the draw of each request's ``seed``, and the fallback sampler.

        Optuna calls this with ``n_jobs > 1``; the prior's seed is the study's, kept with it.
        """
        self._seeds.reseed()
        self._fallback.reseed_rng()

    @property
    def usage(self) -> Usage:
        """What this sampler object's requests to the model have cost so far, failed ones
        included; [`study_usage`][optuna_llm.study_usage] gives the whole study's."""
        return self._proposer.usage

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Forward to the fallback sampler, then decide the trial's turn, once per trial: by
        the schedule when there is one, else by the guided plan read from the study."""
        self._fallback.before_trial(study, trial)
        self._proposals.turn(study, trial, self._contexts.get(trial._trial_id))

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """The fallback sampler's relative search space, widened on the model's trials.

        On a trial the model or its prior proposes, every parameter the study has seen (each
        with its latest distribution) and those of the sampler's ``search_space`` are added
        to the fallback's own, so that one proposal covers them all; on the classical
        sampler's trials, the fallback's own alone.
        """
        fallback_space = self._fallback.infer_relative_search_space(study, trial)
        context = self._contexts.get(trial._trial_id)
        context.fallback_space = fallback_space
        if not self._proposals.turn(study, trial, context).samples_every_parameter:
            return fallback_space
        specs = self._proposals.specs(study, context)
        return {**{name: spec.distribution for name, spec in specs.items()}, **fallback_space}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """The model's proposal or the prior's draw, completed by the fallback sampler.

        On a challenge, the classical sampler's candidate, unless the model's proposal passes
        the screen. A configuration another worker runs already is dropped for the fallback's.
        """
        if not search_space:
            return {}
        seed = self._seeds.next()
        context = self._contexts.get(trial._trial_id)
        return self._proposals.sample(study, trial, search_space, context, seed)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """The proposal's value for ``param_name`` when it is valid, else the fallback's.

        Parameters outside the relative search space, such as one new to the study or a
        conditional one the model left out, come here.
        """
        context = self._contexts.get(trial._trial_id)
        proposed = context.answer.params.get(param_name)
        if param_name in context.answer.params and contains(param_distribution, proposed):
            return proposed
        context.fell_back(param_name)
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Forward to the fallback sampler, then record where the trial's values came from.

        Writes the trial's ``llm:*`` user attributes and, when optuna-dashboard is installed,
        its note; logs one line when the fallback proposed; tells the strategy what came of
        the trial; and waits, at most ``timeout`` seconds, for a request sent ahead with
        ``prefetch``, and for a request the trial sent in the background (the model's start)
        as long as that request with its retries may take.
        """
        self._fallback.after_trial(study, trial, state, values)
        context = self._contexts.pop(trial._trial_id)
        self._proposer.finish(trial.number)
        self._proposals.finish(trial.number, context)
        if context is None or context.turn is None:
            return
        used = bool(context.answer.params)
        self._proposals.strategy.finished(
            study, trial, context.turn, used=used, state=state, values=values
        )
        provenance = context.provenance(trial.params)
        if provenance is not None:
            name = fallback_name(self._fallback, trial)
            record_provenance(study, trial, provenance, name, failed=bool(context.reasons))
