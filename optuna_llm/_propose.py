"""One proposal: ask the model, validate its answer, re-ask once with what was wrong.

Never raises for anything the model or the endpoint does: the result says which values are
usable and, when not all are, why.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from optuna_llm._client import ChatReply
from optuna_llm._client import ChatRequest
from optuna_llm._client import LLMClient
from optuna_llm._client import Message
from optuna_llm._client import redact
from optuna_llm._parse import Proposal
from optuna_llm._parse import duplicate_error
from optuna_llm._parse import find_covering
from optuna_llm._parse import parse_answers
from optuna_llm._prompt import reask_messages
from optuna_llm._search_space import ParamSpec
from optuna_llm.exceptions import InvalidAnswerError
from optuna_llm.exceptions import ModelRequestError
from optuna_llm.exceptions import OptunaLLMError


MAX_ATTEMPTS = 2


@dataclass(frozen=True)
class Exchange:
    """One request and what came of it.

    ``outcome`` is ``used`` (a configuration was taken from the answer), ``partial`` (the
    valid part of a flawed last answer was taken), ``re-ask`` or ``failed``.
    """

    request: ChatRequest
    reply: ChatReply | None
    error: str | None
    params: Mapping[str, Any] | None
    problem: str | None
    outcome: str


@dataclass(frozen=True)
class Outcome:
    """The usable part of the model's proposal and why the rest, if any, is not usable.

    ``spare`` holds the further usable proposals of a batch, in the model's order.
    """

    params: dict[str, Any]
    rationale: str = ""
    failure: str | None = None
    replies: list[ChatReply] = field(default_factory=list)
    spare: list[Proposal] = field(default_factory=list)


def propose(
    client: LLMClient,
    *,
    messages: Sequence[Message],
    specs: Mapping[str, ParamSpec],
    schema: dict[str, Any],
    seed: int | None,
    temperature: float | None,
    max_tokens: int | None,
    repeats: Callable[[Mapping[str, Any]], int | None],
    claim: Callable[[], str | None] = lambda: None,
    on_exchange: Callable[[Exchange], None] = lambda exchange: None,
) -> Outcome:
    """Ask for one configuration or a batch; re-ask once when no answer is usable.

    Args:
        repeats: The number of the trial a configuration repeats, or None; it is asked about
            each usable proposal once, in order, and may claim the configuration.
        claim: Called before each re-ask; a reason (a spent budget, say) stops asking. The
            caller claims the first request itself.
        on_exchange: Told about each request: the request, the reply or the error, the
            configuration used from it, what was wrong, and the outcome (``used``,
            ``partial``, ``re-ask`` or ``failed``).
    """

    messages = list(messages)
    replies: list[ChatReply] = []
    best: Proposal | None = None
    failure = "no answer"
    for attempt in range(MAX_ATTEMPTS):
        request = ChatRequest(messages, schema, seed, temperature, max_tokens)
        answer_text = ""
        refusal = claim() if attempt > 0 else None
        if refusal is not None:
            failure = f"{failure}; no re-ask, {refusal}"
            break
        last = attempt + 1 == MAX_ATTEMPTS
        try:
            reply = client.complete(request)
        except ModelRequestError as error:
            on_exchange(Exchange(request, None, str(error), None, None, "failed"))
            return Outcome({}, failure=f"request failed: {error}", replies=replies)
        except InvalidAnswerError as error:
            problem = str(error)
            outcome = "failed" if last else "re-ask"
            on_exchange(Exchange(request, None, problem, None, problem, outcome))
        except OptunaLLMError:
            raise  # e.g. a strict replay that diverged: meant to stop the study
        except Exception as error:
            # A client of the user's own, or a transport library, failing in a way nobody
            # foresaw: still only the model's failure, never the study's.
            detail = f"{type(error).__name__}: {redact(str(error))[:200]}"
            on_exchange(Exchange(request, None, detail, None, None, "failed"))
            return Outcome({}, failure=f"request failed: {detail}", replies=replies)
        else:
            replies.append(reply)
            answer_text = reply.text
            usable, partial, problem = _check(answer_text, specs, repeats)
            if usable:
                first, *spare = usable
                on_exchange(Exchange(request, reply, None, first.params, problem, "used"))
                return Outcome(first.params, first.rationale, replies=replies, spare=spare)
            if partial is not None and (best is None or len(partial.params) >= len(best.params)):
                best = partial
            outcome = "re-ask" if not last else ("partial" if best is not None else "failed")
            used = partial.params if partial else None
            on_exchange(Exchange(request, reply, None, used, problem, outcome))
        failure = f"invalid answer: {problem}"
        if attempt + 1 < MAX_ATTEMPTS:
            messages += reask_messages(answer_text, problem)
    if best is None:
        return Outcome({}, failure=failure, replies=replies)
    return Outcome(best.params, best.rationale, failure=failure, replies=replies)


def _check(
    text: str,
    specs: Mapping[str, ParamSpec],
    repeats: Callable[[Mapping[str, Any]], int | None],
) -> tuple[list[Proposal], Proposal | None, str]:
    """The usable proposals in ``text``, the fullest unusable one, and what was wrong."""
    try:
        proposals = parse_answers(text, specs)
    except InvalidAnswerError as error:
        return [], None, str(error)
    usable: list[Proposal] = []
    partial: Proposal | None = None
    problems: list[str] = []
    for proposal in proposals:
        if proposal.errors:
            problems.append(proposal.error_message())
            if partial is None or len(proposal.params) > len(partial.params):
                partial = proposal
            continue
        if find_covering(proposal.params, [(-1, p.params) for p in usable]) is not None:
            continue
        repeated = repeats(proposal.params)
        if repeated is not None:
            problems.append(duplicate_error(repeated, proposal.params))
            continue
        usable.append(proposal)
    return usable, partial, "\n".join(problems)
