"""Run llama.cpp's OpenAI-compatible server, and stop it when the process that started it dies.

``python -m optuna_llm._llama_server PARENT_PID [llama_cpp.server arguments...]``

:class:`optuna_llm.local.LocalLLMServer` starts the server through this module. Stopping the
server on exit is the parent's job; this watchdog covers the case where the parent cannot do it
(killed with SIGKILL, say), so that no server outlives the study that started it.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time


WATCH_INTERVAL_SECONDS = 0.5


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_SECONDS)
    os._exit(0)


def main(argv: list[str]) -> None:
    parent_pid = int(argv[0])
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    server = importlib.import_module("llama_cpp.server.__main__")
    sys.argv = ["llama_cpp.server", *argv[1:]]
    server.main()


if __name__ == "__main__":
    main(sys.argv[1:])
