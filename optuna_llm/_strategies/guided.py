"""The guided default: the model's start, tested as one trial of the study's start-up, and a
prior drawn around what the study confirms.

Each trial is one of

- the **start**: the model is asked, once per study, for the recommended starting
  configuration (or the library's defaults, with ``Guide(start="defaults")``), as before the
  study's first trial, and the trial that asks runs it as one trial of the classical
  sampler's start-up; a trial the user enqueued does not ask. With ``Guide(ask_ahead=True)``
  no trial waits for it: the first trial that knows the parameters (an enqueued one too)
  sends the request in the background and runs the classical sampler's values meanwhile, and
  the first trial created after the answer that the user did not enqueue runs the start;
- a **prior draw**: a start-up trial drawn, without a request, from a prior around the study's
  best trial, but only while that trial is a guess the study confirmed: the model's start, an
  enqueued trial or a draw around one, that has beaten another trial (``confirmation``). The
  prior fades as the study grows;
- a **challenge**, with ``ask_every``: after the start-up, the model is shown the classical
  sampler's candidate and may replace it (the rules are in ``challenges``); asked ahead, the
  candidate is the asking trial's, which runs it, and the first trial created after the
  answer runs the model's challenger instead of its own candidate unless a rule turns it down;
- the classical sampler's, otherwise: its own random start-up, then its model.

Every decision is read from the study's storage, never from this process's memory, so that
the worker processes of a study and a resumed run act as one sampler. The records are a few
system attributes on the trials that asked the model:

- ``llm:turn``: ``start`` or ``challenge`` on a trial that claimed that turn, ``classical``
  once it gave the claim up to a rival;
- ``llm:start``: the model's start, the prior's seed, when the answer came and whether it was
  asked ahead, on the trial whose request for the start the endpoint answered (no values when
  the answer was unusable). The start-up is the trials created after the answer, in the order
  of their numbers, after the trial that ran the start: trials that other workers began while
  the start was asked for stay the classical sampler's, and the start-up keeps all its trials
  however many workers there are;
- ``llm:challenge``: a challenger asked ahead and when the answer came, on the trial that
  asked;
- ``llm:did_well``: on the trial that ran a challenger, once it ended, whether the challenger
  was used and did well.

A claim is written first and the study read again afterwards: a worker that then sees a rival
claim of the same turn gives its own up. Of two workers claiming at once at least one sees
the other, so at most one request is under way for the start (and for a challenge's turn);
when both see each other both give up, and a later trial claims the turn again.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import datetime
import heapq
import math
import random
import threading
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._model.proposer import Answer
from optuna_llm._model.proposer import ModelAsk
from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._strategies.challenges import Challenge
from optuna_llm._strategies.challenges import challenge_due
from optuna_llm._strategies.challenges import challenge_succeeded
from optuna_llm._strategies.challenges import holds_turn
from optuna_llm._strategies.challenges import turned_down
from optuna_llm._strategies.confirmation import confirmed_centre
from optuna_llm._strategies.confirmation import faded_width
from optuna_llm._strategies.confirmation import is_enqueued
from optuna_llm._strategies.prior_draws import PriorDraw
from optuna_llm._strategies.turn import Strategy
from optuna_llm._strategies.turn import Turn
from optuna_llm._study.ledger import usage_of
from optuna_llm._study.trial_attrs import fresh_trials
from optuna_llm._study.trial_attrs import read_record
from optuna_llm._study.trial_attrs import write_record
from optuna_llm._study.tried import contains
from optuna_llm.budget import Usage
from optuna_llm.guide import Guide


TURN_KEY = "llm:turn"
START_KEY = "llm:start"
DID_WELL_KEY = "llm:did_well"
CHALLENGE_KEY = "llm:challenge"
# The start is asked, again after an outage, until this many times the warm-up's trials.
START_UP_FACTOR = 4


def draw_seed(seed: int | None) -> int:
    """The seed of the prior's draws: from ``seed``, so that every worker draws the same; it
    is recorded with the start, so that every worker draws with the asking worker's seed."""
    return seed % 2**31 if seed is not None else random.SystemRandom().randrange(2**31)


def start_hold_seconds(timeout: float, max_retries: int) -> float:
    """How long a trial asking for the start keeps others from asking: its request with every
    retry, and a minute for the objective to suggest its first parameter."""
    return timeout * (max_retries + 1) + 60.0


# The start is what the model knows of the task: asked alike whether or not the user enqueued
# trials before it, and tested by the study like any other start-up trial.
START_ASK = ModelAsk("start", batch_size=1, attempts=1, history="none", spare=False)
DEFAULTS_ASK = dataclasses.replace(START_ASK, question="defaults")
CHALLENGE_ASK = ModelAsk("challenge", batch_size=1, attempts=1, history="best", spare=False)
_UNCONFIRMED = (
    "a start-up trial of the classical sampler: the study's best trial is not the model's "
    "start, an enqueued trial or a draw around one"
)
_ASKING = (
    "a start-up trial of the classical sampler, while the model is asked for its start in the "
    "background"
)
_CHALLENGING = (
    "the classical sampler's candidate, which the model is asked to challenge in the "
    "background for a later trial"
)
_FLAT = (
    "the history is flat (the last values are all equal): the classical sampler explores "
    "instead of the model"
)


@dataclass(frozen=True)
class Start:
    """The model's recommended start: the trial that asked, its values (empty when the answer
    was unusable), the seed of the prior's draws, and when the answer came."""

    number: int
    params: dict[str, Any]
    seed: int
    answered_at: datetime.datetime | None = None
    rationale: str = ""
    usage: Usage = field(default_factory=Usage)
    ahead: bool = False

    def as_draw(self) -> Answered:
        """The start as the values of the trial that runs it."""
        return Answered("the model's start", self.number, self.params, self.rationale, self.usage)


@dataclass(frozen=True)
class Challenger:
    """The model's answer to a challenge: the trial that asked, the proposal (empty when the
    answer was unusable), its rationale, and when the answer came."""

    number: int
    params: dict[str, Any]
    rationale: str = ""
    answered_at: datetime.datetime | None = None
    usage: Usage = field(default_factory=Usage)

    def as_draw(self) -> Answered:
        """The challenger as the values of the trial that runs it."""
        what = "the model's challenger"
        return Answered(what, self.number, self.params, self.rationale, self.usage)


@dataclass(frozen=True)
class Answered:
    """The model's answer to a request sent in the background, as one later trial's values: a
    draw that needs no request. ``what`` says which answer it is when the model gave no
    rationale; what the request cost is shown on the trial that uses the answer."""

    what: str
    asked_by: int
    params: Mapping[str, Any]
    rationale: str = ""
    usage: Usage = field(default_factory=Usage)

    @property
    def name(self) -> str:
        return self.rationale or f"{self.what}, asked for by trial {self.asked_by}"

    def values(self, distributions: Mapping[str, BaseDistribution]) -> dict[str, Any]:
        return {
            name: value
            for name, value in self.params.items()
            if name in distributions and contains(distributions[name], value)
        }


@dataclass(frozen=True)
class PlanRecord:
    """What the study's trials say of the plan: the start, the trials asking for it now, the
    challenges so far, the trials of the warm-up and after (those created after the start's
    answer), by number, the one of them that runs the start, and the trials that run a
    challenger, with it."""

    start: Start | None
    asking: tuple[int, ...]
    challenges: tuple[Challenge, ...]
    after_start: tuple[int, ...] = ()
    runner: int | None = None
    challengers: tuple[tuple[int, Challenger], ...] = ()


def read_plan(
    trials: Sequence[FrozenTrial], *, now: datetime.datetime, hold_seconds: float
) -> PlanRecord:
    """The plan as ``trials`` record it. A trial asking for the start counts until it ends, or
    for ``hold_seconds`` after it began (its worker may have died on a storage without a
    heartbeat).

    An answer sent in the background is run by the first trial the user did not enqueue
    among those created after it came (:func:`runner_of`). A challenge did well when the
    trial that ran its challenger says so; it is under way while it is asked for or its
    challenger waits for its trial or runs, and did not do well otherwise.
    """
    starts: list[Start] = []
    asking: list[int] = []
    challenges: list[Challenge] = []
    challengers: list[tuple[int, Challenger]] = []
    for trial in trials:
        turn = read_record(trial, TURN_KEY)
        if turn == "start":
            record = read_record(trial, START_KEY)
            if isinstance(record, dict):
                starts.append(_start(trial.number, record))
            elif trial.state == TrialState.RUNNING and not _stale(trial, now, hold_seconds):
                asking.append(trial.number)
        elif turn == "challenge":
            did_well, challenger = _challenge_outcome(trial, trials)
            challenges.append(Challenge(trial.number, did_well))
            if challenger is not None:
                challengers.append(challenger)
    start = min(starts, key=lambda s: s.number) if starts else None
    after = [t for t in trials if start is not None and _after(t, start.number, start.answered_at)]
    after.sort(key=lambda t: t.number)
    runner = None
    if start is not None and start.params:
        if start.ahead:
            runner = next((t.number for t in after if not is_enqueued(t)), None)
        else:
            runner = start.number
    return PlanRecord(
        start,
        tuple(asking),
        tuple(challenges),
        tuple(t.number for t in after),
        runner,
        tuple(challengers),
    )


def runner_of(
    trials: Sequence[FrozenTrial], asked_by: int, answered_at: datetime.datetime | None
) -> FrozenTrial | None:
    """The trial that runs an answer to trial ``asked_by``'s request: the first, by number,
    of those created after the answer that the user did not enqueue."""
    after = [t for t in trials if _after(t, asked_by, answered_at) and not is_enqueued(t)]
    return min(after, key=lambda t: t.number, default=None)


def _challenge_outcome(
    trial: FrozenTrial, trials: Sequence[FrozenTrial]
) -> tuple[bool | None, tuple[int, Challenger] | None]:
    """Whether trial ``trial``'s challenge did well (None while under way), and the trial
    that runs its challenger, with it, while that trial has not ended."""
    own = read_record(trial, DID_WELL_KEY)
    if isinstance(own, bool):
        # A challenge the trial waited for and ran itself.
        return own, None
    record = read_record(trial, CHALLENGE_KEY)
    if not isinstance(record, dict):
        # Not answered: asking while the trial runs; the endpoint never answered once it ended.
        return (None if trial.state == TrialState.RUNNING else False), None
    challenger = _recorded_answer(trial.number, record)
    if not challenger.params:
        return False, None
    runner = runner_of(trials, trial.number, challenger.answered_at)
    if runner is None:
        return None, None
    did_well = read_record(runner, DID_WELL_KEY)
    if isinstance(did_well, bool):
        return did_well, None
    if runner.state == TrialState.RUNNING:
        return None, (runner.number, challenger)
    # Its trial ended unjudged (its worker died, or it was not the model's turn after all).
    return False, None


def plan_turn(
    number: int,
    plan: PlanRecord,
    finished: Sequence[FrozenTrial],
    guide: Guide,
    *,
    has_specs: bool,
    directions: Sequence[StudyDirection] = (StudyDirection.MINIMIZE,),
    enqueued: bool = False,
) -> Turn:
    """The turn of trial ``number``, given the plan and the study's finished trials;
    ``enqueued`` says whether the user fixed the trial's values."""
    start = plan.start
    if start is None:
        if not has_specs:
            return Turn(note="no parameter is known yet")
        if plan.asking:
            return Turn(note="the model's start is not known yet")
        if number >= START_UP_FACTOR * guide.warmup_trials:
            return Turn(note="the model gave no start during the study's start-up")
        ask = DEFAULTS_ASK if guide.start == "defaults" else START_ASK
        if guide.ask_ahead:
            note = "the user enqueued the trial's values" if enqueued else _ASKING
            return Turn(background=ask, note=note)
        if enqueued:
            return Turn(note="the user enqueued the trial's values")
        return Turn(ask=ask)
    position = bisect.bisect_left(plan.after_start, number)
    if plan.after_start[position : position + 1] != (number,):
        return Turn(note="the trial began before the model's start was known")
    if number == plan.runner:
        return Turn(draw=start.as_draw())
    # Slot 0 is the trial that ran the start; without a usable start, the one that asked.
    ran = plan.runner is not None and plan.runner in plan.after_start
    origin = plan.after_start.index(plan.runner) if ran else -1
    slot = position - origin
    if slot <= 0:
        return Turn(note="the user enqueued the trial's values")
    flat = is_flat(_recent_values(finished, guide.flat_window), guide.flat_window)
    if slot < guide.warmup_trials:
        if not guide.is_prior_draw(slot):
            return Turn(note="a start-up trial of the classical sampler")
        if flat:
            return Turn(note=_FLAT)
        centre = confirmed_centre(finished, directions, plan.runner)
        if centre is None:
            return Turn(note=_UNCONFIRMED)
        index = sum(guide.is_prior_draw(s) for s in range(1, slot))
        width = faded_width(guide.prior_width, number)
        n_draws = guide.n_prior_draws
        draw = PriorDraw(centre.params, width, index, n_draws, start.seed, centre.number)
        return Turn(draw=draw, label="prior")
    if guide.ask_every == 0:
        return Turn(note="the classical sampler's turn")
    if flat:
        return Turn(note=_FLAT)
    challenger = dict(plan.challengers).get(number)
    if challenger is not None:
        return Turn(draw=challenger.as_draw(), screen=turned_down)
    first = plan.after_start[origin + guide.warmup_trials]
    if challenge_due(number, first, max(guide.ask_every, 1), plan.challenges):
        if guide.ask_ahead:
            return Turn(background=CHALLENGE_ASK, note=_CHALLENGING)
        return Turn(ask=CHALLENGE_ASK, screen=turned_down)
    return Turn(note="the classical sampler's turn")


def is_flat(values: Sequence[float], window: int) -> bool:
    """Whether the last ``window`` values are all the same: the objective gives no signal."""
    recent = [v for v in values[-window:] if math.isfinite(v)]
    if len(recent) < window:
        return False
    scale = max(abs(v) for v in recent) or 1.0
    return max(recent) - min(recent) <= 1e-12 * scale


class GuidedStrategy(PicklesWithoutLock, Strategy):
    """The guided default's decisions, read from and written to the study's storage.

    Args:
        guide: The constants.
        draw_seed: The prior's seed, should this process's trial be the one that asks for the
            start; every worker then draws with the seed recorded with the start.
        hold_seconds: How long a trial asking for the start keeps others from asking.
    """

    def __init__(self, guide: Guide, draw_seed: int, hold_seconds: float) -> None:
        self.guide = guide
        self._draw_seed = draw_seed
        self._hold_seconds = hold_seconds
        self._lock = threading.Lock()

    def decide(self, study: Study, trial: FrozenTrial, has_specs: bool) -> Turn:
        """Trial ``trial``'s turn; a start or challenge is claimed in the storage first."""
        with self._lock:
            # The study as read when this trial was created, shared with the classical sampler;
            # a claim reads it afresh.
            trials = study._get_trials(deepcopy=False, use_cache=True)
            finished = [t for t in trials if t.state.is_finished()]
            turn = plan_turn(
                trial.number,
                self._plan(trials),
                finished,
                self.guide,
                has_specs=has_specs,
                directions=study.directions,
                enqueued=is_enqueued(trial),
            )
            if _request(turn) is None or self._claimed(study, trial, _kind(turn)):
                return turn
            return Turn(note="another worker claimed the model's turn at the same moment")

    def proposed(self, study: Study, trial: FrozenTrial, turn: Turn, answer: Answer) -> None:
        """Record the model's start or challenger on the asking trial once the endpoint has
        answered; a later trial runs it."""
        if _request(turn) is None or not answer.answered:
            return
        record: dict[str, Any] = {
            "params": answer.params,
            "rationale": answer.rationale,
            "answered_at": datetime.datetime.now().isoformat(timespec="microseconds"),
            "usage": dataclasses.asdict(answer.usage),
        }
        ahead = turn.background is not None
        if _kind(turn) == "start":
            record = {**record, "seed": self._draw_seed, "ahead": ahead}
            write_record(study._storage, trial, START_KEY, record)
        elif ahead:
            write_record(study._storage, trial, CHALLENGE_KEY, record)

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
        """Record, on the trial that ran a challenger, how the challenge did: its proposal was
        used and did well, or not."""
        if turn.screen is None:
            return
        trials = study._get_trials(deepcopy=False, use_cache=False)
        complete_values = values if state == TrialState.COMPLETE else None
        did_well = used and challenge_succeeded(trial, complete_values, trials, study.directions)
        write_record(study._storage, trial, DID_WELL_KEY, did_well)

    def _plan(self, trials: Sequence[FrozenTrial]) -> PlanRecord:
        now = datetime.datetime.now()
        return read_plan(trials, now=now, hold_seconds=self._hold_seconds)

    def _claimed(self, study: Study, trial: FrozenTrial, kind: str) -> bool:
        """Claim the turn, then give it up if the study shows a rival claim."""
        write_record(study._storage, trial, TURN_KEY, kind)
        trials = fresh_trials(study._storage, study._study_id)
        others = [t for t in trials if t.number != trial.number]
        plan = self._plan(others)
        if kind == "start":
            rival = plan.start is not None or bool(plan.asking)
        else:
            every = max(self.guide.ask_every, 1)
            rival = any(holds_turn(c, trial.number, every) for c in plan.challenges)
        if rival:
            write_record(study._storage, trial, TURN_KEY, "classical")
        return not rival


def _request(turn: Turn) -> ModelAsk | None:
    """The request the turn sends, whether the trial waits for it or not."""
    return turn.ask or turn.background


def _kind(turn: Turn) -> str:
    """The turn a request is for, as ``llm:turn`` records it: ``start`` or ``challenge``."""
    request = _request(turn)
    return "challenge" if request is not None and request.question == "challenge" else "start"


def _start(number: int, record: dict[str, Any]) -> Start:
    seed = record.get("seed")
    answered = _recorded_answer(number, record)
    return Start(
        number,
        answered.params,
        seed if isinstance(seed, int) else 0,
        answered.answered_at,
        answered.rationale,
        answered.usage,
        ahead=record.get("ahead") is True,
    )


def _recorded_answer(number: int, record: dict[str, Any]) -> Challenger:
    params, rationale, answered_at, usage = (
        record.get(k) for k in ("params", "rationale", "answered_at", "usage")
    )
    try:
        when = datetime.datetime.fromisoformat(answered_at) if answered_at else None
    except (TypeError, ValueError):
        when = None
    return Challenger(
        number,
        dict(params) if isinstance(params, dict) else {},
        rationale if isinstance(rationale, str) else "",
        when,
        usage_of(usage) if isinstance(usage, dict) else Usage(),
    )


def _after(trial: FrozenTrial, asked_by: int, answered_at: datetime.datetime | None) -> bool:
    """Whether ``trial`` was created after the answer to trial ``asked_by``'s request
    (Optuna's trial start times and the record are both the local time of the machine that
    wrote them)."""
    if trial.number <= asked_by:
        return False
    began = trial.datetime_start
    return answered_at is None or began is None or began > answered_at


def _stale(trial: FrozenTrial, now: datetime.datetime, hold_seconds: float) -> bool:
    started = trial.datetime_start
    return started is not None and (now - started).total_seconds() > hold_seconds


def _recent_values(finished: Sequence[FrozenTrial], n: int) -> list[float]:
    """The first objective's values of the ``n`` latest complete trials, in trial order."""
    complete = [t for t in finished if t.state == TrialState.COMPLETE and t.values is not None]
    latest = heapq.nlargest(n, complete, key=lambda t: t.number)
    return [t.values[0] for t in reversed(latest)]
