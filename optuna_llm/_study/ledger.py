"""What the model has cost a study, kept on its trials so that every worker counts it.

Under a study-wide limit each request is claimed on the trial it is made for
(``llm:requests``) before it is sent; what it cost is added to that trial's ``llm:usage`` once
it is back. A study's totals are the
sums over its trials, read afresh from the storage: every worker process and every resumed run
sees the same ones. One or two system attributes per trial that asked the model, none on the
others.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from optuna.storages import BaseStorage
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._study.trial_attrs import fresh_trials
from optuna_llm._study.trial_attrs import read_record
from optuna_llm._study.trial_attrs import write_record
from optuna_llm.budget import Usage


CLAIMS_KEY = "llm:requests"
USAGE_KEY = "llm:usage"


class TrialLedger(PicklesWithoutLock):
    """The requests of one trial, claimed and paid for in the storage. Thread-safe: a request
    made ahead for the next trial is booked on the trial that made it."""

    def __init__(self, storage: BaseStorage, study_id: int, trial: FrozenTrial) -> None:
        self._storage = storage
        self._study_id = study_id
        self._trial = trial
        self._claims = 0
        self._usage = Usage()
        self._lock = threading.Lock()

    def study_totals(self) -> tuple[int, Usage]:
        """The requests claimed and the usage recorded by every trial of the study."""
        return study_totals(fresh_trials(self._storage, self._study_id))

    def claim(self) -> None:
        """Book one request about to be sent."""
        with self._lock:
            self._claims += 1
            write_record(self._storage, self._trial, CLAIMS_KEY, self._claims)

    def add(self, usage: Usage) -> None:
        """Book what a request cost, answered or failed."""
        with self._lock:
            self._usage = self._usage + usage
            write_record(self._storage, self._trial, USAGE_KEY, dataclasses.asdict(self._usage))


def study_totals(trials: list[FrozenTrial]) -> tuple[int, Usage]:
    """The requests claimed and the usage booked on ``trials``."""
    claims, usage = 0, Usage()
    for trial in trials:
        booked = read_record(trial, USAGE_KEY)
        spent = usage_of(booked) if isinstance(booked, dict) else Usage()
        claimed = read_record(trial, CLAIMS_KEY)
        # A request is claimed before it is sent only under a study-wide limit.
        claims += max(claimed if isinstance(claimed, int) else 0, spent.all_requests)
        usage = usage + spent
    return claims, usage


def study_usage(study: Study) -> Usage:
    """What the model has cost ``study`` so far, over all its workers and runs.

    [`LLMSampler.usage`][optuna_llm.LLMSampler.usage] counts one sampler object's requests;
    this adds up what every sampler booked on the study's trials in its storage. Requests still
    under way count once they are back.

    Example:
        ```python
        import optuna
        from optuna_llm import study_usage

        study = optuna.load_study(study_name="churn", storage="sqlite:///churn.db")
        print(study_usage(study).total_tokens)
        ```
    """
    return study_totals(fresh_trials(study._storage, study._study_id))[1]


def usage_of(record: dict[str, Any]) -> Usage:
    """The usage a record holds, as ``dataclasses.asdict`` wrote it; nothing when unreadable."""
    names = {field.name for field in dataclasses.fields(Usage)}
    try:
        return Usage(**{key: value for key, value in record.items() if key in names})
    except TypeError:
        return Usage()
