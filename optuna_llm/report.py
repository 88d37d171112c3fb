"""A short Markdown analysis of a study, written by the model: what mattered, what failed,
what to try next.

```python
from optuna_llm import report

print(report(study, model="gpt-4o-mini", task="LightGBM on a churn table"))
```

From the shell: ``optuna-llm report --storage sqlite:///studies.db --study churn --model ...``.
"""

from __future__ import annotations

from optuna.study import Study

from optuna_llm._chat import ChatRequest
from optuna_llm._model.client import ClientLike
from optuna_llm._model.client import make_client
from optuna_llm._model.prompt import build_report_messages
from optuna_llm._study.history import select_history
from optuna_llm._study.search_space import infer_specs
from optuna_llm.exceptions import InvalidAnswerError
from optuna_llm.exceptions import ModelRequestError


def report(
    study: Study,
    *,
    model: str | None = None,
    client: ClientLike | None = None,
    base_url: str | None = None,
    task: str = "",
    timeout: float = 300.0,
    max_history_trials: int = 40,
) -> str:
    """Ask the model for a short Markdown report on ``study`` and return it.

    The model sees what the sampler shows it: the task, the objectives, the search space and a
    bounded selection of trials (best, recent, a spread, failed and pruned ones).

    Args:
        study: The study to report on, finished or not.
        model: The model name, as the endpoint knows it. Required unless ``client`` is an
            [`LLMClient`][optuna_llm.LLMClient].
        client: A ready ``openai.OpenAI`` client or an [`LLMClient`][optuna_llm.LLMClient],
            as for [`LLMSampler`][optuna_llm.LLMSampler].
        base_url: The endpoint when no client is given.
        task: What the study optimizes, in a few sentences.
        timeout: Seconds to wait for the report.
        max_history_trials: How many trials the prompt shows at most.

    Returns:
        The model's report, in Markdown.

    Raises:
        ValueError: Neither a model name nor an ``LLMClient`` was given.
        ModelRequestError: No model could be asked, or it gave no report.
    """
    llm = make_client(model=model, client=client, base_url=base_url, timeout=timeout)
    trials = study.get_trials(deepcopy=False)
    messages = build_report_messages(
        task=task,
        directions=study.directions,
        metric_names=study.metric_names,
        specs=infer_specs(trials),
        history=select_history(trials, study.directions, max_history_trials),
    )
    try:
        reply = llm.complete(ChatRequest(messages, schema=None, temperature=0.3))
    except InvalidAnswerError as error:
        raise ModelRequestError(f"the model gave no report: {error}") from error
    return reply.text.strip()
