"""Values from the classical sampler for the parameters the model did not give."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial


def fill_from(
    fallback: BaseSampler,
    study: Study,
    trial: FrozenTrial,
    missing: Mapping[str, BaseDistribution],
    fallback_space: Mapping[str, BaseDistribution],
) -> dict[str, Any]:
    """A value for every parameter of ``missing``: sampled jointly where ``fallback_space``,
    the fallback's own relative space for this trial, holds it, independently otherwise."""
    joint = {name: d for name, d in fallback_space.items() if name in missing}
    sampled = fallback.sample_relative(study, trial, joint) if joint else {}
    params = {name: value for name, value in sampled.items() if name in missing}
    for name, distribution in missing.items():
        if name not in params:
            params[name] = fallback.sample_independent(study, trial, name, distribution)
    return params
