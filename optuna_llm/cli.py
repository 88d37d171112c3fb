"""The ``optuna-llm`` command.

    optuna-llm report --storage sqlite:///studies.db --study churn --model gpt-4o-mini
    optuna-llm report --storage sqlite:///studies.db --study churn \\
        --model local --base-url http://127.0.0.1:8080/v1
    optuna-llm usage --storage sqlite:///studies.db --study churn
    optuna-llm dashboard sqlite:///studies.db
    optuna-llm dashboard sqlite:///studies.db --base-url http://127.0.0.1:11434/v1 --model qwen2.5
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
import sys

import optuna

from optuna_llm._study.ledger import study_usage
from optuna_llm.dashboard import DEFAULT_HOST
from optuna_llm.dashboard import DEFAULT_PORT
from optuna_llm.dashboard import run_dashboard
from optuna_llm.exceptions import OptunaLLMError
from optuna_llm.report import report


NO_MODEL = (
    "no model to ask: pass --model (and --base-url for a local server), or set OPTUNA_LLM_MODEL"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: the process's arguments); returns the exit code."""
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
    dashboard_parser = commands.add_parser(
        "dashboard",
        help="serve optuna-dashboard with its LLM features answered by a model",
        description="Serve optuna-dashboard on STORAGE. Its trial filter in plain words and its "
        "generated charts are answered by the bundled local model, started and stopped with "
        "the dashboard, or by --model at --base-url (API key: $OPENAI_API_KEY).",
    )
    dashboard_parser.add_argument("storage", help="Optuna storage URL, or a journal file path")
    dashboard_parser.add_argument("--host", default=DEFAULT_HOST)
    dashboard_parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    dashboard_parser.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint (default: the bundled model)"
    )
    dashboard_parser.add_argument("--model", default=os.environ.get("OPTUNA_LLM_MODEL"))
    usage_parser = commands.add_parser(
        "usage", help="print what the model has cost a study, over all its workers and runs"
    )
    usage_parser.add_argument("--storage", required=True, help="Optuna storage URL")
    usage_parser.add_argument("--study", required=True, help="study name")
    args = parser.parse_args(argv)

    if args.command == "dashboard":
        return _dashboard(args)
    if args.command == "usage":
        return _usage(args)
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
    used = study_usage(study)
    if used.requests or used.failed_requests:
        print(f"\n_Model use by the study's sampler: {used.describe()}._")
    return 0


def _usage(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=args.study, storage=args.storage)
    except KeyError as error:
        print(f"optuna-llm: error: {error}", file=sys.stderr)
        return 1
    print(study_usage(study).describe())
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    if args.base_url and not args.model:
        print("optuna-llm: error: --base-url needs --model (or OPTUNA_LLM_MODEL)", file=sys.stderr)
        return 2
    try:
        run_dashboard(
            args.storage,
            host=args.host,
            port=args.port,
            base_url=args.base_url,
            model=args.model if args.base_url else None,
        )
    except (OptunaLLMError, ImportError, OSError, ValueError) as error:
        print(f"optuna-llm: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
