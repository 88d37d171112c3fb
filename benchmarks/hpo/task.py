"""What a benchmark task is: an objective, its space, and what the model is told about it."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

import optuna
from optuna.distributions import BaseDistribution


Kind = Literal["ml", "tabular", "synthetic", "claim"]


@dataclass(frozen=True)
class Task:
    """One black box to optimize.

    Attributes:
        name: Short identifier, used in file names and reports.
        description: The task text shown to the model (``LLMSampler(task=...)``).
        direction: ``"minimize"`` or ``"maximize"``.
        objective: A define-by-run objective. It must be deterministic for given parameters
            and must only use ``trial.suggest_*`` with the names in ``param_names``.
        param_names: Every parameter the objective may suggest, in a fixed order (the
            anonymised control renames them ``x0``, ``x1``, ... in this order).
        search_space: The union of all parameters' distributions, given to the sampler so the
            model is asked from the first trial. Conditional parameters are included.
        defaults: The library's default configuration, run first by the "defaults first,
            then random search" control; for synthetic functions, the centre of the domain.
        param_descriptions: Optional short description per parameter, shown to the model.
        optimum: The best value reachable when it is known (tabular tasks: the table's best;
            synthetic functions: their minimum); reports normalise regret with it.
        kind: ``ml``, ``tabular``, ``synthetic`` or ``claim`` (the Iris claim check).
        quick: Whether the quick suite runs it.
    """

    name: str
    description: str
    direction: Literal["minimize", "maximize"]
    objective: Callable[[optuna.Trial], float]
    param_names: tuple[str, ...]
    search_space: Mapping[str, BaseDistribution]
    defaults: Mapping[str, Any]
    kind: Kind
    param_descriptions: Mapping[str, str] = field(default_factory=dict)
    optimum: float | None = None
    quick: bool = False
