"""The ``optuna-llm`` command.

    optuna-llm report --storage sqlite:///studies.db --study churn --model gpt-4o-mini
    optuna-llm report --storage sqlite:///studies.db --study churn \\
        --model local --base-url http://127.0.0.1:8080/v1
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
import sys

import optuna

from optuna_llm.exceptions import OptunaLLMError
from optuna_llm.report import report


NO_MODEL = (
    "no model to ask: pass --model (and --base-url for a local server), or set OPTUNA_LLM_MODEL"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="optuna-llm", description="LLM tools for Optuna.")
    commands = parser.add_subparsers(dest="command", required=True)
    report_parser = commands.add_parser(
        "report", help="print the model's Markdown analysis of a study"
    )
    report_parser.add_argument("--storage", required=True, help="Optuna storage URL")
    report_parser.add_argument("--study", required=True, help="study name")
    report_parser.add_argument("--model", default=os.environ.get("OPTUNA_LLM_MODEL"))
    report_parser.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint")
    report_parser.add_argument("--task", default="", help="what the study optimizes")
    args = parser.parse_args(argv)

    if not args.model:
        print(f"optuna-llm: error: {NO_MODEL}", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=args.study, storage=args.storage)
        text = report(study, model=args.model, base_url=args.base_url, task=args.task)
    except (OptunaLLMError, KeyError) as error:
        print(f"optuna-llm: error: {error}", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
