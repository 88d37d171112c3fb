"""One trial's proposal: its turn carried out, from the model's answer to the values it uses.

:class:`Proposals` takes the turn the strategy decided and

- takes the turn's draw, unless it repeats a trial, or asks the model as the turn says;
- on a turn with a screen, asks with the classical sampler's candidate and keeps the model's
  proposal only when the screen finds nothing against it;
- completes what the answer lacks from the classical sampler, jointly where it samples
  jointly;
- stores the configuration on the running trial and gives it up when another worker already
  runs it;
- sends a turn's ``background`` request in a thread of its own, as the trial begins or, when it
  shows the classical sampler's candidate, once the trial's values are known, and waits for
  it, bounded, before the trial ends.

Everything a trial learns goes into its context; nothing here tells turns apart by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import threading
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers._lazy_random_state import LazyRandomState
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_llm._model.proposer import Answer
from optuna_llm._model.proposer import ModelAsk
from optuna_llm._model.proposer import ProposalRequest
from optuna_llm._model.proposer import Proposer
from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._strategies.turn import Strategy
from optuna_llm._strategies.turn import Turn
from optuna_llm._study.ledger import TrialLedger
from optuna_llm._study.related_studies import RelatedStudies
from optuna_llm._study.search_space import ParamSpec
from optuna_llm._study.search_space import infer_specs
from optuna_llm._study.trial_attrs import metric_names
from optuna_llm._study.trial_attrs import write_planned_params
from optuna_llm._study.tried import Snapshot
from optuna_llm._study.tried import held_by_another_worker
from optuna_llm._trial.context import TrialContext


ANOTHER_WORKER = "another_worker"

_logger = optuna.logging.get_logger("optuna.optuna_llm")


class RequestSeeds(PicklesWithoutLock):
    """The ``seed`` of each request, drawn in turn from the sampler's seed; thread-safe."""

    def __init__(self, seed: int | None) -> None:
        self._rng = LazyRandomState(seed)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return int(self._rng.rng.randint(0, 2**31 - 1))

    def reseed(self) -> None:
        with self._lock:
            self._rng.rng.seed()


class Proposals(PicklesWithoutLock):
    """Carries out the turns of one sampler's trials.

    Args:
        fallback: The classical sampler, which proposes whatever the model does not.
        proposer: Asks the model.
        strategy: Decides each trial's turn, and learns what came of it.
        related: The prompt section on related studies.
        known_space: Distributions known before the first trial.
        descriptions: A short description per parameter name.
        seeds: The ``seed`` of a request sent in the background.
        background_seconds: How long a trial's end waits for its background request, at
            most: the request with all its retries.
    """

    def __init__(
        self,
        fallback: BaseSampler,
        proposer: Proposer,
        strategy: Strategy,
        *,
        related: RelatedStudies,
        known_space: Mapping[str, BaseDistribution],
        descriptions: Mapping[str, str],
        seeds: RequestSeeds | None = None,
        background_seconds: float = 60.0,
    ) -> None:
        self.fallback = fallback
        self.proposer = proposer
        self.strategy = strategy
        self._related = related
        self._known_space = dict(known_space)
        self._descriptions = dict(descriptions)
        self._seeds = seeds or RequestSeeds(None)
        self._background_seconds = background_seconds
        self._background: dict[int, _SentInBackground] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # Requests under way belong to the process that sent them.
        return {**super().__getstate__(), "_background": {}}

    def turn(self, study: Study, trial: FrozenTrial, context: TrialContext) -> Turn:
        """The trial's turn, decided by the strategy on first use; its background request,
        if it has one, is sent now."""
        if context.turn is None:
            has_specs = bool(self.specs(study, context))
            context.turn = self.strategy.decide(study, trial, has_specs)
            if not context.turn.uses_model:
                context.notes.append(context.turn.note or "the classical sampler's turn")
            background = context.turn.background
            if background is not None and not background.shows_candidate:
                specs = self.specs(study, context)
                view = Snapshot.of(study, trial)
                self._send_in_background(study, trial, context.turn, specs=specs, view=view)
        return context.turn

    def finish(self, trial_number: int, context: TrialContext | None) -> None:
        """Wait, bounded, for the request trial ``trial_number`` sent in the background: its
        answer is recorded on the trial, which can take no record once it has ended. When the
        answer is unusable, what it cost and why go into the trial's context; an error other
        than the model's is raised here."""
        with self._lock:
            sent = self._background.pop(trial_number, None)
        if sent is None:
            return
        sent.thread.join(self._background_seconds)
        if sent.thread.is_alive():
            _logger.warning(
                f"Trial {trial_number} ends before the model answered the request it sent "
                f"in the background ({self._background_seconds:.0f} s); its answer is lost "
                f"and a later trial asks again."
            )
            return
        if sent.error is not None:
            raise sent.error
        if context is None or sent.answer is None or sent.answer.params:
            # A usable answer's cost is shown on the trial that uses it.
            return
        context.answer = Answer(usage=sent.answer.usage)
        why = sent.answer.skipped or sent.answer.failure or "no configuration"
        context.notes.append(f"the request sent in the background gave nothing: {why}")

    def specs(self, study: Study, context: TrialContext) -> dict[str, ParamSpec]:
        """The parameters the model may propose for this trial; built once per trial."""
        if context.specs is None:
            trials = study._get_trials(deepcopy=False, use_cache=True)
            context.specs = infer_specs(trials, self._known_space, self._descriptions)
        return context.specs

    def sample(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: TrialContext,
        seed: int,
    ) -> dict[str, Any]:
        """The values of ``search_space`` for the trial, the model's where its turn gives
        them; a request's ``seed`` is ``seed``."""
        turn, view = self.turn(study, trial, context), Snapshot.of(study, trial)
        shows = turn.background is not None and turn.background.shows_candidate
        candidate = None
        if turn.screen is not None or shows:
            candidate = self.complete(study, trial, search_space, context)
        specs = {n: s for n, s in self.specs(study, context).items() if n in search_space}
        answer = self._answer(study, trial, turn, specs, view=view, candidate=candidate, seed=seed)
        context.take(answer)
        proposal = context.answer.params
        if turn.screen is not None and candidate is not None and proposal:
            space = {name: d for name, d in search_space.items() if name in proposal}
            rejection = turn.screen(proposal, view, space, study.directions)
            if rejection is not None:
                self.proposer.turned_down(trial.number, proposal, rejection.rule, rejection.reason)
                context.drop_answer(rejection.reason, rule=rejection.rule)
            else:
                context.fallback_names.difference_update(proposal)
        if candidate is not None:
            params = {**candidate, **context.answer.params}
        else:
            params = self.complete(study, trial, search_space, context)
        write_planned_params(study, trial, params)
        holder = held_by_another_worker(study, trial, context.answer.params)
        if holder is not None:
            why = f"trial {holder} of another worker has the same configuration"
            self.proposer.turned_down(trial.number, context.answer.params, ANOTHER_WORKER, why)
            context.drop_answer(why, rule=ANOTHER_WORKER)
            params = self.complete(study, trial, search_space, context)
            write_planned_params(study, trial, params)
        if shows:
            self._send_in_background(study, trial, turn, specs=specs, view=view, candidate=params)
        return params

    def complete(
        self,
        study: Study,
        trial: FrozenTrial,
        search_space: Mapping[str, BaseDistribution],
        context: TrialContext,
    ) -> dict[str, Any]:
        """The model's values, with every other parameter of ``search_space`` from the
        fallback: jointly where its own relative space holds it, independently otherwise."""
        params = {n: v for n, v in context.answer.params.items() if n in search_space}
        missing = {name: d for name, d in search_space.items() if name not in params}
        if not missing:
            return params
        if context.fallback_space is None:
            context.fallback_space = self.fallback.infer_relative_search_space(study, trial)
        joint = {name: d for name, d in context.fallback_space.items() if name in missing}
        sampled = self.fallback.sample_relative(study, trial, joint) if joint else {}
        filled = {name: value for name, value in sampled.items() if name in missing}
        for name, distribution in missing.items():
            if name not in filled:
                filled[name] = self.fallback.sample_independent(study, trial, name, distribution)
        context.fallback_names.update(filled)
        return {**params, **filled}

    def _answer(
        self,
        study: Study,
        trial: FrozenTrial,
        turn: Turn,
        specs: Mapping[str, ParamSpec],
        *,
        view: Snapshot,
        candidate: Mapping[str, Any] | None,
        seed: int,
    ) -> Answer:
        """The turn's draw, or the model's answer to the turn's request."""
        if turn.draw is not None:
            drawn = turn.draw.values({name: spec.distribution for name, spec in specs.items()})
            repeated = view.repeats(drawn)
            if repeated is None:
                return Answer(drawn, turn.draw.name, usage=turn.draw.usage)
            why = f"{turn.draw.name} repeats trial {repeated}"
            return Answer(usage=turn.draw.usage, skipped=why)
        if turn.ask is None:
            return Answer()
        request = self._request(
            study, trial, turn.ask, specs=specs, view=view, candidate=candidate, seed=seed
        )
        answer = self.proposer.propose(request)
        self.strategy.proposed(study, trial, turn, answer)
        return answer

    def _request(
        self,
        study: Study,
        trial: FrozenTrial,
        ask: ModelAsk,
        *,
        specs: Mapping[str, ParamSpec],
        view: Snapshot,
        candidate: Mapping[str, Any] | None,
        seed: int,
    ) -> ProposalRequest:
        return ProposalRequest(
            trial_number=trial.number,
            specs=specs,
            view=view,
            directions=study.directions,
            metric_names=metric_names(study),
            prior=self._related.section(study._storage),
            seed=seed,
            ask=ask,
            candidate=candidate,
            ledger=TrialLedger(study._storage, study._study_id, trial),
        )

    def _send_in_background(
        self,
        study: Study,
        trial: FrozenTrial,
        turn: Turn,
        *,
        specs: Mapping[str, ParamSpec],
        view: Snapshot,
        candidate: Mapping[str, Any] | None = None,
    ) -> None:
        assert turn.background is not None
        # The trial holds its candidate: the model's answer must differ from it.
        held = view if candidate is None else view.holding(candidate)
        seed = self._seeds.next()
        request = self._request(
            study, trial, turn.background, specs=specs, view=held, candidate=candidate, seed=seed
        )

        def ask_and_record() -> None:
            try:
                sent.answer = self.proposer.propose(request)
                self.strategy.proposed(study, trial, turn, sent.answer)
            except Exception as error:
                # The model's failures are answers; anything else (a strict replay that finds
                # no answer, a storage that fails) is raised as the trial ends.
                sent.error = error

        thread = threading.Thread(
            target=ask_and_record, name=f"optuna-llm-background-{trial.number}", daemon=True
        )
        sent = _SentInBackground(thread)
        with self._lock:
            self._background[trial.number] = sent
        thread.start()


@dataclass
class _SentInBackground:
    """A request a trial sent in the background: the thread asking, and its answer once in."""

    thread: threading.Thread
    answer: Answer | None = None
    error: Exception | None = None
