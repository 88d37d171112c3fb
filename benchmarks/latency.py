"""Requests per trial and wall-clock time of LLMSampler against TPE alone, in one run.

The model is a ScriptedLLMServer on 127.0.0.1 that answers every request with valid random
configurations after a fixed latency; the objective sleeps for twice that latency. Arms:

- TPE alone (``TPESampler``);
- LLMSampler asking for one configuration per request (every trial asks the model);
- LLMSampler asking for four configurations per request (``batch_size=4``);
- both again with ``prefetch=True``: the next request is sent while the objective runs.

For each arm it prints requests per trial, wall-clock time and its ratio to TPE alone. Run it
from the repository root::

    python benchmarks/latency.py --latency 0.2 --trials 40
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
import time

import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import TPESampler

from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.testing import ChatCall
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer


SPACE: dict[str, BaseDistribution] = {
    "learning_rate": FloatDistribution(1e-4, 1.0, log=True),
    "num_leaves": IntDistribution(4, 256, log=True),
    "subsample": FloatDistribution(0.5, 1.0, step=0.05),
    "booster": CategoricalDistribution(["gbtree", "dart"]),
}


@dataclass(frozen=True)
class ArmResult:
    name: str
    requests: int
    trials: int
    seconds: float


class DelayedRandomBatches:
    """Random valid answers, a batch as large as the request allows, after a fixed delay."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.single = RandomAnswers(seed=0)

    def __call__(self, call: ChatCall) -> Reply:
        schema = call.schema or {}
        batch = schema.get("properties", {}).get("proposals")
        if batch is None:
            text = self.single(call)
        else:
            item_call = ChatCall(
                {"response_format": {"type": "json_object", "schema": batch["items"]}}
            )
            items = [self.single(item_call) for _ in range(batch["maxItems"])]
            text = '{"proposals": [' + ", ".join(str(item) for item in items) + "]}"
        assert isinstance(text, str)
        return Reply(content=text, delay=self.latency)


def objective_for(sleep: float) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        values = [
            trial.suggest_float("learning_rate", 1e-4, 1.0, log=True),
            trial.suggest_int("num_leaves", 4, 256, log=True),
            trial.suggest_float("subsample", 0.5, 1.0, step=0.05),
        ]
        trial.suggest_categorical("booster", ["gbtree", "dart"])
        time.sleep(sleep)
        return float(sum(values))

    return objective


def run_arm(
    name: str, sampler: BaseSampler, trials: int, sleep: float, server: ScriptedLLMServer
) -> ArmResult:
    before = len(server.requests)
    study = optuna.create_study(sampler=sampler)
    start = time.perf_counter()
    study.optimize(objective_for(sleep), n_trials=trials)
    return ArmResult(name, len(server.requests) - before, trials, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="model latency in seconds")
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sleep = 2 * args.latency

    with ScriptedLLMServer(DelayedRandomBatches(args.latency)) as server:

        def llm(batch_size: int, prefetch: bool = False) -> LLMSampler:
            return LLMSampler(
                model=server.model,
                client=server.client(),
                seed=0,
                search_space=SPACE,
                schedule=Always(),
                batch_size=batch_size,
                prefetch=prefetch,
            )

        results = [
            run_arm("TPE alone", TPESampler(seed=0), args.trials, sleep, server),
            run_arm("LLMSampler, 1 per request", llm(1), args.trials, sleep, server),
            run_arm("LLMSampler, 4 per request", llm(4), args.trials, sleep, server),
            run_arm("1 per request, prefetch", llm(1, True), args.trials, sleep, server),
            run_arm("4 per request, prefetch", llm(4, True), args.trials, sleep, server),
        ]

    baseline = results[0].seconds
    print(
        f"Model latency {args.latency:g} s, objective {sleep:g} s, {args.trials} trials per arm."
    )
    print(f"{'arm':<28} {'requests/trial':>14} {'wall-clock s':>12} {'vs TPE':>7}")
    for result in results:
        print(
            f"{result.name:<28} {result.requests / result.trials:>14.3f} "
            f"{result.seconds:>12.2f} {result.seconds / baseline:>7.2f}"
        )


if __name__ == "__main__":
    main()
