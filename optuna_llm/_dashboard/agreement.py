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
- **states**: a state the request names that no selection keeps, where one selection names
  no state ("failed trials, and complete trials with ..." as failed trials or trials with ...);
- **selections that keep nothing or test nothing**: a condition on the value of trials of a
  state that has none (failed, running, waiting), a condition listing every choice;
- **steps**: "step" drawn against the final value, where the value at each step is meant.

Words are read with a few patterns, and only where they say one thing plainly: a request the
patterns do not read is not checked. The problem is given in words for the model, and where
the words say the fix plainly, with the fix itself, which a small model copies far more
readily than it follows a description: the condition a named choice, boolean or bound makes
(``{"field": "params.bootstrap", "op": "==", "value": false}`` for "no bootstrap"), the values
of "1 or 2", the one selection a split request makes, the axis a chart's named field goes on.
Pure functions.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import json
import math
import re
from typing import Any
from typing import Generic
from typing import TypeVar

from optuna_llm._dashboard.intent import filter_intent
from optuna_llm._dashboard.intent import states_of
from optuna_llm._dashboard.intent import take_hint
from optuna_llm._dashboard.query import NONE
from optuna_llm._dashboard.query import STEP_VALUE
from optuna_llm._dashboard.query import ChartQuery
from optuna_llm._dashboard.query import Condition
from optuna_llm._dashboard.query import Field
from optuna_llm._dashboard.query import FilterQuery
from optuna_llm._dashboard.query import QueryError
from optuna_llm._dashboard.query import Selection
from optuna_llm._dashboard.query import read_chart
from optuna_llm._dashboard.query import read_filter
from optuna_llm._dashboard.words import NUMBER
from optuna_llm._dashboard.words import NUMERAL
from optuna_llm._dashboard.words import RANK_WORDS
from optuna_llm._dashboard.words import asks_for_traces
from optuna_llm._dashboard.words import bounds
from optuna_llm._dashboard.words import condition_json
from optuna_llm._dashboard.words import naming
from optuna_llm._dashboard.words import normalized
from optuna_llm._dashboard.words import numeral
from optuna_llm._dashboard.words import proposed_condition


Q = TypeVar("Q", FilterQuery, ChartQuery)

_VALUED = ("value", "values")
_WHOLE_STEP = {"<": -1, "<=": 1, ">": 1, ">=": -1}


@dataclass(frozen=True)
class Disagreement:
    """What a query leaves out of its request or turns around, in words for the model, and,
    where the request's words say the fix plainly, the query with it (as JSON) and the fix in
    a few words."""

    problem: str
    amended: dict[str, Any] | None = None
    fix: str = ""


@dataclass(frozen=True)
class Settled(Generic[Q]):
    """A query with every fix its request's words say applied, the fixes, and what is still
    wrong with it (None if nothing)."""

    query: Q
    fixes: tuple[str, ...]
    problem: str | None


# Fixes applied to one answer at most: each removes one disagreement, so a longer run is a
# fix undoing another.
_MAX_FIXES = 6


def settled_filter(
    request: str, kept: FilterQuery, known: dict[str, Field], *, direction: str | None = None
) -> Settled[FilterQuery]:
    """``kept`` with the fixes of its disagreements with ``request`` applied while there are
    fixes (see ``filter_disagreement``), each amended query read again like the model's."""
    return _settled(
        kept,
        lambda q: filter_disagreement(request, q, known, direction=direction),
        lambda text: read_filter(text, known),
    )


def settled_chart(request: str, chart: ChartQuery, known: dict[str, Field]) -> Settled[ChartQuery]:
    """``chart`` with the fixes of its disagreements with ``request`` applied (see
    ``chart_disagreement``)."""
    return _settled(
        chart,
        lambda q: chart_disagreement(request, q, known),
        lambda text: read_chart(text, known),
    )


def _settled(
    answer: Q,
    disagreement: Callable[[Q], Disagreement | None],
    read: Callable[[str], Q],
) -> Settled[Q]:
    fixes: list[str] = []
    for _ in range(_MAX_FIXES + 1):
        found = disagreement(answer)
        if found is None or found.amended is None or len(fixes) == _MAX_FIXES:
            return Settled(answer, tuple(fixes), found.problem if found else None)
        try:
            answer = read(_json(found.amended))
        except QueryError:
            return Settled(answer, tuple(fixes), found.problem)
        fixes.append(found.fix)
    raise AssertionError("unreachable: the last round returns")


def filter_disagreement(
    request: str, kept: FilterQuery, known: dict[str, Field], *, direction: str | None = None
) -> Disagreement | None:
    """What the filter query ``kept`` leaves out of ``request`` or turns around, or None.

    ``direction`` is the objective's ("maximize" or "minimize"; None if the studies have
    several or disagree).
    """
    text = normalized(request)
    intent = filter_intent(request)
    selections = kept.selections
    checks: tuple[Callable[[], Disagreement | None], ...] = (
        lambda: _never_kept(selections),
        lambda: _every_choice([c for s in selections for c in s.where]),
        lambda: _split(intent.joins, selections),
        lambda: _state_left_out(intent.states, selections),
        lambda: _untested(text, known, selections),
        lambda: _unnamed_count(text, selections, intent.count),
        lambda: _unused_number(text, selections, intent.count),
        lambda: _bound_turned(text, selections),
        lambda: _rank_turned(text, selections, intent.count, direction),
    )
    return next((found for check in checks if (found := check()) is not None), None)


def chart_disagreement(
    request: str, chart: ChartQuery, known: dict[str, Field]
) -> Disagreement | None:
    """What the chart query ``chart`` leaves out of ``request``, or None."""
    text = normalized(request)
    axes = {"x": chart.x, "y": chart.y}
    if any(f.kind == "step" for f in axes.values() if f):
        for axis, f in axes.items():
            if f is not None and f.kind in _VALUED:
                return Disagreement(
                    '"value" is a trial\'s final value, one per trial; the value reported at '
                    f'each step is "{STEP_VALUE}". Draw "step" against "{STEP_VALUE}".',
                    _chart_json(chart, **{axis: STEP_VALUE}),
                    f'drew "{STEP_VALUE}" as "{axis}", the value at each step',
                )
    return _every_choice(chart.where) or _undrawn(text, known, chart)


def _never_kept(selections: Sequence[Selection]) -> Disagreement | None:
    """A selection of trials of states that have no value, which tests or ranks the value."""
    for index, selection in enumerate(selections):
        if states_of(selection) != frozenset():
            continue
        stated = [c for c in selection.where if c.field.kind == "state"]
        rest = [c for c in selection.where if c.field.kind != "state"]
        allowed = states_of(Selection(tuple(stated), "all", 0)) or ()
        named = " or ".join(f'"{state}"' for state in sorted(allowed)) or "no"
        apart = _filter_json(
            selections,
            {index: _selection_json(stated, "all", 0)},
            extra=[_selection_json(rest, selection.take, selection.count)],
        )
        return Disagreement(
            f"a selection of {named} trials that tests or ranks the value keeps no trial: "
            'only "Complete" trials have a value. For trials of one kind or the other, '
            'use a selection for each ("select" keeps a trial found by any of them): '
            f"{_json(apart)}",
            apart,
            f"kept the {named} trials apart from the test of the value, in a selection of "
            "their own",
        )
    return None


def _state_left_out(
    states: frozenset[str], selections: Sequence[Selection]
) -> Disagreement | None:
    """A state the request names that no selection keeps, where one selection alone names no
    state and so can be the one it belongs to ("failed trials, and complete trials with fewer
    than 45 estimators" as failed trials or trials with fewer than 45 estimators)."""
    kept_states = [states_of(s) for s in selections]
    covered = frozenset().union(*(k for k in kept_states if k is not None))
    bare = [i for i, k in enumerate(kept_states) if k is None]
    missing = sorted(states - covered)
    if not missing or len(bare) != 1:
        return None
    state = (
        {"field": "state", "op": "==", "value": missing[0]}
        if len(missing) == 1
        else {"field": "state", "op": "in", "value": missing}
    )
    selection = selections[bare[0]]
    changed = _selection_json(selection.where, selection.take, selection.count)
    changed["where"].append(state)
    fixed = _filter_json(selections, {bare[0]: changed})
    named = " or ".join(f'"{m}"' for m in missing)
    return Disagreement(
        f"the request names {named} trials, but no selection keeps only those: add "
        f'{_json(state)} to the "where" of the selection they belong to: {_json(fixed)}',
        fixed,
        f"added {_json(state)} to the selection that named no state",
    )


def _every_choice(conditions: Sequence[Condition]) -> Disagreement | None:
    for c in conditions:
        choices = c.field.choices
        if (
            c.op == "in"
            and choices
            and len(choices) > 1
            and all(any(_equal(v, choice) for v in c.value) for choice in choices)
        ):
            listed = ", ".join(_shown(choice) for choice in choices)
            return Disagreement(
                f'the condition on "{c.field.name}" lists every choice it has ({listed}), '
                "so it keeps every trial: list only the choices the request names."
            )
    return None


def _split(joins: bool, selections: Sequence[Selection]) -> Disagreement | None:
    if len(selections) < 2 or joins:
        return None
    where = list({_key(c): c for s in selections for c in s.where}.values())
    ranked = [s for s in selections if s.take != "all"]
    take, count = (ranked[0].take, ranked[0].count) if len(ranked) == 1 else ("all", 0)
    joined = {"select": [_selection_json(where, take, count)]}
    return Disagreement(
        f"the query has {len(selections)} selections, and a trial in any one of them is kept, "
        "but the request asks for trials that meet all of its conditions at once: put every "
        f'condition in the "where" of one selection: {_json(joined)}',
        joined,
        "joined the selections into one: the request joins no groups of trials",
    )


def _untested(
    text: str, known: dict[str, Field], selections: Sequence[Selection]
) -> Disagreement | None:
    names = {c.field.name for s in selections for c in s.where}
    for named in naming(text, known):
        if named.field.name in names:
            continue
        condition = proposed_condition(text, named)
        what = f"add {_json(condition)}" if condition else "add a condition on it"
        problem = (
            f'the request names "{named.words}", but no condition tests "{named.field.name}": '
            f'{what} to the "where" of the selection it belongs to.'
        )
        if condition is None or len(selections) != 1:
            return Disagreement(problem)
        (selection,) = selections
        where = _selection_json(selection.where, selection.take, selection.count)
        # The bound the words give the named field, put on another field: moved to it.
        moved = [
            i
            for i, c in enumerate(selection.where)
            if c.field.numeric
            and c.field.kind == "param"
            and c.op == condition["op"]
            and _close(c.value, condition["value"])
        ]
        if moved:
            where["where"][moved[0]] = condition
            was = selection.where[moved[0]].field.name
            fix = f'tested "{named.field.name}" where the model tested "{was}"'
        else:
            where["where"].append(condition)
            fix = f"added {_json(condition)}, which the request names"
        return Disagreement(problem, _filter_json(selections, {0: where}), fix)
    return None


def _undrawn(text: str, known: dict[str, Field], chart: ChartQuery) -> Disagreement | None:
    drawn = [chart.x, chart.y if chart.draws_y else None, chart.series]
    names = {f.name for f in drawn if f is not None} | {c.field.name for c in chart.where}
    named_here = naming(text, known)
    asked = {n.field.name for n in named_here}
    for named in named_here:
        if named.field.name in names:
            continue
        name = named.field.name
        amended: dict[str, Any] | None = None
        if named.by_choice:
            condition = proposed_condition(text, named)
            what = f'add {_json(condition)} to "where"'
            amended = _chart_json(chart)
            amended["where"].append(condition)
        elif asks_for_traces(text, named):
            what = f'draw a trace for each of its values: "series": "{name}"'
            amended = _chart_json(chart, series=name)
        elif chart.x.name in asked and (chart.y is None or chart.y.name not in asked):
            what = f'draw it as "y": "{name}"'
            if chart.summary == "count":
                what += ' with "summary": "each" or a summary of it'
            else:
                amended = _chart_json(chart, y=name)
        elif chart.y is not None and (chart.y.name in asked or chart.y.kind in _VALUED):
            what = f'draw it as "x": "{name}"'
            amended = _chart_json(chart, x=name)
        else:
            what = f'draw it as "x" or "y": "{name}"'
        return Disagreement(
            f'the request names "{named.words}", but the chart neither draws "{name}" ("x", '
            f'"y" or "series") nor tests it in "where": {what}.',
            amended,
            f"{what.removeprefix('draw it as ').removeprefix('draw ')}, as the request names it"
            if amended
            else "",
        )
    return None


def _chart_json(chart: ChartQuery, **changed: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": chart.type,
        "x": chart.x.name,
        "y": chart.y.name if chart.y else NONE,
        "summary": chart.summary,
        "series": chart.series.name if chart.series else NONE,
        "where": [condition_json(c.field, c.op, c.value) for c in chart.where],
    }
    return data | changed


def _json(data: Any) -> str:
    return json.dumps(data, separators=(", ", ": "))


def _selection_json(where: Sequence[Condition], take: str, count: int) -> dict[str, Any]:
    return {
        "where": [condition_json(c.field, c.op, c.value) for c in where],
        "take": take,
        "count": count,
    }


def _filter_json(
    selections: Sequence[Selection],
    changed: Mapping[int, dict[str, Any]] | None = None,
    extra: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The filter query of ``selections`` as JSON, with those ``changed`` (by index) in place
    of theirs and ``extra`` ones after them."""
    changed = changed or {}
    kept = [
        changed.get(i, _selection_json(s.where, s.take, s.count)) for i, s in enumerate(selections)
    ]
    return {"select": [*kept, *extra]}


def _with_condition(
    selections: Sequence[Selection], index: int, position: int, condition: dict[str, Any]
) -> dict[str, Any]:
    """The filter query with the condition at ``position`` of selection ``index`` replaced."""
    selection = selections[index]
    changed = _selection_json(selection.where, selection.take, selection.count)
    changed["where"][position] = condition
    return _filter_json(selections, {index: changed})


def _with_take(
    selections: Sequence[Selection], index: int, take: str, count: int
) -> dict[str, Any]:
    selection = selections[index]
    return _filter_json(selections, {index: _selection_json(selection.where, take, count)})


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


def _unused_number(
    text: str, selections: Sequence[Selection], count: int | None
) -> Disagreement | None:
    used = _used_numbers(selections)
    for found in NUMERAL.finditer(text):
        number = float(found.group("n"))
        meant = [number / 100] if found.group("percent") else [number]
        if any(_close(n, u) for n in meant for u in used):
            continue
        if _close(number, count):
            return Disagreement(
                f"the request asks for {count} trials, but no selection keeps a number of "
                f"them. {take_hint(int(number))}"
            )
        listed = _listed_with(text, found, selections)
        problem = (
            f'the request names {found.group()} ("{_around(text, found)}"), but the query uses '
            "no such value: "
        )
        if listed is None:
            return Disagreement(
                problem + 'add the condition it belongs to (several values of one field: "op": '
                '"in", "value": [...]).'
            )
        index, position, condition = listed
        return Disagreement(
            problem + f"use {_json(condition)}.",
            _with_condition(selections, index, position, condition),
            f"tested {_json(condition)}, both values the request names",
        )
    return None


def _listed_with(
    text: str, found: re.Match[str], selections: Sequence[Selection]
) -> tuple[int, int, dict[str, Any]] | None:
    """For "1 or 2" where a condition tests 1 alone: where it is, and it with both values."""
    around = re.compile(NUMBER + r"\s*(?:,|or|, or)\s*$")
    before = around.search(text[: found.start()])
    if before is None:
        return None
    other = float(before.group("n"))
    for index, s in enumerate(selections):
        for position, c in enumerate(s.where):
            if c.op == "==" and _close(c.value, other):
                listed = [c.value, numeral(found.group("n"))]
                return index, position, condition_json(c.field, "in", listed)
    return None


def _unnamed_count(
    text: str, selections: Sequence[Selection], count: int | None
) -> Disagreement | None:
    """A selection keeping a number of trials the request names neither as its count nor as
    any other number (where it names no ranking either, ranking words being read loosely)."""
    numbers = [float(m.group("n")) for m in NUMERAL.finditer(text)]
    ranks = any(pattern.search(text) for pattern, _ in RANK_WORDS)
    # "the worst trial" beside "the 3 best trials" names one trial of its own.
    one = ranks and re.search(r"\btrial\b(?!s)", text) is not None
    for index, s in enumerate(selections):
        if s.take == "all" or s.count == count or any(_close(s.count, n) for n in numbers):
            continue
        if s.count == 1 and one:
            continue
        if count is None and ranks:
            continue
        if count is None:
            return Disagreement(
                f"the request names no number of trials, but a selection keeps the {s.take} "
                f'{s.count}: for every trial that meets its conditions, use "take": "all".',
                _with_take(selections, index, "all", 0),
                "kept every trial of a selection: the request names no number of trials",
            )
        trials = "trial" if count == 1 else "trials"
        return Disagreement(
            f"the request names {count} {trials}, but a selection keeps the {s.take} "
            f'{s.count}: use "count": {count}.',
            _with_take(selections, index, s.take, count),
            f"kept {count} {trials}, the number the request names",
        )
    return None


def _bound_turned(text: str, selections: Sequence[Selection]) -> Disagreement | None:
    for bound in bounds(text):
        for index, s in enumerate(selections):
            tested = [
                (position, c)
                for position, c in enumerate(s.where)
                if c.op in ("<", "<=", ">", ">=") and _close(c.value, bound.number)
            ]
            if not tested or any(c.op == bound.op for _, c in tested):
                continue
            position, c = tested[0]
            condition = condition_json(c.field, bound.op, c.value)
            return Disagreement(
                f'the request says "{bound.words}", which is "{bound.op}" {_shown(c.value)}, but '
                f'the query tests "{c.field.name}" "{c.op}" {_shown(c.value)}: use '
                f"{_json(condition)}.",
                _with_condition(selections, index, position, condition),
                f'compared "{c.field.name}" with "{bound.op}", as "{bound.words}" says',
            )
    return None


def _rank_turned(
    text: str, selections: Sequence[Selection], count: int | None, direction: str | None
) -> Disagreement | None:
    """A ranking the request names that no selection takes, where it names how many."""
    if count is None:
        return None
    takes = {s.take for s in selections}
    ranked = [i for i, s in enumerate(selections) if s.take != "all"]
    for pattern, word in RANK_WORDS:
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
        if take in takes:
            continue
        problem = f'the request asks for the "{found.group()}" trials{why}: use "take": "{take}".'
        only = ranked if ranked else list(range(len(selections)))
        if len(only) != 1:
            return Disagreement(problem)
        return Disagreement(
            problem,
            _with_take(selections, only[0], take, count),
            f'took the {take} {count}, the "{found.group()}" trials',
        )
    return None


def _around(text: str, found: re.Match[str]) -> str:
    """The words around ``found``: three before, and the rest of its own and two after."""
    before = text[: found.start()].split()[-3:]
    after = re.match(r"\S*(?:\s+\S+){0,2}", text[found.end() :])
    return " ".join(before) + " " + found.group() + (after.group() if after else "")


def _key(condition: Condition) -> str:
    return repr((condition.field.name, condition.op, condition.value))


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
