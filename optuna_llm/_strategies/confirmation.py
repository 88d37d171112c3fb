"""Where the study has confirmed a prior: pure functions.

The model's start and the trials the user enqueued are guesses from outside the study. A
guess is trusted only as far as the study confirms it: a prior is drawn around the best
trial of the study when that trial is one of the guesses, or a draw from a prior around one,
and has beaten at least one other trial. Once a trial of the classical sampler does better,
nothing is drawn around the guesses any more.

The prior's weight fades as the study grows, as in πBO (Hvarfner et al., 2022), where the
prior π is raised to the power ``1/n`` at trial ``n``: a normal of standard deviation ``w``
becomes one of ``w·√n``. So the draws start close to the confirmed trial and widen towards the
classical sampler's own uniform start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._study.history import losses_of
from optuna_llm._study.history import pareto_front_mask
from optuna_llm._study.trial_attrs import SOURCE_KEY


# The width of a draw at most: beyond it a normal cut to the unit interval is nearly uniform.
MAX_WIDTH = 1.0


def is_enqueued(trial: FrozenTrial) -> bool:
    """Whether the user fixed some of the trial's values with ``study.enqueue_trial``."""
    return bool(trial.system_attrs.get("fixed_params"))


def is_guess(trial: FrozenTrial, start_number: int | None) -> bool:
    """Whether ``trial`` ran a guess from outside the study or a draw around one: the model's
    start, a trial the user enqueued, or a prior's draw."""
    source = trial.user_attrs.get(SOURCE_KEY)
    if trial.number == start_number and source in ("llm", "partial"):
        return True
    return source == "prior" or is_enqueued(trial)


def confirmed_centre(
    finished: Sequence[FrozenTrial],
    directions: Sequence[StudyDirection],
    start_number: int | None,
) -> FrozenTrial | None:
    """The trial to draw around: the study's best when it is a guess and has beaten another
    trial (a tie beats nothing); None when a trial of the classical sampler leads, or nothing
    was compared yet.

    With several objectives, the first guess on the Pareto front, while the front holds no
    trial of the classical sampler's.
    """
    complete = [t for t in finished if t.state == TrialState.COMPLETE and t.values is not None]
    complete = [t for t in complete if all(math.isfinite(v) for v in t.values)]
    if len(complete) < 2:
        return None
    if len(directions) == 1:
        sign = 1.0 if directions[0] == StudyDirection.MINIMIZE else -1.0
        best = min(complete, key=lambda t: (sign * t.values[0], t.number))
        beaten = any(sign * t.values[0] > sign * best.values[0] for t in complete)
        return best if beaten and is_guess(best, start_number) else None
    on_front = pareto_front_mask(losses_of(complete, directions))
    front = [t for t, on in zip(complete, on_front, strict=True) if on]
    if len(front) == len(complete) or not all(is_guess(t, start_number) for t in front):
        return None
    return min(front, key=lambda t: t.number)


def faded_width(width: float, number: int) -> float:
    """The prior's standard deviation at trial ``number`` (from 0): ``width·√n``, the normal
    of the prior raised to the power ``1/n``."""
    return min(width * math.sqrt(number + 1), MAX_WIDTH)
