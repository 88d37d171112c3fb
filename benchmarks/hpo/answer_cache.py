"""A caching proxy in front of the model, so that arms asking the same question share answers.

The bundled model answers a request deterministically (same messages, same ``seed``, same
answer: checked on the saved studies, where the arms of one seed got byte-identical starts).
So an answer can be kept and given again to the next identical request, which is what the
model would have said, at no cost. Arms that differ only after the model's start then cost
no more model time than the classical arms: the design variants compared on the design tasks,
and the arm that enqueues the task's defaults first.

Answers are kept, one JSON line each, in a file keyed by a hash of the request's body; only
successful answers are kept. A studies' ``latency`` column is near zero for an answer given
from the file.

Run it, then point the suite at it::

    python -m benchmarks.hpo.answer_cache --cache benchmarks/results/answers.jsonl --port 8765
    python -m benchmarks.hpo run --suite design --base-url http://127.0.0.1:8765/v1 \\
        --model MODEL_IT_PRINTS
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import hashlib
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import json
from pathlib import Path
import sys
import threading
import urllib.error
import urllib.request


class AnswerCache:
    """Answers by request, kept in a JSON lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._answers: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._answers[entry["key"]] = entry["body"].encode()

    @staticmethod
    def key(path: str, body: bytes) -> str:
        """The request's key: its path and its JSON body with sorted keys."""
        try:
            canonical = json.dumps(json.loads(body), sort_keys=True).encode()
        except ValueError:
            canonical = body
        return hashlib.sha256(path.encode() + b"\n" + canonical).hexdigest()

    def fetching(self, key: str) -> threading.Lock:
        """A lock per request: studies asking the same question at once wait for one answer."""
        with self._lock:
            return self._fetching.setdefault(key, threading.Lock())

    def get(self, key: str) -> bytes | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
            else:
                self.hits += 1
            return answer

    def put(self, key: str, body: bytes) -> None:
        with self._lock:
            self._answers[key] = body
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as file:
                file.write(json.dumps({"key": key, "body": body.decode()}) + "\n")


def _handler(upstream: str, cache: AnswerCache) -> type[BaseHTTPRequestHandler]:
    base = upstream.rstrip("/")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            key = cache.key(self.path, body)
            with cache.fetching(key):
                answer = cache.get(key)
                if answer is None:
                    status, answer = self._forward("POST", body)
                    if status == 200:
                        cache.put(key, answer)
                else:
                    status = 200
            self._reply(status, answer)

        def do_GET(self) -> None:
            self._reply(*self._forward("GET", None))

        def _forward(self, method: str, body: bytes | None) -> tuple[int, bytes]:
            path = self.path.removeprefix("/v1")
            request = urllib.request.Request(
                base + path,
                data=body,
                method=method,
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serving(upstream: str, cache: AnswerCache, port: int = 0) -> Iterator[str]:
    """Serve the cache in front of ``upstream`` (a base URL ending in ``/v1``) on loopback;
    yields the proxy's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(upstream, cache))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hpo.answer_cache")
    parser.add_argument("--cache", type=Path, required=True, help="the answers' JSON lines file")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--upstream", help="an OpenAI-compatible base URL; default: bundled")
    parser.add_argument("--threads", type=int, help="generation threads of the bundled model")
    args = parser.parse_args(argv)
    cache = AnswerCache(args.cache)
    with contextlib.ExitStack() as stack:
        upstream, model = args.upstream, "(as the upstream names it)"
        if upstream is None:
            from optuna_llm.local import LocalLLMServer  # noqa: PLC0415 - needs the local extra

            server = stack.enter_context(LocalLLMServer(n_threads=args.threads))
            upstream, model = server.base_url, server.model
        url = stack.enter_context(serving(upstream, cache, args.port))
        print(f"answers of {model} at {url}, {len(cache._answers)} kept in {args.cache}")
        sys.stdout.flush()
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
