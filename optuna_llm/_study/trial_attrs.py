"""What the sampler keeps on trials in the storage.

- Where a trial's values came from, as user attributes that optuna-dashboard shows. Values
  stay short: RDB storages cap attribute strings.
- The configuration planned for a running trial, as a system attribute, so that other workers
  sharing the storage see it whole before the objective has suggested every parameter.
- The strategies' records (what the guided default has asked and learned), as system
  attributes that every worker and every resumed run reads back.

It writes to the storage for the sampler (the budget's ledger writes its own two attributes),
reads the study's metric names, and reads the trials afresh when another worker's latest
writes matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set
from dataclasses import dataclass
from dataclasses import field
import importlib.util
import json
import logging
from typing import Any
from typing import Literal

import optuna
from optuna.storages import BaseStorage
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_llm.budget import Usage


SOURCE_KEY = "llm:source"
REASON_KEY = "llm:reason"
# Which rule turned the model's proposal down: near_repeat, worse_half, another_worker.
TURNED_DOWN_KEY = "llm:turned_down"
RATIONALE_KEY = "llm:rationale"
TOKENS_KEY = "llm:tokens"
LATENCY_KEY = "llm:latency"
COST_KEY = "llm:cost"
# A number, not a string: optuna-dashboard plots numeric user attributes as an axis of its
# Smart Selection parallel coordinates, where a drag selects (filters) the trials.
MODEL_SHARE_KEY = "llm:model_share"
MAX_ATTR_CHARS = 500
PLANNED_PARAMS_KEY = "llm:planned_params"
# Where Optuna keeps the names set with ``study.set_metric_names``.
METRIC_NAMES_KEY = "study:metric_names"
# A record of the sampler's: the trial it was written on, and its value.
RECORD_TRIAL = "trial"
RECORD_VALUE = "value"
# Optuna's own samplers split long system attributes into chunks of this size.
CHUNK_CHARS = 2045

Source = Literal["llm", "partial", "prior", "fallback"]

_logger = optuna.logging.get_logger("optuna.optuna_llm")


@dataclass(frozen=True)
class Provenance:
    """Where a trial's values came from, and why; ``from_fallback`` names the parameters the
    fallback proposed."""

    source: Source
    model_share: float
    reason: str | None = None
    rationale: str | None = None
    usage: Usage = field(default_factory=Usage)
    from_fallback: tuple[str, ...] = ()
    turned_down: str | None = None

    def as_user_attrs(self) -> dict[str, str | int | float]:
        attrs: dict[str, str | int | float] = {
            SOURCE_KEY: self.source,
            MODEL_SHARE_KEY: self.model_share,
        }
        if self.reason:
            attrs[REASON_KEY] = _shorten(self.reason)
        if self.rationale:
            attrs[RATIONALE_KEY] = _shorten(self.rationale)
        if self.turned_down:
            attrs[TURNED_DOWN_KEY] = self.turned_down
        if self.usage.requests:
            attrs[TOKENS_KEY] = self.usage.total_tokens
            attrs[LATENCY_KEY] = round(self.usage.latency, 3)
            if self.usage.cost is not None:
                attrs[COST_KEY] = round(self.usage.cost, 6)
        return attrs

    def as_markdown(self, sampler_name: str) -> str:
        """The trial's note in optuna-dashboard."""
        return "\n\n".join(_markdown_lines(self, sampler_name))

    def fallback_line(self, number: int, sampler_name: str) -> str:
        """The log line of a trial that used values of the fallback."""
        what = (
            "every parameter"
            if self.source == "fallback"
            else ", ".join(map(repr, self.from_fallback))
        )
        return (
            f"Trial {number}: {sampler_name} proposed {what} instead of the model, "
            f"because {(self.reason or '').rstrip('.')}."
        )


_SOURCE_TEXT = {
    "llm": "the model",
    "partial": "the model, with some values from {sampler}",
    "prior": "a start-up draw from the prior around a guess the study confirmed",
    "fallback": "{sampler}, instead of the model",
}


def _markdown_lines(provenance: Provenance, sampler_name: str) -> list[str]:
    lines = [f"**Proposed by** {_SOURCE_TEXT[provenance.source].format(sampler=sampler_name)}."]
    if provenance.rationale:
        lines.append(f"**Model's rationale:** {_shorten(provenance.rationale)}")
    if provenance.reason:
        lines.append(f"**Why {sampler_name} stepped in:** {_shorten(provenance.reason)}")
    usage = provenance.usage
    if usage.requests:
        cost = f", cost {usage.cost:.6g}" if usage.cost is not None else ""
        lines.append(
            f"**Model use:** {usage.requests} request(s), {usage.total_tokens} tokens, "
            f"{usage.latency:.1f} s{cost}."
        )
    return lines


@dataclass(frozen=True)
class Classification:
    source: Source | None
    from_fallback: list[str]
    model_share: float


def classify(
    params: Mapping[str, Any], model_params: Mapping[str, Any], fallback_names: Set[str]
) -> Classification:
    """Classify the values a trial used: all from the model, some, or none.

    Gives the source, the names whose values came from the fallback, and the share of the
    classified values that came from the model. Parameters that neither produced (fixed or
    single-valued ones) do not count; the source is None when nothing is left to classify.
    """
    from_model = {
        name
        for name, value in params.items()
        if name in model_params and model_params[name] == value
    }
    from_fallback = sorted({name for name in params if name in fallback_names} - from_model)
    counted = len(from_model) + len(from_fallback)
    share = round(len(from_model) / counted, 3) if counted else 0.0
    source: Source | None = None
    if from_model:
        source = "partial" if from_fallback else "llm"
    elif from_fallback:
        source = "fallback"
    return Classification(source, from_fallback, share)


def record_provenance(
    study: Study, trial: FrozenTrial, provenance: Provenance, sampler_name: str, *, failed: bool
) -> None:
    """Log one line when the fallback proposed (a warning when the model ``failed``), and
    store the provenance as user attributes and as the trial's dashboard note."""
    if provenance.reason:
        level = logging.WARNING if failed else logging.INFO
        _logger.log(level, provenance.fallback_line(trial.number, sampler_name))
    write_provenance(study, trial, provenance)
    write_dashboard_note(study, trial, provenance, sampler_name)


def write_provenance(study: Study, trial: FrozenTrial, provenance: Provenance) -> None:
    """Store the provenance on a still-running trial; a storage error is logged, not raised."""
    try:
        for key, value in provenance.as_user_attrs().items():
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
    except Exception as error:
        _logger.warning(
            f"Trial {trial.number}: could not record where its values came from: {error!r}"
        )


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_ATTR_CHARS else text[: MAX_ATTR_CHARS - 1] + "…"


def write_dashboard_note(
    study: Study, trial: FrozenTrial, provenance: Provenance, sampler_name: str
) -> None:
    """Put a short Markdown note on the trial in optuna-dashboard, when it is installed."""
    if importlib.util.find_spec("optuna_dashboard") is None:
        return
    try:
        from optuna_dashboard import save_note  # noqa: PLC0415 - an optional dependency

        save_note(_NoteTarget(study, trial), provenance.as_markdown(sampler_name))
    except Exception as error:
        _logger.warning(f"Trial {trial.number}: could not write its dashboard note: {error!r}")


class _NoteTarget:
    """What optuna-dashboard's ``save_note`` reads of a trial: storage, study and trial id."""

    def __init__(self, study: Study, trial: FrozenTrial) -> None:
        self.storage = study._storage
        self.study = study
        self._trial_id = trial._trial_id


def write_planned_params(study: Study, trial: FrozenTrial, params: Mapping[str, Any]) -> None:
    """Store the configuration a running trial is about to use, in chunks."""
    text = json.dumps(dict(params))
    for i in range(0, len(text), CHUNK_CHARS):
        study._storage.set_trial_system_attr(
            trial._trial_id, f"{PLANNED_PARAMS_KEY}:{i // CHUNK_CHARS}", text[i : i + CHUNK_CHARS]
        )


def planned_params(trial: FrozenTrial) -> dict[str, Any] | None:
    """The configuration stored for a trial by any worker, or None when there is none.

    Another worker may be writing the chunks right now; a half-written value counts as none.
    """
    chunks: list[str] = []
    while (chunk := trial.system_attrs.get(f"{PLANNED_PARAMS_KEY}:{len(chunks)}")) is not None:
        chunks.append(chunk)
    if not chunks:
        return None
    try:
        params = json.loads("".join(chunks))
    except json.JSONDecodeError:
        return None
    return params if isinstance(params, dict) else None


def metric_names(study: Study) -> list[str] | None:
    """The objectives' names, when the study has them.

    Read from the storage, since the study a sampler is handed may not have ``metric_names``
    (HyperbandPruner's bracket study does not).
    """
    names = study._storage.get_study_system_attrs(study._study_id).get(METRIC_NAMES_KEY)
    return list(names) if isinstance(names, list) else None


def write_record(storage: BaseStorage, trial: FrozenTrial, key: str, value: Any) -> None:
    """Store a record of the sampler's on a running trial; a storage error is logged, not
    raised.

    The record names its trial, so that a copy of the trial (Optuna's retry callbacks copy a
    failed trial's system attributes to its retry) does not pass for the trial itself.
    """
    try:
        storage.set_trial_system_attr(
            trial._trial_id, key, {RECORD_TRIAL: trial.number, RECORD_VALUE: value}
        )
    except Exception as error:
        _logger.warning(f"Trial {trial.number}: could not store {key!r}: {error!r}")


def read_record(trial: FrozenTrial, key: str) -> Any:
    """The record ``key`` that was written on ``trial`` itself, or None."""
    record = trial.system_attrs.get(key)
    if isinstance(record, dict) and record.get(RECORD_TRIAL) == trial.number:
        return record.get(RECORD_VALUE)
    return None


def fresh_trials(storage: BaseStorage, study_id: int) -> list[FrozenTrial]:
    """Every trial of the study as the storage holds it now, other workers' latest writes
    included: every storage brings its cache of unfinished trials up to date on this call."""
    return storage.get_all_trials(study_id, deepcopy=False)
