"""Parameter values as points of the unit interval, and back.

Pure functions. Numeric parameters map linearly, or linearly in their logarithm when ``log`` is
set, so that a distance means the same share of the range everywhere; values mapped back land
on the distribution's step. Categorical parameters have no order: they are compared by
equality.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_llm._model.parse import coerce_value


def to_unit(value: Any, distribution: BaseDistribution) -> float:
    """Where a numeric value lies in its range, from 0 (low) to 1 (high)."""
    low, high = _bounds(distribution)
    if high <= low:
        return 0.5
    position = (_scaled(float(value), distribution) - low) / (high - low)
    return min(max(position, 0.0), 1.0)


def from_unit(position: float, distribution: BaseDistribution) -> Any:
    """The valid value of a numeric distribution at ``position`` in its range."""
    low, high = _bounds(distribution)
    scaled = low + min(max(position, 0.0), 1.0) * (high - low)
    log = isinstance(distribution, FloatDistribution | IntDistribution) and distribution.log
    return coerce_value(math.exp(scaled) if log else scaled, distribution)


def distance(
    a: Mapping[str, Any], b: Mapping[str, Any], distributions: Mapping[str, BaseDistribution]
) -> float:
    """The root mean square of the per-parameter distances over the parameters both have.

    A numeric parameter adds its distance in unit coordinates, a categorical one 0 when equal
    and 1 otherwise. Configurations with no parameter in common are 1 apart.
    """
    shared = [name for name in distributions if name in a and name in b]
    if not shared:
        return 1.0
    total = 0.0
    for name in shared:
        distribution = distributions[name]
        if isinstance(distribution, CategoricalDistribution):
            total += 0.0 if a[name] == b[name] else 1.0
        else:
            total += (to_unit(a[name], distribution) - to_unit(b[name], distribution)) ** 2
    return math.sqrt(total / len(shared))


def _bounds(distribution: BaseDistribution) -> tuple[float, float]:
    if not isinstance(distribution, FloatDistribution | IntDistribution):
        raise TypeError(f"{distribution!r} has no numeric range")
    return (
        _scaled(distribution.low, distribution),
        _scaled(distribution.high, distribution),
    )


def _scaled(value: float, distribution: BaseDistribution) -> float:
    log = isinstance(distribution, FloatDistribution | IntDistribution) and distribution.log
    return math.log(value) if log else value
