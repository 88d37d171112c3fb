from __future__ import annotations

from collections.abc import Iterator
import os

import optuna
from postgres import PostgresUnavailableError
from postgres import postgres_server
import pytest

from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


EXAMPLES_ON_LOCAL_MODEL = "--examples-on-local-model"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        EXAMPLES_ON_LOCAL_MODEL,
        action="store_true",
        default=False,
        help=(
            "run the examples in tests/test_examples.py on the bundled local model instead of "
            "a scripted one (they are then local_llm tests)"
        ),
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under --examples-on-local-model, every test that runs an example on the model the
    option chooses asks the bundled local model, so it is a ``local_llm`` test."""
    if not config.getoption(EXAMPLES_ON_LOCAL_MODEL):
        return
    for item in items:
        if "example_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.local_llm)


@pytest.fixture
def examples_on_local_model(request: pytest.FixtureRequest) -> bool:
    """Whether the examples run on the bundled local model (--examples-on-local-model)."""
    return bool(request.config.getoption(EXAMPLES_ON_LOCAL_MODEL))


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


@pytest.fixture(scope="module")
def demo_storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite storage holding the dashboard benchmark's 30-trial demo study."""
    from benchmarks.dashboard_llm import build_demo_study  # noqa: PLC0415 - only these tests

    storage = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'demo.db'}"
    build_demo_study(storage)
    return storage


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for the module's tests; the URL of an empty database."""
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailableError as error:
        if os.environ.get("CI") == "true":
            raise  # CI installs PostgreSQL; its absence there is a failure, not a skip
        pytest.skip(str(error))
