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

The dashboard is optuna-dashboard's own WSGI application (`optuna_dashboard.wsgi`) with its
own prompts; this module only chooses the model and serves the application on a threaded
server, so the pages stay responsive while a small model writes its answer.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
import re
from socketserver import ThreadingMixIn
import threading
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

import openai

from optuna_llm.exceptions import OptunaLLMError


if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna_dashboard.llm.provider import LLMProvider


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

INSTALL_HINT = 'optuna-dashboard 0.20 or later is needed: pip install "optuna-llm[dashboard]"'

_FENCED_CODE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(?P<code>.*?)\n?```", re.DOTALL)


def unfence(answer: str) -> str:
    """The code inside the answer's first Markdown code fence, or the answer itself if unfenced.

    The dashboard evaluates the answer as JavaScript as it stands, and small models fence their
    code even when the prompt asks them not to.
    """
    found = _FENCED_CODE.search(answer)
    return found.group("code").strip() if found else answer.strip()


class DashboardLLM:
    """An optuna-dashboard LLM provider asking any OpenAI-compatible endpoint.

    It implements the dashboard's ``LLMProvider`` interface by delegating to the dashboard's own
    ``optuna_dashboard.llm.openai.OpenAI`` provider with Chat Completions, and takes the code out
    of a Markdown fence when the model wrapped its answer in one (see
    [`unfence`][optuna_llm.dashboard.unfence]).
    Rate-limit and authentication errors reach the dashboard as its own exceptions, so it shows
    its own messages for them.

    Args:
        client: The ``openai.OpenAI`` client of the endpoint.
        model: The model to ask.
    """

    def __init__(self, client: openai.OpenAI, model: str) -> None:
        _require_dashboard()
        from optuna_dashboard.llm.openai import OpenAI  # noqa: PLC0415 - an optional dependency

        self._provider = OpenAI(client, model=model, use_chat_completions_api=True)
        self.model = model

    def call(self, prompt: str) -> str:
        """The model's answer to one of the dashboard's prompts, without a code fence."""
        return unfence(self._provider.call(prompt))


@contextlib.contextmanager
def dashboard_llm(
    base_url: str | None = None, model: str | None = None, api_key: str | None = None
) -> Iterator[DashboardLLM]:
    """A provider for the endpoint at ``base_url``, or for the bundled local model if it is None.

    The bundled model's server starts on entry and stops on exit. For an endpoint, ``model`` is
    required and the API key defaults to ``$OPENAI_API_KEY`` (local servers accept any).
    """
    if base_url is None:
        from optuna_llm.local import LocalLLMServer  # noqa: PLC0415 - needs the local extra

        with LocalLLMServer() as server:
            yield DashboardLLM(server.client(), model or server.model)
        return
    if not model:
        raise OptunaLLMError("`model` is required with `base_url`: name the model to ask.")
    key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
    yield DashboardLLM(openai.OpenAI(base_url=base_url, api_key=key), model)


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
        dashboard_llm(base_url, model, api_key) as provider,
        DashboardServer(storage, provider, host=host, port=port) as server,
    ):
        where = base_url or "the bundled local model"
        print(f"optuna-dashboard on {server.url} (LLM features: {provider.model} at {where})")
        print("Hit Ctrl-C to quit.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.wait()


def _require_dashboard() -> None:
    try:
        from optuna_dashboard.llm.openai import OpenAI  # noqa: F401, PLC0415
    except ImportError as error:
        raise OptunaLLMError(INSTALL_HINT) from error
