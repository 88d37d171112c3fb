"""Chat messages for one proposal: instructions, task and search space first, history last.

Pure functions. The start of the prompt stays identical from trial to trial while the search
space does not change, so llama.cpp and hosted prompt caches can reuse it; only the history and
the request at the end change.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

from optuna.study import StudyDirection

from optuna_llm._chat import Message
from optuna_llm._study.history import HistoryView
from optuna_llm._study.history import TrialRecord
from optuna_llm._study.search_space import ParamSpec
from optuna_llm._study.search_space import describe_param
from optuna_llm._study.search_space import format_number
from optuna_llm._study.search_space import format_params
from optuna_llm._study.search_space import quote


MAX_HISTORY_CHARS = 8_000
MAX_TASK_CHARS = 2_000
MAX_ECHOED_ANSWER_CHARS = 2_000
MAX_METRIC_NAME_CHARS = 100

_ANSWER_FORMAT = '{"rationale": "<why, in at most 20 words>", "params": {"<name>": <value>, ...}}'


def _system_prompt(what: str, answer_format: str) -> str:
    return f"""\
You are an expert in hyperparameter optimization. You choose the next {what} to evaluate \
in an Optuna study.
Use what is known about good values for this kind of problem and what the trial history shows: \
refine the best regions and explore promising untried ones. Never repeat a configuration that \
was tried or is running.
Answer with one JSON object and nothing else:
{answer_format}
Give every parameter a value of its type within its bounds, on its step, or one of its \
choices. A conditional parameter may be left out when your configuration does not use it."""


SYSTEM_PROMPT = _system_prompt("configuration", _ANSWER_FORMAT)
BATCH_SYSTEM_PROMPT = _system_prompt(
    "configurations",
    f'{{"proposals": [{_ANSWER_FORMAT}, ...]}}\nThe configurations must differ from each other.',
)

Question = Literal["next", "start", "defaults", "challenge"]
"""What a request asks for: the next configuration(s), the recommended start, the library's
documented defaults, or one configuration to beat the classical sampler's candidate."""

START_REQUEST = (
    "Propose the configuration to evaluate first: the well-known default or recommended "
    "starting configuration for this kind of task, the one an expert would try before any "
    "tuning."
)
DEFAULTS_REQUEST = (
    "Propose the configuration to evaluate first: the library's documented default value of "
    "each parameter for the algorithm named in the task, the values it uses when the user sets "
    "none (for a parameter without a default, its most usual value)."
)
CHALLENGE_REQUEST = (
    "The classical optimizer will evaluate this configuration next: {candidate}\n"
    "Propose one configuration that you expect to do better than it and than the best trials "
    "so far. It must differ from every trial above."
)

REASK_TEMPLATE = """\
Your answer could not be used:
{errors}
Answer again with one JSON object: {{"rationale": "...", "params": {{...}}}}."""


def build_messages(
    *,
    task: str,
    directions: Sequence[StudyDirection],
    metric_names: Sequence[str] | None,
    specs: Mapping[str, ParamSpec],
    history: HistoryView,
    batch_size: int = 1,
    prior: str | None = None,
    question: Question = "next",
    candidate: Mapping[str, Any] | None = None,
) -> list[Message]:
    """The system and user messages asking for the next ``batch_size`` configurations, or,
    by ``question``, for the recommended start or for one configuration to beat ``candidate``.

    ``prior``, experience from related studies, goes before the history, in the part of the
    prompt that stays the same from trial to trial.
    """
    parts = [
        *_study_parts(
            task=task,
            directions=directions,
            metric_names=metric_names,
            specs=specs,
            history=history,
            prior=prior,
        ),
        _request_line(question, batch_size, candidate),
    ]
    return _chat(SYSTEM_PROMPT if batch_size == 1 else BATCH_SYSTEM_PROMPT, parts)


def _request_line(question: Question, batch_size: int, candidate: Mapping[str, Any] | None) -> str:
    if question == "start":
        return START_REQUEST
    if question == "defaults":
        return DEFAULTS_REQUEST
    if question == "challenge":
        return CHALLENGE_REQUEST.format(candidate=format_params(candidate or {}))
    if batch_size == 1:
        return "Propose the next configuration."
    return f"Propose the next {batch_size} configurations."


REPORT_SYSTEM_PROMPT = """\
You are an expert in hyperparameter optimization. You review a finished Optuna study for the \
engineer who ran it. Write a short report in Markdown, at most 250 words, with three sections: \
"What mattered" (which parameters and ranges drove the objective), "What failed and why" \
(failed, pruned and poor trials, and likely causes), and "What to try next" (concrete ranges or \
changes). Be specific, cite trial numbers, and say when the evidence is thin."""


def build_report_messages(
    *,
    task: str,
    directions: Sequence[StudyDirection],
    metric_names: Sequence[str] | None,
    specs: Mapping[str, ParamSpec],
    history: HistoryView,
) -> list[Message]:
    """The system and user messages asking for a Markdown report on a study."""
    parts = [
        *_study_parts(
            task=task,
            directions=directions,
            metric_names=metric_names,
            specs=specs,
            history=history,
            prior=None,
        ),
        "Write the report.",
    ]
    return _chat(REPORT_SYSTEM_PROMPT, parts)


def _chat(system: str, parts: Sequence[str]) -> list[Message]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n\n".join(parts)},
    ]


def _study_parts(
    *,
    task: str,
    directions: Sequence[StudyDirection],
    metric_names: Sequence[str] | None,
    specs: Mapping[str, ParamSpec],
    history: HistoryView,
    prior: str | None,
) -> list[str]:
    names = _objective_names(directions, metric_names)
    return [
        f"Task: {_one_paragraph(task, MAX_TASK_CHARS) or 'not described'}",
        _describe_objectives(directions, names),
        "Parameters:\n" + "\n".join(describe_param(spec) for spec in specs.values()),
        *([prior] if prior else []),
        _describe_history(history, names),
    ]


def reask_messages(answer: str, errors: str) -> list[Message]:
    """The turns appended after a bad answer: the answer itself, then what was wrong."""
    return [
        {"role": "assistant", "content": answer[:MAX_ECHOED_ANSWER_CHARS]},
        {"role": "user", "content": REASK_TEMPLATE.format(errors=errors)},
    ]


def _objective_names(
    directions: Sequence[StudyDirection], metric_names: Sequence[str] | None
) -> list[str]:
    if metric_names is not None and len(metric_names) == len(directions):
        return [_one_paragraph(str(name), MAX_METRIC_NAME_CHARS) for name in metric_names]
    if len(directions) == 1:
        return ["value"]
    return [f"value {i}" for i in range(len(directions))]


def _describe_objectives(directions: Sequence[StudyDirection], names: Sequence[str]) -> str:
    goals = ", ".join(
        f"{'maximize' if d == StudyDirection.MAXIMIZE else 'minimize'} {quote(name)}"
        for d, name in zip(directions, names, strict=True)
    )
    if len(directions) == 1:
        return f"Objective: {goals}."
    return f"Objectives: {goals}."


def _describe_history(history: HistoryView, names: Sequence[str]) -> str:
    """The trials, one line each in trial order, then what they are a selection of.

    Lines never change once a trial has finished, and new trials come last, so successive
    prompts share as long a prefix as possible; what changes every trial (counts, the best)
    goes after the lines.
    """
    if not history.records:
        return "History: no trials yet."
    lines = _fit(history.records, names)
    counts = ", ".join(f"{n} {state}" for state, n in history.counts.items() if n)
    if history.best_only and len(lines) < history.n_trials:
        shown = f"Shown: the {len(lines)} best of {history.n_trials} trials ({counts})."
    elif len(lines) < history.n_trials:
        shown = (
            f"Shown: {len(lines)} of {history.n_trials} trials ({counts}): the best, the most "
            "recent, a spread of the rest, and those still running."
        )
    else:
        shown = f"Shown: all {history.n_trials} trials ({counts})."
    best = sorted(record.number for record in history.records if record.best)
    if best and len(names) == 1:
        shown += f" Best so far: trial {best[0]}."
    elif best:
        shown += " Pareto front: " + ", ".join(f"trial {n}" for n in best) + "."
    return "History:\n" + "\n".join(lines) + "\n" + shown


def _fit(records: Sequence[TrialRecord], names: Sequence[str]) -> list[str]:
    """Render records, dropping the oldest non-best ones while the text is too long."""
    lines = {record.number: _describe_record(record, names) for record in records}
    droppable = [record.number for record in records if not record.best]
    total = sum(len(line) + 1 for line in lines.values())
    for number in droppable:
        if total <= MAX_HISTORY_CHARS:
            break
        total -= len(lines.pop(number)) + 1
    return list(lines.values())


def _describe_record(record: TrialRecord, names: Sequence[str]) -> str:
    tags = [record.state]
    if record.violation is not None:
        tags.append(
            "feasible"
            if record.violation == 0
            else f"infeasible by {format_number(record.violation)}"
        )
    outcome = ""
    if record.values is not None:
        outcome = ", ".join(
            f"{name} {format_number(value)}"
            for name, value in zip(names, record.values, strict=True)
        )
    elif record.last_intermediate is not None:
        step, value = record.last_intermediate
        outcome = f"pruned at step {step} with {format_number(value)}"
    elif record.fail_reason:
        outcome = f"failed with {quote(' '.join(record.fail_reason.split()))}"
    text = f"trial {record.number} ({', '.join(tags)})"
    if outcome:
        text += f": {outcome}"
    return f"{text} | {format_params(record.params)}"


def _one_paragraph(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]
