"""Prompt size and sampling time of LLMSampler against study length, next to TPESampler's.

For histories of 10, 100, 1,000 and 10,000 finished trials over ten parameters of every kind,
this prints the size in characters of the prompt LLMSampler sends for the next trial, and the
wall-clock time of sampling one trial (``study.ask()`` plus suggesting all ten parameters)
with LLMSampler and with a default ``TPESampler`` on copies of the same history. The model is
a ScriptedLLMServer on 127.0.0.1 answering at once with random valid configurations, so
LLMSampler's time is its own work plus one local HTTP round trip.

Run it from the repository root::

    python benchmarks/prompt_size.py
    python benchmarks/prompt_size.py --sizes 10 100 1000 --repeats 3

It exits with status 1 when a prompt reaches the bound of 12,000 characters.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import math
import random
import statistics
import sys
import time
from typing import Any

import openai
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import TPESampler
from optuna.trial import FrozenTrial
from optuna.trial import Trial

from optuna_llm import LLMSampler
from optuna_llm.schedules import Always
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


PROMPT_BOUND_CHARS = 12_000
DEFAULT_SIZES = (10, 100, 1_000, 10_000)
DEFAULT_REPEATS = 5
REFERENCE_SIZE = 100
TARGET_SIZE = 10_000
GROWTH_TOLERANCE = 1.25
SEED = 0
TASK = "Train a small image classifier; minimize the validation loss after ten epochs."

SEARCH_SPACE: dict[str, BaseDistribution] = {
    "learning_rate": FloatDistribution(1e-5, 1e-1, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
    "subsample": FloatDistribution(0.5, 1.0, step=0.05),
    "n_layers": IntDistribution(1, 8),
    "batch_size": IntDistribution(16, 1024, log=True),
    "hidden_units": IntDistribution(32, 512, step=32),
    "optimizer": CategoricalDistribution(("adam", "adamw", "sgd", "rmsprop")),
    "normalization": CategoricalDistribution(("batch", 3, 0.5, True, None)),
    "grad_accumulation": CategoricalDistribution((1, 2, 4, 8)),
    "mixed_precision": CategoricalDistribution((True, False)),
}


@dataclass(frozen=True)
class SizeResult:
    """What one history size measured."""

    n_trials: int
    prompt_chars: int
    max_prompt_chars: int
    llm_seconds: float
    tpe_seconds: float

    @property
    def ratio(self) -> float:
        return self.llm_seconds / self.tpe_seconds


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_SIZES),
        help="history lengths in trials (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="timed trials per sampler and size; the median is shown (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if any(size < 1 for size in args.sizes) or args.repeats < 1:
        parser.error("sizes and repeats must be positive")
    args.sizes = sorted(set(args.sizes))
    return args


def random_value(distribution: BaseDistribution, rng: random.Random) -> Any:
    """A random valid value of ``distribution``."""
    if isinstance(distribution, CategoricalDistribution):
        return rng.choice(distribution.choices)
    if isinstance(distribution, FloatDistribution):
        return random_float(distribution, rng)
    if isinstance(distribution, IntDistribution):
        return random_int(distribution, rng)
    raise TypeError(f"Unsupported distribution {distribution!r}.")


def random_float(distribution: FloatDistribution, rng: random.Random) -> float:
    low, high = distribution.low, distribution.high
    if distribution.log:
        return min(high, max(low, math.exp(rng.uniform(math.log(low), math.log(high)))))
    if distribution.step is not None:
        n_steps = round((high - low) / distribution.step)
        return min(high, low + rng.randint(0, n_steps) * distribution.step)
    return rng.uniform(low, high)


def random_int(distribution: IntDistribution, rng: random.Random) -> int:
    low, high = distribution.low, distribution.high
    if distribution.log:
        return min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high))))))
    return low + rng.randint(0, (high - low) // distribution.step) * distribution.step


def build_history(n_trials: int, rng: random.Random) -> list[FrozenTrial]:
    """Completed trials with random valid parameters and random values."""
    return [
        optuna.create_trial(
            params={name: random_value(d, rng) for name, d in SEARCH_SPACE.items()},
            distributions=SEARCH_SPACE,
            value=rng.uniform(0.0, 10.0),
        )
        for _ in range(n_trials)
    ]


def study_with(history: Sequence[FrozenTrial], sampler: BaseSampler) -> optuna.Study:
    """An in-memory study holding a copy of ``history``."""
    study = optuna.create_study(sampler=sampler, direction="minimize")
    study.add_trials(history)
    return study


def suggest_all(trial: Trial) -> None:
    """Suggest every parameter of the search space, as an objective function would."""
    for name, d in SEARCH_SPACE.items():
        if isinstance(d, FloatDistribution):
            trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, IntDistribution):
            trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
        elif isinstance(d, CategoricalDistribution):
            trial.suggest_categorical(name, d.choices)


def sample_one_trial(study: optuna.Study, rng: random.Random) -> float:
    """Seconds to ask for a trial and suggest all its parameters; the trial is then told."""
    start = time.perf_counter()
    trial = study.ask()
    suggest_all(trial)
    elapsed = time.perf_counter() - start
    study.tell(trial, rng.uniform(0.0, 10.0))
    return elapsed


def median_seconds(study: optuna.Study, repeats: int, rng: random.Random) -> float:
    """Median time per trial over ``repeats`` trials, after one untimed warm-up trial."""
    sample_one_trial(study, rng)
    return statistics.median(sample_one_trial(study, rng) for _ in range(repeats))


def measure_size(
    history: Sequence[FrozenTrial],
    server: ScriptedLLMServer,
    client: openai.OpenAI,
    repeats: int,
    rng: random.Random,
) -> SizeResult:
    """Prompt size and median time per trial of both samplers on copies of ``history``.

    The first request is the prompt for the trial after exactly ``history``; the maximum is
    over every request made at this size, as the history grows by the sampled trials.
    """
    # Every trial asks: the per-trial prompt, the longest one the sampler sends.
    sampler = LLMSampler(
        model=server.model, client=client, task=TASK, seed=SEED, schedule=Always()
    )
    llm_study = study_with(history, sampler)
    first_request = len(server.requests)
    llm_seconds = median_seconds(llm_study, repeats, rng)
    prompts = [len(call.prompt) for call in server.requests[first_request:]]
    if not prompts:
        raise RuntimeError("LLMSampler sent no request to the scripted model.")
    tpe_study = study_with(history, TPESampler(seed=SEED))
    tpe_seconds = median_seconds(tpe_study, repeats, rng)
    return SizeResult(
        n_trials=len(history),
        prompt_chars=prompts[0],
        max_prompt_chars=max(prompts),
        llm_seconds=llm_seconds,
        tpe_seconds=tpe_seconds,
    )


def run(
    sizes: Sequence[int],
    repeats: int,
    report: Callable[[str], None],
) -> list[SizeResult]:
    rng = random.Random(SEED)
    start = time.perf_counter()
    history = build_history(max(sizes), rng)
    report(f"Built {len(history):,} random trials in {time.perf_counter() - start:.1f} s.")
    results: list[SizeResult] = []
    with ScriptedLLMServer(RandomAnswers(seed=SEED)) as server:
        client = server.client()
        for size in sizes:
            start = time.perf_counter()
            results.append(measure_size(history[:size], server, client, repeats, rng))
            report(f"Measured {size:,} trials in {time.perf_counter() - start:.1f} s.")
    return results


def format_table(results: Sequence[SizeResult]) -> str:
    header = (
        f"{'trials':>7}  {'prompt chars':>12}  {'max prompt':>10}  "
        f"{'LLM ms/trial':>12}  {'TPE ms/trial':>12}  {'LLM/TPE':>7}"
    )
    rows = [
        f"{r.n_trials:>7,}  {r.prompt_chars:>12,}  {r.max_prompt_chars:>10,}  "
        f"{r.llm_seconds * 1e3:>12.1f}  {r.tpe_seconds * 1e3:>12.1f}  {r.ratio:>7.2f}"
        for r in results
    ]
    return "\n".join([header, "-" * len(header), *rows])


def prompt_verdict(results: Sequence[SizeResult]) -> tuple[bool, str]:
    """Whether every prompt stayed under the bound, and a line saying so."""
    largest = max(r.max_prompt_chars for r in results)
    bounded = largest < PROMPT_BOUND_CHARS
    word = "stays bounded" if bounded else "is NOT bounded"
    return bounded, (
        f"Prompt size {word}: at most {largest:,} chars at any size "
        f"(bound {PROMPT_BOUND_CHARS:,})."
    )


def growth_verdict(results: Sequence[SizeResult]) -> str:
    """Compare LLM/TPE at 10,000 trials with LLM/TPE at 100 (else the largest, the smallest)."""
    by_size = {r.n_trials: r for r in results}
    target = by_size.get(TARGET_SIZE, results[-1])
    reference = by_size.get(REFERENCE_SIZE, results[0])
    if reference.n_trials >= target.n_trials:
        reference = results[0]
    if reference is target:
        return "Time growth: not compared; it needs two history sizes."
    faster = target.ratio > reference.ratio * GROWTH_TOLERANCE
    word = "grows FASTER than" if faster else "grows no faster than"
    llm_growth = target.llm_seconds / reference.llm_seconds
    tpe_growth = target.tpe_seconds / reference.tpe_seconds
    return (
        f"LLMSampler's time {word} TPE's: LLM/TPE is {target.ratio:.2f} at "
        f"{target.n_trials:,} trials vs {reference.ratio:.2f} at {reference.n_trials:,} "
        f"(noise tolerance x{GROWTH_TOLERANCE}); from {reference.n_trials:,} to "
        f"{target.n_trials:,} trials LLM time grew x{llm_growth:.1f}, TPE time x{tpe_growth:.1f}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.perf_counter()
    print("Model: ScriptedLLMServer on 127.0.0.1 answering with RandomAnswers.")
    results = run(args.sizes, args.repeats, report=print)
    bounded, prompt_line = prompt_verdict(results)
    print()
    print(
        f"Ten parameters; time per trial = ask() + 10 suggests, median of {args.repeats} "
        "trials after one warm-up, each sampler on its own copy of the history."
    )
    print(format_table(results))
    print()
    print(growth_verdict(results))
    print(prompt_line)
    print(f"Total run time {time.perf_counter() - started:.0f} s.")
    return 0 if bounded else 1


if __name__ == "__main__":
    sys.exit(main())
