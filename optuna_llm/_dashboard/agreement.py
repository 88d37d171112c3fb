"""Whether a query says what its request names.

A small model's query is often well formed, runs, keeps a plausible set of trials, and still
leaves part of the request out or turns it around: "the 2 best complete trials without
bootstrap" with no condition on bootstrap, "min_samples_leaf of 1 or 2" as ``== 1``, "below 12"
as ``<= 12``, "the 4 lowest-accuracy trials" as the best four of a study that maximizes,
"complete trials using log_loss" as complete trials *or* log_loss ones, a scatter of
"n_estimators against max_depth" drawn against the objective. Each shows in the query itself
when it is read against the request's words:

- **fields**: a parameter the request names (by its name, or by a choice no other parameter
  has), or a user attribute key, that no condition tests, or that a chart neither draws nor
  tests;
- **numbers**: a number the request names that the query does not use (as a value, a bound or
  a count), or a selection keeping a number of trials the request does not name;
- **bounds**: a number the request bounds one way ("above 0.9", "5 or more") that the query
  compares another way;
- **rankings**: "best", "worst", "first", "last" (and "highest"/"lowest" by the study's
  direction) taken another way;
- **unions**: several selections, each adding trials, where the request joins its conditions
  with no word that adds ("or", "plus", "together with", "and the best trial", ...);
- **selections that keep nothing or test nothing**: a condition on the value of trials of a
  state that has none (failed, running, waiting), a condition listing every choice;
- **steps**: "step" drawn against the final value, where the value at each step is meant.

Words are read with a few patterns, and only where they say one thing plainly: a request the
patterns do not read is not checked. The problem is given in words for the model, with what to
do about it. Pure functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
import math
import re
from typing import Any

from optuna_llm._dashboard.intent import take_hint
from optuna_llm._dashboard.query import STATES
from optuna_llm._dashboard.query import STEP_VALUE
from optuna_llm._dashboard.query import ChartQuery
from optuna_llm._dashboard.query import Condition
from optuna_llm._dashboard.query import Field
from optuna_llm._dashboard.query import FilterQuery
from optuna_llm._dashboard.query import Selection


# A number written in a request: not part of a name ("log2", "llm:v2"), maybe a percentage.
_NUMBER = r"(?<![\w.:])(?P<n>\d+(?:\.\d+)?|\.\d+)(?P<percent>%?)(?![\w]|\.\d)"
_NUMERAL = re.compile(_NUMBER)
# Bounds, longest words first so that "no more than" is not read as "more than".
_BOUND_BEFORE = re.compile(
    r"(?P<word>no more than|no fewer than|no less than|at least|at most|up to|more than|"
    r"greater than|higher than|larger than|fewer than|less than|lower than|smaller than|"
    r"exceeding|above|over|below|under|>=|<=|>|<)\s*" + _NUMBER
)
_BOUND_AFTER = re.compile(
    _NUMBER + r"\s+(?P<word>or more|or above|or higher|or greater|or over|and up|and above|"
    r"on\b|onwards|or less|or fewer|or below|or lower|or under)"
    # "below 5 or above 35" bounds 35, not 5.
    r"(?!\s*[\d.])"
)
_BOUND_OPS = {
    "no more than": "<=",
    "at most": "<=",
    "up to": "<=",
    "<=": "<=",
    "no fewer than": ">=",
    "no less than": ">=",
    "at least": ">=",
    ">=": ">=",
    "more than": ">",
    "greater than": ">",
    "higher than": ">",
    "larger than": ">",
    "exceeding": ">",
    "above": ">",
    "over": ">",
    ">": ">",
    "fewer than": "<",
    "less than": "<",
    "lower than": "<",
    "smaller than": "<",
    "below": "<",
    "under": "<",
    "<": "<",
}
_AFTER_OPS = {
    "or more": ">=",
    "or above": ">=",
    "or higher": ">=",
    "or greater": ">=",
    "or over": ">=",
    "and up": ">=",
    "and above": ">=",
    "on": ">=",
    "onwards": ">=",
    "or less": "<=",
    "or fewer": "<=",
    "or below": "<=",
    "or lower": "<=",
    "or under": "<=",
}

# Words that join groups of trials, so that several selections may be meant.
_UNION = re.compile(
    r"\b(?:or|plus|together with|as well as|along with|also|in addition to)\b|"
    r"\band\s+(?:the|all|any)\s+(?:\d+\s+|\w+\s+)?(?:best|worst|top|bottom|first|last|latest|"
    r"most recent|highest|lowest)\b|"
    r"\band\s+(?:(?:complete|completed|pruned|failed|running|waiting)\s+)?trials?\b"
)
_RANK_WORDS = (
    (re.compile(r"\b(?:best|top)\b"), "best"),
    (re.compile(r"\b(?:worst|bottom)\b"), "worst"),
    (re.compile(r"\b(?:first|earliest|oldest)\b"), "first"),
    (re.compile(r"\b(?:last|latest|newest|most recent)\b"), "last"),
    (re.compile(r"\b(?:highest|largest|greatest)\b"), "highest"),
    (re.compile(r"\b(?:lowest|smallest)\b"), "lowest"),
)
_VALUED = ("value", "values")
_WHOLE_STEP = {"<": -1, "<=": 1, ">": 1, ">=": -1}
# Choices that are words of a request's own ("the best trial", "all trials") name no parameter.
_PLAIN_WORDS = frozenset(
    (
        *("all", "any", "auto", "best", "first", "last", "worst", "top", "true", "false"),
        *("yes", "no", "none", "on", "off", "min", "max", "mean", "median", "sum", "count"),
        *("complete", "pruned", "fail", "failed", "running", "waiting"),
    )
)


def filter_disagreement(
    request: str,
    kept: FilterQuery,
    known: Mapping[str, Field],
    *,
    count: int | None = None,
    direction: str | None = None,
) -> str | None:
    """What the filter query ``kept`` leaves out of ``request`` or turns around, or None.

    ``count`` is the number of trials the request names (see ``intent.py``), and ``direction``
    the objective's ("maximize" or "minimize"; None if the studies have several or disagree).
    """
    text = _words(request)
    selections = kept.selections
    for problem in (
        _never_kept(selections),
        _every_choice(c for s in selections for c in s.where),
        _split(text, selections),
        _untested(text, known, [c.field for s in selections for c in s.where], chart=False),
        _unnamed_count(text, selections, count),
        _unused_number(text, selections, count),
        _bound_turned(text, [c for s in selections for c in s.where]),
        _rank_turned(text, selections, count, direction),
    ):
        if problem is not None:
            return problem
    return None


def chart_disagreement(request: str, chart: ChartQuery, known: Mapping[str, Field]) -> str | None:
    """What the chart query ``chart`` leaves out of ``request``, or None."""
    text = _words(request)
    axes = [chart.x, chart.y]
    if any(f.kind == "step" for f in axes if f) and any(f.kind in _VALUED for f in axes if f):
        return (
            '"value" is a trial\'s final value, one per trial; the value reported at each step '
            f'is "{STEP_VALUE}". Draw "step" against "{STEP_VALUE}".'
        )
    drawn = [chart.x, chart.y if chart.draws_y else None, chart.series]
    used = [f for f in drawn if f is not None] + [c.field for c in chart.where]
    return _every_choice(chart.where) or _untested(text, known, used, chart=True)


def named_fields(request: str, known: Mapping[str, Field]) -> list[tuple[Field, str]]:
    """The parameters and user attributes ``request`` names, each with the words naming it:
    a parameter by its name (with spaces for underscores, or without an ``n_``/``num_``
    prefix: "estimators" for ``n_estimators``) or by a choice no other parameter has
    ("entropy"), a user attribute by its key."""
    text = _words(request)
    named: dict[str, tuple[Field, str]] = {}
    owners: dict[str, list[Field]] = {}
    for field in known.values():
        if field.kind == "user_attr":
            key = str(field.key).lower()
            if len(key) >= 3 and (found := _whole(key, text)):
                named[field.name] = (field, found)
        if field.kind != "param":
            continue
        for words in _spellings(str(field.key)):
            if found := _whole(words, text):
                named[field.name] = (field, found)
                break
        for choice in field.choices or ():
            label = choice.lower() if isinstance(choice, str) else ""
            if len(label) >= 3 and label not in _PLAIN_WORDS and not _NUMERAL.fullmatch(label):
                owners.setdefault(label, []).append(field)
    for label, fields in owners.items():
        if len(fields) == 1 and fields[0].name not in named and (found := _whole(label, text)):
            named[fields[0].name] = (fields[0], found)
    return list(named.values())


def _words(request: str) -> str:
    return " ".join(request.lower().split())


def _whole(words: str, text: str) -> str | None:
    found = re.search(rf"(?<![\w.:]){re.escape(words)}(?![\w:])", text)
    return found.group() if found else None


def _spellings(name: str) -> Iterator[str]:
    lowered = name.lower()
    if len(lowered) < 2:
        return
    yield lowered
    if "_" in lowered:
        yield lowered.replace("_", " ")
    for prefix in ("n_", "num_", "number_of_"):
        if lowered.startswith(prefix) and len(lowered) > len(prefix) + 2:
            yield lowered.removeprefix(prefix).replace("_", " ")


def _never_kept(selections: Sequence[Selection]) -> str | None:
    """A selection of trials of states that have no value, which tests or ranks the value."""
    for selection in selections:
        states = set(STATES)
        for c in selection.where:
            if c.field.kind != "state":
                continue
            values = set(c.value) if isinstance(c.value, list) else {c.value}
            if c.op in ("==", "in"):
                states &= values
            elif c.op in ("!=", "not in"):
                states -= values
        valued = selection.take in ("best", "worst") or any(
            c.field.kind in _VALUED for c in selection.where
        )
        if valued and "Complete" not in states:
            named = " or ".join(f'"{s}"' for s in sorted(states)) or "no"
            return (
                f"a selection of {named} trials that tests or ranks the value keeps no trial: "
                'only "Complete" trials have a value. For trials of one kind or the other, '
                'use a selection for each ("select" keeps a trial found by any of them).'
            )
    return None


def _every_choice(conditions: Iterator[Condition] | Sequence[Condition]) -> str | None:
    for c in conditions:
        choices = c.field.choices
        if (
            c.op == "in"
            and choices
            and len(choices) > 1
            and all(any(_equal(v, choice) for v in c.value) for choice in choices)
        ):
            listed = ", ".join(_shown(choice) for choice in choices)
            return (
                f'the condition on "{c.field.name}" lists every choice it has ({listed}), '
                "so it keeps every trial: list only the choices the request names."
            )
    return None


def _split(text: str, selections: Sequence[Selection]) -> str | None:
    if len(selections) < 2 or _UNION.search(text):
        return None
    return (
        f"the query has {len(selections)} selections, and a trial in any one of them is kept, "
        "but the request asks for trials that meet all of its conditions at once: put every "
        'condition in the "where" of one selection.'
    )


def _untested(
    text: str, known: Mapping[str, Field], used: Sequence[Field], *, chart: bool
) -> str | None:
    names = {f.name for f in used}
    for field, words in named_fields(text, known):
        if field.name in names:
            continue
        if chart:
            return (
                f'the request names "{words}", but the chart neither draws "{field.name}" '
                '("x", "y" or "series") nor tests it in "where": use it as the request says.'
            )
        return (
            f'the request names "{words}", but no condition tests "{field.name}": add one to '
            'the "where" of the selection it belongs to.'
        )
    return None


def _used_numbers(selections: Sequence[Selection]) -> list[float]:
    used: list[float] = []
    for selection in selections:
        if selection.take != "all":
            used.append(selection.count)
        for c in selection.where:
            if isinstance(c.field.key, int):
                used.append(c.field.key)
            values = c.value if isinstance(c.value, list) else [c.value]
            used += [v for v in values if _is_number(v)]
            if isinstance(c.value, int) and not isinstance(c.value, bool):
                # Over whole numbers, "< 20" is "<= 19", and "> 4" is ">= 5".
                used.append(c.value + _WHOLE_STEP.get(c.op, 0))
    return used


def _unused_number(text: str, selections: Sequence[Selection], count: int | None) -> str | None:
    used = _used_numbers(selections)
    for found in _NUMERAL.finditer(text):
        number = float(found.group("n"))
        meant = [number / 100] if found.group("percent") else [number]
        if any(_close(n, u) for n in meant for u in used):
            continue
        if _close(number, count):
            return (
                f"the request asks for {count} trials, but no selection keeps a number of "
                f"them. {take_hint(int(number))}"
            )
        return (
            f'the request names {found.group()} ("{_around(text, found)}"), but the query '
            "uses no such value: add the condition it belongs to (several values of one "
            'field: "op": "in", "value": [...]).'
        )
    return None


def _unnamed_count(text: str, selections: Sequence[Selection], count: int | None) -> str | None:
    """A selection keeping a number of trials the request names neither as its count nor as
    any other number (where it names no ranking either, ranking words being read loosely)."""
    numbers = [float(m.group("n")) for m in _NUMERAL.finditer(text)]
    ranks = any(pattern.search(text) for pattern, _ in _RANK_WORDS)
    # "the worst trial" beside "the 3 best trials" names one trial of its own.
    one = ranks and re.search(r"\btrial\b(?!s)", text) is not None
    for s in selections:
        if s.take == "all" or s.count == count or any(_close(s.count, n) for n in numbers):
            continue
        if s.count == 1 and one:
            continue
        if count is None and ranks:
            continue
        named = (
            f"names {count} {'trial' if count == 1 else 'trials'}"
            if count
            else "names no number of trials"
        )
        return (
            f"the request {named}, but a selection keeps the {s.take} {s.count}: for every "
            'trial that meets its conditions, use "take": "all".'
            if count is None
            else f"the request {named}, but a selection keeps the {s.take} {s.count}: use "
            f'"count": {count}.'
        )
    return None


def _bounds(text: str) -> Iterator[tuple[str, float, str]]:
    """Each bound the request names: its words, its number and the comparison it means."""
    for found in _BOUND_BEFORE.finditer(text):
        number = float(found.group("n")) / (100 if found.group("percent") else 1)
        yield found.group(), number, _BOUND_OPS[found.group("word")]
    for found in _BOUND_AFTER.finditer(text):
        number = float(found.group("n")) / (100 if found.group("percent") else 1)
        yield found.group(), number, _AFTER_OPS[found.group("word")]


def _bound_turned(text: str, conditions: Sequence[Condition]) -> str | None:
    compared = [c for c in conditions if c.op in ("<", "<=", ">", ">=")]
    for words, number, op in _bounds(text):
        tested = [c for c in compared if _close(c.value, number)]
        if tested and not any(c.op == op for c in tested):
            c = tested[0]
            return (
                f'the request says "{words}", which is "{op}" {_shown(c.value)}, but the query '
                f'tests "{c.field.name}" "{c.op}" {_shown(c.value)}: use "op": "{op}".'
            )
    return None


def _rank_turned(
    text: str, selections: Sequence[Selection], count: int | None, direction: str | None
) -> str | None:
    """A ranking the request names that no selection takes, where it names how many."""
    if count is None:
        return None
    takes = {s.take for s in selections}
    for pattern, word in _RANK_WORDS:
        found = pattern.search(text)
        if found is None:
            continue
        take, why = word, ""
        if word in ("highest", "lowest"):
            if direction is None:
                continue
            high = direction == "maximize"
            take = "best" if (word == "highest") == high else "worst"
            why = f", and the study {direction[:-1]}es, so those are its {take} trials"
        if take not in takes:
            return f'the request asks for the "{found.group()}" trials{why}: use "take": "{take}".'
    return None


def _around(text: str, found: re.Match[str], words: int = 3) -> str:
    before = text[: found.start()].split()[-words:]
    after = text[found.end() :].split()[:words]
    return " ".join([*before, found.group(), *after])


def _close(a: Any, b: Any) -> bool:
    return (
        _is_number(a)
        and _is_number(b)
        and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    )


def _equal(a: Any, b: Any) -> bool:
    return a is b if a is None or isinstance(a, bool) or b is None else a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if _is_number(value) else f'"{value}"'
