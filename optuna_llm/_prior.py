"""Prior experience: the best trials of related studies, as a section of the prompt.

Pure formatting over trials that the sampler reads once. The section says plainly that these
are other studies' results, so the model can start where they ended without mistaking them for
this study's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._history import _rank_complete
from optuna_llm._search_space import format_number
from optuna_llm._search_space import format_params
from optuna_llm._search_space import quote


MAX_TRIALS_PER_STUDY = 3

HEADER = (
    "Prior experience from related studies (not this study; a starting point, not a constraint):"
)


@dataclass(frozen=True)
class RelatedStudy:
    """What the prompt needs of a related study."""

    name: str
    directions: Sequence[StudyDirection]
    trials: Sequence[FrozenTrial]


def describe_related(studies: Sequence[RelatedStudy]) -> str | None:
    """The prompt section listing each related study's best trials, or None if none has any."""
    lines = []
    for study in studies:
        complete = [
            t for t in study.trials if t.state == TrialState.COMPLETE and t.values is not None
        ]
        ranked, n_best = _rank_complete(complete, study.directions, MAX_TRIALS_PER_STUDY)
        goals = ", ".join(
            "maximize" if d == StudyDirection.MAXIMIZE else "minimize" for d in study.directions
        )
        for trial in ranked[: max(n_best, 1)][:MAX_TRIALS_PER_STUDY]:
            values = ", ".join(format_number(v) for v in trial.values)
            lines.append(
                f"- study {quote(study.name)} ({goals}), trial {trial.number}: "
                f"value {values} | {format_params(trial.params)}"
            )
    if not lines:
        return None
    return HEADER + "\n" + "\n".join(lines)
