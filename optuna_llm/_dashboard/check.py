"""Run a generated dashboard function in V8 before the dashboard gets it.

optuna-dashboard evaluates the JavaScript it gets in the browser: a trial filter as
``trials.filter(eval("(" + code + ")"))`` and a chart function as ``eval(...)(study)``. What it
gets is the model's function behind the wrapper of ``view.py``, which shows the function the
trials as Optuna's Python API does. Here the model's function runs on that same view, built by
the same JavaScript from the studies as the dashboard serves them (see ``studies.py``), in an
embedded V8 (``mini-racer``) with no network, file or DOM access, a time limit and a memory
limit. The view is wrapped in proxies that refuse every write to a filter's trials (the
wrapper builds them once for the whole list, so the function must not change them; a chart
gets a view of its own for each drawing) and note every read of a field that no trial has,
which is how a small model's invented fields (``trial.distribution``, a parameter the study
does not have) show.

A check returns the problem in words for the model to fix, or None when the function runs;
for a filter, also which trials it kept, for ``intent`` to compare with the request.
"""

from __future__ import annotations

import atexit
from collections.abc import Sequence
from dataclasses import dataclass
import json
import threading
import time
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

from optuna_llm._dashboard.studies import is_synthetic
from optuna_llm._dashboard.view import VIEW_JS
from optuna_llm._dashboard.view import expression


if TYPE_CHECKING:
    from py_mini_racer import MiniRacer


Kind = Literal["filter", "chart"]

TIME_LIMIT_SECONDS = 2.0
MEMORY_LIMIT_BYTES = 128 * 1024 * 1024
_SETTLE_TRIES = 5

_HARNESS = r"""
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

function __studyView(detail) {
  // As the wrapper shows the study to the model's function (see view.py).
  const study = __optunaView(detail.trials.map(__shapeTrial), detail.directions);
  study.name = detail.name;
  study.user_attrs = Object.fromEntries((detail.user_attrs || []).map((a) => [a.key, a.value]));
  return study;
}

// A view's trials are "trial" wherever they are reached from.
function __child(path, key, index) {
  if (path === "study.trials" || (path === "study" && key === "best_trial")) return "trial";
  return index ? path + "[]" : path + "." + key;
}

// One proxy per object, so that a trial found twice is the same trial (t === trial).
const __proxies = new WeakMap();

function __guard(value, path, reads, writable) {
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  if (__proxies.has(value)) return __proxies.get(value);
  const refuse = (key) => {
    if (writable) return true;
    throw new TypeError(
      "the function must not modify its input, but it changed " + path + "." + String(key));
  };
  const proxy = new Proxy(value, {
    get(target, key, receiver) {
      const got = Reflect.get(target, key, receiver);
      if (typeof key !== "string") return got;
      const index = Array.isArray(target) && /^\d+$/.test(key);
      const child = __child(path, key, index);
      if (!index) (key in target ? reads.found : reads.missing).add(child);
      return __guard(got, child, reads, writable);
    },
    set(target, key, value) { return refuse(key) && Reflect.set(target, key, value); },
    deleteProperty(target, key) { return refuse(key) && Reflect.deleteProperty(target, key); },
    defineProperty(target, key, descriptor) {
      return refuse(key) && Reflect.defineProperty(target, key, descriptor);
    },
  });
  __proxies.set(value, proxy);
  return proxy;
}

function __hasData(trace) {
  if (trace === null || typeof trace !== "object") return false;
  return ["x", "y", "z", "values", "labels"].some(
    (k) => Array.isArray(trace[k]) && trace[k].length > 0);
}

function __describe(error) {
  return error instanceof Error ? error.name + ": " + error.message : "threw " + String(error);
}

function __check(kind, code, details, own) {
  let fn;
  try {
    fn = eval("(" + code + "\n)");
  } catch (e) {
    return {problem: "it does not parse as JavaScript: " + __describe(e)};
  }
  if (typeof fn !== "function") return {problem: "it is not a function but " + typeof fn};
  const reads = {found: new Set(), missing: new Set()};
  const results = [];
  let withData = 0;
  for (const detail of details) {
    const study = __studyView(detail);
    // A chart's view is built afresh for each drawing: changing it changes nothing else.
    const guarded = __guard(study, "study", reads, kind === "chart");
    try {
      if (kind === "filter") {
        const kept = new Set();
        study.trials.forEach((trial, i) => {
          if (fn(guarded.trials[i], guarded)) kept.add(trial.number);
        });
        results.push(study.trials.map((t) => [t.number, t.state, kept.has(t.number)]));
        withData += 1;
      } else {
        const traces = fn(guarded);
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
  // A parameter or attribute only some trials have is not missing, and the synthetic study
  // stands in for trials whose names it cannot know.
  const named = /^trial\.(params|user_attrs|intermediate_values)\./;
  const missing = [...reads.missing]
    .filter((p) => !reads.found.has(p) && (own || !named.test(p))).sort();
  if (missing.length > 0) {
    return {problem: "it reads fields that the trials do not have: "
      + missing.slice(0, 6).join(", "), missing: true};
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
    with _lock:
        return _checked(kind, code, details, _context())


def _checked(
    kind: Kind, code: str, details: Sequence[dict[str, Any]], context: MiniRacer
) -> Verdict:
    from py_mini_racer import JSOOMException  # noqa: PLC0415 - an optional dependency
    from py_mini_racer import JSTimeoutException  # noqa: PLC0415

    stopped = True
    try:
        context.eval(f"globalThis.__details = {json.dumps(list(details))};")
        model = json.dumps(expression(code))
        own = json.dumps(not any(is_synthetic(d) for d in details))
        call = f"JSON.stringify(__check({json.dumps(kind)}, {model}, __details, {own}))"
        answer = context.eval(call, timeout_sec=TIME_LIMIT_SECONDS, max_memory=MEMORY_LIMIT_BYTES)
        stopped = False
    except JSTimeoutException:
        return Verdict(f"it did not finish within {TIME_LIMIT_SECONDS:.0f} s (an endless loop?)")
    except JSOOMException:
        return Verdict(f"it used more than {MEMORY_LIMIT_BYTES // 2**20} MB of memory")
    finally:
        _clear(context, stopped=stopped)
    outcome = json.loads(str(answer))
    problem = outcome.get("problem")
    if problem is not None and outcome.get("missing") and own == "true":
        problem += ". " + _names(details)
    if problem is not None:
        return Verdict(str(problem))
    results = tuple(
        tuple(Listed(int(number), str(state), bool(kept)) for number, state, kept in study)
        for study in outcome.get("results", ())
    )
    return Verdict(None, results)


def _names(details: Sequence[dict[str, Any]]) -> str:
    """What the trials do have, for a function that read a name they do not."""
    parameters = sorted({e["name"] for d in details for e in d.get("union_search_space", ())})
    keys = sorted({a["key"] for d in details for a in d.get("union_user_attrs", ())})
    named = [f"The objective is trial.value; trial.params has {', '.join(parameters) or 'none'}"]
    if keys:
        named.append("trial.user_attrs has " + ", ".join(f'"{k}"' for k in keys))
    return "; ".join(named)


_lock = threading.Lock()
_shared: MiniRacer | None = None


def _clear(context: MiniRacer, *, stopped: bool) -> None:
    """Free the context for the next check, also after V8 stopped a function (or failed).

    After a stop, the memory limit stays set on the context until reset, what the function
    left counts against it until collected, and V8's stop may reach the next run late.
    """
    from py_mini_racer import JSEvalException  # noqa: PLC0415 - an optional dependency

    if not stopped:
        context.eval("globalThis.__details = undefined;")
        return
    context.set_hard_memory_limit(0)
    for _ in range(_SETTLE_TRIES):
        try:
            context.eval("globalThis.__details = undefined;")
        except JSEvalException:
            time.sleep(0.05)
            continue
        break
    context.low_memory_notification()


def _context() -> MiniRacer:
    """The process's V8 context with the harness loaded; the caller holds ``_lock``.

    One for the process, kept, and closed at exit: V8 stops a function at its time or memory
    limit and the context stays usable, while contexts left to the garbage collector (at a
    request thread's end, or as the interpreter shuts down) were seen to stall the dashboard
    command's exit on Ctrl-C. The
    dashboard's server serves each request in a thread of its own, so a context per thread
    would be made and dropped per request.
    """
    global _shared  # noqa: PLW0603 - one context for the process, made on first use
    from py_mini_racer import MiniRacer  # noqa: PLC0415 - an optional dependency

    if _shared is None:
        _shared = MiniRacer()
        _shared.eval(VIEW_JS)
        _shared.eval(_HARNESS)
        atexit.register(_close)
    return _shared


def _close() -> None:
    global _shared  # noqa: PLW0603
    with _lock:
        if _shared is not None:
            _shared.close()
            _shared = None
