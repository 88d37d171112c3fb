"""Spare proposals of a batch, kept for the next trials until the study has moved on.

One request can return several configurations; the first goes to the trial that asked, the
rest wait here. A waiting proposal is dropped once more trials have finished since it was asked
for than the batch held (the history it was based on is stale by then), or when a trial cannot
use it (its search space changed, or the configuration has been tried meanwhile).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import threading
from typing import Any

from optuna_llm._model.parse import Proposal
from optuna_llm.budget import Usage


@dataclass(frozen=True)
class QueuedProposal:
    """A spare proposal and when it was made."""

    params: dict[str, Any]
    rationale: str
    finished_at: int
    asked_by: int
    usage: Usage = field(default_factory=Usage)


class ProposalQueue:
    """Thread-safe first-in, first-out store of spare proposals of this process."""

    def __init__(self, max_staleness: int) -> None:
        self.max_staleness = max_staleness
        self._items: deque[QueuedProposal] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(
        self,
        proposals: Iterable[Proposal],
        *,
        finished_at: int,
        asked_by: int,
        usage: Usage | None = None,
    ) -> None:
        """Queue proposals; ``usage``, the cost of the request that made them, goes with the
        first, so that the trial which uses it records it."""
        items = [
            QueuedProposal(dict(p.params), p.rationale, finished_at, asked_by) for p in proposals
        ]
        if items and usage is not None:
            items[0] = dataclasses.replace(items[0], usage=usage)
        with self._lock:
            self._items.extend(items)

    def take(
        self, n_finished: int, usable: Callable[[QueuedProposal], bool]
    ) -> QueuedProposal | None:
        """The oldest proposal still fresh and usable; the stale and unusable are dropped."""
        while True:
            with self._lock:
                if not self._items:
                    return None
                item = self._items.popleft()
            if n_finished - item.finished_at <= self.max_staleness and usable(item):
                return item

    def __getstate__(self) -> dict[str, object]:
        # Spare proposals belong to the process that asked for them.
        return {"max_staleness": self.max_staleness}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_staleness"])  # type: ignore[misc]
