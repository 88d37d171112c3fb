"""Queries in place of code: what the model fills in when asked for a filter or a chart.

A small model writes a wrong function far more often than it picks the wrong field from a list.
So the provider first asks for a query, a JSON object whose shape the endpoint is asked to keep
to (a JSON schema; llama.cpp turns it into a grammar), with the study's own fields as the only
choices:

- a filter is ``{"select": [{"where": [...], "take": ..., "count": ...}]}``: a trial is kept if
  it is in any selection, a selection being the trials meeting every condition of ``where``,
  all of them or the ``count`` best, worst, first or last;
- a chart is ``{"type": ..., "x": ..., "y": ..., "summary": ..., "series": ..., "where": [...]}``.

A condition is ``{"field": ..., "op": ..., "value": ...}``. This module builds the schema from
the studies (``fields``, ``filter_schema``, ``chart_schema``) and reads an answer into a
``FilterQuery`` or a ``ChartQuery``, or into the problem to send back (``read_filter``,
``read_chart``): an unknown field, a value that is not one of a parameter's choices, a count
below one. Values are written as the model meant them where that is plain: "complete" is the
state "Complete", "None" the choice None, "true" the choice True. ``compile.py`` turns a query
into the function the dashboard runs. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
from dataclasses import dataclass
import json
import math
import re
from typing import Any


STATES = ("Complete", "Pruned", "Fail", "Running", "Waiting")
OPS = ("==", "!=", "<", "<=", ">", ">=", "between", "in", "not in")
TAKES = ("all", "best", "worst", "first", "last")
CHART_TYPES = ("scatter", "line", "bar", "histogram", "box", "pie")
SUMMARIES = ("each", "count", "mean", "median", "min", "max", "sum", "best so far")
NONE = "none"
# Chart fields that make one point per reported step of each trial.
STEP = "step"
STEP_VALUE = "intermediate value"
LAST_STEP_VALUE = "last intermediate value"
# Steps named one by one as fields when the studies report at most this many distinct ones.
_MAX_STEPS = 10
_MAX_PARAMETERS = 40
_MAX_USER_ATTRS = 20

_NUMERAL = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_STATE_PREFIXES = (
    ("complete", "Complete"),
    ("succe", "Complete"),
    ("prun", "Pruned"),
    ("fail", "Fail"),
    ("run", "Running"),
    ("wait", "Waiting"),
)


@dataclass(frozen=True)
class Field:
    """A field a query may name: how the model writes it, what it is, and, for a categorical
    parameter or the state, the values it takes (as the trial view holds them)."""

    name: str
    kind: str  # "number", "state", "value", "values", "param", "user_attr", "step", ...
    key: str | int | None = None
    choices: tuple[Any, ...] | None = None
    numeric: bool = False


@dataclass(frozen=True)
class Condition:
    field: Field
    op: str
    value: Any


@dataclass(frozen=True)
class Selection:
    where: tuple[Condition, ...]
    take: str
    count: int


@dataclass(frozen=True)
class FilterQuery:
    selections: tuple[Selection, ...]
    text: str


@dataclass(frozen=True)
class ChartQuery:
    type: str
    x: Field
    y: Field | None
    summary: str
    series: Field | None
    where: tuple[Condition, ...]
    text: str

    @property
    def draws_y(self) -> bool:
        """Whether the chart draws ``y``: a histogram draws x alone, and counts count x."""
        return _draws_y(self.type, self.summary)


def _draws_y(chart: str, summary: str) -> bool:
    return chart != "histogram" and summary != "count"


def fields(details: Sequence[dict[str, Any]]) -> dict[str, Field]:
    """Every field of the studies in ``details`` (as the dashboard serves them), by name."""
    found: dict[str, Field] = {}

    def add(field: Field) -> None:
        found.setdefault(field.name, field)

    add(Field("number", "number", numeric=True))
    add(Field("state", "state", choices=STATES))
    objectives = {len(d.get("directions", ())) for d in details} or {1}
    if 1 in objectives:
        add(Field("value", "value", numeric=True))
    for index in range(max(objectives) if max(objectives) > 1 else 0):
        add(Field(f"values.{index}", "values", key=index, numeric=True))
    add(Field("duration", "duration", numeric=True))
    parameters: dict[str, dict[str, Any]] = {}
    for detail in details:
        for entry in detail.get("union_search_space", ()):
            parameters.setdefault(entry["name"], entry)
    for entry in list(parameters.values())[:_MAX_PARAMETERS]:
        distribution = entry.get("distribution", {})
        categorical = distribution.get("type") == "CategoricalDistribution"
        choices = tuple(choice_value(c) for c in distribution.get("choices", ()))
        add(
            Field(
                f"params.{entry['name']}",
                "param",
                key=entry["name"],
                choices=choices if categorical else None,
                numeric=not categorical or all(_is_number(c) for c in choices),
            )
        )
    keys = sorted({a["key"] for d in details for a in d.get("union_user_attrs", ())})
    for key in keys[:_MAX_USER_ATTRS]:
        add(Field(f"user_attrs.{key}", "user_attr", key=key))
    steps = sorted(
        {int(v["step"]) for d in details for t in d.get("trials", ()) for v in _steps(t)}
    )
    if steps:
        if len(steps) <= _MAX_STEPS:
            for step in steps:
                add(Field(f"intermediate_values.{step}", "step_value", key=step, numeric=True))
        add(Field(LAST_STEP_VALUE, "last_step_value", numeric=True))
    return found


def chart_fields(details: Sequence[dict[str, Any]]) -> dict[str, Field]:
    """The fields of a chart: a filter's, and the step and value of each reported step."""
    found = fields(details)
    if LAST_STEP_VALUE in found:
        found[STEP] = Field(STEP, "step", numeric=True)
        found[STEP_VALUE] = Field(STEP_VALUE, "reported", numeric=True)
    return found


def choice_value(choice: dict[str, Any]) -> Any:
    """A categorical choice as the dashboard serves it, as the trial view holds it."""
    text, pytype = str(choice.get("value")), str(choice.get("pytype", ""))
    if "NoneType" in pytype:
        return None
    if "bool" in pytype:
        return text == "True"
    if "'int'" in pytype:
        return int(text)
    if "float" in pytype:
        return float(text)
    return text


def _condition_schema(names: Sequence[str]) -> dict[str, Any]:
    scalar = [{"type": "number"}, {"type": "string"}, {"type": "boolean"}, {"type": "null"}]
    return {
        "type": "object",
        "properties": {
            "field": {"enum": list(names)},
            "op": {"enum": list(OPS)},
            "value": {"anyOf": [*scalar, {"type": "array", "items": {"anyOf": scalar}}]},
        },
        "required": ["field", "op", "value"],
        "additionalProperties": False,
    }


def filter_schema(known: dict[str, Field]) -> dict[str, Any]:
    """The JSON schema of a filter query over the fields ``known``."""
    selection = {
        "type": "object",
        "properties": {
            "where": {"type": "array", "items": _condition_schema(list(known))},
            "take": {"enum": list(TAKES)},
            "count": {"type": "integer"},
        },
        "required": ["where", "take", "count"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"select": {"type": "array", "items": selection, "minItems": 1}},
        "required": ["select"],
        "additionalProperties": False,
    }


def chart_schema(known: dict[str, Field]) -> dict[str, Any]:
    """The JSON schema of a chart query over the fields ``known``."""
    names = list(known)
    return {
        "type": "object",
        "properties": {
            "type": {"enum": list(CHART_TYPES)},
            "x": {"enum": names},
            "y": {"enum": [*names, NONE]},
            "summary": {"enum": list(SUMMARIES)},
            "series": {"enum": [*names, NONE]},
            "where": {"type": "array", "items": _condition_schema(names)},
        },
        "required": ["type", "x", "y", "summary", "series", "where"],
        "additionalProperties": False,
    }


class QueryError(ValueError):
    """Why an answer is not a usable query, in words for the model."""


def looks_like_code(answer: str) -> bool:
    """Whether the model answered with a function rather than a query (an endpoint that does
    not keep to the schema may)."""
    text = answer.lstrip()
    return text.startswith(("function", "(", "async ")) or (
        not text.startswith("{") and "=>" in text
    )


def read_filter(answer: str, known: dict[str, Field]) -> FilterQuery:
    """The filter query in ``answer``.

    Raises:
        QueryError: It is not one, in words for the model.
    """
    data = _object(answer)
    select = data.get("select")
    if isinstance(select, dict):
        select = [select]
    if not isinstance(select, list) or not select:
        raise QueryError('"select" must be a list of one or more selections.')
    selections = []
    for item in select:
        if not isinstance(item, dict):
            raise QueryError("each selection must be an object with where, take and count.")
        take = str(item.get("take", "all")).lower()
        if take not in TAKES:
            raise QueryError(f'"take" must be one of {_listed(TAKES)}, not {take!r}.')
        count = item.get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int | float):
            raise QueryError(f'"count" must be a whole number, not {count!r}.')
        if take != "all" and count < 1:
            raise QueryError(
                f'"take": "{take}" keeps "count" trials, so "count" must be at least 1 '
                f"(the number the request names; 1 if it names one trial)."
            )
        selections.append(Selection(_where(item.get("where"), known), take, int(count)))
    return FilterQuery(tuple(selections), _compact(data))


def read_chart(answer: str, known: dict[str, Field]) -> ChartQuery:
    """The chart query in ``answer``.

    Raises:
        QueryError: It is not one, in words for the model.
    """
    data = _object(answer)
    chart = str(data.get("type", "")).lower()
    if chart not in CHART_TYPES:
        raise QueryError(f'"type" must be one of {_listed(CHART_TYPES)}, not {chart!r}.')
    summary = str(data.get("summary", "each")).lower()
    if summary not in SUMMARIES:
        raise QueryError(f'"summary" must be one of {_listed(SUMMARIES)}, not {summary!r}.')
    x = _field(data.get("x"), known, "x")
    if x is None:
        raise QueryError('"x" must name a field: it is what the chart is drawn along.')
    y = _field(data.get("y"), known, "y")
    if y is None and _draws_y(chart, summary):
        raise QueryError(
            f'a {chart} chart with "summary": "{summary}" draws "y" for each "x", so "y" '
            'must name a field; for how many trials have each x, use "summary": "count".'
        )
    where = _where(data.get("where"), known)
    stepwise = [c.field.name for c in where if c.field.kind in ("step", "reported")]
    if stepwise:
        raise QueryError(
            f'"where" chooses trials, so it cannot test {stepwise[0]!r}; draw it as "x" or "y".'
        )
    return ChartQuery(
        type=chart,
        x=x,
        y=y,
        summary=summary,
        series=_field(data.get("series"), known, "series"),
        where=where,
        text=_compact(data),
    )


def _object(answer: str) -> dict[str, Any]:
    text = answer.strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise QueryError("the answer is not a JSON object.")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as error:
        raise QueryError(f"the answer is not valid JSON ({error.msg}).") from error
    if not isinstance(data, dict):
        raise QueryError("the answer is not a JSON object.")
    return data


def _compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(", ", ": "))


def _field(name: Any, known: dict[str, Field], role: str) -> Field | None:
    if name is None or (isinstance(name, str) and name.strip().lower() in (NONE, "")):
        return None
    text = str(name).strip()
    for candidate in (text, text.removeprefix("trial."), f"params.{text}"):
        if candidate in known:
            return known[candidate]
    raise QueryError(
        f'"{role}" names {text!r}, which the trials do not have. The fields are: {_listed(known)}.'
    )


def _where(conditions: Any, known: dict[str, Field]) -> tuple[Condition, ...]:
    if conditions is None:
        return ()
    if isinstance(conditions, dict):
        conditions = [conditions]
    if not isinstance(conditions, list):
        raise QueryError('"where" must be a list of conditions.')
    read = []
    for condition in conditions:
        if not isinstance(condition, dict):
            raise QueryError('each condition must be {"field": ..., "op": ..., "value": ...}.')
        field = _field(condition.get("field"), known, "field")
        if field is None:
            raise QueryError('each condition must name a "field".')
        op = str(condition.get("op", "==")).strip().lower()
        op = {"=": "==", "===": "==", "!==": "!=", "<>": "!=", "not_in": "not in"}.get(op, op)
        if op not in OPS:
            raise QueryError(f'"op" must be one of {_listed(OPS)}, not {op!r}.')
        read.append(_condition(field, op, condition.get("value")))
    return tuple(read)


def _condition(field: Field, op: str, value: Any) -> Condition:
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise QueryError('"between" takes a list of two values: [low, high].')
        low, high = sorted(_number(field, v) for v in value)
        return Condition(field, op, [low, high])
    if isinstance(value, list) and op in ("==", "!="):
        op = "in" if op == "==" else "not in"
    if op in ("in", "not in"):
        values = value if isinstance(value, list) else [value]
        return Condition(field, op, [_written(field, v) for v in values])
    if op in ("<", "<=", ">", ">="):
        return Condition(field, op, _number(field, value))
    return Condition(field, op, _written(field, value))


def _number(field: Field, value: Any) -> float | int:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise QueryError(f"{field.name} is compared with {value!r}, which is not a number.")
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _written(field: Field, value: Any) -> Any:
    """``value`` as the trial view holds it for ``field``."""
    if field.kind == "state":
        word = str(value).strip().lower()
        for prefix, state in _STATE_PREFIXES:
            if word.startswith(prefix):
                return state
        raise QueryError(f"state is one of {_listed(STATES)}, not {value!r}.")
    if field.choices is not None:
        for choice in field.choices:
            if _same_choice(choice, value):
                return choice
        raise QueryError(
            f"{value!r} is not a choice of {field.name}; its choices are "
            f"{', '.join(json.dumps(c) for c in field.choices)}."
        )
    numeral = isinstance(value, str) and _NUMERAL.fullmatch(value)
    if numeral and (field.numeric or field.kind == "user_attr"):
        return _number(field, value)
    if field.numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise QueryError(f"{field.name} is a number; {value!r} is not.")
    return value


def _same_choice(choice: Any, value: Any) -> bool:
    if choice is None:
        return value is None or str(value).strip().lower() in ("none", "null")
    if isinstance(choice, bool):
        return value is choice or str(value).strip().lower() == str(choice).lower()
    if _is_number(choice):
        try:
            return not isinstance(value, bool) and float(value) == float(choice)
        except (TypeError, ValueError):
            return False
    return value == choice or str(value).strip().lower() == str(choice).lower()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _steps(trial: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = trial.get("intermediate_values") or []
    return steps


def _listed(names: Sequence[str] | dict[str, Any]) -> str:
    return ", ".join(f'"{n}"' for n in names)
