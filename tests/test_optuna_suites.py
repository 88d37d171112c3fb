"""Optuna's own sampler test suites, run against LLMSampler driven by a scripted model."""

from __future__ import annotations

from collections.abc import Callable

from optuna.samplers import BaseSampler
from optuna.testing.pytest_samplers import BasicSamplerTestCase
from optuna.testing.pytest_samplers import MultiObjectiveSamplerTestCase
from optuna.testing.pytest_samplers import RelativeSamplerTestCase
import pytest

from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.testing import ScriptedLLMServer


class _ScriptedSampler:
    @pytest.fixture
    def sampler(self, random_server: ScriptedLLMServer) -> Callable[[], BaseSampler]:
        def factory() -> BaseSampler:
            return LLMSampler(
                model=random_server.model,
                client=random_server.client(),
                seed=0,
                schedule=Always(),
            )

        return factory


class TestBasic(_ScriptedSampler, BasicSamplerTestCase):
    pass


class TestRelative(_ScriptedSampler, RelativeSamplerTestCase):
    pass


class TestMultiObjective(_ScriptedSampler, MultiObjectiveSamplerTestCase):
    pass
