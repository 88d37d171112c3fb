"""The study's trials as the model sees them: a bounded, deterministic selection.

Pure functions. However long the study, the prompt shows at most ``max_trials`` trials: the
best (or the Pareto front), the most recent, a spread over the range of outcomes, and the trials
still running, so the model neither repeats them nor forgets what failed. The selection changes
in steps rather than at every trial, so that successive prompts share long prefixes, which
llama.cpp and hosted prompt caches reuse.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import math
from typing import Any

import numpy as np
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


# Optuna 5 does not store why a trial failed; an objective can, under this key, as a user
# attribute (a system attribute of that name, as older tools wrote, is read too).
FAIL_REASON_KEY = "fail_reason"
MAX_FAIL_REASON_CHARS = 200

_STATE_NAMES = {
    TrialState.COMPLETE: "complete",
    TrialState.RUNNING: "running",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
}


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the prompt shows it."""

    number: int
    state: str
    params: dict[str, Any]
    values: tuple[float, ...] | None = None
    last_intermediate: tuple[int, float] | None = None
    fail_reason: str | None = None
    violation: float | None = None
    best: bool = False


@dataclass(frozen=True)
class HistoryView:
    """The selected trials and what the whole study holds.

    Finished trials come in trial order, then the running ones.
    """

    records: list[TrialRecord]
    counts: dict[str, int]
    best_only: bool = False

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())


def select_history(
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    max_trials: int,
    params_of: Callable[[FrozenTrial], Mapping[str, Any]] = lambda trial: trial.params,
) -> HistoryView:
    """Choose which trials the prompt shows.

    Args:
        trials: Every trial of the study, in trial order, in any state.
        directions: The study's directions.
        max_trials: How many trials to show at most.
        params_of: The parameters of a trial; for a running trial this may include values
            proposed for it but not suggested yet.
    """
    counts = {name: 0 for name in _STATE_NAMES.values()}
    complete: list[FrozenTrial] = []
    finished: list[FrozenTrial] = []
    running: list[FrozenTrial] = []
    for trial in trials:
        if trial.state not in _STATE_NAMES:
            continue
        counts[_STATE_NAMES[trial.state]] += 1
        if trial.state == TrialState.RUNNING:
            running.append(trial)
            continue
        finished.append(trial)
        if trial.state == TrialState.COMPLETE and trial.values is not None:
            complete.append(trial)

    ranked, n_best = _rank_complete(complete, directions, max_best=len(complete))
    best_numbers = {trial.number for trial in ranked[:n_best]}
    n_running = min(len(running), _Quotas.split(max_trials).running)
    shown = _stable_selection(finished, directions, max_trials - n_running)
    shown += running[len(running) - n_running :][: max(0, max_trials - len(shown))]
    records = [_record(trial, params_of, trial.number in best_numbers) for trial in shown]
    return HistoryView(records=records, counts=counts)


def select_best(
    trials: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    max_trials: int,
    params_of: Callable[[FrozenTrial], Mapping[str, Any]] = lambda trial: trial.params,
) -> HistoryView:
    """The ``max_trials`` best completed trials (the Pareto front first), in trial order.

    For the short prompts of the guided default, which ask the model to beat the best.
    """
    counts = {name: 0 for name in _STATE_NAMES.values()}
    complete = []
    for trial in trials:
        if trial.state in _STATE_NAMES:
            counts[_STATE_NAMES[trial.state]] += 1
        if trial.state == TrialState.COMPLETE and trial.values is not None:
            complete.append(trial)
    ranked, n_best = _rank_complete(complete, directions, max_best=len(complete))
    best_numbers = {trial.number for trial in ranked[:n_best]}
    shown = sorted(ranked[:max_trials], key=lambda trial: trial.number)
    records = [_record(trial, params_of, trial.number in best_numbers) for trial in shown]
    return HistoryView(records=records, counts=counts, best_only=True)


def _stable_selection(
    finished: Sequence[FrozenTrial], directions: Sequence[StudyDirection], room: int
) -> list[FrozenTrial]:
    """Finished trials to show, at most ``room``, chosen so that prompts share long prefixes.

    While everything fits, every trial is shown and each prompt extends the previous one. Past
    that, the finished trials are cut into the older ones and a block of the newest, which is
    shown whole and grows trial by trial; from the older ones a fixed selection (the best, the
    most recent, a spread) is shown, recomputed only when the block fills up. So the prefix a
    prompt cache can reuse breaks once per block, not at every trial.
    """
    if room <= 0:
        return []
    if len(finished) <= room:
        return list(finished)
    block = max(1, room // 3)
    n_older = len(finished) - len(finished) % block
    older, newer = finished[:n_older], finished[n_older:]
    base_room = room - (block - 1)
    older_complete = [t for t in older if t.state == TrialState.COMPLETE and t.values is not None]
    quotas = _Quotas.split(base_room)
    ranked, n_best = _rank_complete(older_complete, directions, quotas.best)
    chosen: dict[int, FrozenTrial] = {}

    def take(candidates: Sequence[FrozenTrial], quota: int) -> None:
        for trial in candidates:
            if quota <= 0 or len(chosen) >= base_room:
                return
            if trial.number not in chosen:
                chosen[trial.number] = trial
                quota -= 1

    take(ranked[:n_best], quotas.best)
    take(older[::-1], quotas.recent)
    take(_spread(ranked, base_room - len(chosen)), base_room - len(chosen))
    take(older[::-1], base_room - len(chosen))
    return [chosen[number] for number in sorted(chosen)] + list(newer)


@dataclass(frozen=True)
class _Quotas:
    running: int
    best: int
    recent: int

    @classmethod
    def split(cls, max_trials: int) -> _Quotas:
        return cls(
            running=max(1, max_trials // 5),
            best=max(1, math.ceil(max_trials * 0.4)),
            recent=max(1, math.ceil(max_trials * 0.3)),
        )


def violation_of(trial: FrozenTrial) -> float | None:
    """Total constraint violation (0.0 when feasible), or None without constraints."""
    constraints = trial.constraints
    if not constraints:
        return None
    return float(sum(max(0.0, value) for value in constraints.values()))


def pareto_front_mask(losses: np.ndarray) -> np.ndarray:
    """Which rows of ``losses`` (to be minimized) no other row dominates."""
    n = len(losses)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    # In lexicographic order a point can only be dominated by an earlier one, and if an earlier
    # point dominates it, so does a point of the front found so far.
    order = np.lexsort(losses.T[::-1])
    front = np.empty((0, losses.shape[1]))
    for i in order:
        point = losses[i]
        dominated = np.all(front <= point, axis=1) & np.any(front < point, axis=1)
        if not dominated.any():
            mask[i] = True
            front = np.vstack([front, point])
    return mask


def losses_of(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]) -> np.ndarray:
    """Each trial's values as losses to minimize, one row per trial."""
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    values = np.array([trial.values for trial in trials], dtype=float).reshape(-1, len(signs))
    losses: np.ndarray = values * signs
    return losses


def _rank_complete(
    complete: Sequence[FrozenTrial], directions: Sequence[StudyDirection], max_best: int
) -> tuple[list[FrozenTrial], int]:
    """Completed trials, best first, and how many of them count as the best.

    Feasible trials come before infeasible ones. With one objective the best is the single
    best trial; with several, the Pareto front of the feasible trials comes first (at most
    ``max_best`` of it counts as best), then the rest by their mean rank over the objectives.
    """
    if not complete:
        return [], 0
    losses = losses_of(complete, directions)
    violations = np.array([violation_of(trial) or 0.0 for trial in complete])
    front = np.zeros(len(complete), dtype=bool)
    if len(directions) == 1:
        score = losses[:, 0]
    else:
        ranks = np.argsort(np.argsort(losses, axis=0, kind="stable"), axis=0, kind="stable")
        score = ranks.mean(axis=1)
        feasible = violations == 0
        front[feasible] = pareto_front_mask(losses[feasible])
    numbers = np.array([trial.number for trial in complete])
    order = np.lexsort((numbers, score, ~front, violations))
    n_best = max(1, min(int(front.sum()), max_best))
    return [complete[i] for i in order], n_best


def _spread(ranked: Sequence[FrozenTrial], n: int) -> list[FrozenTrial]:
    """``n`` trials evenly spaced over the ranking, worst included."""
    if n <= 0 or not ranked:
        return []
    if n >= len(ranked):
        return list(ranked)
    positions = np.linspace(0, len(ranked) - 1, n).round().astype(int)
    return [ranked[i] for i in sorted(set(positions.tolist()), reverse=True)]


def _record(
    trial: FrozenTrial,
    params_of: Callable[[FrozenTrial], Mapping[str, Any]],
    best: bool,
) -> TrialRecord:
    last_intermediate = None
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        step = max(trial.intermediate_values)
        last_intermediate = (step, trial.intermediate_values[step])
    values = tuple(trial.values) if trial.state == TrialState.COMPLETE and trial.values else None
    fail_reason = None
    if trial.state == TrialState.FAIL:
        recorded = trial.user_attrs.get(FAIL_REASON_KEY, trial.system_attrs.get(FAIL_REASON_KEY))
        fail_reason = str(recorded)[:MAX_FAIL_REASON_CHARS] if recorded is not None else None
    return TrialRecord(
        number=trial.number,
        state=_STATE_NAMES[trial.state],
        params=dict(params_of(trial)),
        values=values,
        last_intermediate=last_intermediate,
        fail_reason=fail_reason,
        violation=violation_of(trial) if trial.state == TrialState.COMPLETE else None,
        best=best,
    )
