from __future__ import annotations

from collections.abc import Iterator

import optuna
import pytest

from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(verbosity)


@pytest.fixture(scope="session")
def random_server() -> Iterator[ScriptedLLMServer]:
    """A scripted model that answers every request with a valid random configuration."""
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        yield server
