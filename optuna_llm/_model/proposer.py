"""Asking the model for one trial: the whole request lifecycle behind one call.

:meth:`Proposer.propose` takes a :class:`ProposalRequest`, everything one trial's request needs,
read from the study once by the sampler, and returns an :class:`Answer`: the usable values, the
model's rationale, what the requests cost, and why the model gave nothing usable, if it did not.
On the way it

- takes a spare proposal of an earlier batch, when one still fits the trial;
- asks the endpoint breaker and then the budget whether a request may go out;
- builds the prompt, sends it through the client (which steps down the response formats the
  endpoint rejects), validates the answer, and re-asks once with what was wrong;
- turns down configurations that repeat a finished or running trial, or one it handed out;
- writes each exchange to the audit log;
- keeps the spare proposals of a batch, and asks ahead, in the background, for the next trial
  when the request says to.

How it asks (what for, how many configurations, how many attempts, which history) is the
request's :class:`ModelAsk`, decided by the sampler's strategy; the proposer never asks why.
It never calls back into the sampler, and nothing the model or the endpoint does makes it raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from dataclasses import dataclass
from dataclasses import field
import os
import threading
import time
from typing import Any
from typing import Literal

import optuna
from optuna.study import StudyDirection

from optuna_llm._chat import ChatReply
from optuna_llm._chat import ChatRequest
from optuna_llm._chat import LLMClient
from optuna_llm._chat import Message
from optuna_llm._model.breaker import Admission
from optuna_llm._model.breaker import EndpointBreaker
from optuna_llm._model.client import redact
from optuna_llm._model.parse import Proposal
from optuna_llm._model.parse import parse_answers
from optuna_llm._model.prompt import Question
from optuna_llm._model.prompt import build_messages
from optuna_llm._model.prompt import reask_messages
from optuna_llm._model.spare_proposals import ProposalQueue
from optuna_llm._model.usage_meter import Ledger
from optuna_llm._model.usage_meter import UsageMeter
from optuna_llm._pickling import PicklesWithoutLock
from optuna_llm._study.history import select_best
from optuna_llm._study.history import select_history
from optuna_llm._study.search_space import ParamSpec
from optuna_llm._study.search_space import answer_schema
from optuna_llm._study.tried import HandedOut
from optuna_llm._study.tried import Snapshot
from optuna_llm._study.tried import duplicate_error
from optuna_llm._study.tried import find_covering
from optuna_llm._study.tried import fits
from optuna_llm.audit import AuditLog
from optuna_llm.audit import exchange_record
from optuna_llm.audit import turned_down_record
from optuna_llm.budget import Budget
from optuna_llm.budget import Usage
from optuna_llm.exceptions import EndpointUnavailableError
from optuna_llm.exceptions import InvalidAnswerError
from optuna_llm.exceptions import ModelRequestError
from optuna_llm.exceptions import OptunaLLMError


MAX_ATTEMPTS = 2
# A history of the best trials shows at most this many: a short prompt keeps a small local
# model's answer within seconds, and the best (and a candidate) are what to beat.
BEST_HISTORY_TRIALS = 10

_logger = optuna.logging.get_logger("optuna.optuna_llm")


@dataclass(frozen=True)
class ModelAsk:
    """How the model is asked for one trial.

    Args:
        question: What the prompt asks for.
        batch_size: Configurations per request; None for the proposer's ``batch_size``.
        attempts: Requests at most; a re-ask carries what was wrong with the answer.
        history: ``recent`` shows the bounded history; ``best`` the best trials only;
            ``none`` asks as before the study's first trial, for what the model knows of the
            task whatever the study holds.
        spare: Keep the spare proposals of a batch for the next trials, take one when it fits,
            and hand each configuration to one trial of this process only.
        ask_ahead: Also ask, in the background, for the next trial's configuration.
    """

    question: Question = "next"
    batch_size: int | None = None
    attempts: int = MAX_ATTEMPTS
    history: Literal["recent", "best", "none"] = "recent"
    spare: bool = True
    ask_ahead: bool = False

    @property
    def shows_candidate(self) -> bool:
        """Whether the request shows the classical sampler's candidate for the trial."""
        return self.question == "challenge"


@dataclass(frozen=True)
class ProposalRequest:
    """Everything one trial's request needs, read from the study once.

    Args:
        trial_number: The trial the proposal is for.
        specs: Exactly the parameters to propose.
        view: The study as the trial sees it: its history, and what is tried or running.
        directions: The study's directions.
        metric_names: The objectives' names, when the study has them.
        prior: The prompt section on related studies, if any.
        seed: The request's ``seed``.
        ask: How the model is asked.
        candidate: The classical sampler's configuration, for a ``challenge``.
        ledger: Where the trial books its requests in the study, for a study's budget.
    """

    trial_number: int
    specs: Mapping[str, ParamSpec]
    view: Snapshot
    directions: Sequence[StudyDirection]
    metric_names: Sequence[str] | None = None
    prior: str | None = None
    seed: int | None = None
    ask: ModelAsk = field(default_factory=ModelAsk)
    candidate: Mapping[str, Any] | None = None
    ledger: Ledger | None = None


@dataclass(frozen=True)
class Answer:
    """What came of asking for one trial.

    ``params`` are valid values for some or all of the request's specs. ``failure`` says why
    the model gave no usable configuration (or only part of one), ``skipped`` why no request
    went out (a spent budget, an unavailable endpoint); at most one of them is set.
    ``answered`` says whether the endpoint answered at all, whatever the answer was worth.
    """

    params: dict[str, Any] = field(default_factory=dict)
    rationale: str = ""
    usage: Usage = field(default_factory=Usage)
    failure: str | None = None
    skipped: str | None = None
    answered: bool = False


class Proposer(PicklesWithoutLock):
    """The request lifecycle of one sampler, shared by its threads.

    Args:
        client: Answers the chat requests.
        task: What is being optimized, for every prompt.
        temperature: The requests' sampling temperature, or None.
        max_tokens: Bound on an answer's tokens, or None.
        max_history_trials: How many trials a prompt shows at most.
        batch_size: Configurations asked for per request.
        budget: Limits on the model's use, or None.
        audit_log: Where each exchange is appended, or None.
        timeout: Seconds a request may take; a request made ahead is awaited that long.
        fallback_name: The classical sampler's name, for log lines.
    """

    def __init__(
        self,
        client: LLMClient,
        *,
        task: str = "",
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_history_trials: int = 30,
        batch_size: int = 1,
        budget: Budget | None = None,
        audit_log: str | os.PathLike[str] | None = None,
        timeout: float = 60.0,
        fallback_name: str = "the classical sampler",
    ) -> None:
        self.client = client
        self._task = task
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._max_history_trials = max_history_trials
        self._batch_size = batch_size
        self._timeout = timeout
        self._fallback_name = fallback_name
        self._meter = UsageMeter(budget)
        self._breaker = EndpointBreaker(str(getattr(client, "endpoint", "")), fallback_name)
        self._audit_log = AuditLog(audit_log) if audit_log is not None else None
        self._queue = ProposalQueue(max_staleness=batch_size)
        self._handed_out = HandedOut()
        self._budget_warned = False
        self._ahead: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_ahead": {}}

    @property
    def usage(self) -> Usage:
        """What the requests have cost so far."""
        return self._meter.usage

    def propose(self, request: ProposalRequest) -> Answer:
        """The model's proposal for ``request.trial_number``; never raises for the model."""
        if not request.ask.spare:
            return self._ask(request)[0]
        answer = self._from_queue(request)
        if answer is None:
            answer, spare = self._ask(request)
            self._queue.put(
                spare, finished_at=request.view.n_finished, asked_by=request.trial_number
            )
        if request.ask.ask_ahead and answer.params:
            self._ask_ahead(request, answer.params)
        return answer

    def finish(self, trial_number: int) -> None:
        """Wait, up to the timeout, for the request made ahead during trial ``trial_number``.

        The request ends with the trial, so no thread outlives the study; an answer later than
        the timeout still lands in the queue when it comes.
        """
        with self._lock:
            thread = self._ahead.pop(trial_number, None)
        if thread is not None:
            thread.join(timeout=self._timeout)

    def turned_down(
        self, trial_number: int, params: Mapping[str, Any], rule: str, reason: str
    ) -> None:
        """Append to the audit log that ``rule`` turned down the proposal ``params`` after it
        was taken from the model's answer."""
        if self._audit_log is None:
            return
        record = turned_down_record(trial_number, params, rule, reason)
        try:
            self._audit_log.write(record)
        except OSError as failure:
            _logger.warning(f"Trial {trial_number}: could not write the audit log: {failure!r}.")

    def _from_queue(self, request: ProposalRequest) -> Answer | None:
        space = {name: spec.distribution for name, spec in request.specs.items()}
        queued = self._queue.take(
            request.view.n_finished, lambda item: fits(item.params, space, request.view)
        )
        if queued is None:
            return None
        params = {name: value for name, value in queued.params.items() if name in space}
        return Answer(params, queued.rationale, usage=queued.usage, answered=True)

    def _ask(self, request: ProposalRequest) -> tuple[Answer, list[Proposal]]:
        """Ask, and re-ask once when no answer is usable; the answer and a batch's spares."""
        batch_size = request.ask.batch_size or self._batch_size
        messages = self._messages(request, batch_size)
        schema = answer_schema(request.specs, batch_size)
        usage = Usage()
        best: Proposal | None = None
        failure = "no answer"
        attempts = max(request.ask.attempts, 1)
        for attempt in range(attempts):
            admission = self._admit(request)
            if admission.refusal is not None:
                if attempt == 0:
                    return Answer(skipped=admission.refusal), []
                failure = f"{failure}; no re-ask, {admission.refusal}"
                break
            chat = ChatRequest(
                messages,
                schema,
                request.seed,
                self._temperature,
                self._max_tokens,
                retry=admission.retry,
            )
            sent = self._send(request, chat, admission)
            usage += sent.usage
            if sent.failure is not None:
                self._audit(request.trial_number, chat, error=sent.failure, outcome="failed")
                failed = f"request failed: {sent.failure}"
                return Answer(usage=usage, failure=failed, answered=sent.reached), []
            partial: Proposal | None = None
            if sent.reply is None:
                problem = sent.problem or "no answer"
            else:
                usable, partial, problem = self._usable(sent.reply.text, request)
                if usable:
                    first, *spare = usable
                    self._audit(
                        request.trial_number,
                        chat,
                        sent.reply,
                        params=first.params,
                        problem=problem,
                        outcome="used",
                    )
                    answer = Answer(first.params, first.rationale, usage=usage, answered=True)
                    return answer, spare
                if partial is not None and (
                    best is None or len(partial.params) >= len(best.params)
                ):
                    best = partial
            last = attempt + 1 == attempts
            self._audit(
                request.trial_number,
                chat,
                sent.reply,
                error=sent.problem,
                params=partial.params if partial is not None else None,
                problem=problem,
                outcome="re-ask" if not last else ("partial" if best is not None else "failed"),
            )
            failure = f"invalid answer: {problem}"
            if not last:
                answered = sent.reply.text if sent.reply is not None else ""
                messages = [*messages, *reask_messages(answered, problem)]
        if best is None:
            return Answer(usage=usage, failure=failure, answered=True), []
        answer = Answer(best.params, best.rationale, usage=usage, failure=failure, answered=True)
        return answer, []

    def _messages(self, request: ProposalRequest, batch_size: int) -> list[Message]:
        if request.ask.history == "recent":
            history = select_history(
                request.view.earlier,
                request.directions,
                self._max_history_trials,
                params_of=request.view.params_of,
            )
        else:
            history = select_best(
                request.view.earlier if request.ask.history == "best" else (),
                request.directions,
                min(self._max_history_trials, BEST_HISTORY_TRIALS),
                params_of=request.view.params_of,
            )
        return build_messages(
            task=self._task,
            directions=request.directions,
            metric_names=request.metric_names,
            specs=request.specs,
            history=history,
            batch_size=batch_size,
            prior=request.prior,
            question=request.ask.question,
            candidate=request.candidate,
        )

    def _admit(self, request: ProposalRequest) -> Admission:
        """Whether the breaker, then the budget, let a request go out; one warning the first
        time the budget says no."""
        admission = self._breaker.admit(request.trial_number)
        if admission.refusal is not None:
            return admission
        refusal = self._meter.claim_request(request.ledger)
        if refusal is None:
            return admission
        self._breaker.release(admission)
        with self._lock:
            first, self._budget_warned = not self._budget_warned, True
        if first:
            _logger.warning(f"{refusal}: {self._fallback_name} proposes instead of the model.")
        return Admission(refusal=refusal)

    def _send(self, request: ProposalRequest, chat: ChatRequest, admission: Admission) -> _Sent:
        """Send one request; the breaker and the meter learn what came of it."""
        trial_number, reached = request.trial_number, True
        started = time.perf_counter()
        try:
            reply = self.client.complete(chat)
        except InvalidAnswerError as error:
            self._breaker.answered()
            return _Sent(problem=str(error))
        except EndpointUnavailableError as error:
            self._breaker.failed(trial_number, str(error), probe=admission.probe)
            failure, reached = str(error), False
        except ModelRequestError as error:
            self._breaker.answered()
            failure = str(error)
        except OptunaLLMError:
            self._breaker.release(admission)
            raise  # e.g. a strict replay that diverged: meant to stop the study
        except Exception as error:
            # A client of the user's own, or a transport library, failing in a way nobody
            # foresaw: still only the model's failure, never the study's.
            self._breaker.release(admission)
            failure, reached = f"{type(error).__name__}: {redact(str(error))[:200]}", False
        else:
            self._breaker.answered()
            spent = Usage().plus(reply, self._meter.budget)
            self._meter.add(spent, request.ledger)
            return _Sent(reply=reply, usage=spent)
        spent = Usage().plus_failure(time.perf_counter() - started)
        self._meter.add(spent, request.ledger)
        return _Sent(failure=failure, usage=spent, reached=reached)

    def _usable(
        self, text: str, request: ProposalRequest
    ) -> tuple[list[Proposal], Proposal | None, str]:
        """The usable proposals in ``text``, the fullest unusable one, and what was wrong.

        A usable proposal repeats no trial of the view and nothing handed out before, and is
        claimed as handed out.
        """
        try:
            proposals = parse_answers(text, request.specs)
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
            repeated = request.view.repeats(proposal.params)
            if repeated is None and request.ask.spare:
                repeated = self._handed_out.claim(request.trial_number, proposal.params)
            if repeated is not None:
                problems.append(duplicate_error(repeated, proposal.params))
                continue
            usable.append(proposal)
        return usable, partial, "\n".join(problems)

    def _ask_ahead(self, request: ProposalRequest, plan: Mapping[str, Any]) -> None:
        """Ask in the background for the next trial, as if this one ran ``plan``; only when no
        spare proposal waits and no other request ahead is under way."""
        with self._lock:
            if self._ahead or len(self._queue):
                return
            ahead = dataclasses.replace(
                request,
                trial_number=request.trial_number + 1,
                view=request.view.holding(plan),
                seed=None if request.seed is None else (request.seed + 1) % 2**31,
                ask=dataclasses.replace(request.ask, ask_ahead=False),
            )
            thread = threading.Thread(
                target=self._queue_ahead,
                args=(ahead, request.trial_number),
                name=f"optuna-llm-prefetch-{request.trial_number}",
                daemon=True,
            )
            self._ahead[request.trial_number] = thread
        thread.start()

    def _queue_ahead(self, ahead: ProposalRequest, asked_by: int) -> None:
        try:
            answer, spare = self._ask(ahead)
        except Exception as error:
            _logger.debug(f"A request made ahead after trial {asked_by} failed: {error!r}.")
            return
        proposals = spare
        if answer.params and answer.failure is None:
            proposals = [Proposal(answer.params, answer.rationale), *spare]
        elif answer.failure or answer.skipped:
            why = answer.failure or answer.skipped
            _logger.debug(f"A request made ahead after trial {asked_by}: {why}.")
        self._queue.put(
            proposals, finished_at=ahead.view.n_finished, asked_by=asked_by, usage=answer.usage
        )

    def _audit(
        self,
        trial_number: int,
        chat: ChatRequest,
        reply: ChatReply | None = None,
        *,
        error: str | None = None,
        params: Mapping[str, Any] | None = None,
        problem: str | None = None,
        outcome: str,
    ) -> None:
        """Append the exchange to the audit log, if there is one; never fail the trial.

        ``outcome`` is ``used`` (a configuration was taken from the answer), ``partial`` (the
        valid part of a flawed last answer was taken), ``re-ask`` or ``failed``.
        """
        if self._audit_log is None:
            return
        record = exchange_record(
            trial_number=trial_number,
            model=str(getattr(self.client, "model", "")),
            endpoint=str(getattr(self.client, "endpoint", "")),
            request=chat,
            reply=reply,
            error=error,
            params=params,
            problem=problem,
            outcome=outcome,
        )
        try:
            self._audit_log.write(record)
        except OSError as failure:
            _logger.warning(f"Trial {trial_number}: could not write the audit log: {failure!r}.")


@dataclass(frozen=True)
class _Sent:
    """What came of sending one request: a reply, an empty answer worth a re-ask, or a
    failure; what it cost; and whether the endpoint answered at all."""

    reply: ChatReply | None = None
    problem: str | None = None
    failure: str | None = None
    usage: Usage = field(default_factory=Usage)
    reached: bool = True
