"""The proposer: one frozen request in, one answer out, whatever the endpoint does."""

from __future__ import annotations

import json

import optuna
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_llm import Budget
from optuna_llm._model.client import make_client
from optuna_llm._model.proposer import ProposalRequest
from optuna_llm._model.proposer import Proposer
from optuna_llm._study.search_space import infer_specs
from optuna_llm._study.tried import Snapshot
from optuna_llm.testing import Reply
from optuna_llm.testing import ScriptedLLMServer
from optuna_llm.testing import answer


SPACE = {"x": FloatDistribution(0, 1), "n": IntDistribution(1, 9)}


def _request(study: optuna.Study, seed: int = 0) -> ProposalRequest:
    """A request for a new trial of ``study``, as the sampler makes it."""
    trial = study.ask()
    frozen = study.trials[trial.number]
    return ProposalRequest(
        trial_number=trial.number,
        specs=infer_specs(study.trials, SPACE),
        view=Snapshot.of(study, frozen),
        directions=study.directions,
        seed=seed,
    )


def _study() -> optuna.Study:
    study = optuna.create_study()
    study.add_trial(
        optuna.trial.create_trial(params={"x": 0.5, "n": 3}, distributions=SPACE, value=1.0)
    )
    return study


def _proposer(server: ScriptedLLMServer, **kwargs: object) -> Proposer:
    client = make_client(model=server.model, client=server.client(max_retries=0))
    return Proposer(client, task="Minimize x.", **kwargs)  # type: ignore[arg-type]


def test_one_call_gives_values_rationale_and_cost() -> None:
    with ScriptedLLMServer([answer({"x": 0.25, "n": 4}, "Lower x.")]) as server:
        proposer = _proposer(server)
        result = proposer.propose(_request(_study(), seed=11))
        body = server.requests[0].body
    assert result.params == {"x": 0.25, "n": 4}
    assert result.rationale == "Lower x."
    assert result.failure is None and result.skipped is None
    assert result.usage.requests == 1 and result.usage.total_tokens > 0
    assert proposer.usage == result.usage
    assert body["seed"] == 11
    assert "Minimize x." in server.requests[0].prompt


def test_a_repeat_of_a_trial_in_the_view_is_re_asked() -> None:
    with ScriptedLLMServer([answer({"x": 0.5, "n": 3}), answer({"x": 0.75, "n": 3})]) as server:
        result = _proposer(server).propose(_request(_study()))
        reask = server.requests[1].messages[-1]["content"]
    assert result.params == {"x": 0.75, "n": 3}
    assert "repeats trial 0" in reask


def test_what_one_trial_got_is_not_handed_to_another() -> None:
    same = answer({"x": 0.25, "n": 4})
    with ScriptedLLMServer([same, same, same]) as server:
        proposer = _proposer(server)
        study = _study()
        first = proposer.propose(_request(study))
        second = proposer.propose(_request(study))  # trial 1 is running, not yet stored
    assert first.params == {"x": 0.25, "n": 4}
    assert second.params == {} and second.failure is not None
    assert "repeats trial 1" in second.failure


def test_a_spent_budget_sends_nothing_and_says_so() -> None:
    with ScriptedLLMServer([answer({"x": 0.25, "n": 4})]) as server:
        proposer = _proposer(server, budget=Budget(max_requests=1))
        study = _study()
        proposer.propose(_request(study))
        result = proposer.propose(_request(study))
        n_requests = len(server.requests)
    assert n_requests == 1
    assert result.skipped == "budget: 1 requests spent"
    assert result.params == {} and result.failure is None


def test_an_unavailable_endpoint_is_skipped_with_since_when() -> None:
    with ScriptedLLMServer(lambda call: Reply(status=503, body=b"{}")) as server:
        proposer = _proposer(server)
        study = _study()
        results = [proposer.propose(_request(study)) for _ in range(4)]
        n_requests = len(server.requests)
    assert [r.failure is not None for r in results] == [True, True, True, False]
    assert results[3].skipped is not None
    assert results[3].skipped.startswith("the endpoint is unavailable since")
    assert n_requests == 3
    assert proposer.usage.failed_requests == 3


def test_the_spares_of_a_batch_serve_the_next_requests() -> None:
    batch = json.dumps(
        {
            "proposals": [
                {"rationale": "a", "params": {"x": 0.1, "n": 1}},
                {"rationale": "b", "params": {"x": 0.2, "n": 2}},
            ]
        }
    )
    with ScriptedLLMServer([batch]) as server:
        proposer = _proposer(server, batch_size=2)
        study = _study()
        first = proposer.propose(_request(study))
        second = proposer.propose(_request(study))
        n_requests = len(server.requests)
    assert (first.rationale, second.rationale) == ("a", "b")
    assert second.params == {"x": 0.2, "n": 2}
    assert n_requests == 1
    assert first.usage.requests == 1 and second.usage.requests == 0
