"""One trial's proposal: its turn carried out, from the model's answer to the values it uses.

:class:`Proposals` takes the turn the strategy decided and

- takes the turn's draw, unless it repeats a trial, or asks the model as the turn says;
- on a turn with a screen, asks with the classical sampler's candidate and keeps the model's
  proposal only when the screen finds nothing against it;
- completes what the answer lacks from the classical sampler, jointly where it samples
  jointly;
- stores the configuration on the running trial and gives it up when another worker already
  runs it.

Everything a trial learns goes into its context; nothing here tells turns apart by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_llm._model.proposer import Answer
from optuna_llm._model.proposer import ProposalRequest
from optuna_llm._model.proposer import Proposer
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


class Proposals:
    """Carries out the turns of one sampler's trials.

    Args:
        fallback: The classical sampler, which proposes whatever the model does not.
        proposer: Asks the model.
        strategy: Decides each trial's turn, and learns what came of it.
        related: The prompt section on related studies.
        known_space: Distributions known before the first trial.
        descriptions: A short description per parameter name.
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
    ) -> None:
        self.fallback = fallback
        self.proposer = proposer
        self.strategy = strategy
        self._related = related
        self._known_space = dict(known_space)
        self._descriptions = dict(descriptions)

    def turn(self, study: Study, trial: FrozenTrial, context: TrialContext) -> Turn:
        """The trial's turn, decided by the strategy on first use."""
        if context.turn is None:
            has_specs = bool(self.specs(study, context))
            context.turn = self.strategy.decide(study, trial, has_specs)
            if not context.turn.uses_model:
                context.notes.append(context.turn.note or "the classical sampler's turn")
        return context.turn

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
        candidate = self.complete(study, trial, search_space, context) if turn.screen else None
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
                return Answer(drawn, turn.draw.name)
            return Answer(skipped=f"{turn.draw.name} repeats trial {repeated}")
        if turn.ask is None:
            return Answer()
        request = ProposalRequest(
            trial_number=trial.number,
            specs=specs,
            view=view,
            directions=study.directions,
            metric_names=metric_names(study),
            prior=self._related.section(study._storage),
            seed=seed,
            ask=turn.ask,
            candidate=candidate,
            ledger=TrialLedger(study._storage, study._study_id, trial),
        )
        answer = self.proposer.propose(request)
        self.strategy.proposed(study, trial, turn, answer)
        return answer
