"""Requests per trial and wall-clock time of LLMSampler against TPE alone, in one run.

The model is a ScriptedLLMServer on 127.0.0.1 that answers every request with valid random
configurations after a fixed latency; the objective sleeps for twice that latency. Arms:

- TPE alone (``TPESampler``);
- LLMSampler asking for one configuration per request (every trial asks the model);
- LLMSampler asking for four configurations per request (``batch_size=4``);
- both again with ``prefetch=True``: the next request is sent while the objective runs;
- GP alone (``GPSampler``), the default ``LLMSampler`` (the guided plan over GP) and the same
  with ``Guide(ask_ahead=True)``, side by side: the default asks once, for its start, and
  waits for that answer; asking ahead, no trial waits.

For each arm it prints requests per trial, wall-clock time and its ratio to TPE alone (to GP
alone for the default). Run it from the repository root (the GP arms need the ``gp`` extra)::

    python benchmarks/latency.py --latency 0.2 --trials 40
    python benchmarks/latency.py --latency 0.5 --trials 30 --only-default
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
from optuna.samplers import GPSampler
from optuna.samplers import TPESampler

from optuna_llm import Guide
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
    parser.add_argument(
        "--only-default",
        action="store_true",
        help="only GP alone and the default LLMSampler, waiting for its start or asking ahead",
    )
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

        default = LLMSampler(
            model=server.model, client=server.client(), seed=0, search_space=SPACE
        )
        ahead = LLMSampler(
            model=server.model,
            client=server.client(),
            seed=0,
            search_space=SPACE,
            guide=Guide(ask_ahead=True),
        )
        results = (
            []
            if args.only_default
            else [
                run_arm("TPE alone", TPESampler(seed=0), args.trials, sleep, server),
                run_arm("LLMSampler, 1 per request", llm(1), args.trials, sleep, server),
                run_arm("LLMSampler, 4 per request", llm(4), args.trials, sleep, server),
                run_arm("1 per request, prefetch", llm(1, True), args.trials, sleep, server),
                run_arm("4 per request, prefetch", llm(4, True), args.trials, sleep, server),
            ]
        )
        gp_alone = GPSampler(seed=0, warn_independent_sampling=False)
        # GP's first study imports torch and compiles its kernels: not the arm's time.
        warm_up = optuna.create_study(sampler=GPSampler(seed=1, n_startup_trials=1))
        warm_up.optimize(objective_for(0.0), n_trials=3)
        paired = [
            run_arm("GP alone", gp_alone, args.trials, sleep, server),
            run_arm("LLMSampler default", default, args.trials, sleep, server),
            run_arm("default, ask_ahead=True", ahead, args.trials, sleep, server),
        ]

    print(
        f"Model latency {args.latency:g} s, objective {sleep:g} s, {args.trials} trials per arm."
    )
    print(f"{'arm':<28} {'requests/trial':>14} {'wall-clock s':>12} {'ratio':>7}")
    for result in results:
        _print(result, results[0].seconds, "TPE")
    for result in paired:
        _print(result, paired[0].seconds, "GP")


def _print(result: ArmResult, baseline: float, against: str) -> None:
    print(
        f"{result.name:<28} {result.requests / result.trials:>14.3f} "
        f"{result.seconds:>12.2f} {result.seconds / baseline:>7.3f} vs {against}"
    )


if __name__ == "__main__":
    main()
