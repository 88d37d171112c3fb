"""Trials as Optuna's Python API shows them, for the functions a model writes for the dashboard.

optuna-dashboard hands a generated function its trials as its web page holds them: parameters
in a list of ``{name, param_internal_value, param_external_value, ...}``, user attributes in a
list of ``{key, value}`` strings, objectives in ``values``. A small model knows Optuna's
``FrozenTrial`` far better (``trial.params["max_depth"]``, ``trial.value``,
``trial.user_attrs["source"]``) and keeps writing that. So the model is asked for a function
of that shape, and the dashboard gets it inside a wrapper that turns the page's trials into
that shape first (``wrap``); ``unwrap`` takes the model's function out again when the
dashboard sends it back to be fixed or changed.

The view, in JavaScript (``VIEW_JS``, shared by the wrapper and the check):

- ``number``, ``state`` ("Complete", "Pruned", "Fail", "Running", "Waiting"), ``values``;
- ``value``: the objective of a complete single-objective trial, else undefined;
- ``params``: ``{name: value}`` with each value as Python had it (``null`` for None, booleans,
  numbers, strings);
- ``user_attrs``: ``{key: value}``, numbers and booleans read back from the page's strings;
- ``intermediate_values``: ``{step: value}``;
- ``rank`` and ``rank_from_worst``: 1 for the best (worst) complete trial of a single-objective
  study, then 2, 3, ...; undefined for the other trials, and for a filter on a study the
  provider did not know when the function was written (its direction is unknown);
- ``datetime_start``, ``datetime_complete`` (``Date``), ``duration`` (seconds) where known.

A filter is ``function (trial, study)``, a chart ``function (study)``, where ``study`` has
``trials`` (in number order), ``direction`` (single objective), ``directions``,
``best_trial`` and ``user_attrs``. A filter's study is the list the dashboard filters; its
direction comes from the storage, read when the function was written (``directions``).
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import re
from typing import Literal


Kind = Literal["filter", "chart"]

VIEW_JS = r"""
function __optunaView(raw, directions) {
  const number = (v) => v === "inf" ? Infinity : v === "-inf" ? -Infinity
    : v === "nan" ? NaN : v;
  const native = (p) => {
    if (p.distribution && p.distribution.type !== "CategoricalDistribution") {
      return p.param_internal_value;
    }
    const text = p.param_external_value;
    const type = String(p.param_external_pytyp || "");
    if (type.includes("NoneType")) return null;
    if (type.includes("bool")) return text === "True";
    if (type.includes("'int'") || type.includes("float")) return Number(text);
    return text;
  };
  const attribute = (text) => {
    if (typeof text !== "string") return text;
    if (text === "True" || text === "False") return text === "True";
    if (/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
    if (/^[\[{]/.test(text)) { try { return JSON.parse(text); } catch (e) { return text; } }
    return text;
  };
  // A study created after the function was written has no known direction: its trials still
  // have a value if they have one objective, but no rank.
  const single = directions.length === 1 || (directions.length === 0
    && raw.every((t) => !Array.isArray(t.values) || t.values.length === 1));
  const trials = raw.map((t) => {
    const values = Array.isArray(t.values) ? t.values.map(number) : undefined;
    const start = t.datetime_start, end = t.datetime_complete;
    return {
      number: t.number, state: t.state, values: values,
      value: single && values && t.state === "Complete" ? values[0] : undefined,
      params: Object.fromEntries((t.params || []).map((p) => [p.name, native(p)])),
      user_attrs: Object.fromEntries(
        (t.user_attrs || []).map((a) => [a.key, attribute(a.value)])),
      intermediate_values: Object.fromEntries(
        (t.intermediate_values || []).map((v) => [v.step, number(v.value)])),
      rank: undefined, rank_from_worst: undefined,
      datetime_start: start, datetime_complete: end,
      duration: start && end ? (end - start) / 1000 : undefined,
    };
  });
  const ranked = trials.filter((t) => t.value !== undefined && !Number.isNaN(t.value));
  if (directions.length === 1) {
    const sign = directions[0] === "maximize" ? -1 : 1;
    ranked.sort((a, b) => sign * (a.value - b.value) || a.number - b.number);
    ranked.forEach((t, i) => { t.rank = i + 1; t.rank_from_worst = ranked.length - i; });
  }
  trials.sort((a, b) => a.number - b.number);
  return {
    trials: trials, directions: directions,
    direction: single ? directions[0] : undefined,
    best_trial: directions.length === 1 ? ranked[0] : undefined,
  };
}
"""

_BEGIN = "// ---- the model's function ----"
_END = "// ---- end of the model's function ----"
_MODEL_PART = re.compile(re.escape(_BEGIN) + r"\n(?P<code>.*)\n" + re.escape(_END), re.DOTALL)

_FILTER_WRAPPER = """((model) => {{
  // optuna-llm: the model's function below reads trials as Optuna's Python API shows them;
  // this wrapper turns the dashboard's trials into that shape once per trial list.
  const directions = {directions};
  {view}
  let seen, study, byNumber;
  return function (trial, index, trials) {{
    if (trials !== seen) {{
      const first = trials[0];
      study = __optunaView(trials, (first && directions[first.study_id]) || []);
      byNumber = new Map(study.trials.map((t) => [t.number, t]));
      seen = trials;
    }}
    return Boolean(model(byNumber.get(trial.number), study));
  }};
}})(
{begin}
{code}
{end}
)"""

_CHART_WRAPPER = """((model) => {{
  // optuna-llm: the model's function below reads trials as Optuna's Python API shows them;
  // this wrapper turns the dashboard's study into that shape first.
  {view}
  return function (study) {{
    const view = __optunaView(study.trials, study.directions);
    view.name = study.name;
    view.user_attrs = Object.fromEntries((study.user_attrs || []).map((a) => [a.key, a.value]));
    return model(view);
  }};
}})(
{begin}
{code}
{end}
)"""


def expression(code: str) -> str:
    """The model's function as an expression: without the semicolon a statement ends with."""
    return code.strip().rstrip(";").rstrip()


_NAMED_AS_ITS_INPUT = re.compile(r"^function\s+(?P<name>study|trial)\s*\(\s*\)")


def repaired(kind: Kind, code: str) -> str:
    """``code`` as an expression, and a function named after its input (``function study()``,
    as a small model reads "a function of study") given that input instead."""
    code = expression(code)
    found = _NAMED_AS_ITS_INPUT.match(code)
    if found is None:
        return code
    parameters = "study" if kind == "chart" else "trial, study"
    return f"function ({parameters})" + code[found.end() :]


def wrap(kind: Kind, code: str, directions: Mapping[int, list[str]] | None = None) -> str:
    """The dashboard's function: the model's ``code`` behind the wrapper that shows it trials
    as Optuna's Python API does. ``directions`` maps a filter's study ids to their directions.
    """
    view = _indent(VIEW_JS.strip(), "  ").lstrip()
    model = expression(code)
    if kind == "chart":
        return _CHART_WRAPPER.format(view=view, begin=_BEGIN, code=model, end=_END)
    known = json.dumps({str(k): list(v) for k, v in (directions or {}).items()})
    return _FILTER_WRAPPER.format(directions=known, view=view, begin=_BEGIN, code=model, end=_END)


def unwrap(code: str) -> str | None:
    """The model's function inside a wrapped one, or None if ``code`` is not wrapped."""
    found = _MODEL_PART.search(code)
    return found.group("code") if found else None


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())
