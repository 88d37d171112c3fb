"""Where a trial's values came from, written as user attributes that optuna-dashboard shows.

The only module that writes to the storage. Values stay short: RDB storages cap attribute
strings, and full exchanges belong in an audit log, not in the study.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set
from dataclasses import dataclass
from typing import Any
from typing import Literal

import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial


SOURCE_KEY = "llm:source"
REASON_KEY = "llm:reason"
RATIONALE_KEY = "llm:rationale"
MAX_ATTR_CHARS = 500

Source = Literal["llm", "partial", "fallback"]

_logger = optuna.logging.get_logger("optuna.optuna_llm")


@dataclass(frozen=True)
class Provenance:
    """Where a trial's values came from, and why."""

    source: Source
    reason: str | None = None
    rationale: str | None = None

    def as_user_attrs(self) -> dict[str, str]:
        attrs = {SOURCE_KEY: self.source}
        if self.reason:
            attrs[REASON_KEY] = _shorten(self.reason)
        if self.rationale:
            attrs[RATIONALE_KEY] = _shorten(self.rationale)
        return attrs


def classify(
    params: Mapping[str, Any], model_params: Mapping[str, Any], fallback_names: Set[str]
) -> Source | None:
    """Classify the values a trial used: all from the model, some, or none.

    Parameters that neither produced (fixed or single-valued ones) do not count; None when
    there is nothing left to classify.
    """
    from_model = {
        name for name, value in params.items() if name in model_params and model_params[name] == value
    }
    from_fallback = {name for name in params if name in fallback_names} - from_model
    if from_model and from_fallback:
        return "partial"
    if from_model:
        return "llm"
    if from_fallback:
        return "fallback"
    return None


def write_provenance(study: Study, trial: FrozenTrial, provenance: Provenance) -> None:
    """Store the provenance on a still-running trial; a storage error is logged, not raised."""
    try:
        for key, value in provenance.as_user_attrs().items():
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
    except Exception as error:  # noqa: BLE001 - a trial must never fail over its provenance
        _logger.warning(f"Trial {trial.number}: could not record where its values came from: {error!r}")


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_ATTR_CHARS else text[: MAX_ATTR_CHARS - 1] + "…"
