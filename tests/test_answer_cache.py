"""The benchmark's answer cache: the same request reaches the model once, across runs."""

from __future__ import annotations

from pathlib import Path

import openai
import optuna
from optuna.distributions import FloatDistribution

from benchmarks.hpo.answer_cache import AnswerCache
from benchmarks.hpo.answer_cache import serving
from optuna_llm import LLMSampler
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


SPACE = {"x": FloatDistribution(-5, 5), "y": FloatDistribution(-5, 5)}


def _ask(base_url: str, content: str, seed: int) -> str:
    client = openai.OpenAI(base_url=base_url, api_key="none", max_retries=0)
    reply = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": content}], seed=seed
    )
    return reply.choices[0].message.content or ""


def test_a_repeated_request_reaches_the_model_once(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "answers.jsonl")
    answers = iter(range(100))
    with ScriptedLLMServer(lambda call: f"answer {next(answers)}") as server:
        with serving(server.base_url, cache) as url:
            first = _ask(url, "Propose a start.", seed=1)
            again = _ask(url, "Propose a start.", seed=1)
            other = _ask(url, "Propose a start.", seed=2)
        assert len(server.requests) == 2
    assert first == again and other != first
    assert (cache.hits, cache.misses) == (1, 2)
    # A new run reads the answers kept in the file.
    with ScriptedLLMServer(lambda call: "another model") as server:
        with serving(server.base_url, AnswerCache(cache.path)) as url:
            assert _ask(url, "Propose a start.", seed=1) == first
        assert server.requests == []


def test_samplers_behind_the_cache_get_the_same_start(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path / "answers.jsonl")
    with (
        ScriptedLLMServer(RandomAnswers(seed=0)) as server,
        serving(server.base_url, cache) as url,
    ):
        starts = []
        for _ in range(2):
            sampler = LLMSampler(model="m", base_url=url, search_space=SPACE, seed=3)
            study = optuna.create_study(sampler=sampler)
            study.optimize(
                lambda t: t.suggest_float("x", -5, 5) ** 2 + t.suggest_float("y", -5, 5) ** 2,
                n_trials=3,
            )
            starts.append(study.trials[0].params)
        assert len(server.requests) == 1
    assert starts[0] == starts[1]
