"""The guided default's decisions: which role each trial plays, and what the model taught it.

A trial is one of

- ``start``: the model is asked for the recommended starting configuration, once;
- ``prior``: a warm-up draw from the prior around that start;
- ``challenge``: after the warm-up, the model is shown the classical sampler's candidate and
  may replace it (see ``_gate``);
- ``classical``: the classical sampler proposes.

:class:`GuidedPlan` is the thin state (the start, the track record) behind pure rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import heapq
import threading
from typing import Any
from typing import Literal

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._gate import TrackRecord
from optuna_llm._gate import did_well
from optuna_llm._gate import is_flat
from optuna_llm._gate import near_repeat
from optuna_llm._gate import rated_competitive
from optuna_llm._history import pareto_front_mask
from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._prior_draws import draw_from_prior
from optuna_llm.guide import Guide


Role = Literal["start", "prior", "challenge", "classical"]


@dataclass(frozen=True)
class Decision:
    """A trial's role, and, for a classical trial, why the model stays out of it."""

    role: Role
    note: str | None = None
    draw_index: int = 0


@dataclass(frozen=True)
class Start:
    """The model's recommended start: the trial it ran in and its values (empty if the model
    gave none)."""

    number: int
    params: dict[str, Any]


class GuidedPlan(PicklesWithoutLock):
    """What the guided default knows across trials. Thread-safe."""

    def __init__(self, guide: Guide, draw_seed: int) -> None:
        self.guide = guide
        self._draw_seed = draw_seed
        self._start: Start | None = None
        self._asking_start = False
        # Made with the start: challenges are counted from the trial that asked for it.
        self._track: TrackRecord | None = None
        self._lock = threading.Lock()

    @property
    def start(self) -> Start | None:
        with self._lock:
            return self._start

    def decide(self, number: int, finished: Sequence[FrozenTrial], has_specs: bool) -> Decision:
        """The role of trial ``number``, given the study's finished trials."""
        guide = self.guide
        with self._lock:
            start, asking, track = self._start, self._asking_start, self._track
            if start is None and has_specs and not asking:
                self._asking_start = True
                return Decision("start")
        if start is None or track is None:
            why = "the model's start is not known yet" if asking else "no parameter is known yet"
            return Decision("classical", why)
        slot = number - start.number
        if slot < guide.warmup_trials:
            if not guide.is_prior_draw(slot):
                return Decision("classical", "a warm-up trial of the classical sampler")
            if not start.params:
                return Decision("classical", "the model gave no start to draw around")
            if is_flat(_recent_values(finished, guide.flat_window), guide.flat_window):
                return Decision("classical", _FLAT)
            index = sum(guide.is_prior_draw(s) for s in range(1, slot))
            return Decision("prior", draw_index=index)
        if guide.ask_every == 0:
            return Decision("classical", "the classical sampler's turn")
        if is_flat(_recent_values(finished, guide.flat_window), guide.flat_window):
            return Decision("classical", _FLAT)
        if track.claim(number):
            return Decision("challenge")
        return Decision("classical", "the classical sampler's turn")

    def started(self, number: int, params: Mapping[str, Any]) -> None:
        """The start was asked for in trial ``number``, and the model gave ``params``."""
        with self._lock:
            self._start = Start(number, dict(params))
            self._asking_start = False
            self._track = TrackRecord(
                first=number + self.guide.warmup_trials, every=max(self.guide.ask_every, 1)
            )

    def started_nothing(self) -> None:
        """The trial that was to ask for the start sampled nothing: the next one asks."""
        with self._lock:
            self._asking_start = False

    def draw(self, index: int, distributions: Mapping[str, BaseDistribution]) -> dict[str, Any]:
        """Warm-up draw ``index`` from the prior around the start."""
        start = self.start
        assert start is not None
        return draw_from_prior(
            start.params,
            distributions,
            width=self.guide.prior_width,
            index=index,
            n_draws=self.guide.n_prior_draws,
            seed=self._draw_seed,
        )

    def judged(self, number: int, *, success: bool) -> None:
        """The outcome of the model's challenge at trial ``number``."""
        with self._lock:
            track = self._track
        if track is not None:
            track.record(number, success=success)


_FLAT = (
    "the history is flat (the last values are all equal): the classical sampler explores "
    "instead of the model"
)


def turned_down(
    params: Mapping[str, Any],
    finished: Sequence[FrozenTrial],
    tried: Sequence[Mapping[str, Any]],
    distributions: Mapping[str, BaseDistribution],
    directions: Sequence[StudyDirection],
) -> str | None:
    """Why a challenger is not worth a trial, or None when it is."""
    if near_repeat(params, tried, distributions):
        return "the model's proposal nearly repeats a tried configuration"
    if len(directions) == 1:
        evaluated = [(t.params, t.values[0]) for t in finished if _complete(t)]
        minimize = directions[0] == StudyDirection.MINIMIZE
        if not rated_competitive(params, evaluated, distributions, minimize=minimize):
            return "the model's proposal lies where the study has seen only its worse half"
    return None


def challenge_succeeded(
    trial: FrozenTrial,
    values: Sequence[float] | None,
    finished: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
) -> bool:
    """Whether a challenger did well: among the best quarter of one objective's values, or on
    the Pareto front of several."""
    if values is None:
        return False
    others = [t.values for t in finished if _complete(t) and t.number != trial.number]
    if len(directions) == 1:
        minimize = directions[0] == StudyDirection.MINIMIZE
        return did_well(values[0], [v[0] for v in others], minimize=minimize)
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    losses = np.array([*others, list(values)], dtype=float) * signs
    return bool(pareto_front_mask(losses)[-1])


def _complete(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and trial.values is not None


def _recent_values(finished: Sequence[FrozenTrial], n: int) -> list[float]:
    """The first objective's values of the ``n`` latest complete trials, in trial order."""
    complete = [t for t in finished if _complete(t)]
    latest = heapq.nlargest(n, complete, key=lambda t: t.number)
    return [t.values[0] for t in reversed(latest)]
