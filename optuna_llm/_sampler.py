"""LLMSampler: the stateful shell that decides who proposes each trial and records the outcome.

One trial's data goes one way: the schedule decides whether the model proposes; the trial's
context turns the study into a frozen request; the proposer (``_proposer``) asks the model and
returns an answer; the fallback completes what the answer lacks; ``_trial_attrs`` records where
each value came from. No string, JSON or HTTP handling happens here.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import copy
import logging
import os
import random
import threading
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import TPESampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._arguments import validate_arguments
from optuna_llm._classical import ClassicalSampler
from optuna_llm._client import ClientLike
from optuna_llm._client import make_client
from optuna_llm._fallback import fill_from
from optuna_llm._guided import Decision
from optuna_llm._guided import GuidedPlan
from optuna_llm._guided import challenge_succeeded
from optuna_llm._guided import turned_down
from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._prior import RelatedStudies
from optuna_llm._prompt import RequestKind
from optuna_llm._proposer import Answer
from optuna_llm._proposer import ProposalRequest
from optuna_llm._proposer import Proposer
from optuna_llm._search_space import ParamSpec
from optuna_llm._search_space import infer_specs
from optuna_llm._snapshot import Snapshot
from optuna_llm._snapshot import contains
from optuna_llm._snapshot import held_by_another_worker
from optuna_llm._trial_attrs import metric_names
from optuna_llm._trial_attrs import write_dashboard_note
from optuna_llm._trial_attrs import write_planned_params
from optuna_llm._trial_attrs import write_provenance
from optuna_llm._trial_context import TrialContext
from optuna_llm._trial_context import TrialContexts
from optuna_llm.budget import Budget
from optuna_llm.budget import Usage
from optuna_llm.guide import Guide
from optuna_llm.schedules import ScheduleFn


_logger = optuna.logging.get_logger("optuna.optuna_llm")


class LLMSampler(PicklesWithoutLock, BaseSampler):
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
    shows: ``llm:source`` (``llm``: the model's proposal; ``partial``: the model's, completed by
    the classical sampler; ``prior``: drawn from the prior around the model's start;
    ``fallback``: the classical sampler's), ``llm:model_share`` (the share of its values from
    the model or its prior, a number the dashboard can filter on), ``llm:reason`` when the
    classical sampler proposed, and ``llm:rationale``, the model's one-sentence explanation.
    What the trial's requests cost goes into ``llm:tokens``, ``llm:latency`` and, when the
    budget has prices, ``llm:cost``; the sampler's [`usage`][optuna_llm.LLMSampler.usage] adds
    them up.

    Example:
        ```python
        import optuna
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
        self._rng = LazyRandomState(seed)
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
        self._known_space = dict(search_space or {})
        self._descriptions = dict(param_descriptions or {})
        self._schedule = schedule
        self._plan = GuidedPlan(guide or Guide(), _draw_seed(seed)) if schedule is None else None
        self._prefetch = prefetch
        self._related = RelatedStudies(related_studies)
        self._contexts = TrialContexts()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(client={self._proposer.client!r}, "
            f"fallback_sampler={self._fallback.__class__.__name__})"
        )

    def reseed_rng(self) -> None:
        """Reseed the draw of each request's ``seed``, and the fallback sampler.

        Optuna calls this when a study runs with ``n_jobs > 1``. The prior's draws keep their
        seed, so that every worker of a study draws the same warm-up.
        """
        with self._lock:
            self._rng.rng.seed()
        self._fallback.reseed_rng()

    @property
    def usage(self) -> Usage:
        """What this sampler's requests to the model have cost so far, failed ones included."""
        return self._proposer.usage

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Forward to the fallback sampler, then decide whether the model proposes this trial.

        The decision is made once per trial: by the schedule when there is one, else by the
        guided plan (the start, a prior draw, a challenge, or the classical sampler's turn).
        """
        self._fallback.before_trial(study, trial)
        self._uses_model(study, trial, self._contexts.get(trial._trial_id))

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
        if not self._uses_model(study, trial, context):
            return fallback_space
        specs = self._specs(study, context)
        return {**{name: spec.distribution for name, spec in specs.items()}, **fallback_space}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """The model's proposal or the prior's draw, completed by the fallback sampler.

        On a challenge, the classical sampler's candidate, replaced by the model's proposal only
        when the proposal is rated competitive. A configuration that another worker is already
        running is dropped for the fallback's.
        """
        if not search_space:
            return {}
        context = self._contexts.get(trial._trial_id)
        role = context.decision.role if context.decision is not None else None
        if role == "challenge":
            params = self._challenged(study, trial, search_space, context)
        else:
            if role == "prior":
                self._draw_from_prior(study, trial, search_space, context)
            elif self._uses_model(study, trial, context):
                self._ask_model(study, trial, search_space, context, "start" if role else "next")
                if role == "start":
                    self._guided_plan.started(trial.number, context.answer.params)
            params = self._completed(study, trial, search_space, context)
        write_planned_params(study, trial, params)
        holder = held_by_another_worker(study, trial, context.answer.params)
        if holder is not None:
            context.drop_answer(f"trial {holder} of another worker has the same configuration")
            params = self._completed(study, trial, search_space, context)
            write_planned_params(study, trial, params)
        return params

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
        its note; logs one line when the fallback proposed; tells the guided plan how the
        model's proposal did; and waits, at most ``timeout`` seconds, for a request sent ahead
        with ``prefetch``.
        """
        self._fallback.after_trial(study, trial, state, values)
        context = self._contexts.pop(trial._trial_id)
        self._proposer.finish(trial.number)
        if context is None:
            return
        if context.decision is not None:
            self._learn(study, trial, context, values if state == TrialState.COMPLETE else None)
        provenance = context.provenance(trial.params)
        if provenance is None:
            return
        fallback_name = self._fallback.__class__.__name__
        if provenance.reason:
            # One line per trial that used fallback values: a warning when the model failed.
            level = logging.WARNING if context.reasons else logging.INFO
            _logger.log(level, provenance.fallback_line(trial.number, fallback_name))
        write_provenance(study, trial, provenance)
        write_dashboard_note(study, trial, provenance, fallback_name)

    @property
    def _guided_plan(self) -> GuidedPlan:
        assert self._plan is not None
        return self._plan

    def _uses_model(self, study: Study, trial: FrozenTrial, context: TrialContext) -> bool:
        """Whether the model, or its prior, proposes this trial; decided once per trial, by
        the schedule or by the guided plan."""
        if context.use_model is None:
            if self._plan is None:
                context.use_model = self._scheduled(study, trial)
                note = "the schedule gave this trial to the classical sampler"
            else:
                context.decision = self._decide(study, trial, context)
                context.use_model = context.decision.role != "classical"
                note = context.decision.note or "the classical sampler's turn"
            if not context.use_model:
                context.notes.append(note)
        return context.use_model

    def _decide(self, study: Study, trial: FrozenTrial, context: TrialContext) -> Decision:
        trials = study._get_trials(deepcopy=False, use_cache=True)
        finished = [t for t in trials if t.state.is_finished()]
        has_specs = bool(self._specs(study, context))
        return self._guided_plan.decide(trial.number, finished, has_specs)

    def _draw_from_prior(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: TrialContext,
    ) -> None:
        """Take this warm-up trial's draw from the prior, unless it repeats a trial."""
        assert context.decision is not None
        specs = self._specs(study, context)
        space = {name: spec.distribution for name, spec in specs.items() if name in search_space}
        params = self._guided_plan.draw(context.decision.draw_index, space)
        repeated = Snapshot.of(study, trial).repeats(params)
        if repeated is not None:
            context.notes.append(f"the prior's draw repeats trial {repeated}")
            return
        context.take(Answer(params))

    def _challenged(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: TrialContext,
    ) -> dict[str, Any]:
        """The classical sampler's candidate, or the model's proposal when it is rated
        competitive; at most one request."""
        candidate = self._completed(study, trial, search_space, context)
        self._ask_model(study, trial, search_space, context, "challenge", candidate=candidate)
        proposal = context.answer.params
        if not proposal:
            return candidate
        view = Snapshot.of(study, trial)
        tried = [params for _, params in view.finished + view.running]
        finished = [t for t in view.earlier if t.state.is_finished()]
        space = {name: d for name, d in search_space.items() if name in proposal}
        why = turned_down(proposal, finished, tried, space, study.directions)
        if why is not None:
            context.drop_answer(why, by_design=True)
            return candidate
        context.fallback_names.difference_update(proposal)
        return {**candidate, **proposal}

    def _learn(
        self,
        study: Study,
        trial: FrozenTrial,
        context: TrialContext,
        values: Sequence[float] | None,
    ) -> None:
        """Tell the guided plan what came of a trial the model had a part in."""
        assert context.decision is not None
        role, plan = context.decision.role, self._guided_plan
        if role == "start" and plan.start is None:
            # The objective ended before sampling anything: the next trial asks instead.
            plan.started_nothing()
        elif role == "challenge":
            used = bool(context.answer.params)
            trials = study._get_trials(deepcopy=False, use_cache=False)
            succeeded = used and challenge_succeeded(trial, values, trials, study.directions)
            plan.judged(trial.number, success=succeeded)

    def _scheduled(self, study: Study, trial: FrozenTrial) -> bool:
        if self._schedule is None:
            return False
        try:
            return bool(self._schedule(study, trial))
        except Exception as error:
            _logger.warning(f"Trial {trial.number}: the schedule raised {error!r}.")
            return False

    def _ask_model(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: TrialContext,
        kind: RequestKind = "next",
        *,
        candidate: Mapping[str, Any] | None = None,
    ) -> None:
        """Ask the proposer for this trial and keep its answer on the trial's context."""
        specs = self._specs(study, context)
        request = ProposalRequest(
            trial_number=trial.number,
            specs={name: spec for name, spec in specs.items() if name in search_space},
            view=Snapshot.of(study, trial),
            directions=study.directions,
            metric_names=metric_names(study),
            prior=self._related.section(study._storage),
            seed=self._request_seed(),
            ask_ahead=kind == "next" and self._prefetch and self._next_goes_to_model(study, trial),
            kind=kind,
            candidate=candidate,
        )
        context.take(self._proposer.propose(request))

    def _specs(self, study: Study, context: TrialContext) -> dict[str, ParamSpec]:
        """The parameters the model may propose for this trial; built once per trial."""
        if context.specs is None:
            trials = study._get_trials(deepcopy=False, use_cache=True)
            context.specs = infer_specs(trials, self._known_space, self._descriptions)
        return context.specs

    def _next_goes_to_model(self, study: Study, trial: FrozenTrial) -> bool:
        next_trial = copy.copy(trial)
        next_trial.number = trial.number + 1
        return self._scheduled(study, next_trial)

    def _completed(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: TrialContext,
    ) -> dict[str, Any]:
        """The model's values, with every other parameter of ``search_space`` from the
        fallback: jointly where it samples jointly."""
        params = {n: v for n, v in context.answer.params.items() if n in search_space}
        missing = {name: d for name, d in search_space.items() if name not in params}
        if not missing:
            return params
        if context.fallback_space is None:
            context.fallback_space = self._fallback.infer_relative_search_space(study, trial)
        filled = fill_from(self._fallback, study, trial, missing, context.fallback_space)
        context.fallback_names.update(filled)
        return {**params, **filled}

    def _request_seed(self) -> int:
        with self._lock:
            return int(self._rng.rng.randint(0, 2**31 - 1))


def _draw_seed(seed: int | None) -> int:
    """The seed of the prior's draws: from ``seed``, so that every worker draws the same."""
    return seed % 2**31 if seed is not None else random.SystemRandom().randrange(2**31)
