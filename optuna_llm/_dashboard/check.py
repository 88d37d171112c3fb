"""Run a generated dashboard function in V8 before the dashboard gets it.

optuna-dashboard evaluates the model's JavaScript in the browser: a trial filter as
``trials.filter(eval("(" + code + ")"))`` and a chart function as ``eval(...)(study)``. Here
the same code runs the same way in an embedded V8 (``mini-racer``), on the studies as the
dashboard serves them (see ``studies.py``), with no network, file or DOM access, a time limit
and a memory limit. The trials are wrapped in proxies that refuse every write (the function
must not change its input) and note every read of a field the trials do not have, which is
how a small model's invented fields (``trial.distribution``, ``param_external_type``) show.

A check returns the problem in words for the model to fix, or None when the function runs;
for a filter, also which trials it kept, for ``intent`` to compare with the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import json
import threading
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal


if TYPE_CHECKING:
    from py_mini_racer import MiniRacer


Kind = Literal["filter", "chart"]

TIME_LIMIT_SECONDS = 2.0
MEMORY_LIMIT_BYTES = 128 * 1024 * 1024

# Fields that the dashboard's trials may lack (failed and running trials have no values, a
# waiting trial no start): reading them is not a mistake.
_OPTIONAL = ("values", "datetime_start", "datetime_complete")

_HARNESS = r"""
const __optional = new Set(OPTIONAL);

function __shapeTrial(t) {
  // As the dashboard's page converts the API's trials before a function sees them.
  return {
    trial_id: t.trial_id, study_id: t.study_id, number: t.number, state: t.state,
    values: t.values, intermediate_values: t.intermediate_values,
    datetime_start: t.datetime_start ? new Date(t.datetime_start) : undefined,
    datetime_complete: t.datetime_complete ? new Date(t.datetime_complete) : undefined,
    params: t.params, fixed_params: t.fixed_params, user_attrs: t.user_attrs, note: t.note,
    artifacts: t.artifacts, constraints: t.constraints,
  };
}

function __shapeStudy(d) {
  return {
    id: d.id, name: d.name, directions: d.directions, user_attrs: d.user_attrs,
    trials: d.trials.map(__shapeTrial), best_trials: d.best_trials.map(__shapeTrial),
    union_search_space: d.union_search_space,
    intersection_search_space: d.intersection_search_space,
    union_user_attrs: d.union_user_attrs, has_intermediate_values: d.has_intermediate_values,
    note: d.note, artifacts: d.artifacts, metric_names: d.objective_names,
  };
}

function __guard(value, path, missing) {
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  const refuse = (key) => {
    throw new TypeError(
      "the function must not modify its input, but it changed " + path + "." + String(key));
  };
  return new Proxy(value, {
    get(target, key, receiver) {
      const got = Reflect.get(target, key, receiver);
      if (typeof key !== "string") return got;
      const index = Array.isArray(target) && /^\d+$/.test(key);
      if (!index && !(key in target) && !__optional.has(key)) missing.add(path + "." + key);
      return __guard(got, index ? path + "[]" : path + "." + key, missing);
    },
    set(target, key) { refuse(key); },
    deleteProperty(target, key) { refuse(key); },
    defineProperty(target, key) { refuse(key); },
  });
}

function __hasData(trace) {
  if (trace === null || typeof trace !== "object") return false;
  return ["x", "y", "z", "values", "labels"].some(
    (k) => Array.isArray(trace[k]) && trace[k].length > 0);
}

function __describe(error) {
  return error instanceof Error ? error.name + ": " + error.message : "threw " + String(error);
}

function __check(kind, code, details) {
  let fn;
  try {
    fn = eval("(" + code + ")");
  } catch (e) {
    return {problem: "it does not parse as JavaScript: " + __describe(e)};
  }
  if (typeof fn !== "function") return {problem: "it is not a function but " + typeof fn};
  const missing = new Set();
  const results = [];
  let withData = 0;
  for (const detail of details) {
    const study = __shapeStudy(detail);
    try {
      if (kind === "filter") {
        const trials = __guard(study.trials, "trials", missing);
        const kept = new Set(trials.filter(fn).map((t) => t.number));
        results.push(study.trials.map((t) => [t.number, t.state, kept.has(t.number)]));
        withData += 1;
      } else {
        const traces = fn(__guard(study, "study", missing));
        if (!Array.isArray(traces)) {
          return {problem: "it returned " + (traces === null ? "null" : typeof traces)
            + ", not an array of Plotly traces"};
        }
        for (const trace of traces) {
          if (trace && Array.isArray(trace.x) && Array.isArray(trace.y)
              && trace.x.length !== trace.y.length) {
            return {problem: "a trace's x and y differ in length ("
              + trace.x.length + " and " + trace.y.length + ")"};
          }
        }
        if (traces.some(__hasData)) withData += 1;
      }
    } catch (e) {
      return {problem: "running it on the study's trials failed: " + __describe(e)};
    }
  }
  if (missing.size > 0) {
    const named = [...missing].map((p) => p.replace(/^trials\[\]/, "trial")).sort();
    return {problem: "it reads fields that the trials do not have: "
      + named.slice(0, 6).join(", ")};
  }
  if (kind === "chart" && withData === 0) {
    return {problem: "it returned no data: every trace is empty on the study's trials"};
  }
  return {problem: null, results: results};
}
"""


@dataclass(frozen=True)
class Listed:
    """One trial of a checked study, and whether a filter kept it."""

    number: int
    state: str
    kept: bool


@dataclass(frozen=True)
class Verdict:
    """What running a generated function showed: ``problem`` is None when it runs, and then,
    for a filter, each checked study's trials and which of them it kept."""

    problem: str | None
    results: tuple[tuple[Listed, ...], ...] = ()

    @property
    def runs(self) -> bool:
        return self.problem is None


def check(kind: Kind, code: str, details: Sequence[dict[str, Any]]) -> Verdict:
    """Run ``code`` as the dashboard would, on ``details`` (see ``studies.study_details``)."""
    from py_mini_racer import JSOOMException  # noqa: PLC0415 - an optional dependency
    from py_mini_racer import JSTimeoutException  # noqa: PLC0415

    context = _context()
    try:
        context.eval(f"globalThis.__details = {json.dumps(list(details))};")
        call = f"JSON.stringify(__check({json.dumps(kind)}, {json.dumps(code)}, __details))"
        answer = context.eval(call, timeout_sec=TIME_LIMIT_SECONDS, max_memory=MEMORY_LIMIT_BYTES)
    except JSTimeoutException:
        return Verdict(f"it did not finish within {TIME_LIMIT_SECONDS:.0f} s (an endless loop?)")
    except JSOOMException:
        return Verdict(f"it used more than {MEMORY_LIMIT_BYTES // 2**20} MB of memory")
    finally:
        context.eval("globalThis.__details = undefined;")
    outcome = json.loads(str(answer))
    problem = outcome.get("problem")
    if problem is not None:
        return Verdict(str(problem))
    results = tuple(
        tuple(Listed(int(number), str(state), bool(kept)) for number, state, kept in study)
        for study in outcome.get("results", ())
    )
    return Verdict(None, results)


_local = threading.local()


def _context() -> MiniRacer:
    """This thread's V8 context with the harness loaded.

    One per thread, kept: V8 stops a function at its time or memory limit and the context
    stays usable, and closing a context right after a stopped function races with V8's late
    callback for it.
    """
    from py_mini_racer import MiniRacer  # noqa: PLC0415 - an optional dependency

    context: MiniRacer | None = getattr(_local, "context", None)
    if context is None:
        context = MiniRacer()
        context.eval(_HARNESS.replace("OPTIONAL", json.dumps(list(_OPTIONAL))))
        _local.context = context
    return context
