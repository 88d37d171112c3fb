"""What the sampler knows about each trial between its hooks, and where it keeps it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
import threading
from typing import Any

from optuna.distributions import BaseDistribution

from optuna_llm._model.proposer import Answer
from optuna_llm._strategies.turn import CLASSICAL
from optuna_llm._strategies.turn import Turn
from optuna_llm._study.search_space import ParamSpec
from optuna_llm._study.trial_attrs import Provenance
from optuna_llm._study.trial_attrs import classify


# Trials that never reach after_trial (ask without tell) must not pile up.
MAX_OPEN_TRIALS = 1024


@dataclass
class TrialContext:
    """One trial's decisions and findings: its turn, the specs, the model's answer, which
    values came from the fallback, and why. Only the thread running the trial touches it.

    ``notes`` are choices made by design (the strategy, a spent budget, an unavailable
    endpoint), ``reasons`` failures of the model.
    """

    turn: Turn | None = None
    fallback_space: dict[str, BaseDistribution] | None = None
    specs: dict[str, ParamSpec] | None = None
    answer: Answer = field(default_factory=Answer)
    fallback_names: set[str] = field(default_factory=set)
    new_names: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    turned_down: str | None = None

    def take(self, answer: Answer) -> None:
        """Keep the model's answer, and why it fell short, if it did."""
        self.answer = answer
        if answer.skipped:
            self.notes.append(answer.skipped)
        if answer.failure:
            self.reasons.append(answer.failure)

    def drop_answer(self, reason: str, *, rule: str | None = None) -> None:
        """Give up the model's values, keeping what asking cost; ``rule`` names the rule that
        turned them down, when one did rather than the model failing."""
        self.answer = Answer(usage=self.answer.usage)
        (self.notes if rule else self.reasons).append(reason)
        self.turned_down = rule or self.turned_down

    def fell_back(self, name: str) -> None:
        """The fallback proposes ``name``, which the model's answer did not cover."""
        self.fallback_names.add(name)
        if self.turn is not None and self.turn.uses_model and name not in (self.specs or {}):
            self.new_names.append(name)

    def reason(self) -> str | None:
        """Why the fallback proposed values for this trial, if it did."""
        reasons = list(dict.fromkeys(self.notes + self.reasons))
        if self.new_names:
            reasons.append("new to the study: " + ", ".join(map(repr, self.new_names)))
        return "; ".join(reasons) or None

    def provenance(self, params: Mapping[str, Any]) -> Provenance | None:
        """Where the trial's ``params`` came from; None when neither sampler proposed any."""
        classification = classify(params, self.answer.params, self.fallback_names)
        if classification.source is None:
            return None
        source = classification.source
        label = (self.turn or CLASSICAL).label
        if source in ("llm", "partial") and label != "llm":
            # Values drawn without a request (the prior's) are labelled by their turn.
            source = label
        reason = None
        if classification.source != "llm":
            # Without another reason, the answer was valid but left out parameters it may
            # omit (conditional ones, or any before the study has run a trial).
            missing = ", ".join(map(repr, classification.from_fallback))
            reason = self.reason() or f"the model gave no value for {missing}"
        return Provenance(
            source=source,
            model_share=classification.model_share,
            reason=reason,
            rationale=self.answer.rationale or None,
            turned_down=self.turned_down,
            usage=self.answer.usage,
            from_fallback=tuple(classification.from_fallback),
        )


class TrialContexts:
    """The contexts of the trials under way, by trial id; thread-safe and bounded."""

    def __init__(self) -> None:
        self._contexts: OrderedDict[int, TrialContext] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, trial_id: int) -> TrialContext:
        """The trial's context, made on first use."""
        with self._lock:
            context = self._contexts.get(trial_id)
            if context is None:
                context = self._contexts[trial_id] = TrialContext()
                while len(self._contexts) > MAX_OPEN_TRIALS:
                    self._contexts.popitem(last=False)
            return context

    def pop(self, trial_id: int) -> TrialContext | None:
        with self._lock:
            return self._contexts.pop(trial_id, None)

    def __getstate__(self) -> dict[str, object]:
        # Trials under way belong to the process running them.
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__()  # type: ignore[misc]
