"""A query (see ``query.py``) written out as the function the dashboard runs.

The function is over the trial view of ``view.py``, like the functions the model writes itself,
so it goes through the same check and the same wrapper; its first line is the model's query,
which is what the user reads in the dashboard's approval dialog. A filter keeps the trials of
any selection: a selection that takes all its trials is a test of the trial alone; one that
takes the ``count`` best, worst, first or last ranks the study's trials that meet its
conditions (best and worst among those with a rank, i.e. complete ones). A chart gathers the
points of the trials that meet its conditions (one per trial, or one per reported step),
groups them into a trace per ``series`` value, and summarizes ``y`` for each ``x`` as asked,
by the drawing code of ``_DRAW``. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
import re

from optuna_llm._dashboard.query import ChartQuery
from optuna_llm._dashboard.query import Condition
from optuna_llm._dashboard.query import Field
from optuna_llm._dashboard.query import FilterQuery
from optuna_llm._dashboard.query import Selection


# The first line of a function written from a query names the query (one line of JSON), which
# the user reads in the dashboard's approval dialog and a chart's rewrite shows the model.
QUERY_MARK = "The model's query: "
# Each fix optuna-llm made to the model's query from the request's words, under the query.
FIX_MARK = "Fixed from the request's words: "
_QUERY_LINE = re.compile(rf"^\s*// {QUERY_MARK}(?P<query>\{{.*\}})\s*$", re.MULTILINE)

_LAST_STEP = (
    "const lastReported = (t) => { const steps = Object.keys(t.intermediate_values)"
    ".map(Number); return steps.length ? t.intermediate_values[Math.max(...steps)] "
    ": undefined; };"
)

_ORDER = {
    "best": ("(t) => t.rank !== undefined", "(a, b) => a.rank - b.rank"),
    "worst": (
        "(t) => t.rank_from_worst !== undefined",
        "(a, b) => a.rank_from_worst - b.rank_from_worst",
    ),
    "first": ("(t) => true", "(a, b) => a.number - b.number"),
    "last": ("(t) => true", "(a, b) => b.number - a.number"),
}

# Draws `rows` (each {trial, step, reported}) with the accessors x, y and series, as
# `type` and `summary` say; a point is left out where x, or a y it needs, is undefined or NaN.
_DRAW = """\
  const shown = (v) => v !== undefined && !(typeof v === "number" && Number.isNaN(v));
  const label = (v) => v === null ? "None" : v === true ? "True" : v === false ? "False" : v;
  const byX = (a, b) => typeof a[0] === "number" && typeof b[0] === "number"
    ? a[0] - b[0] : String(a[0]).localeCompare(String(b[0]));
  const better = study.direction === "minimize" ? Math.min : Math.max;
  const summaries = {
    count: (ys) => ys.length,
    sum: (ys) => ys.reduce((a, b) => a + b, 0),
    mean: (ys) => ys.reduce((a, b) => a + b, 0) / ys.length,
    median: (ys) => { const s = [...ys].sort((a, b) => a - b), m = Math.floor(s.length / 2);
      return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; },
    min: (ys) => Math.min(...ys),
    max: (ys) => Math.max(...ys),
  };
  const groups = new Map();
  for (const r of rows) {
    const px = x(r), py = y(r);
    if (!shown(px) || (drawsY && !shown(py))) continue;
    const key = label(series(r));
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push([label(px), py]);
  }
  const traces = [];
  for (const [name, points] of groups) {
    if (type === "histogram") {
      traces.push({type: "histogram", name: String(name), x: points.map((p) => p[0])});
      continue;
    }
    let drawn = points;
    if (summary === "best so far") {
      let best;
      drawn = [...points].sort(byX).map(([px, py]) => {
        best = best === undefined ? py : better(best, py);
        return [px, best];
      });
    } else if (summary !== "each") {
      const byValue = new Map();
      for (const [px, py] of points) {
        if (!byValue.has(px)) byValue.set(px, []);
        byValue.get(px).push(py);
      }
      drawn = [...byValue].map(([px, ys]) => [px, summaries[summary](ys)]).sort(byX);
    } else if (type === "line") {
      drawn = [...points].sort(byX);
    }
    const xs = drawn.map((p) => p[0]), ys = drawn.map((p) => p[1]);
    if (type === "pie") {
      traces.push({type: "pie", name: String(name), labels: xs.map(String), values: ys});
    } else if (type === "scatter" || type === "line") {
      const mode = type === "line" ? "lines+markers" : "markers";
      traces.push({type: "scatter", mode: mode, name: String(name), x: xs, y: ys});
    } else {
      traces.push({type: type, name: String(name), x: xs, y: ys});
    }
  }
  return traces;
"""


def filter_function(query: FilterQuery, fixes: Sequence[str] = ()) -> str:
    """The filter function of ``query``: ``function (trial, study)`` over the trial view.
    ``fixes`` are what optuna-llm changed in the model's query (see ``agreement.py``), said
    under it."""
    parts = [_selection(s) for s in query.selections]
    helpers = f"\n  {_LAST_STEP}" if _uses_last_step(query.selections) else ""
    kept = "\n    || ".join(parts)
    return (
        f"function (trial, study) {{\n  // {QUERY_MARK}{query.text}{_fixed(fixes)}{helpers}\n"
        f"  return {kept};\n}}"
    )


def _fixed(fixes: Sequence[str]) -> str:
    return "".join(f"\n  // {FIX_MARK}{fix}" for fix in fixes)


def chart_function(query: ChartQuery, fixes: Sequence[str] = ()) -> str:
    """The chart function of ``query``: ``function (study)`` returning Plotly traces, with
    ``fixes`` said under the query as for a filter."""
    per_step = any(f is not None and f.kind in ("step", "reported") for f in _chart_fields(query))
    where = _all_of(query.where, "t")
    if per_step:
        gather = (
            "  for (const t of study.trials) {\n"
            f"    if (!({where})) continue;\n"
            "    for (const [step, reported] of Object.entries(t.intermediate_values)) {\n"
            "      rows.push({trial: t, step: Number(step), reported: reported});\n"
            "    }\n"
            "  }\n"
        )
    else:
        gather = f"  for (const t of study.trials) if ({where}) rows.push({{trial: t}});\n"
    fallback_name = (query.y or query.x).name if query.summary != "count" else "trials"
    series = (
        _access(query.series, "r.trial", row="r")
        if query.series is not None
        else json.dumps(fallback_name)
    )
    y = _access(query.y, "r.trial", row="r") if query.y is not None else "undefined"
    uses_last = any(f is not None and f.kind == "last_step_value" for f in _chart_fields(query))
    helpers = f"  {_LAST_STEP}\n" if uses_last else ""
    return (
        "function (study) {\n"
        f"  // {QUERY_MARK}{query.text}{_fixed(fixes)}\n"
        f"  const type = {json.dumps(query.type)}, summary = {json.dumps(query.summary)};\n"
        f"  const drawsY = {json.dumps(query.draws_y)};\n"
        f"{helpers}"
        "  const rows = [];\n"
        f"{gather}"
        f"  const x = (r) => {_access(query.x, 'r.trial', row='r')};\n"
        f"  const y = (r) => {y};\n"
        f"  const series = (r) => {series};\n"
        f"{_DRAW}"
        "}"
    )


def _selection(selection: Selection) -> str:
    if selection.take == "all":
        return _all_of(selection.where, "trial")
    eligible, order = _ORDER[selection.take]
    where = _all_of(selection.where, "t")
    return (
        f"study.trials.filter({eligible}).filter((t) => {where})\n"
        f"      .sort({order}).slice(0, {selection.count})\n"
        "      .some((t) => t.number === trial.number)"
    )


def _all_of(conditions: tuple[Condition, ...], name: str) -> str:
    if not conditions:
        return "true"
    tests = [_test(c, name) for c in conditions]
    return tests[0] if len(tests) == 1 else "(" + " && ".join(tests) + ")"


def _test(condition: Condition, name: str) -> str:
    a = _access(condition.field, name)
    value = json.dumps(condition.value)
    # A parameter test speaks of the trials that have the parameter.
    present = f"{a} !== undefined && " if condition.field.kind == "param" else ""
    op = condition.op
    if op == "==":
        return f"{a} === {value}"
    if op == "!=":
        return f"({present}{a} !== {value})"
    if op == "between":
        low, high = (json.dumps(v) for v in condition.value)
        return f"({a} >= {low} && {a} <= {high})"
    if op == "in":
        return f"{value}.includes({a})"
    if op == "not in":
        return f"({present}!{value}.includes({a}))"
    return f"{a} {op} {value}"


def _access(field: Field | None, trial: str, row: str | None = None) -> str:
    if field is None:
        return "undefined"
    if field.kind in ("number", "state", "value", "duration"):
        return f"{trial}.{field.kind}"
    if field.kind == "values":
        return f"({trial}.values || [])[{field.key}]"
    if field.kind == "param":
        return f"{trial}.params[{json.dumps(field.key)}]"
    if field.kind == "user_attr":
        return f"{trial}.user_attrs[{json.dumps(field.key)}]"
    if field.kind == "step_value":
        return f"{trial}.intermediate_values[{field.key}]"
    if field.kind == "last_step_value":
        return f"lastReported({trial})"
    if field.kind == "step" and row is not None:
        return f"{row}.step"
    if field.kind == "reported" and row is not None:
        return f"{row}.reported"
    raise ValueError(f"{field.name} cannot be read here")


def query_of(function: str) -> str | None:
    """The model's query a function was written from, or None if the model wrote it."""
    found = _QUERY_LINE.search(function)
    return found.group("query") if found else None


def _uses_last_step(selections: tuple[Selection, ...]) -> bool:
    return any(c.field.kind == "last_step_value" for s in selections for c in s.where)


def _chart_fields(query: ChartQuery) -> list[Field | None]:
    return [query.x, query.y, query.series, *(c.field for c in query.where)]
