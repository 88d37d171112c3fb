"""optuna-dashboard's prompts, read and extended: which feature asks, what the user asked, the
notes that keep a small model off its usual mistakes, the re-ask after a failed check, and a
chart's title taken from the request.

The dashboard's prompts are its own (``optuna_dashboard.llm.prompt_templates``); a provider
sees only their text. Each begins with a sentence of its own, and those of the generated
functions end the user's words with ``====== User Query Finished ======``, after which the
dashboard appends its own failure message when it asks again.
"""

from __future__ import annotations

from collections.abc import Sequence
import re
from typing import Any
from typing import Literal


PromptKind = Literal["filter", "chart", "rechart", "title"]

_OPENINGS: dict[str, PromptKind] = {
    "Please write a filtering function": "filter",
    "Please write a JavaScript function that, given the Study object": "chart",
    "Please rewrite a JavaScript function": "rechart",
    "You are tasked with generating ONLY a concise graph title": "title",
}
_INSTRUCTIONS_END = "====== Instructions Finished ======"
_QUERY_END = "====== User Query Finished ======"
_TITLE_QUERY = re.compile(r"User Query:\n-+\n(?P<query>.*?)\n-+\n", re.DOTALL)

MAX_TITLE_CHARACTERS = 50
# At most this many parameters are named in the notes, and this many choices of each.
_MAX_PARAMETERS = 20
_MAX_CHOICES = 8

# What the bundled model got wrong on the dashboard's own prompts, one line each.
_FILTER_NOTES = (
    'A parameter\'s value as users see it is the string `param_external_value` ("gini", '
    '"None", "True", "0.5"); compare categorical values with it. There is no '
    "`param_external_type`, and a trial has no `distribution` (each of its params has one).",
    "`trial.user_attrs` is a list of {key, value}: "
    'trial.user_attrs.find(a => a.key === "name")?.value',
    '`trial.values` is missing unless trial.state === "Complete": test the state first.',
    "For the best, top, worst, first or last N trials, use the third argument, the whole "
    "list: function (trial, index, trials) { ... }",
    "Plain JavaScript: no type annotations, and never assign to a const.",
)
_CHART_NOTES = (
    "`param_internal_value` is a number (a categorical's index); `param_external_value` is "
    'the string users see ("gini", "None"): group and label categorical values with it.',
    "`trial.user_attrs` is a list of {key, value}: "
    't.user_attrs.find(a => a.key === "name")?.value',
    '`trial.values` is missing unless trial.state === "Complete": test the state first.',
    "Copy before sorting ([...study.trials].sort(...)): the input must not change.",
    "Plain JavaScript: no type annotations, and never assign to a const.",
)

_FAILURE = """
Please notice that the last response generated the following function:

```javascript
{code}
```

This function failed with the following error message:

```
{problem}
```

Please consider the error message and generate another code that retains the user query \
without any errors.
Remember the same security constraints: no network requests, no DOM manipulation, no external \
calls, no I/O operations, and no trial modifications.
Do not forget to return a valid JavaScript function code without any other texts."""


def kind_of(prompt: str) -> PromptKind | None:
    """Which of the dashboard's features wrote ``prompt``; None for a prompt it does not know."""
    start = prompt.lstrip()
    for opening, kind in _OPENINGS.items():
        if start.startswith(opening):
            return kind
    return None


def user_query(prompt: str, kind: PromptKind) -> str:
    """The user's own words in one of the dashboard's prompts ("" if they cannot be found)."""
    if kind == "title":
        found = _TITLE_QUERY.search(prompt)
        return found.group("query").strip() if found else ""
    before, marker, _ = prompt.partition(_QUERY_END)
    if not marker:
        return ""
    words = before.rstrip().rsplit(":\n", 1)[-1]
    return "\n".join(line for line in words.splitlines() if not re.fullmatch(r"-+", line)).strip()


def with_notes(prompt: str, kind: PromptKind, details: Sequence[dict[str, Any]]) -> str:
    """``prompt`` with its kind's notes and the studies' facts at the end of its instructions."""
    if kind == "title" or _INSTRUCTIONS_END not in prompt:
        return prompt
    notes = _FILTER_NOTES if kind == "filter" else _CHART_NOTES
    lines = [f"- {note}" for note in notes] + _facts(details)
    block = "Notes on these trials:\n" + "\n".join(lines) + "\n\n"
    before, marker, after = prompt.partition(_INSTRUCTIONS_END)
    return before + block + marker + after


def with_failure(prompt: str, code: str, problem: str) -> str:
    """``prompt`` asking again: its own failure message, if any, replaced by this one."""
    before, marker, _ = prompt.partition(_QUERY_END)
    return before + marker + "\n" + _FAILURE.format(code=code, problem=problem)


def title_for(query: str) -> str:
    """A chart's title from the user's request: its first line, at most 50 characters."""
    text = " ".join(query.split())
    text = text[:1].upper() + text[1:]
    if len(text) > MAX_TITLE_CHARACTERS:
        cut = text[: MAX_TITLE_CHARACTERS - 1].rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:-") + "…"
    return text.rstrip(".") or "Study Visualization"


def _facts(details: Sequence[dict[str, Any]]) -> list[str]:
    facts = []
    directions = {tuple(d.get("directions", ())) for d in details}
    if len(directions) == 1:
        (only,) = directions
        if len(only) == 1:
            better = "higher" if only[0] == "maximize" else "lower"
            facts.append(f"- The study's objective is values[0]: {better} is better.")
    parameters: dict[str, str] = {}
    for detail in details:
        for entry in detail.get("union_search_space", ()):
            parameters.setdefault(entry["name"], _describe(entry.get("distribution", {})))
    if parameters:
        named = list(parameters.items())[:_MAX_PARAMETERS]
        facts.append("- Parameters: " + "; ".join(f"{n} {d}".rstrip() for n, d in named) + ".")
    keys = sorted({a["key"] for d in details for a in d.get("union_user_attrs", ())})
    if keys:
        facts.append("- User attribute keys: " + ", ".join(f'"{k}"' for k in keys) + ".")
    return facts


def _describe(distribution: dict[str, Any]) -> str:
    kind = distribution.get("type")
    if kind == "CategoricalDistribution":
        choices = [str(c.get("value")) for c in distribution.get("choices", ())]
        listed = ", ".join(f'"{c}"' for c in choices[:_MAX_CHOICES])
        return f"(one of {listed})"
    if kind == "IntDistribution":
        return "(integer)"
    if kind == "FloatDistribution":
        return "(number)"
    return ""
