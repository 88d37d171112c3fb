from __future__ import annotations

from collections.abc import Sequence
import random
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_llm._chat import Message
from optuna_llm._model.prompt import MAX_ECHOED_ANSWER_CHARS
from optuna_llm._model.prompt import MAX_HISTORY_CHARS
from optuna_llm._model.prompt import MAX_TASK_CHARS
from optuna_llm._model.prompt import SYSTEM_PROMPT
from optuna_llm._model.prompt import _describe_history
from optuna_llm._model.prompt import build_messages
from optuna_llm._model.prompt import reask_messages
from optuna_llm._study.history import HistoryView
from optuna_llm._study.history import TrialRecord
from optuna_llm._study.history import select_history
from optuna_llm._study.search_space import ParamSpec
from optuna_llm._study.search_space import describe_param


MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE

# Ten parameters of every kind, as a neural network's search space might hold.
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "learning_rate": FloatDistribution(1e-5, 1e-1, log=True),
    "weight_decay": FloatDistribution(1e-8, 1e-2, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
    "momentum": FloatDistribution(0.8, 0.999),
    "warmup_fraction": FloatDistribution(0.0, 0.3, step=0.05),
    "n_layers": IntDistribution(1, 12),
    "hidden_units": IntDistribution(32, 1024, log=True),
    "batch_size": IntDistribution(16, 512, step=16),
    "optimizer": CategoricalDistribution(["adam", "adamw", "sgd", "rmsprop"]),
    "activation": CategoricalDistribution(["relu", "gelu", "tanh", None]),
}
SPECS = {
    name: ParamSpec(name, distribution, conditional=name == "momentum")
    for name, distribution in DISTRIBUTIONS.items()
}
TASK = "Train a small transformer on WikiText-2; the objective is validation perplexity."
EMPTY = HistoryView(records=[], counts={"complete": 0, "running": 0, "pruned": 0, "failed": 0})


def _random_params(rng: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, distribution in DISTRIBUTIONS.items():
        if isinstance(distribution, CategoricalDistribution):
            params[name] = rng.choice(distribution.choices)
        elif isinstance(distribution, IntDistribution):
            params[name] = rng.randrange(
                distribution.low, distribution.high + 1, distribution.step
            )
        else:
            assert isinstance(distribution, FloatDistribution)
            params[name] = rng.uniform(distribution.low, distribution.high)
            if distribution.step is not None:
                params[name] = round(
                    round(params[name] / distribution.step) * distribution.step, 9
                )
    return params


def _study_trials(n: int, n_objectives: int = 1, seed: int = 0) -> list[FrozenTrial]:
    """``n`` completed trials, numbered in order, as a study would hold them."""
    rng = random.Random(seed)
    return [
        FrozenTrial(
            number=number,
            trial_id=number,
            state=TrialState.COMPLETE,
            value=None,
            values=[rng.lognormvariate(3, 1) for _ in range(n_objectives)],
            datetime_start=None,
            datetime_complete=None,
            params=_random_params(rng),
            distributions=DISTRIBUTIONS,
            user_attrs={},
            system_attrs={},
            intermediate_values={},
        )
        for number in range(n)
    ]


@pytest.fixture(scope="module")
def big_history() -> HistoryView:
    """The history of a study of 10,000 completed trials, as the sampler selects it."""
    return select_history(_study_trials(10_000), [MIN], max_trials=30)


def _build(
    history: HistoryView = EMPTY,
    *,
    task: str = TASK,
    directions: Sequence[StudyDirection] = (MIN,),
    metric_names: Sequence[str] | None = None,
    specs: dict[str, ParamSpec] = SPECS,
) -> list[Message]:
    return build_messages(
        task=task,
        directions=directions,
        metric_names=metric_names,
        specs=specs,
        history=history,
    )


def _user(messages: list[Message]) -> str:
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def _sections(messages: list[Message]) -> list[str]:
    """The user message's paragraphs."""
    return _user(messages).split("\n\n")


def _history(messages: list[Message]) -> list[str]:
    """The history section's lines: ``History:``, one line per trial, then ``Shown: ...``."""
    (history,) = [s for s in _sections(messages) if s.startswith("History:")]
    lines = history.splitlines()
    assert lines[0] == "History:"
    assert lines[-1].startswith("Shown: ")
    assert not any(line.startswith("Shown: ") for line in lines[1:-1])
    return lines


def _history_lines(messages: list[Message]) -> list[str]:
    """The trial lines of the history."""
    return _history(messages)[1:-1]


def _shown(messages: list[Message]) -> str:
    """The history's final line, which says what the trial lines are a selection of."""
    return _history(messages)[-1]


def _view(*records: TrialRecord, total: int | None = None) -> HistoryView:
    counts = {"complete": 0, "running": 0, "pruned": 0, "failed": 0}
    for record in records:
        counts[record.state] += 1
    if total is not None:
        counts["complete"] += total - len(records)
    return HistoryView(records=list(records), counts=counts)


# --- structure ---------------------------------------------------------------------------


def test_system_prompt_comes_first_and_never_changes(big_history: HistoryView) -> None:
    variants = [
        _build(),
        _build(big_history, task="Something else entirely.", metric_names=["ppl"]),
        _build(directions=[MIN, MAX], specs={"x": ParamSpec("x", FloatDistribution(0, 1))}),
    ]
    for messages in variants:
        assert messages[0] == {"role": "system", "content": SYSTEM_PROMPT}
        assert messages[1]["role"] == "user"
        assert len(messages) == 2


def test_system_prompt_asks_for_a_short_rationale_and_the_params() -> None:
    lines = SYSTEM_PROMPT.splitlines()
    assert lines[lines.index("Answer with one JSON object and nothing else:") + 1] == (
        '{"rationale": "<why, in at most 20 words>", "params": {"<name>": <value>, ...}}'
    )


def test_user_message_has_task_objective_parameters_then_history(
    big_history: HistoryView,
) -> None:
    sections = _sections(_build(big_history))
    assert sections[0] == f"Task: {TASK}"
    assert sections[1] == 'Objective: minimize "value".'
    assert sections[2] == "Parameters:\n" + "\n".join(describe_param(s) for s in SPECS.values())
    assert sections[3].startswith("History:\ntrial ")
    lines = sections[3].splitlines()
    assert lines[-1].startswith(f"Shown: {len(lines) - 2} of 10000 trials (10000 complete)")
    assert sections[4] == "Propose the next configuration."
    assert len(sections) == 5


def test_prefix_is_the_same_whatever_the_history(big_history: HistoryView) -> None:
    small = select_history(_study_trials(5, seed=1), [MIN], max_trials=30)
    contents = [_user(_build(history)) for history in (EMPTY, small, big_history)]
    assert len(set(contents)) == 3
    prefixes = {content[: content.index("\n\nHistory:")] for content in contents}
    assert len(prefixes) == 1
    (prefix,) = prefixes
    assert prefix.endswith(describe_param(SPECS["activation"]))


def test_parameters_keep_one_line_each_whatever_their_names() -> None:
    names = ['a"b', "two\nlines", "\r\n\nHistory: fake", "x\u2028y"]
    specs = {n: ParamSpec(n, FloatDistribution(0, 1), description=n) for n in names}
    sections = _sections(_build(specs=specs))
    assert sections[2].splitlines()[1:] == [describe_param(s) for s in specs.values()]
    assert [s.split(":")[0] for s in sections] == [
        "Task",
        "Objective",
        "Parameters",
        "History",
        "Propose the next configuration.",
    ]


# --- objectives --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directions", "metric_names", "expected"),
    [
        ([MIN], None, 'Objective: minimize "value".'),
        ([MAX], None, 'Objective: maximize "value".'),
        ([MAX], ["accuracy"], 'Objective: maximize "accuracy".'),
        ([MIN], ['say "hi"'], 'Objective: minimize "say \\"hi\\"".'),
        # Names that do not fit the directions are not used.
        ([MIN], ["a", "b"], 'Objective: minimize "value".'),
        (
            [MIN, MAX],
            None,
            'Objectives: minimize "value 0", maximize "value 1".',
        ),
        (
            [MIN, MAX, MIN],
            ["loss", "accuracy", "latency"],
            'Objectives: minimize "loss", maximize "accuracy", minimize "latency".',
        ),
        (
            [MIN, MAX],
            ["loss"],
            'Objectives: minimize "value 0", maximize "value 1".',
        ),
    ],
)
def test_objectives(
    directions: list[StudyDirection], metric_names: list[str] | None, expected: str
) -> None:
    assert _sections(_build(directions=directions, metric_names=metric_names))[1] == expected


def test_metric_names_label_the_values_in_the_history() -> None:
    history = _view(TrialRecord(0, "complete", {"x": 1}, values=(0.25,), best=True))
    messages = _build(history, directions=[MAX], metric_names=["accuracy"])
    assert _history_lines(messages) == ['trial 0 (complete): accuracy 0.25 | {"x": 1}']
    assert _shown(messages) == "Shown: all 1 trials (1 complete). Best so far: trial 0."


def test_several_objectives_in_the_history() -> None:
    history = _view(
        TrialRecord(0, "complete", {"x": 1}, values=(1.0, 2e-7), best=True),
        TrialRecord(1, "complete", {"x": 2}, values=(3.0, 0.5), best=True),
        TrialRecord(2, "complete", {"x": 3}, values=(4.0, 0.1)),
    )
    messages = _build(history, directions=[MIN, MAX], metric_names=["loss", "acc"])
    assert _history_lines(messages) == [
        'trial 0 (complete): loss 1, acc 2e-7 | {"x": 1}',
        'trial 1 (complete): loss 3, acc 0.5 | {"x": 2}',
        'trial 2 (complete): loss 4, acc 0.1 | {"x": 3}',
    ]
    # The Pareto front is named once, after the lines, rather than tagged on them.
    assert _shown(messages) == "Shown: all 3 trials (3 complete). Pareto front: trial 0, trial 1."
    messages = _build(history, directions=[MIN, MAX])
    assert _history_lines(messages)[0] == 'trial 0 (complete): value 0 1, value 1 2e-7 | {"x": 1}'
    assert _shown(messages) == "Shown: all 3 trials (3 complete). Pareto front: trial 0, trial 1."


# --- history -----------------------------------------------------------------------------


def test_empty_history() -> None:
    assert _sections(_build(EMPTY))[3] == "History: no trials yet."


def test_every_kind_of_trial_in_the_history() -> None:
    history = _view(
        TrialRecord(0, "complete", {"opt": "adam", "lr": 1e-7}, values=(0.5,), best=True),
        TrialRecord(1, "pruned", {"opt": "sgd", "lr": 0.01}, last_intermediate=(5, 0.3)),
        TrialRecord(2, "failed", {"opt": None, "lr": 0.1}),
        TrialRecord(3, "running", {"opt": "sgd", "lr": 2e-3}),
        TrialRecord(4, "complete", {"opt": "adam", "lr": 1.0}, values=(2.0,), violation=0.0),
        TrialRecord(5, "complete", {"opt": "adam", "lr": 2.0}, values=(3.0,), violation=1.5),
        TrialRecord(6, "pruned", {"opt": "adam", "lr": 3.0}),
    )
    history_section = _sections(_build(history))[3]
    assert history_section.splitlines() == [
        "History:",
        'trial 0 (complete): value 0.5 | {"opt": "adam", "lr": 1e-7}',
        'trial 1 (pruned): pruned at step 5 with 0.3 | {"opt": "sgd", "lr": 0.01}',
        'trial 2 (failed) | {"opt": null, "lr": 0.1}',
        'trial 3 (running) | {"opt": "sgd", "lr": 0.002}',
        'trial 4 (complete, feasible): value 2 | {"opt": "adam", "lr": 1}',
        'trial 5 (complete, infeasible by 1.5): value 3 | {"opt": "adam", "lr": 2}',
        'trial 6 (pruned) | {"opt": "adam", "lr": 3}',
        "Shown: all 7 trials (3 complete, 1 running, 2 pruned, 1 failed). Best so far: trial 0.",
    ]


def _value(record: TrialRecord) -> float:
    assert record.values is not None
    return record.values[0]


def test_history_says_after_the_lines_when_only_some_trials_are_shown(
    big_history: HistoryView,
) -> None:
    messages = _build(big_history)
    n_shown = len(_history_lines(messages))
    assert 0 < n_shown <= 30
    # The best of the study is among the trials shown, so it is the best of those.
    best = min(big_history.records, key=_value).number
    assert _shown(messages) == (
        f"Shown: {n_shown} of 10000 trials (10000 complete): the best, the most recent, "
        f"a spread of the rest, and those still running. Best so far: trial {best}."
    )


def test_history_of_selected_trials_shows_each_once(big_history: HistoryView) -> None:
    lines = _history_lines(_build(big_history))
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == sorted(set(numbers))
    assert numbers == [record.number for record in big_history.records]
    # No line is tagged: the best is named only in the final line.
    assert all(
        line.startswith(f"trial {n} (complete): value ")
        for n, line in zip(numbers, lines, strict=True)
    )


def test_long_history_drops_the_oldest_trials_but_keeps_the_best() -> None:
    long_params = {f"parameter_{i}": "some long categorical value" for i in range(8)}
    records = [
        TrialRecord(i, "complete", long_params, values=(float(i),), best=i == 0)
        for i in range(100)
    ]
    lines = _history_lines(_build(_view(*records)))
    numbers = [int(line.split()[1]) for line in lines]
    assert len("\n".join(lines)) <= MAX_HISTORY_CHARS
    assert 0 < len(lines) < 100
    # The best stays; of the others, the most recent ones stay.
    assert numbers == [0, *range(100 - len(lines) + 1, 100)]
    assert _shown(_build(_view(*records))) == (
        f"Shown: {len(lines)} of 100 trials (100 complete): the best, the most recent, "
        "a spread of the rest, and those still running. Best so far: trial 0."
    )


# --- prompt caching ----------------------------------------------------------------------


def _finished_trial(number: int, values: list[float]) -> FrozenTrial:
    return FrozenTrial(
        number=number,
        trial_id=number,
        state=TrialState.COMPLETE,
        value=None,
        values=values,
        datetime_start=None,
        datetime_complete=None,
        params=_random_params(random.Random(number)),
        distributions=DISTRIBUTIONS,
        user_attrs={},
        system_attrs={},
        intermediate_values={},
    )


@pytest.mark.parametrize(
    ("n_objectives", "new_value", "new_best"),
    [
        (1, 0.0, "Best so far: trial 8."),
        (1, 1e9, None),
        (2, 0.0, "Pareto front: trial 8."),
        (2, 1e9, None),
    ],
    ids=["new best", "not best", "new Pareto front", "dominated"],
)
def test_a_finished_trial_only_extends_the_common_prefix(
    n_objectives: int, new_value: float, new_best: str | None
) -> None:
    """What changes from trial to trial comes after the trial lines, for prompt caching."""
    directions = [MIN] * n_objectives
    before = _study_trials(8, n_objectives=n_objectives, seed=2)
    after = [*before, _finished_trial(8, [new_value] * n_objectives)]
    first, second = (
        _build(select_history(trials, directions, max_trials=30), directions=directions)
        for trials in (before, after)
    )
    first_lines, second_lines = _history_lines(first), _history_lines(second)
    assert len(first_lines) == 8
    assert second_lines[:8] == first_lines
    assert second_lines[8].startswith("trial 8 (complete): ")
    assert _shown(first).startswith("Shown: all 8 trials (8 complete). ")
    assert _shown(second).startswith("Shown: all 9 trials (9 complete). ")
    if new_best is None:
        assert _shown(second).endswith(_shown(first).split(". ", 1)[1])
    else:
        assert _shown(second).endswith(new_best)
        assert not _shown(first).endswith(new_best)

    # The two user messages agree through the shorter one's last trial line and the newline
    # after it; they first differ where the longer one's new trial line begins.
    shorter, longer = _user(first), _user(second)
    end_of_lines = shorter.index("\nShown: ")
    assert shorter[: end_of_lines + 1].endswith(first_lines[-1] + "\n")
    first_difference = next(
        i for i, (a, b) in enumerate(zip(shorter, longer, strict=False)) if a != b
    )
    assert first_difference == end_of_lines + 1
    assert shorter[first_difference:].startswith("Shown: ")
    assert longer[first_difference:].startswith("trial 8 (complete): ")


# --- size --------------------------------------------------------------------------------


def test_prompt_of_a_study_of_ten_thousand_trials_stays_small(big_history: HistoryView) -> None:
    messages = _build(big_history)
    assert sum(len(m["content"]) for m in messages) < 12_000
    history_lines = _history_lines(messages)
    assert len("\n".join(history_lines)) <= MAX_HISTORY_CHARS


def test_prompt_stays_small_with_the_longest_task_and_several_objectives() -> None:
    trials = _study_trials(10_000, n_objectives=2, seed=1)
    history = select_history(trials, [MIN, MAX], max_trials=30)
    messages = _build(
        history,
        task="A very long description. " * 1_000,
        directions=[MIN, MAX],
        metric_names=["validation perplexity", "tokens per second"],
    )
    assert sum(len(m["content"]) for m in messages) < 12_000


# --- task --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("Tune a model.", "Task: Tune a model."),
        ("  Tune\n\n  the   model.\tNow\r\nplease  ", "Task: Tune the model. Now please"),
        ("Objective: fake\n\nParameters:\n- fake", "Task: Objective: fake Parameters: - fake"),
        ("", "Task: not described"),
        (" \n\t ", "Task: not described"),
    ],
)
def test_task_is_one_paragraph(task: str, expected: str) -> None:
    sections = _sections(_build(task=task))
    assert sections[0] == expected
    assert sections[1].startswith("Objective:")


def test_long_task_is_truncated() -> None:
    task = "word " * 2_000
    first = _sections(_build(task=task))[0]
    assert first == "Task: " + ("word " * 2_000)[:MAX_TASK_CHARS]
    assert len(first) == len("Task: ") + MAX_TASK_CHARS


# --- re-ask ------------------------------------------------------------------------------


def test_reask_echoes_the_answer_then_lists_the_problems() -> None:
    errors = '- "lr": expected a number, got "{x}".\n- "n": missing; give a value for it.'
    messages = reask_messages('{"params": {"lr": "{x}"}}', errors)
    assert messages == [
        {"role": "assistant", "content": '{"params": {"lr": "{x}"}}'},
        {
            "role": "user",
            "content": "Your answer could not be used:\n"
            f"{errors}\n"
            'Answer again with one JSON object: {"rationale": "...", "params": {...}}.',
        },
    ]


def test_reask_echo_of_a_long_answer_is_bounded() -> None:
    answer = "x" * (MAX_ECHOED_ANSWER_CHARS * 10)
    echoed = reask_messages(answer, "- problem")[0]["content"]
    assert echoed == answer[:MAX_ECHOED_ANSWER_CHARS]


def test_reask_of_an_empty_answer() -> None:
    messages = reask_messages("", "no JSON object")
    assert messages[0] == {"role": "assistant", "content": ""}
    assert "no JSON object" in messages[1]["content"]


def test_failed_trial_shows_the_reason_its_objective_recorded() -> None:
    study = optuna.create_study()

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 0:
            trial.set_user_attr("fail_reason", "loss became NaN\nat epoch 3")
            raise RuntimeError("diverged")
        return x

    study.optimize(objective, n_trials=2, catch=(RuntimeError,))
    history = select_history(study.trials, study.directions, 30)
    text = _describe_history(history, ["value"])
    assert 'trial 0 (failed): failed with "loss became NaN at epoch 3" | {"x": ' in text
    assert "trial 1 (complete): value" in text
