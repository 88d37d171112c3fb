"""How often a model's answers work for optuna-dashboard's LLM features, measured in a browser.

optuna-dashboard asks the model for a JavaScript function, evaluates it in the browser and, on
an error, asks again with the error (up to its own retry limit). This drives the real
dashboard (``optuna_llm.dashboard.DashboardServer``) in headless Chromium through Playwright
over a fixed demo study, with 10 trial-filter queries whose right answer is known and 5 chart
requests, and counts the answers that work:

- a filter works when the trial list shows exactly the trials the query describes;
- a chart works when a Plotly chart with at least one non-empty trace appears.

Run it from the repository root (needs ``pip install playwright`` and a Chromium, e.g.
Debian's ``chromium`` package)::

    python -m benchmarks.dashboard_llm                      # the bundled local model
    python -m benchmarks.dashboard_llm --base-url URL --model NAME
    python -m benchmarks.dashboard_llm --screenshots docs/images

It prints one line per query and the totals, and writes them as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
from dataclasses import asdict
from dataclasses import dataclass
import json
import math
import os
from pathlib import Path
import re
import shutil
import sys
import tempfile
import time
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_llm import LLMSampler
from optuna_llm.dashboard import DashboardLLM
from optuna_llm.dashboard import DashboardServer
from optuna_llm.dashboard import dashboard_llm
from optuna_llm.testing import RandomAnswers
from optuna_llm.testing import ScriptedLLMServer


DEMO_STUDY = "xgboost-demo"
DEMO_TRIALS = 30
# Long enough for the bundled model on two cores to write a chart function twice over.
ANSWER_TIMEOUT_SECONDS = 600.0
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _demo_objective(trial: optuna.Trial) -> float:
    learning_rate = trial.suggest_float("learning_rate", 1e-3, 0.5, log=True)
    max_depth = trial.suggest_int("max_depth", 2, 10)
    booster = trial.suggest_categorical("booster", ["gbtree", "dart", "gblinear"])
    subsample = trial.suggest_float("subsample", 0.5, 1.0)
    if trial.number == 7:
        raise ValueError("out of memory (a failed trial for the demo)")
    if trial.number == 12:
        raise optuna.TrialPruned()
    distance = (math.log10(learning_rate) + 1.3) ** 2 + ((max_depth - 6) / 4) ** 2
    penalty = {"gbtree": 0.0, "dart": 0.05, "gblinear": 0.2}[booster]
    return round(0.05 + 0.1 * distance + penalty + 0.1 * (1.0 - subsample), 4)


def build_demo_study(storage: str) -> optuna.Study:
    """A 30-trial study with every trial state and every provenance source, the same each run.

    The model answers come from :class:`RandomAnswers` on a scripted server, so the study holds
    what the sampler records (``llm:source`` ``llm``, ``prior`` and ``fallback``) at no cost.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with ScriptedLLMServer(RandomAnswers(seed=0)) as server:
        sampler = LLMSampler(
            model=server.model, client=server.client(), task="XGBoost on a tabular set", seed=0
        )
        study = optuna.create_study(study_name=DEMO_STUDY, storage=storage, sampler=sampler)
        study.optimize(_demo_objective, n_trials=DEMO_TRIALS, catch=(ValueError,))
    return study


def _param(trial: FrozenTrial, name: str) -> Any:
    return trial.params.get(name)


def _value_below(trial: FrozenTrial, bound: float) -> bool:
    return trial.state == TrialState.COMPLETE and trial.value is not None and trial.value < bound


@dataclass(frozen=True)
class FilterQuery:
    """A question in plain words and the trials it describes."""

    text: str
    matches: Callable[[FrozenTrial], bool]


@dataclass(frozen=True)
class ChartRequest:
    """A chart asked for in plain words."""

    text: str


FILTER_QUERIES: tuple[FilterQuery, ...] = (
    FilterQuery(
        "complete trials with objective value below 0.2",
        lambda t: _value_below(t, 0.2),
    ),
    FilterQuery(
        'trials proposed by the model (user attribute "llm:source" is "llm") '
        "with objective value above 0.1",
        lambda t: (
            t.user_attrs.get("llm:source") == "llm"
            and t.value is not None
            and t.value > 0.1
            and t.state == TrialState.COMPLETE
        ),
    ),
    FilterQuery(
        'trials whose user attribute "llm:source" is "prior"',
        lambda t: t.user_attrs.get("llm:source") == "prior",
    ),
    FilterQuery(
        "trials with max_depth at most 4",
        lambda t: _param(t, "max_depth") is not None and _param(t, "max_depth") <= 4,
    ),
    FilterQuery(
        'trials whose booster is "gbtree"',
        lambda t: _param(t, "booster") == "gbtree",
    ),
    FilterQuery(
        "failed or pruned trials",
        lambda t: t.state in (TrialState.FAIL, TrialState.PRUNED),
    ),
    FilterQuery(
        "trial numbers from 10 to 19",
        lambda t: 10 <= t.number <= 19,
    ),
    FilterQuery(
        "trials with learning_rate greater than 0.05",
        lambda t: _param(t, "learning_rate") is not None and _param(t, "learning_rate") > 0.05,
    ),
    FilterQuery(
        "complete trials with objective value above 0.3 and max_depth above 5",
        lambda t: (
            t.state == TrialState.COMPLETE
            and t.value is not None
            and t.value > 0.3
            and _param(t, "max_depth") > 5
        ),
    ),
    FilterQuery("the first 5 trials", lambda t: t.number < 5),
)

CHART_REQUESTS: tuple[ChartRequest, ...] = (
    ChartRequest("Plot objective value vs trial number"),
    ChartRequest("Scatter plot of learning_rate against objective value"),
    ChartRequest("Histogram of max_depth over complete trials"),
    ChartRequest("Best objective value so far by trial number"),
    ChartRequest('Bar chart of the number of trials per value of the user attribute "llm:source"'),
)


@dataclass
class Outcome:
    """What the dashboard did with one query."""

    kind: str
    query: str
    works: bool
    detail: str
    seconds: float
    model_calls: int
    answers: list[str]


class CountingLLM:
    """A dashboard LLM provider that keeps the answers it passes on."""

    def __init__(self, provider: DashboardLLM) -> None:
        self._provider = provider
        self.model = provider.model
        self.answers: list[str] = []

    @property
    def calls(self) -> int:
        """How many answers it has passed on."""
        return len(self.answers)

    def call(self, prompt: str) -> str:
        """The provider's answer, kept."""
        self.answers.append(self._provider.call(prompt))
        return self.answers[-1]


def chromium_path() -> str | None:
    """Chromium's executable: ``$OPTUNA_LLM_CHROMIUM``, else the first on PATH, else None."""
    configured = os.environ.get("OPTUNA_LLM_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class DashboardPage:
    """The dashboard in one browser page, driven as a user would.

    Every query starts from a fresh page; the evaluation dialog is answered "allow always".
    """

    def __init__(self, browser: Any, url: str, study_id: int = 1) -> None:
        self._browser = browser
        self._study_url = f"{url}studies/{study_id}"
        self._context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self._context.new_page()

    def close(self) -> None:
        self._context.close()

    def filter(self, query: str, timeout: float = ANSWER_TIMEOUT_SECONDS) -> list[int] | str:
        """The trial numbers the filter leaves, or the dashboard's error message."""
        page = self.page
        page.goto(f"{self._study_url}/trials")
        everything = page.get_by_text(re.compile(r"^\d+ Trials$"))
        everything.wait_for()
        total = everything.inner_text()
        page.get_by_placeholder(re.compile("filter query")).fill(query)
        button = page.locator("button", has_text=re.compile("^Filter$", re.IGNORECASE))
        button.click()
        finished = self._wait_for_answer(button, timeout)
        if finished is not None:
            return finished
        shown = page.get_by_text(re.compile(r"^\d+ Trials?$")).inner_text()
        if shown == total and self._error_text():
            return self._error_text() or "error"
        items = page.locator("li").filter(has_text=re.compile(r"^Trial \d+"))
        return sorted(
            int(m.group(1))
            for text in items.all_inner_texts()
            if (m := re.match(r"Trial (\d+)", text))
        )

    def chart(self, request: str, timeout: float = ANSWER_TIMEOUT_SECONDS) -> int | str:
        """The number of points in the generated chart's traces, or the dashboard's error."""
        page = self.page
        page.goto(f"{self._study_url}/analytics")
        box = page.get_by_placeholder(re.compile("generate a graph"))
        box.wait_for()
        before = self._plot_count()
        box.fill(request)
        button = page.locator("button", has_text=re.compile("^Generate$", re.IGNORECASE))
        button.click()
        finished = self._wait_for_answer(button, timeout)
        if finished is not None:
            return finished
        page.wait_for_timeout(1000)
        if self._plot_count() <= before:
            return self._error_text() or "no chart appeared"
        points: int = page.evaluate(
            """() => {
                const plots = document.querySelectorAll('.js-plotly-plot');
                const data = plots[plots.length - 1].data || [];
                let points = 0;
                for (const trace of data) {
                    for (const key of ['x', 'y', 'values', 'z']) {
                        if (Array.isArray(trace[key])) { points += trace[key].length; break; }
                    }
                }
                return points;
            }"""
        )
        return points

    def _wait_for_answer(self, button: Any, timeout: float) -> str | None:
        """Approve every function the model writes until the dashboard stops working on it."""
        page = self.page
        allow = page.locator("button", has_text=re.compile("allow always", re.IGNORECASE))
        deadline = time.monotonic() + timeout
        page.wait_for_timeout(300)
        while time.monotonic() < deadline:
            asking = allow.count() > 0 and allow.first.is_visible()
            if asking:
                allow.first.click()
            elif button.is_enabled():
                return None
            page.wait_for_timeout(250)
        return f"no answer within {timeout:.0f} s"

    def _plot_count(self) -> int:
        count: int = self.page.locator(".js-plotly-plot").count()
        return count

    def _error_text(self) -> str | None:
        notices = self.page.locator("#notistack-snackbar").all_inner_texts()
        return "; ".join(notices) if notices else None


@contextlib.contextmanager
def browser(executable: str | None = None) -> Iterator[Any]:
    """Headless Chromium through Playwright."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only for the browser

    path = executable or chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found: install one or set OPTUNA_LLM_CHROMIUM")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        try:
            yield chromium
        finally:
            chromium.close()


def judge_filter(shown: list[int] | str, expected: list[int]) -> tuple[bool, str]:
    """Whether the filter left exactly the expected trials, and what it left."""
    if isinstance(shown, str):
        return False, shown
    if shown == expected:
        return True, f"{len(shown)} trials, as expected"
    return False, f"shows {shown}, expected {expected}"


def judge_chart(points: int | str) -> tuple[bool, str]:
    """Whether a chart with data appeared, and what appeared."""
    if isinstance(points, str):
        return False, points
    return points > 0, f"a chart with {points} points"


def measure(
    provider: DashboardLLM,
    storage: str,
    *,
    screenshots: Path | None = None,
    report: Callable[[str], None] = print,
) -> list[Outcome]:
    """Run every filter query and chart request through the dashboard in a browser."""
    study = optuna.load_study(study_name=DEMO_STUDY, storage=storage)
    trials = study.get_trials(deepcopy=False)
    counting = CountingLLM(provider)
    outcomes: list[Outcome] = []
    with DashboardServer(storage, counting, port=0) as server, browser() as chromium:  # type: ignore[arg-type]
        for query in FILTER_QUERIES:
            expected = [t.number for t in trials if query.matches(t)]
            page = DashboardPage(chromium, server.url)
            calls, started = counting.calls, time.monotonic()
            works, detail = judge_filter(page.filter(query.text), expected)
            if screenshots is not None and query is FILTER_QUERIES[1]:
                page.page.screenshot(path=str(screenshots / "dashboard-llm-filter.png"))
            page.close()
            outcomes.append(
                Outcome(
                    "filter",
                    query.text,
                    works,
                    detail,
                    time.monotonic() - started,
                    counting.calls - calls,
                    counting.answers[calls:],
                )
            )
            report(_line(outcomes[-1]))
        for request in CHART_REQUESTS:
            page = DashboardPage(chromium, server.url)
            calls, started = counting.calls, time.monotonic()
            works, detail = judge_chart(page.chart(request.text))
            if screenshots is not None and works and request is CHART_REQUESTS[0]:
                page.page.get_by_text("Graph Generated by LLM").scroll_into_view_if_needed()
                page.page.screenshot(path=str(screenshots / "dashboard-llm-chart.png"))
            page.close()
            outcomes.append(
                Outcome(
                    "chart",
                    request.text,
                    works,
                    detail,
                    time.monotonic() - started,
                    counting.calls - calls,
                    counting.answers[calls:],
                )
            )
            report(_line(outcomes[-1]))
    return outcomes


def _line(outcome: Outcome) -> str:
    verdict = "works" if outcome.works else "fails"
    return (
        f"{outcome.kind:6} {verdict}  {outcome.seconds:5.0f} s  {outcome.model_calls} calls  "
        f"{outcome.query!r}: {outcome.detail}"
    )


def summary(outcomes: Sequence[Outcome]) -> str:
    """The totals, one line per kind."""
    lines = []
    for kind in ("filter", "chart"):
        mine = [o for o in outcomes if o.kind == kind]
        working = sum(o.works for o in mine)
        lines.append(f"{kind}: {working} of {len(mine)} work")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint, not the bundled model")
    parser.add_argument("--model", help="the model to ask at --base-url")
    parser.add_argument("--screenshots", type=Path, help="save two screenshots in this folder")
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        storage = f"sqlite:///{folder}/demo.db"
        build_demo_study(storage)
        with dashboard_llm(args.base_url, args.model) as provider:
            outcomes = measure(provider, storage, screenshots=args.screenshots)
    print(summary(outcomes))
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
