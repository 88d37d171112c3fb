"""Benchmark results as data: one JSON line per trial, one file per study.

Files are gzip-compressed JSON lines. A study's file is written under a temporary name and
renamed when the study has ended, so a file under its final name is always complete; the
runner skips those and reruns the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
import gzip
import json
import os
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StudyKey:
    """Which study: a task, an arm (sampler setting), a seed and a number of trials."""

    task: str
    arm: str
    seed: int
    n_trials: int

    @property
    def file_name(self) -> str:
        return f"{self.task}__{self.arm}__s{self.seed}__n{self.n_trials}.jsonl.gz"


@dataclass(frozen=True)
class TrialRecord:
    """One trial of one benchmark study.

    ``best`` is the best value so far in the task's direction (None until a trial completes).
    Model columns are zero for arms without a model: ``requests`` made for the trial,
    ``tokens`` and ``latency`` (seconds waiting for the model) they cost, ``invalid`` answers
    (answered, but unusable as a whole configuration), and ``fallback`` when the model was
    asked but some value came from the classical sampler.
    """

    task: str
    arm: str
    seed: int
    n_trials: int
    number: int
    state: str
    value: float | None
    best: float | None
    params: dict[str, Any]
    source: str | None
    requests: int
    tokens: int
    latency: float
    invalid: int
    fallback: bool
    seconds: float

    @property
    def key(self) -> StudyKey:
        return StudyKey(self.task, self.arm, self.seed, self.n_trials)


def write_study(directory: Path, key: StudyKey, records: Iterable[TrialRecord]) -> Path:
    """Write a finished study's records atomically; returns the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / key.file_name
    partial = final.with_suffix(".partial")
    with gzip.open(partial, "wt") as stream:
        for record in records:
            stream.write(json.dumps(asdict(record), sort_keys=True) + "\n")
    os.replace(partial, final)
    return final


def is_done(directory: Path, key: StudyKey) -> bool:
    return (directory / key.file_name).exists()


def read_records(directory: Path) -> Iterator[TrialRecord]:
    """Every trial record of every finished study under ``directory``."""
    for path in sorted(directory.glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as stream:
            for line in stream:
                if line.strip():
                    yield _record(json.loads(line))


def _record(data: dict[str, Any]) -> TrialRecord:
    return TrialRecord(**data)


def first_trials(records: Iterable[TrialRecord], budget: int) -> list[TrialRecord]:
    """Longer studies cut to their first ``budget`` trials, as studies of that budget.

    No sampler here knows how many trials a study will get, so with the same seed the first
    trials of a longer study are the trials a shorter study would have run. Budgets already
    run as such are kept, not derived.
    """
    records = list(records)
    native = {(r.task, r.arm, r.seed) for r in records if r.n_trials == budget}
    return [
        replace(r, n_trials=budget)
        for r in records
        if r.n_trials > budget and r.number < budget and (r.task, r.arm, r.seed) not in native
    ]
