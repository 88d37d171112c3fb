"""Warm-up configurations drawn from the model's prior: pure functions.

The prior is one configuration, the model's recommended start, widened into a distribution: a
normal of standard deviation ``width`` (a share of the range, in log scale where the parameter
is) around each numeric value, cut at the bounds, and, for a categorical parameter, the model's
choice with probability ``CHOICE_WEIGHT`` and any choice otherwise. A parameter the prior says
nothing about is drawn uniformly.

The draws of a study are space-filling: draw ``j`` of ``n`` takes, for each parameter, the
``j``-th of ``n`` equal strata of the unit interval after a per-parameter shuffle (a Latin
hypercube), before the prior's quantile function maps it. Everything depends only on the seed,
so every worker of a study draws the same points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any
import zlib

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution

from optuna_llm._strategies.unit_interval import from_unit
from optuna_llm._strategies.unit_interval import to_unit
from optuna_llm.budget import Usage


CHOICE_WEIGHT = 0.5
# Keeps the normal's quantile function away from its infinite ends.
_EDGE = 1e-9
_NORMAL = NormalDist()


@dataclass(frozen=True)
class PriorDraw:
    """Draw ``index`` of the ``n_draws`` space-filling draws from the prior around ``center``,
    the values of trial ``around``."""

    center: Mapping[str, Any]
    width: float
    index: int
    n_draws: int
    seed: int
    around: int | None = None

    @property
    def usage(self) -> Usage:
        """Nothing: a draw needs no request."""
        return Usage()

    @property
    def name(self) -> str:
        """What the draw is, in a trial's reasons and rationale."""
        if self.around is None:
            return "the prior's draw"
        return f"the prior's draw around trial {self.around} (spread {self.width:.2f})"

    def values(self, distributions: Mapping[str, BaseDistribution]) -> dict[str, Any]:
        """The draw's value for each of ``distributions``."""
        return draw_from_prior(
            self.center,
            distributions,
            width=self.width,
            index=self.index,
            n_draws=self.n_draws,
            seed=self.seed,
        )


def draw_from_prior(
    center: Mapping[str, Any],
    distributions: Mapping[str, BaseDistribution],
    *,
    width: float,
    index: int,
    n_draws: int,
    seed: int,
) -> dict[str, Any]:
    """Draw ``index`` of the ``n_draws`` space-filling draws from the prior around ``center``."""
    params = {}
    for name, distribution in distributions.items():
        position = latin_hypercube_position(seed, name, index, n_draws)
        params[name] = _quantile(position, center.get(name), distribution, width)
    return params


def latin_hypercube_position(seed: int, name: str, index: int, n_draws: int) -> float:
    """A point of the unit interval: stratum ``index`` of ``n_draws``, shuffled per parameter."""
    n_draws = max(n_draws, index + 1)
    rng = np.random.RandomState((seed + zlib.crc32(name.encode())) % 2**32)
    stratum = int(rng.permutation(n_draws)[index])
    jitter = rng.uniform(size=n_draws)[index]
    return float((stratum + jitter) / n_draws)


def _quantile(position: float, center: Any, distribution: BaseDistribution, width: float) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        choices = distribution.choices
        if center in choices and position < CHOICE_WEIGHT:
            return center
        rescaled = position if center not in choices else (position - CHOICE_WEIGHT)
        rescaled /= 1.0 if center not in choices else (1.0 - CHOICE_WEIGHT)
        return choices[min(int(rescaled * len(choices)), len(choices) - 1)]
    if center is None:
        return from_unit(position, distribution)
    mean = to_unit(center, distribution)
    return from_unit(_truncated_normal(position, mean, width), distribution)


def _truncated_normal(position: float, mean: float, width: float) -> float:
    """The ``position`` quantile of a normal around ``mean``, cut to the unit interval."""
    below = _NORMAL.cdf((0.0 - mean) / width)
    above = _NORMAL.cdf((1.0 - mean) / width)
    level = min(max(below + position * (above - below), _EDGE), 1.0 - _EDGE)
    return min(max(mean + width * _NORMAL.inv_cdf(level), 0.0), 1.0)
