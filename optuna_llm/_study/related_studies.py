"""Prior experience: the best trials of related studies, as a section of the prompt.

:class:`RelatedStudies` reads the studies once; :func:`describe_related` is pure formatting. The
section says plainly that these are other studies' results, so the model can start where they
ended without mistaking them for this study's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import threading

import optuna
from optuna.storages import BaseStorage
from optuna.study import Study
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._study.history import _rank_complete
from optuna_llm._study.search_space import format_number
from optuna_llm._study.search_space import format_params
from optuna_llm._study.search_space import quote


MAX_TRIALS_PER_STUDY = 3

_logger = optuna.logging.get_logger("optuna.optuna_llm")

HEADER = (
    "Prior experience from related studies (not this study; a starting point, not a constraint):"
)


@dataclass(frozen=True)
class RelatedStudy:
    """What the prompt needs of a related study."""

    name: str
    directions: Sequence[StudyDirection]
    trials: Sequence[FrozenTrial]


class RelatedStudies(PicklesWithoutLock):
    """The prompt section on related studies, read once, on first use: they are taken to be
    finished. Thread-safe."""

    def __init__(self, studies: Sequence[str | Study]) -> None:
        self._studies = list(studies)
        self._section: str | None = None
        self._read = not self._studies
        self._lock = threading.Lock()

    def section(self, storage: BaseStorage) -> str | None:
        """The section, reading the studies (by name from ``storage``) the first time."""
        with self._lock:
            if not self._read:
                self._section, self._read = read_related(storage, self._studies), True
            return self._section


def read_related(storage: BaseStorage, studies: Sequence[str | Study]) -> str | None:
    """The prompt section for ``studies``, given as names in ``storage`` or as Study objects.

    A study that cannot be read is left out, with a warning.
    """
    related = []
    for item in studies:
        try:
            other = (
                item
                if isinstance(item, Study)
                else optuna.load_study(study_name=item, storage=storage)
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
    return describe_related(related)


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
