"""Latency and answer quality of the bundled local model as LLMSampler uses it.

By default, runs one study on the quickstart's task (gradient boosting on scikit-learn's breast
cancer data, six parameters) with the bundled Qwen2.5-Coder-1.5B served by llama.cpp on
127.0.0.1, and prints, per request: latency, prompt and completion tokens and the response
format; then the median latency per proposal, the share of first answers that were usable, the
share of trials whose configuration came from the model after the one re-ask, and the
wall-clock time.

With ``--busy N``, measures request latency while N single-threaded busy workers share the
cores, as an objective does, against the idle case in the same run: for each thread setting, a
fresh server answers the same realistic requests (8 parameters, a 20-trial history that grows by
one trial per request, JSON answers of at most 120 tokens) first idle, then beside each number
of busy workers. It prints the first request's latency, the median and 90th percentile of the
others, answer tokens per second, and the median's ratio to the idle median.

With ``--beside-study``, runs a model study of the benchmark suite (``llm_pure`` on
``conditional_wine``, 8 trials) through its runner, alone and then beside a classical study
(random search on LightGBM) in another process, for each thread setting, and prints the median
and mean model time per trial after the first.

Run it from the repository root after ``pip install -e ".[local,examples,bench]"``::

    python benchmarks/local_model.py --trials 20 --threads 2
    python benchmarks/local_model.py --busy 1 --threads 2 1 --threads-batch 2 1
    python benchmarks/local_model.py --beside-study --threads 1 2 --threads-batch 2
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass
import multiprocessing
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_llm import ChatReply
from optuna_llm import ChatRequest
from optuna_llm import LLMSampler
from optuna_llm import OpenAIChatClient
from optuna_llm._model.prompt import build_messages
from optuna_llm._study.history import select_history
from optuna_llm._study.search_space import answer_schema
from optuna_llm._study.search_space import infer_specs
from optuna_llm.local import LocalLLMServer
from optuna_llm.local import default_threads
from optuna_llm.local import default_threads_batch
from optuna_llm.schedules import Always


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from quickstart import TASK
from quickstart import objective


class RecordingClient:
    """An LLMClient that passes requests on and keeps every reply."""

    def __init__(self, inner: OpenAIChatClient) -> None:
        self.inner = inner
        self.replies: list[ChatReply] = []

    def complete(self, request: ChatRequest) -> ChatReply:
        reply = self.inner.complete(request)
        self.replies.append(reply)
        return reply


def run(trials: int, threads: int | None, history: int, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with LocalLLMServer(n_threads=threads) as llm:
        client = RecordingClient(
            OpenAIChatClient(model=llm.model, base_url=llm.base_url, timeout=600)
        )
        sampler = LLMSampler(
            client=client,
            task=TASK,
            seed=seed,
            max_history_trials=history,
            schedule=Always(),  # every trial asks, to measure the model, not the schedule
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        started = time.perf_counter()
        study.optimize(objective, n_trials=trials)
        elapsed = time.perf_counter() - started

    print(f"{'request':>7}  {'latency s':>9}  {'prompt tok':>10}  {'answer tok':>10}  format")
    for i, reply in enumerate(client.replies):
        print(
            f"{i:7d}  {reply.latency:9.1f}  {reply.prompt_tokens or 0:10d}  "
            f"{reply.completion_tokens or 0:10d}  {reply.response_format}"
        )
    summarize(study, client.replies, elapsed)


def summarize(study: optuna.Study, replies: Sequence[ChatReply], elapsed: float) -> None:
    asked = [t for t in study.trials if _asked_the_model(t)]
    sources = [t.user_attrs.get("llm:source") for t in asked]
    first_usable = len(asked) - (len(replies) - len(asked))
    from_model = sources.count("llm") + sources.count("partial")
    latencies = [reply.latency for reply in replies]
    print()
    print(f"trials {len(study.trials)}, asking the model {len(asked)}, requests {len(replies)}")
    print(f"median latency per request {statistics.median(latencies):.1f} s")
    print(f"mean model time per proposal, re-asks included {sum(latencies) / len(asked):.1f} s")
    print(f"first answers usable {first_usable}/{len(asked)} ({first_usable / len(asked):.0%})")
    print(
        f"trials proposed by the model after at most one re-ask {from_model}/{len(asked)} "
        f"({from_model / len(asked):.0%}); by the fallback {sources.count('fallback')}"
    )
    print(f"best ROC AUC {study.best_value:.4f}; wall-clock {elapsed:.0f} s")


def _asked_the_model(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the trial sent a request: the first trial of a study knows no parameters yet."""
    if trial.user_attrs.get("llm:source") in ("llm", "partial"):
        return True
    reason = str(trial.user_attrs.get("llm:reason", ""))
    return reason.startswith(("invalid answer", "request failed"))


# --- latency beside busy cores ---------------------------------------------------------------

LOAD_SPACE: dict[str, BaseDistribution] = {
    "learning_rate": FloatDistribution(1e-4, 1.0, log=True),
    "num_leaves": IntDistribution(4, 256, log=True),
    "max_depth": IntDistribution(2, 16),
    "min_child_samples": IntDistribution(2, 100, log=True),
    "subsample": FloatDistribution(0.5, 1.0, step=0.05),
    "colsample_bytree": FloatDistribution(0.3, 1.0),
    "reg_lambda": FloatDistribution(1e-6, 10.0, log=True),
    "boosting": CategoricalDistribution(["gbdt", "dart", "goss"]),
}
LOAD_HISTORY = 20
LOAD_MAX_TOKENS = 120


@dataclass(frozen=True)
class Cell:
    """The latencies of one thread setting beside one number of busy workers."""

    n_threads: int
    n_threads_batch: int
    busy: int
    latencies: list[float]
    answer_tokens: int

    @property
    def first(self) -> float:
        return self.latencies[0]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies[1:])

    @property
    def p90(self) -> float:
        return float(np.percentile(self.latencies[1:], 90))

    @property
    def tokens_per_second(self) -> float:
        return self.answer_tokens / sum(self.latencies)


def load_requests(n: int) -> list[ChatRequest]:
    """``n`` requests as the sampler sends them, over a history that grows one trial each."""
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    rng = np.random.default_rng(0)
    for _ in range(LOAD_HISTORY + n):
        trial = study.ask(LOAD_SPACE)
        study.tell(trial, float(0.9 + 0.09 * rng.random()))
    trials = study.get_trials(deepcopy=False)
    requests = []
    for i in range(n):
        shown = trials[: LOAD_HISTORY + i]
        specs = infer_specs(shown, LOAD_SPACE)
        messages = build_messages(
            task=TASK,
            directions=study.directions,
            metric_names=None,
            specs=specs,
            history=select_history(shown, study.directions, 30),
        )
        requests.append(
            ChatRequest(
                messages, answer_schema(specs), seed=i, temperature=0.7, max_tokens=LOAD_MAX_TOKENS
            )
        )
    return requests


def _spin() -> None:
    """A single-threaded numpy loop, as a typical objective keeps one core busy."""
    x = np.random.default_rng(0).random(10_000)
    while True:
        x = np.sin(x) + 1.0


@contextlib.contextmanager
def busy_workers(n: int) -> Iterator[None]:
    """``n`` processes, each keeping one core busy, for the duration of the block."""
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_spin, daemon=True) for _ in range(n)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0 if workers else 0.0)  # let them get going
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()


def measure_cell(n_threads: int, n_threads_batch: int, busy: int, requests: int) -> Cell:
    """A fresh server's latencies for the requests, beside ``busy`` busy workers."""
    with (
        LocalLLMServer(n_threads=n_threads, n_threads_batch=n_threads_batch) as llm,
        busy_workers(busy),
    ):
        client = OpenAIChatClient(model=llm.model, base_url=llm.base_url, timeout=900)
        replies = [client.complete(request) for request in load_requests(requests)]
    return Cell(
        n_threads,
        n_threads_batch,
        busy,
        [reply.latency for reply in replies],
        sum(reply.completion_tokens or 0 for reply in replies),
    )


def latency_under_load(
    threads: Sequence[int], threads_batch: Sequence[int], busy: Sequence[int], requests: int
) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    loads = sorted({0, *busy})
    print(
        f"{requests} requests per cell: the first, then the median and p90 of the other "
        f"{requests - 1}; {multiprocessing.cpu_count()} cores\n"
    )
    print(
        "| n_threads | n_threads_batch | busy workers | first s | median s | p90 s | "
        "answer tok/s | median / idle median |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n_threads in threads:
        for n_threads_batch in threads_batch:
            idle: Cell | None = None
            for n_busy in loads:
                cell = measure_cell(n_threads, n_threads_batch, n_busy, requests)
                idle = idle or cell
                print(
                    f"| {n_threads} | {n_threads_batch} | {n_busy} | {cell.first:.1f} | "
                    f"{cell.median:.1f} | {cell.p90:.1f} | {cell.tokens_per_second:.1f} | "
                    f"{cell.median / idle.median:.2f} |",
                    flush=True,
                )


def _endless_classical_study(results: str) -> None:
    from benchmarks.hpo.records import StudyKey  # noqa: PLC0415 - needs the bench extra
    from benchmarks.hpo.runner import run_study  # noqa: PLC0415
    from benchmarks.hpo.tasks import all_tasks  # noqa: PLC0415

    run_study(StudyKey("lgbm_breast_cancer", "random", 0, 10**6), all_tasks, None, Path(results))


def beside_a_study(threads: Sequence[int], threads_batch: Sequence[int]) -> None:
    from benchmarks.hpo.arms import Endpoint  # noqa: PLC0415 - needs the bench extra
    from benchmarks.hpo.records import StudyKey  # noqa: PLC0415
    from benchmarks.hpo.records import read_records  # noqa: PLC0415
    from benchmarks.hpo.runner import SINGLE_THREAD_ENV  # noqa: PLC0415
    from benchmarks.hpo.runner import run_study  # noqa: PLC0415
    from benchmarks.hpo.tasks import all_tasks  # noqa: PLC0415

    os.environ.update(SINGLE_THREAD_ENV)
    context = multiprocessing.get_context("spawn")
    key = StudyKey("conditional_wine", "llm_pure", 0, 8)
    print("| n_threads | n_threads_batch | beside | trials | median s | mean s |")
    print("|---:|---:|---|---:|---:|---:|")
    for n_threads in threads:
        for n_threads_batch in threads_batch:
            for beside in (False, True):
                with (
                    tempfile.TemporaryDirectory() as results,
                    LocalLLMServer(n_threads=n_threads, n_threads_batch=n_threads_batch) as llm,
                ):
                    other = context.Process(
                        target=_endless_classical_study, args=(results,), daemon=True
                    )
                    if beside:
                        other.start()
                        time.sleep(5)
                    run_study(key, all_tasks, Endpoint(llm.base_url, llm.model), Path(results))
                    if beside:
                        other.terminate()
                        other.join()
                    times = [r.latency for r in read_records(Path(results)) if r.requests][1:]
                print(
                    f"| {n_threads} | {n_threads_batch} | "
                    f"{'a classical study' if beside else 'nothing'} | {len(times)} | "
                    f"{statistics.median(times):.1f} | {statistics.mean(times):.1f} |",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        help="n_threads (several with --busy); default: the server's",
    )
    parser.add_argument(
        "--threads-batch", type=int, nargs="+", help="n_threads_batch, with --busy"
    )
    parser.add_argument("--history", type=int, default=12, help="max_history_trials")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--busy", type=int, nargs="+", help="busy workers beside the model: measure latency"
    )
    parser.add_argument("--requests", type=int, default=6, help="requests per cell, with --busy")
    parser.add_argument(
        "--beside-study",
        action="store_true",
        help="a benchmark model study alone and beside a classical study",
    )
    args = parser.parse_args()
    if args.beside_study:
        beside_a_study(
            args.threads or [default_threads()], args.threads_batch or [default_threads_batch()]
        )
    elif args.busy:
        latency_under_load(
            args.threads or [default_threads()],
            args.threads_batch or [default_threads_batch()],
            args.busy,
            args.requests,
        )
    else:
        run(args.trials, args.threads[0] if args.threads else None, args.history, args.seed)


if __name__ == "__main__":
    main()
