"""LLMSampler: the stateful shell that picks, per trial, who proposes, and delegates.

Everything that reads text, JSON or trials is in the pure modules it calls: ``_search_space``,
``_history`` and ``_prompt`` build the request, ``_propose`` and ``_parse`` turn the answer into
values, ``_snapshot`` tells repeats, ``_trial_attrs`` writes to the storage.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import copy
from dataclasses import dataclass
from dataclasses import field
import functools
import logging
import os
import threading
from typing import Any

import openai
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import TPESampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.storages import InMemoryStorage
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._arguments import validate_arguments
from optuna_llm._batch import ProposalQueue
from optuna_llm._client import LLMClient
from optuna_llm._client import OpenAIChatClient
from optuna_llm._history import select_history
from optuna_llm._parse import Proposal
from optuna_llm._parse import find_covering
from optuna_llm._prior import RelatedStudy
from optuna_llm._prior import describe_related
from optuna_llm._prompt import build_messages
from optuna_llm._propose import Exchange
from optuna_llm._propose import Outcome
from optuna_llm._propose import propose
from optuna_llm._search_space import ParamSpec
from optuna_llm._search_space import answer_schema
from optuna_llm._search_space import infer_specs
from optuna_llm._snapshot import Snapshot
from optuna_llm._snapshot import contains
from optuna_llm._snapshot import fits
from optuna_llm._trial_attrs import Provenance
from optuna_llm._trial_attrs import classify
from optuna_llm._trial_attrs import write_dashboard_note
from optuna_llm._trial_attrs import write_planned_params
from optuna_llm._trial_attrs import write_provenance
from optuna_llm.audit import AuditLog
from optuna_llm.audit import exchange_record
from optuna_llm.budget import Budget
from optuna_llm.budget import Usage
from optuna_llm.budget import UsageMeter
from optuna_llm.schedules import ScheduleFn
from optuna_llm.schedules import default_schedule


_logger = optuna.logging.get_logger("optuna.optuna_llm")

_FALLBACK_TEMPLATE = (
    "Trial {number}: {fallback} proposed {what} instead of the model, because {reason}."
)
# Bounds on per-trial memory: trials that never reach after_trial (ask without tell), and
# configurations remembered to keep parallel threads from repeating each other.
_MAX_OPEN_TRIALS = 1024
_METRIC_NAMES_KEY = "study:metric_names"


@dataclass
class _TrialContext:
    """What the sampler knows about one trial between its hooks."""

    use_model: bool | None = None
    fallback_space: dict[str, BaseDistribution] | None = None
    specs: dict[str, ParamSpec] | None = None
    model_params: dict[str, Any] = field(default_factory=dict)
    fallback_names: set[str] = field(default_factory=set)
    new_names: list[str] = field(default_factory=list)
    rationale: str = ""
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    def reason(self) -> str | None:
        """Why the fallback proposed values for this trial, if it did.

        ``reasons`` are failures of the model, ``notes`` choices made by design (the schedule,
        a spent budget).
        """
        reasons = list(dict.fromkeys(self.notes + self.reasons))
        if self.new_names:
            reasons.append("new to the study: " + ", ".join(map(repr, self.new_names)))
        return "; ".join(reasons) or None


class LLMSampler(BaseSampler):
    """A sampler that asks a language model for whole configurations, with TPE as a safety net.

    For each trial the sampler shows the model the task, the search space and a bounded view of
    the study's history, asks for one configuration as JSON, and validates every value against
    its distribution. Whatever the model cannot deliver (no answer, a late or invalid one, a
    repeat of an earlier trial, a parameter new to the study) comes from ``fallback_sampler``
    instead, with one log line saying why. No error of the model's ever reaches
    ``study.optimize``.

    Each trial records where its values came from in user attributes that optuna-dashboard
    shows: ``llm:source`` (``llm``, ``partial`` or ``fallback``), ``llm:model_share`` (the
    share of its values from the model, a number the dashboard can filter on), ``llm:reason``
    when it fell back, and ``llm:rationale``, the model's one-sentence explanation.

    Example:

        .. code-block:: python

            import optuna
            from optuna_llm import LLMSampler


            def objective(trial):
                x = trial.suggest_float("x", -10, 10)
                return (x - 2) ** 2


            sampler = LLMSampler(model="gpt-4o-mini", task="Minimize a parabola.", seed=0)
            study = optuna.create_study(sampler=sampler)
            study.optimize(objective, n_trials=20)

    Args:
        model: The model name, as the endpoint knows it. Required unless ``client`` is an
            :class:`~optuna_llm.LLMClient`.
        task: What is being optimized, in a few sentences. It goes into every prompt.
        client: A ready ``openai.OpenAI`` client (any OpenAI-compatible endpoint), or an
            :class:`~optuna_llm.LLMClient`. Without one, a client is built on first use from
            ``base_url`` and the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``).
        base_url: The endpoint when no client is given, e.g. ``http://127.0.0.1:11434/v1``.
            No API key is needed when this is set and ``OPENAI_API_KEY`` is not.
        seed: Seeds the fallback sampler and the ``seed`` of each request.
        fallback_sampler: Proposes whatever the model does not. Defaults to
            ``TPESampler(seed=seed)``.
        timeout: Seconds to wait for one request to the model.
        max_retries: How often the ``openai`` client retries transport errors.
        temperature: Sampling temperature of the model; ``None`` leaves the endpoint's default.
        max_tokens: Upper bound on the tokens of one answer; ``None`` sends no bound.
        max_history_trials: How many trials the prompt shows at most.
        search_space: Distributions known before the first trial, so that the model proposes
            the first trial too. Parameters used by trials always take precedence.
        param_descriptions: A short description per parameter name, shown to the model.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        task: str = "",
        client: openai.OpenAI | LLMClient | None = None,
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
            budget=budget,
            batch_size=batch_size,
            prefetch=prefetch,
            related_studies=related_studies,
        )
        if isinstance(fallback_sampler, LLMSampler):
            raise ValueError("`fallback_sampler` cannot be another LLMSampler.")
        if isinstance(client, LLMClient):
            self._client: LLMClient = client
        else:
            assert model is not None
            self._client = OpenAIChatClient(
                model=model,
                client=client,
                base_url=base_url,
                timeout=timeout,
                max_retries=max_retries,
            )
        self._task = task
        self._timeout = timeout
        self._seed = seed
        self._rng = LazyRandomState(seed)
        self._fallback = fallback_sampler or TPESampler(seed=seed)
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._max_history_trials = max_history_trials
        self._known_space = dict(search_space or {})
        self._descriptions = dict(param_descriptions or {})
        self._schedule = schedule if schedule is not None else default_schedule()
        self._meter = UsageMeter(budget)
        self._budget_refusal_logged = False
        self._contexts: OrderedDict[int, _TrialContext] = OrderedDict()
        self._batch_size = batch_size
        self._queue = ProposalQueue(max_staleness=batch_size)
        self._handed_out: OrderedDict[int, tuple[int, dict[str, Any]]] = OrderedDict()
        self._n_handed_out = 0
        self._prefetch = prefetch
        self._audit_log = AuditLog(audit_log) if audit_log is not None else None
        self._related_studies = list(related_studies)
        self._prior: str | None = None
        self._prior_read = False
        self._prefetching: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(client={self._client!r}, "
            f"fallback_sampler={self._fallback.__class__.__name__})"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        state["_contexts"] = OrderedDict()
        state["_handed_out"] = OrderedDict()
        state["_prefetching"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def reseed_rng(self) -> None:
        with self._lock:
            self._rng.rng.seed()
        self._fallback.reseed_rng()

    @property
    def usage(self) -> Usage:
        """What this sampler's requests to the model have cost so far."""
        return self._meter.usage

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._fallback.before_trial(study, trial)
        self._uses_model(study, trial, self._context(trial))

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        fallback_space = self._fallback.infer_relative_search_space(study, trial)
        context = self._context(trial)
        context.fallback_space = fallback_space
        if not self._uses_model(study, trial, context):
            return fallback_space
        trials = study._get_trials(deepcopy=False, use_cache=True)
        specs = infer_specs(trials, self._known_space, self._descriptions)
        context.specs = specs
        return {**{name: spec.distribution for name, spec in specs.items()}, **fallback_space}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        context = self._context(trial)
        params: dict[str, Any] = {}
        if self._uses_model(study, trial, context):
            params = self._model_params(study, trial, search_space, context)
        params = self._completed(study, trial, search_space, params, context)
        write_planned_params(study, trial, params)
        if context.model_params and self._held_by_another_worker(study, trial, context):
            params = self._completed(study, trial, search_space, {}, context)
            write_planned_params(study, trial, params)
        if self._prefetch and context.model_params:
            self._start_prefetch(study, trial, search_space, context, params)
        return params

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        context = self._context(trial)
        proposed = context.model_params.get(param_name)
        if param_name in context.model_params and contains(param_distribution, proposed):
            return proposed
        with self._lock:
            context.fallback_names.add(param_name)
            if context.use_model and (context.specs is None or param_name not in context.specs):
                context.new_names.append(param_name)
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._fallback.after_trial(study, trial, state, values)
        with self._lock:
            context = self._contexts.pop(trial._trial_id, None)
            prefetch = self._prefetching.pop(trial._trial_id, None)
        if prefetch is not None:
            # The request made ahead during this trial ends with it, so no thread outlives the
            # study; an answer later than the timeout still lands in the queue when it comes.
            prefetch.join(timeout=self._timeout)
        if context is None:
            return
        classification = classify(trial.params, context.model_params, context.fallback_names)
        source = classification.source
        if source is None:
            return
        reason = context.reason() if source != "llm" else None
        if source != "llm" and not reason:
            # The answer was valid but left out parameters it may omit (conditional ones, or
            # any before the study has run a trial).
            missing = ", ".join(map(repr, classification.from_fallback))
            reason = f"the model gave no value for {missing}"
        if reason:
            self._log_fallback(
                trial, classification.from_fallback, source, reason, failed=bool(context.reasons)
            )
        provenance = Provenance(
            source=source,
            model_share=classification.model_share,
            reason=reason,
            rationale=context.rationale or None,
            usage=context.usage,
        )
        write_provenance(study, trial, provenance)
        write_dashboard_note(study, trial, provenance, self._fallback.__class__.__name__)

    def _uses_model(self, study: Study, trial: FrozenTrial, context: _TrialContext) -> bool:
        """Whether the schedule gives this trial to the model; decided once per trial."""
        if context.use_model is None:
            try:
                context.use_model = bool(self._schedule(study, trial))
            except Exception as error:
                _logger.warning(f"Trial {trial.number}: the schedule raised {error!r}.")
                context.use_model = False
            if not context.use_model:
                context.notes.append("the schedule gave this trial to the classical sampler")
        return context.use_model

    def _claim_request(self, context: _TrialContext) -> bool:
        """Count a request against the budget; False, with the reason noted, when it is spent."""
        refusal = self._meter.claim_request()
        if refusal is None:
            return True
        context.notes.append(refusal)
        with self._lock:
            first, self._budget_refusal_logged = not self._budget_refusal_logged, True
        if first:
            _logger.warning(
                f"{refusal}: {self._fallback.__class__.__name__} proposes instead of the model."
            )
        return False

    def _model_params(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: _TrialContext,
    ) -> dict[str, Any]:
        """The model's valid values for ``search_space``, recorded on the trial's context.

        A spare proposal of an earlier batch is used when one still fits; otherwise a request
        is sent, if the budget allows, and the spare proposals of its answer are kept.
        """
        snapshot = Snapshot.of(study, trial)
        queued = self._queue.take(
            snapshot.n_finished, lambda item: fits(item.params, search_space, snapshot)
        )
        if queued is not None:
            params = {name: v for name, v in queued.params.items() if name in search_space}
            with self._lock:
                context.model_params = params
                context.rationale = queued.rationale
                context.usage = context.usage + queued.usage
            return dict(params)
        if not self._claim_request(context):
            return {}
        outcome = self._proposer(study, trial, search_space, context, snapshot)()
        params = {name: v for name, v in outcome.params.items() if name in search_space}
        self._queue.put(outcome.spare, finished_at=snapshot.n_finished, asked_by=trial.number)
        for reply in outcome.replies:
            self._meter.record(reply)
        with self._lock:
            context.model_params = params
            context.rationale = outcome.rationale
            context.usage = functools.reduce(
                lambda usage, reply: usage.plus(reply, self._meter.budget),
                outcome.replies,
                context.usage,
            )
            if outcome.failure:
                context.reasons.append(outcome.failure)
        return dict(params)

    def _completed(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        params: Mapping[str, Any],
        context: _TrialContext,
    ) -> dict[str, Any]:
        """``params`` with every missing parameter of ``search_space`` from the fallback."""
        missing = {name: d for name, d in search_space.items() if name not in params}
        if not missing:
            return dict(params)
        return {**params, **self._fill_from_fallback(study, trial, missing, context)}

    def _held_by_another_worker(
        self, study: Study, trial: FrozenTrial, context: _TrialContext
    ) -> bool:
        """Whether another process's trial has or plans the same configuration.

        Each worker stores its plan before it checks the others', so of two workers that got
        the same configuration the second to check always sees the first; at worst both give
        it up. Within one process the claim in ``_reserve`` already prevents this.
        """
        if isinstance(study._storage, InMemoryStorage):
            return False
        # Read afresh: the trial that took the configuration may have started, or even
        # finished, after this trial read the study.
        fresh = Snapshot.of_trials(
            study._storage.get_all_trials(study._study_id, deepcopy=False), trial
        )
        number = fresh.repeats(context.model_params)
        if number is None:
            return False
        with self._lock:
            context.reasons.append(f"trial {number} of another worker has the same configuration")
            context.model_params = {}
            context.rationale = ""
        return True

    def _proposer(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: _TrialContext,
        snapshot: Snapshot,
    ) -> Callable[[], Outcome]:
        """Everything read from the study for one request, bound to a call that sends it."""
        if context.specs is None:
            context.specs = infer_specs(snapshot.trials, self._known_space, self._descriptions)
        specs = _specs_for(search_space, context.specs, self._descriptions)
        history = select_history(
            snapshot.earlier,
            study.directions,
            self._max_history_trials,
            params_of=snapshot.params_of,
        )
        messages = build_messages(
            task=self._task,
            directions=study.directions,
            metric_names=_metric_names(study),
            specs=specs,
            history=history,
            batch_size=self._batch_size,
            prior=self._prior_experience(study),
        )

        def repeats(params: Mapping[str, Any]) -> int | None:
            number = snapshot.repeats(params)
            return number if number is not None else self._reserve(trial, params)

        return functools.partial(
            propose,
            self._client,
            messages=messages,
            specs=specs,
            schema=answer_schema(specs, self._batch_size),
            seed=self._request_seed(),
            temperature=self._temperature,
            max_tokens=self._max_tokens,
            repeats=repeats,
            claim=self._meter.claim_request,
            on_exchange=functools.partial(self._audit, trial.number),
        )

    def _prior_experience(self, study: Study) -> str | None:
        """The related studies' best trials, read once: they are taken to be finished."""
        with self._lock:
            if self._prior_read:
                return self._prior
        related = []
        for item in self._related_studies:
            try:
                other = (
                    item
                    if isinstance(item, Study)
                    else optuna.load_study(study_name=item, storage=study._storage)
                )
                related.append(
                    RelatedStudy(
                        name=other.study_name,
                        directions=other.directions,
                        trials=other.get_trials(deepcopy=False),
                    )
                )
            except Exception as error:
                _logger.warning(f"Related study {item!r} could not be read: {error!r}.")
        prior = describe_related(related)
        with self._lock:
            self._prior, self._prior_read = prior, True
        return prior

    def _audit(self, trial_number: int, exchange: Exchange) -> None:
        """Append the exchange to the audit log, if there is one; never fail the trial."""
        if self._audit_log is None:
            return
        record = exchange_record(
            trial_number=trial_number,
            model=str(getattr(self._client, "model", "")),
            endpoint=str(getattr(self._client, "endpoint", "")),
            request=exchange.request,
            reply=exchange.reply,
            error=exchange.error,
            params=exchange.params,
            problem=exchange.problem,
            outcome=exchange.outcome,
        )
        try:
            self._audit_log.write(record)
        except OSError as error:
            _logger.warning(f"Trial {trial_number}: could not write the audit log: {error!r}.")

    def _start_prefetch(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: _TrialContext,
        plan: Mapping[str, Any],
    ) -> None:
        """Ask ahead, while this trial's objective runs, for the proposals of the next trials.

        Only when the queue is empty, no request ahead is under way, the schedule gives the
        next trial to the model and the budget allows it.
        """
        with self._lock:
            if self._prefetching or len(self._queue):
                return
        next_trial = copy.copy(trial)
        next_trial.number = trial.number + 1
        try:
            wanted = bool(self._schedule(study, next_trial))
        except Exception:
            wanted = False
        if not wanted or self._meter.claim_request() is not None:
            return
        trials = study._get_trials(deepcopy=False, use_cache=True)
        snapshot = Snapshot.of_trials(trials, trial, plan=plan)
        ask = self._proposer(study, trial, search_space, context, snapshot)
        thread = threading.Thread(
            target=self._prefetch_into_queue,
            args=(ask, snapshot.n_finished, trial.number),
            name=f"optuna-llm-prefetch-{trial.number}",
            daemon=True,
        )
        with self._lock:
            self._prefetching[trial._trial_id] = thread
        thread.start()

    def _prefetch_into_queue(
        self, ask: Callable[[], Outcome], finished_at: int, asked_by: int
    ) -> None:
        try:
            outcome = ask()
        except Exception as error:
            _logger.debug(f"A request made ahead after trial {asked_by} failed: {error!r}.")
            return
        usage = Usage()
        for reply in outcome.replies:
            self._meter.record(reply)
            usage = usage.plus(reply, self._meter.budget)
        proposals = outcome.spare
        if outcome.params and outcome.failure is None:
            proposals = [Proposal(outcome.params, outcome.rationale), *proposals]
        if outcome.failure is not None:
            _logger.debug(f"A request made ahead after trial {asked_by}: {outcome.failure}.")
        self._queue.put(proposals, finished_at=finished_at, asked_by=asked_by, usage=usage)

    def _fill_from_fallback(
        self,
        study: Study,
        trial: FrozenTrial,
        missing: Mapping[str, BaseDistribution],
        context: _TrialContext,
    ) -> dict[str, Any]:
        """Values for ``missing`` from the fallback: jointly where it samples jointly."""
        if context.fallback_space is None:
            context.fallback_space = self._fallback.infer_relative_search_space(study, trial)
        joint = {n: d for n, d in context.fallback_space.items() if n in missing}
        params = self._fallback.sample_relative(study, trial, joint) if joint else {}
        params = {name: value for name, value in params.items() if name in missing}
        for name, distribution in missing.items():
            if name not in params:
                params[name] = self._fallback.sample_independent(study, trial, name, distribution)
        with self._lock:
            context.fallback_names.update(params)
        return params

    def _context(self, trial: FrozenTrial) -> _TrialContext:
        with self._lock:
            context = self._contexts.get(trial._trial_id)
            if context is None:
                context = self._contexts[trial._trial_id] = _TrialContext()
                # Trials that never reach after_trial (ask without tell) must not pile up.
                while len(self._contexts) > _MAX_OPEN_TRIALS:
                    self._contexts.popitem(last=False)
            return context

    def _reserve(self, trial: FrozenTrial, params: Mapping[str, Any]) -> int | None:
        """Claim ``params`` unless this sampler handed them out already; else say to whom.

        Check and claim happen under one lock, so two threads that get the same answer at
        the same time cannot both use it, even when the other trial finished in between and
        was not yet stored when this trial read the study. Spare proposals of a batch are
        claimed as they arrive.
        """
        with self._lock:
            number = find_covering(params, self._handed_out.values())
            if number is None:
                self._n_handed_out += 1
                self._handed_out[self._n_handed_out] = (trial.number, dict(params))
                while len(self._handed_out) > _MAX_OPEN_TRIALS:
                    self._handed_out.popitem(last=False)
            return number

    def _request_seed(self) -> int:
        with self._lock:
            return int(self._rng.rng.randint(0, 2**31 - 1))

    def _log_fallback(
        self, trial: FrozenTrial, names: list[str], source: str, reason: str, *, failed: bool
    ) -> None:
        """One line per trial that used fallback values: a warning when the model failed."""
        what = "every parameter" if source == "fallback" else ", ".join(map(repr, names))
        message = _FALLBACK_TEMPLATE.format(
            number=trial.number,
            fallback=self._fallback.__class__.__name__,
            what=what,
            reason=reason,
        )
        _logger.log(logging.WARNING if failed else logging.INFO, message)


def _specs_for(
    search_space: Mapping[str, BaseDistribution],
    known: Mapping[str, ParamSpec],
    descriptions: Mapping[str, str],
) -> dict[str, ParamSpec]:
    """The specs of exactly the parameters asked for, conditional where the study says so."""
    return {
        name: ParamSpec(
            name=name,
            distribution=distribution,
            conditional=name in known and known[name].conditional,
            description=descriptions.get(name),
            required=name in known and known[name].required,
        )
        for name, distribution in sorted(search_space.items())
    }


def _metric_names(study: Study) -> list[str] | None:
    names = study._storage.get_study_system_attrs(study._study_id).get(_METRIC_NAMES_KEY)
    return list(names) if isinstance(names, list) else None
