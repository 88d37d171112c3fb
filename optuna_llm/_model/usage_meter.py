"""The running usage of one sampler's requests, checked against its budget before each one.

With a study-wide budget (the default), the totals a request is checked against are read from
the study's storage through the trial's ledger, and the request is claimed there before it is
sent; with ``Budget(scope="sampler")``, from this sampler's own count.
"""

from __future__ import annotations

from collections import deque
import threading
import time
from typing import Protocol

from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm.budget import Budget
from optuna_llm.budget import Usage


class Ledger(Protocol):
    """Where one trial books its requests in the study (see ``_study.ledger``)."""

    def study_totals(self) -> tuple[int, Usage]: ...

    def claim(self) -> None: ...

    def add(self, usage: Usage) -> None: ...


class UsageMeter(PicklesWithoutLock):
    """Thread-safe running usage of one sampler, checked against its budget."""

    def __init__(self, budget: Budget | None) -> None:
        self.budget = budget
        self._usage = Usage()
        self._claimed = 0
        self._recent_requests: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def usage(self) -> Usage:
        """This sampler's usage so far."""
        with self._lock:
            return self._usage

    def add(self, usage: Usage, ledger: Ledger | None = None) -> None:
        """Add the usage of a request, answered or failed, and book it on the trial."""
        with self._lock:
            self._usage = self._usage + usage
        if ledger is not None:
            ledger.add(usage)

    def claim_request(self, ledger: Ledger | None = None) -> str | None:
        """Count one request about to be sent, or say which limit forbids it.

        The check and the claim run under this sampler's lock, so its threads never overshoot;
        another process claiming at the same moment can.
        """
        budget = self.budget
        study_wide = budget is not None and budget.scope == "study" and budget.limits_totals
        with self._lock:
            claimed, usage = self._claimed, self._usage
            if ledger is not None and study_wide:
                claimed, usage = ledger.study_totals()
            reason = _exhausted(budget, claimed, usage, self._recent_requests)
            if reason is not None:
                return reason
            self._claimed += 1
            self._recent_requests.append(time.monotonic())
            if ledger is not None and study_wide:
                # Other workers count it from now on; without a study-wide limit, the request
                # is booked once it is back.
                ledger.claim()
            return None


def _exhausted(
    budget: Budget | None, claimed: int, usage: Usage, recent_requests: deque[float]
) -> str | None:
    if budget is None:
        return None
    if budget.max_requests is not None and claimed >= budget.max_requests:
        return f"budget: {budget.max_requests} requests spent"
    if budget.max_tokens is not None and usage.total_tokens >= budget.max_tokens:
        return f"budget: {budget.max_tokens} tokens spent"
    if budget.max_cost is not None and (usage.cost or 0.0) >= budget.max_cost:
        return f"budget: cost limit {budget.max_cost:g} reached"
    if budget.requests_per_minute is not None:
        now = time.monotonic()
        while recent_requests and now - recent_requests[0] >= 60.0:
            recent_requests.popleft()
        if len(recent_requests) >= budget.requests_per_minute:
            return f"rate limit: {budget.requests_per_minute:g} requests per minute"
    return None
