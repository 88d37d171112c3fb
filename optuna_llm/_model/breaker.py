"""A breaker for the model's endpoint: stop asking one that does not answer, try it now and then.

- **Closed** (the usual state): requests go out. Once one fails with
  :class:`~optuna_llm.EndpointUnavailableError`, the next ones go out without the client's
  retries, until one gets an answer.
- **Open**, after :data:`FAILURES_TO_OPEN` such failures in a row: no request goes out and the
  classical sampler proposes; each trial's reason says since when the endpoint is unavailable.
- A **probe**, one request without retries, goes out once the study has moved on by a cooldown
  counted in trials: :data:`FIRST_COOLDOWN`, doubled after each failed probe up to
  :data:`MAX_COOLDOWN`. An answer closes the breaker; a failure opens it again.

Trials, not seconds, are the clock: a probe costs at most one timeout, so a dead endpoint costs
at most one timeout per :data:`MAX_COOLDOWN` trials, however fast the objective is, and every
worker of a study keeps the same clock. One breaker serves all threads of a sampler.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime
import threading

import optuna


FAILURES_TO_OPEN = 3
FIRST_COOLDOWN = 2
MAX_COOLDOWN = 16

_logger = optuna.logging.get_logger("optuna.optuna_llm")


@dataclass(frozen=True)
class Admission:
    """Whether a request may go out, and how.

    ``refusal`` is why not, when it may not; ``retry`` whether the client may retry transport
    errors; ``probe`` whether the request tests an endpoint found unavailable.
    """

    refusal: str | None = None
    retry: bool = True
    probe: bool = False


class EndpointBreaker:
    """The state of one endpoint as its requests have shown it; thread-safe.

    Args:
        endpoint: The endpoint's name for log lines, without credentials.
        fallback: The classical sampler's name for log lines.
    """

    def __init__(self, endpoint: str = "", fallback: str = "the classical sampler") -> None:
        self.endpoint = endpoint
        self.fallback = fallback
        self._reset()
        self._lock = threading.Lock()

    def _reset(self) -> None:
        self._failures = 0
        self._since: datetime.datetime | None = None
        self._last_error = ""
        self._open = False
        self._opened_at = 0
        self._cooldown = FIRST_COOLDOWN
        self._probing = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._open

    def admit(self, trial_number: int) -> Admission:
        """Whether a request for trial ``trial_number`` may go out now."""
        with self._lock:
            if not self._open:
                return Admission(retry=self._failures == 0)
            if self._probing or trial_number < self._opened_at + self._cooldown:
                return Admission(refusal=self._unavailable())
            self._probing = True
            return Admission(retry=False, probe=True)

    def release(self, admission: Admission) -> None:
        """An admitted request was not sent after all (a spent budget, an unforeseen error)."""
        if admission.probe:
            with self._lock:
                self._probing = False

    def answered(self) -> None:
        """The endpoint answered, whatever the answer was worth."""
        with self._lock:
            was_open, since = self._open, self._since
            self._reset()
        if was_open:
            _logger.info(
                f"The model's endpoint {self.endpoint} answers again, after being unavailable "
                f"since {_time(since)}; the model proposes again."
            )

    def failed(self, trial_number: int, error: str, *, probe: bool = False) -> None:
        """A request for trial ``trial_number`` got no answer from the endpoint; ``probe`` says
        whether it was the probe, not a request sent before the breaker opened."""
        with self._lock:
            self._failures += 1
            self._since = self._since or _now()
            self._last_error = error
            if probe:
                self._probing = False
                self._opened_at = max(self._opened_at, trial_number)
                self._cooldown = min(2 * self._cooldown, MAX_COOLDOWN)
                return
            if self._open or self._failures < FAILURES_TO_OPEN:
                return
            self._open, self._opened_at = True, trial_number
            message = (
                f"The model's endpoint {self.endpoint} is unavailable: {self._failures} requests "
                f"in a row got no answer since {_time(self._since)}, the last: "
                f"{error.rstrip('.')}. {self.fallback} proposes until the endpoint answers "
                f"again; it is tried again after {FIRST_COOLDOWN} trials, then less often."
            )
        _logger.warning(message)

    def _unavailable(self) -> str:
        return f"the endpoint is unavailable since {_time(self._since)} ({self._last_error})"

    def __getstate__(self) -> dict[str, object]:
        # Another process finds out about the endpoint for itself.
        return {"endpoint": self.endpoint, "fallback": self.fallback}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(**state)  # type: ignore[misc]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _time(moment: datetime.datetime | None) -> str:
    return f"{moment or _now():%Y-%m-%d %H:%M:%S} UTC"
