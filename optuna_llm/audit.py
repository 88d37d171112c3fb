"""An audit log of every exchange with the model, and a client that replays it.

``LLMSampler(audit_log="exchanges.jsonl")`` appends one JSON line per request: when, for which
trial, to which model and endpoint (without credentials), in which response format, the prompt
and its SHA-256, the raw answer, the configuration taken from it, what was wrong with it, the
tokens, the latency and the outcome. Lines are appended under an exclusive file lock, so several
threads and processes can share one log.

[`ReplayClient`][optuna_llm.audit.ReplayClient] answers from such a log, so a study can be rerun
exactly without the model, for CI, for sharing results, or for debugging a surprising proposal:

```python
sampler = LLMSampler(client=ReplayClient("exchanges.jsonl"), seed=0, ...)
```

See [the audit log][the-audit-log] for the fields of a line.
"""

from __future__ import annotations

from collections import defaultdict
from collections import deque
from collections.abc import Mapping
from collections.abc import Sequence
import datetime
import fcntl
import hashlib
import json
import os
from pathlib import Path
import threading
from typing import Any

from optuna_llm._chat import ChatReply
from optuna_llm._chat import ChatRequest
from optuna_llm._chat import Message
from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm.exceptions import ModelRequestError
from optuna_llm.exceptions import OptunaLLMError


class ReplayMismatchError(OptunaLLMError):
    """A strict [`ReplayClient`][optuna_llm.audit.ReplayClient] was asked a prompt its log does
    not hold.

    Unlike the errors of a live model, this one is not turned into a fallback: a replay that
    diverges from its recording should fail loudly.
    """


def prompt_hash(messages: Sequence[Message]) -> str:
    """SHA-256 of the messages, the key under which an exchange is logged and replayed."""
    text = json.dumps(list(messages), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class AuditLog:
    """Appends one JSON line per exchange to a file, safely across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one JSON line, under an exclusive lock on the file.

        Values JSON cannot hold are written as their ``str``; the file and its folder are
        created when missing, the file readable by its owner only.
        """
        line = (json.dumps(dict(record), ensure_ascii=False, default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, line)
        finally:
            os.close(descriptor)  # closing releases the lock


def read_audit_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of an audit log, in the order they were written; torn lines are skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def exchange_record(
    *,
    trial_number: int,
    model: str,
    endpoint: str,
    request: ChatRequest,
    reply: ChatReply | None,
    error: str | None,
    params: Mapping[str, Any] | None,
    problem: str | None,
    outcome: str,
) -> dict[str, Any]:
    """One line of the audit log."""
    return {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        "trial": trial_number,
        "model": model,
        "endpoint": endpoint,
        "response_format": reply.response_format if reply is not None else None,
        "prompt_sha256": prompt_hash(request.messages),
        "prompt": list(request.messages),
        "answer": reply.text if reply is not None else None,
        "error": error,
        "params": dict(params) if params is not None else None,
        "problem": problem or None,
        "prompt_tokens": reply.prompt_tokens if reply is not None else None,
        "completion_tokens": reply.completion_tokens if reply is not None else None,
        "latency": round(reply.latency, 3) if reply is not None else None,
        "outcome": outcome,
    }


def turned_down_record(
    trial_number: int, params: Mapping[str, Any], rule: str, reason: str
) -> dict[str, Any]:
    """The line that says a rule turned down a proposal taken from an answer: which rule
    (``near_repeat``, ``worse_half``, ``another_worker``) and why, in words."""
    return {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        "trial": trial_number,
        "params": dict(params),
        "outcome": "turned down",
        "rule": rule,
        "problem": reason,
    }


class ReplayClient(PicklesWithoutLock):
    """An [`LLMClient`][optuna_llm.LLMClient] answering from an audit log instead of a model.

    Each prompt is answered with what the log recorded for the same prompt, in the recorded
    order when a prompt occurs several times; a recorded failure is replayed as a failure.

    Args:
        path: The audit log.
        strict: On a prompt the log does not hold, raise
            [`ReplayMismatchError`][optuna_llm.audit.ReplayMismatchError] (the default); with
            ``False``, fail the request as an unreachable model would, so the sampler falls
            back.
    """

    def __init__(self, path: str | os.PathLike[str], *, strict: bool = True) -> None:
        self.path = Path(path)
        self.strict = strict
        self._answers: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        for record in read_audit_log(self.path):
            self._answers[str(record.get("prompt_sha256"))].append(record)
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        """``replay of`` and the log's file name, for log lines and the audit log."""
        return f"replay of {self.path.name}"

    def __repr__(self) -> str:
        return f"ReplayClient({str(self.path)!r}, strict={self.strict})"

    def complete(self, request: ChatRequest) -> ChatReply:
        """The next recorded answer to the request's prompt, with its recorded tokens.

        Raises:
            ReplayMismatchError: The log holds no answer left for this prompt, and the replay
                is strict.
            ModelRequestError: The recorded request failed, or the log holds no answer left
                for this prompt and the replay is not strict.
        """
        key = prompt_hash(request.messages)
        with self._lock:
            recorded = self._answers.get(key)
            record = recorded.popleft() if recorded else None
        if record is None:
            message = f"the audit log {self.path.name} holds no answer to prompt {key[:12]}"
            if self.strict:
                raise ReplayMismatchError(message + ".")
            raise ModelRequestError(message + ".")
        if record.get("answer") is None:
            raise ModelRequestError(str(record.get("error") or "recorded failure"))
        return ChatReply(
            text=str(record["answer"]),
            response_format=str(record.get("response_format") or "text"),
            latency=0.0,
            prompt_tokens=record.get("prompt_tokens"),
            completion_tokens=record.get("completion_tokens"),
        )
