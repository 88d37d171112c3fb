"""The studies a generated function will meet, as optuna-dashboard's own API serves them.

The dashboard's page fetches ``/api/studies/<id>`` and hands the trials to the generated
function (after turning dates into ``Date`` objects, which the check does in JavaScript). Asking
the dashboard's WSGI application for the same JSON, in process, gives the check exactly the
shape the browser sees, including the fields a small model invents or misses.

Where the storage has no trials, a small synthetic study stands in: every trial state, every
parameter type, user attributes and intermediate values.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import BaseStorage
from optuna.storages import InMemoryStorage
from optuna.trial import TrialState


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# The most recently created studies are checked, and at most this many trials of each: a
# function that runs on them runs on the rest.
MAX_STUDIES = 5
MAX_TRIALS = 500


# The study attribute that tells the synthetic study from the storage's own.
SYNTHETIC_KEY = "optuna-llm:synthetic"


def study_details(storage: str | BaseStorage | None) -> list[dict[str, Any]]:
    """The studies' details as the dashboard serves them, or the synthetic study's if none has
    trials."""
    # In a thread of its own: the dashboard's web framework keeps the request and response of
    # the thread it serves in thread-locals, which a second application in the same thread
    # would overwrite.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_details, storage).result()


def _details(storage: str | BaseStorage | None) -> list[dict[str, Any]]:
    details = _read(_app(storage)) if storage is not None else []
    return [d for d in details if d["trials"]] or _read(_app(synthetic_storage()))


def is_synthetic(detail: dict[str, Any]) -> bool:
    """Whether ``detail`` is the synthetic study's, not one of the storage's."""
    return any(a.get("key") == SYNTHETIC_KEY for a in detail.get("user_attrs", ()))


def synthetic_storage() -> InMemoryStorage:
    """A study of eight trials covering every state, parameter type and attribute kind."""
    storage = InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="synthetic", direction="minimize")
    study.set_user_attr(SYNTHETIC_KEY, True)
    space = {
        "x": FloatDistribution(-1.0, 1.0),
        "lr": FloatDistribution(1e-4, 1e-1, log=True),
        "depth": IntDistribution(1, 8),
        "kind": CategoricalDistribution(["a", "b", None]),
        "flag": CategoricalDistribution([True, False]),
    }
    states = [
        (TrialState.COMPLETE, 0.5),
        (TrialState.COMPLETE, 0.2),
        (TrialState.COMPLETE, 0.9),
        (TrialState.PRUNED, None),
        (TrialState.FAIL, None),
        (TrialState.RUNNING, None),
        (TrialState.WAITING, None),
        (TrialState.COMPLETE, 0.4),
    ]
    xs = (0.1, -0.4, 0.8, 0.3, -0.9, 0.0, 0.0, 0.5)
    lrs = (1e-3, 3e-2, 1e-4, 1e-2, 5e-2, 2e-3, 0.0, 5e-3)
    kinds = ("a", "b", None, "a", "b", "a", None, "b")
    rows: list[tuple[TrialState, float | None, dict[str, Any]]] = [
        (
            state,
            value,
            {}
            if state == TrialState.WAITING
            else {"x": x, "lr": lr, "depth": i + 1, "kind": kind, "flag": i % 2 == 0},
        )
        for i, ((state, value), x, lr, kind) in enumerate(zip(states, xs, lrs, kinds, strict=True))
    ]
    for number, (state, value, params) in enumerate(rows):
        trial = optuna.trial.create_trial(
            state=state,
            value=value,
            params=params,
            distributions={name: space[name] for name in params},
            user_attrs={"source": "model" if number % 2 else "sampler", "fold": number % 3},
            intermediate_values={0: 1.0, 1: 0.8} if state == TrialState.PRUNED else {},
        )
        study.add_trial(trial)
    return storage


def _app(storage: str | BaseStorage) -> WSGIApp:
    from optuna_dashboard import wsgi  # noqa: PLC0415 - an optional dependency

    app: WSGIApp = wsgi(storage)
    return app


def _read(app: WSGIApp) -> list[dict[str, Any]]:
    listed = _get(app, "/api/studies")["study_summaries"]
    newest = sorted(listed, key=lambda s: s["study_id"], reverse=True)[:MAX_STUDIES]
    details = []
    for summary in newest:
        detail = _get(app, f"/api/studies/{summary['study_id']}")
        detail["id"] = summary["study_id"]
        detail["trials"] = detail["trials"][-MAX_TRIALS:]
        details.append(detail)
    return details


def _get(app: WSGIApp, path: str) -> dict[str, Any]:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    body = b"".join(app(environ, start_response))
    if not statuses or not statuses[0].startswith("200"):
        raise RuntimeError(f"optuna-dashboard answered {path} with {statuses}")
    data: dict[str, Any] = json.loads(body)
    return data
