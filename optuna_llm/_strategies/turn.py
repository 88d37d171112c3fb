"""The seam between the sampler and its strategies: a trial's turn, decided once per trial.

A strategy (the guided default, a schedule) decides in ``before_trial`` who proposes the trial
and, when the model does, how it is asked; the sampler carries the decision out without asking
why. What the strategy learns, it keeps in the study's storage, so that every worker process of
a study and every resumed run decides as one sampler would.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol

from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._model.proposer import Answer
from optuna_llm._model.proposer import ModelAsk
from optuna_llm._study.trial_attrs import Source
from optuna_llm._study.tried import Snapshot
from optuna_llm.budget import Usage


@dataclass(frozen=True)
class Rejection:
    """Why a rule turned a proposal down: the rule's name (``llm:turned_down``) and a sentence
    for the trial's reason."""

    rule: str
    reason: str


class Screen(Protocol):
    """Why a proposal is not worth a trial, or None when it is."""

    def __call__(
        self,
        params: Mapping[str, Any],
        view: Snapshot,
        distributions: Mapping[str, BaseDistribution],
        directions: Sequence[StudyDirection],
    ) -> Rejection | None: ...


class Draw(Protocol):
    """Values proposed without a request, such as a draw from a prior; ``name`` says what
    it is in a trial's reasons."""

    @property
    def name(self) -> str: ...

    @property
    def usage(self) -> Usage:
        """What asking for the values cost, if a request gave them: shown on the trial that
        uses them."""
        ...

    def values(self, distributions: Mapping[str, BaseDistribution]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Turn:
    """Who proposes one trial: the model (``ask``), values drawn without it (``draw``), or the
    classical sampler, with ``note`` saying why.

    With a ``screen``, the model is shown the classical sampler's candidate, and its proposal
    replaces the candidate only when the screen finds nothing against it. ``label`` is the
    ``llm:source`` of values that did not come from the classical sampler.

    ``background`` is a request sent as the trial begins (once its values are known, when it
    shows the classical sampler's candidate) and answered while it runs, for a later trial to
    use: the trial itself does not wait for it, and runs the classical sampler's values.
    """

    ask: ModelAsk | None = None
    draw: Draw | None = None
    screen: Screen | None = None
    label: Source = "llm"
    note: str | None = None
    background: ModelAsk | None = None

    @property
    def uses_model(self) -> bool:
        """Whether the model or its draw proposes."""
        return self.ask is not None or self.draw is not None

    @property
    def samples_every_parameter(self) -> bool:
        """Whether the trial's relative search space is every parameter the study knows: the
        model or its draw proposes, or a request shows the classical sampler's candidate."""
        shown = self.background is not None and self.background.shows_candidate
        return self.uses_model or shown


CLASSICAL = Turn()


class Strategy:
    """Decides each trial's turn, and learns from what came of it; a base class.

    ``decide`` runs once per trial, in ``before_trial``; ``proposed`` once the model has
    answered the trial's request (or failed to), from another thread for a request sent in the
    background, but before the trial ends; ``finished`` in ``after_trial``, where
    ``used`` says whether the trial used any value of the model or its draw. A strategy that
    learns nothing leaves the last two as they are.
    """

    def decide(self, study: Study, trial: FrozenTrial, has_specs: bool) -> Turn:
        """The trial's turn; ``has_specs`` says whether any parameter is known yet."""
        raise NotImplementedError

    def proposed(self, study: Study, trial: FrozenTrial, turn: Turn, answer: Answer) -> None:
        """Learn from the model's answer to the trial's request."""

    def finished(
        self,
        study: Study,
        trial: FrozenTrial,
        turn: Turn,
        *,
        used: bool,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Learn from the trial's end."""
