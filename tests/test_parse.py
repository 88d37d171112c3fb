from __future__ import annotations

from collections.abc import Callable
import json
import random
import time
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalChoiceType
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
import pytest

from optuna_llm._model.parse import MAX_OBJECT_STARTS
from optuna_llm._model.parse import MAX_SCANNED_CHARS
from optuna_llm._model.parse import Proposal
from optuna_llm._model.parse import coerce_value
from optuna_llm._model.parse import extract_json_object
from optuna_llm._model.parse import match_choice
from optuna_llm._model.parse import parse_answer
from optuna_llm._model.parse import parse_answers
from optuna_llm._study.search_space import MAX_RATIONALE_CHARS
from optuna_llm._study.search_space import ParamSpec
from optuna_llm._study.search_space import describe_distribution
from optuna_llm.exceptions import InvalidAnswerError


SPECS = {
    "lr": ParamSpec("lr", FloatDistribution(1e-5, 1e-1, log=True)),
    "dropout": ParamSpec("dropout", FloatDistribution(0.0, 0.5, step=0.1)),
    "units": ParamSpec("units", IntDistribution(16, 256, step=16)),
    "layers": ParamSpec("layers", IntDistribution(1, 8)),
    "batch": ParamSpec("batch", IntDistribution(8, 1024, log=True)),
    "optimizer": ParamSpec("optimizer", CategoricalDistribution(["adam", "sgd", "rmsprop"])),
    "momentum": ParamSpec(
        "momentum", FloatDistribution(0.0, 1.0), conditional=True, required=False
    ),
}
VALID = {
    "lr": 0.001,
    "dropout": 0.2,
    "units": 64,
    "layers": 3,
    "batch": 128,
    "optimizer": "adam",
    "momentum": 0.9,
}


def _answer(rationale: Any = "because", **overrides: Any) -> str:
    """A JSON answer with the valid params, some replaced; ``...`` removes one."""
    params = {**VALID, **overrides}
    return json.dumps(
        {"rationale": rationale, "params": {k: v for k, v in params.items() if v is not ...}}
    )


def _parse_one(name: str, raw: str) -> Proposal:
    """Parse an answer whose ``name`` is the raw JSON text ``raw``."""
    others = ", ".join(f'"{k}": {json.dumps(v)}' for k, v in VALID.items() if k != name)
    return parse_answer(f'{{"params": {{{others}, "{name}": {raw}}}}}', SPECS)


def _assert_valid(value: Any, distribution: BaseDistribution) -> None:
    """``value`` is what Optuna itself would accept for ``distribution``."""
    if isinstance(distribution, FloatDistribution):
        assert type(value) is float
    elif isinstance(distribution, IntDistribution):
        assert type(value) is int
    assert distribution._contains(distribution.to_internal_repr(value))


# --- extract_json_object -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('  \n{"a": 1}\n', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('```\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here it is: {"a": 1} Hope this helps.', {"a": 1}),
        ('<think>maybe {"a": 0}</think>{"a": 1}', {"a": 1}),
        ('<THINK>\nmaybe\n{"a": 0}\n</Think>\n```json\n{"a": 1}\n```', {"a": 1}),
        ('<think>{"a": 0}</think> x <think>{"a": 2}</think> {"a": 1}', {"a": 1}),
        # A closing tag without its opening one: the reasoning before it is dropped.
        ('reasoning {"a": 0} </think> {"a": 1}', {"a": 1}),
        ('{"a": 1} {"a": 2}', {"a": 1}),
        ('{"a": 1}\n```json\n{"a": 2}\n```', {"a": 1}),
        ('Use {x} and {"y"}: {"a": 1}', {"a": 1}),
        ('[{"a": 1}, {"a": 2}]', {"a": 1}),
        ('{"params": {"a": 1}}', {"params": {"a": 1}}),
        (
            '{"r": "keep {curly} and } braces", "p": {}}',
            {"r": "keep {curly} and } braces", "p": {}},
        ),
        ('{"name": "\\u00e9t\\u00e9 \\"q\\""}', {"name": 'été "q"'}),
        ("{}", {}),
    ],
)
def test_extract_json_object(text: str, expected: dict[str, Any]) -> None:
    assert extract_json_object(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no json here",
        "[1, 2, 3]",
        '"just a string"',
        "42",
        "{not json}",
        "{'a': 1}",
        '{"a": 1',
        '<think>{"a": 1}',
        '<think>reasoning</think><think>{"a": 1}',
        '<think>{"a": 1}</think> no answer after all',
        '{"a": 1} </think> nothing after the reasoning',
    ],
)
def test_extract_json_object_without_object(text: str) -> None:
    with pytest.raises(InvalidAnswerError, match="no JSON object") as info:
        extract_json_object(text)
    assert info.value.retryable


def test_object_beyond_the_scanned_prefix_is_not_found() -> None:
    answer = '{"a": 1}'
    assert extract_json_object(" " * (MAX_SCANNED_CHARS - len(answer)) + answer) == {"a": 1}
    with pytest.raises(InvalidAnswerError):
        extract_json_object(" " * MAX_SCANNED_CHARS + answer)


def test_object_after_too_many_failed_starts_is_not_found() -> None:
    answer = '{"a": 1}'
    assert extract_json_object("{x} " * (MAX_OBJECT_STARTS - 1) + answer) == {"a": 1}
    with pytest.raises(InvalidAnswerError):
        extract_json_object("{x} " * MAX_OBJECT_STARTS + answer)


# --- parse_answer: numbers ---------------------------------------------------------------


def test_valid_answer_is_returned_unchanged() -> None:
    proposal = parse_answer(_answer(), SPECS)
    assert proposal == Proposal(params=VALID, rationale="because", errors={})
    assert proposal.error_message() == ""


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        # Clipped into bounds.
        ("lr", 10.0, 0.1),
        ("lr", 1e-9, 1e-5),
        ("lr", -1.0, 1e-5),
        ("dropout", 0.9, 0.5),
        ("dropout", -3, 0.0),
        ("layers", 100, 8),
        ("layers", -5, 1),
        ("units", 10_000, 256),
        ("batch", 0, 8),
        ("batch", 4096, 1024),
        ("momentum", 1.5, 1.0),
        # Rounded onto the float step.
        ("dropout", 0.26, 0.3),
        ("dropout", 0.04, 0.0),
        ("dropout", 0.31, 0.3),
        ("dropout", 0.7, 0.5),
        # Rounded onto the int step.
        ("units", 30, 32),
        ("units", 41, 48),
        ("units", 250, 256),
        ("units", 17.9, 16),
        # Rounded onto the integer grid, log scale included.
        ("layers", 3.4, 3),
        ("layers", 3.6, 4),
        ("layers", 5.0, 5),
        ("batch", 100.4, 100),
        ("batch", 1000.7, 1001),
        # Numbers given as strings.
        ("lr", "0.01", 0.01),
        ("lr", " 1e-3 ", 0.001),
        ("layers", "5", 5),
        ("units", "64.0", 64),
    ],
)
def test_numbers_are_clipped_and_rounded(name: str, raw: Any, expected: float) -> None:
    proposal = parse_answer(_answer(**{name: raw}), SPECS)
    assert proposal.errors == {}
    value = proposal.params[name]
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    _assert_valid(value, SPECS[name].distribution)


def test_float_step_values_are_clean_grid_points() -> None:
    distribution = FloatDistribution(0.0, 1.0, step=0.1)
    assert [coerce_value(k / 10 + 0.01, distribution) for k in range(11)] == [
        0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("distribution", "raw", "expected"),
    [
        (FloatDistribution(0.05, 0.95, step=0.1), 0.52, 0.55),
        (FloatDistribution(0.05, 0.95, step=0.1), 0.0, 0.05),
        (FloatDistribution(-1.0, 1.0, step=0.25), -0.3, -0.25),
        (IntDistribution(1, 10, step=3), 6, 7),
        (IntDistribution(1, 10, step=3), 9.4, 10),
        (IntDistribution(-10, 10, step=5), -3, -5),
        (IntDistribution(1, 1 << 20, log=True), 12345.6, 12346),
    ],
)
def test_grids_that_do_not_start_at_zero(
    distribution: BaseDistribution, raw: float, expected: float
) -> None:
    value = coerce_value(raw, distribution)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    _assert_valid(value, distribution)


DISTRIBUTIONS: list[BaseDistribution] = [
    FloatDistribution(0.0, 1.0),
    FloatDistribution(-3.0, 7.5),
    FloatDistribution(1e-8, 1e-2, log=True),
    FloatDistribution(0.0, 1.0, step=0.1),
    FloatDistribution(0.05, 0.95, step=0.1),
    FloatDistribution(-2.0, 2.0, step=0.25),
    FloatDistribution(0.0, 1.0, step=1e-3),
    IntDistribution(0, 10),
    IntDistribution(-100, 96, step=7),
    IntDistribution(1, 4096, log=True),
    IntDistribution(16, 256, step=16),
]


@pytest.mark.parametrize("distribution", DISTRIBUTIONS, ids=describe_distribution)
def test_coerced_numbers_are_plain_and_accepted_by_optuna(distribution: BaseDistribution) -> None:
    assert isinstance(distribution, FloatDistribution | IntDistribution)
    rng = random.Random(0)
    span = distribution.high - distribution.low
    for _ in range(500):
        raw: Any = distribution.low + span * rng.uniform(-0.5, 1.5)
        if rng.random() < 0.2:
            raw = round(raw)
        if rng.random() < 0.2:
            raw = repr(raw)
        _assert_valid(coerce_value(raw, distribution), distribution)


@pytest.mark.parametrize(
    "raw", ["NaN", "Infinity", "-Infinity", "1e999", '"nan"', '"inf"', '"-Infinity"']
)
@pytest.mark.parametrize("name", ["lr", "layers", "dropout"])
def test_non_finite_numbers_are_rejected(name: str, raw: str) -> None:
    proposal = _parse_one(name, raw)
    assert name not in proposal.params
    assert "finite" in proposal.errors[name]


@pytest.mark.parametrize(
    "raw", ["true", "false", "null", "[0.01]", '{"value": 0.01}', '"abc"', '""', '"0x10"']
)
@pytest.mark.parametrize("name", ["lr", "layers"])
def test_values_of_the_wrong_type_are_rejected(name: str, raw: str) -> None:
    proposal = _parse_one(name, raw)
    assert name not in proposal.params
    assert proposal.errors[name].startswith("expected a number, got ")
    assert json.dumps(json.loads(raw)) in proposal.errors[name]
    # The other parameters are still usable.
    assert set(proposal.params) == set(VALID) - {name}


def test_integer_too_large_for_a_float_is_an_error_not_a_crash() -> None:
    for name in ("lr", "layers"):
        proposal = _parse_one(name, "9" * 400)
        assert name not in proposal.params
        assert name in proposal.errors


# --- parse_answer: choices ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "raw", "expected"),
    [
        (["adam", "sgd"], "sgd", "sgd"),
        (["adam", "sgd"], " sgd\n", "sgd"),
        (["adam", "sgd"], '"sgd"', "sgd"),
        ([1, 2, 4], 2, 2),
        ([1, 2, 4], 2.0, 2),
        ([1, 2, 4], "4", 4),
        ([0.5, 1.0], 1, 1.0),
        ([0.5, 1.0], "0.5", 0.5),
        ([1e-7, 1e-3], "1e-07", 1e-7),
        ([True, False], True, True),
        ([True, False], False, False),
        ([True, False], "true", True),
        ([True, False], "True", True),
        ([True, False], "false", False),
        ([None, "auto"], None, None),
        ([None, "auto"], "null", None),
        ([None, "auto"], "None", None),
        ([None, "auto"], "none", None),
        ([None, "auto"], "auto", "auto"),
        ([None, "none"], "none", "none"),
        ([None, "None"], "null", None),
        ([1, True], 1, 1),
        ([1, True], True, True),
        ([1, True], "1", 1),
        ([1, True], "true", True),
        ([1, "1"], 1, 1),
        ([1, "1"], "1", "1"),
        ([0, False, None, ""], 0, 0),
        ([0, False, None, ""], False, False),
        ([0, False, None, ""], None, None),
        ([0, False, None, ""], "", ""),
        ([None, "relu", 3, 0.5, True], 3.0, 3),
    ],
)
def test_choices_match_exactly_or_by_string_form(
    choices: list[CategoricalChoiceType], raw: Any, expected: CategoricalChoiceType
) -> None:
    value = match_choice(raw, choices)
    assert value == expected
    assert type(value) is type(expected)
    distribution = CategoricalDistribution(choices)
    coerced = coerce_value(raw, distribution)
    assert coerced == expected
    assert type(coerced) is type(expected)
    assert distribution._contains(distribution.to_internal_repr(coerced))


@pytest.mark.parametrize(
    ("choices", "raw"),
    [
        (["adam", "sgd"], "Adam"),
        (["adam", "sgd"], "nadam"),
        (["adam", "sgd"], None),
        (["adam", "sgd"], ["adam"]),
        (["adam", "sgd"], {"name": "adam"}),
        ([1, 2, 4], 3),
        ([1, 2, 4], "2.0"),
        ([1, 2, 4], True),
        ([True, False], 1),
        ([True, False], 0),
        ([True, False], "TRUE"),
        ([True, False], "yes"),
        ([0.5, 1.0], 0.50001),
        ([None, "auto"], ""),
    ],
)
def test_values_matching_no_choice_are_rejected(
    choices: list[CategoricalChoiceType], raw: Any
) -> None:
    with pytest.raises(ValueError, match="is not one of the choices") as info:
        match_choice(raw, choices)
    # The message lists every choice as JSON, for the model to pick from.
    assert ", ".join(json.dumps(choice) for choice in choices) in str(info.value)


@pytest.mark.parametrize(
    ("choices", "raw"),
    [
        (["True", True], " True "),
        ([1, "1"], " 1"),
        ([1.5, "1.5"], "1.5 "),
        ([None, "None"], "None "),
    ],
)
def test_values_matching_several_choices_are_ambiguous(
    choices: list[CategoricalChoiceType], raw: Any
) -> None:
    with pytest.raises(ValueError, match="matches several choices"):
        match_choice(raw, choices)


@pytest.mark.parametrize(
    "choices",
    [
        ["adam", "sgd", 'quo"te', "new\nline"],
        [1, 2, 4, -8, 10**12],
        [1e-7, 0.1, 0.5, 1.0, 2.5e8],
        [0.001, 0.0031622776601683794, 0.01],
        [0.1234567, 7654321.5],
        [True, False, None],
        [None, "relu", 3, 0.5, True],
    ],
)
def test_choices_as_the_prompt_shows_them_are_accepted(
    choices: list[CategoricalChoiceType],
) -> None:
    # The model copies choices from the prompt's one-line description, where numbers have six
    # significant digits; every choice must be accepted in that form.
    shown = describe_distribution(CategoricalDistribution(choices))
    assert shown.startswith("one of [")
    values = json.loads(shown.removeprefix("one of "))
    assert len(values) == len(choices)
    for value, choice in zip(values, choices, strict=True):
        matched = match_choice(value, choices)
        assert matched == choice
        assert type(matched) is type(choice)


def test_categorical_error_in_an_answer() -> None:
    proposal = parse_answer(_answer(optimizer="nadam"), SPECS)
    assert "optimizer" not in proposal.params
    assert proposal.errors == {
        "optimizer": '"nadam" is not one of the choices ["adam", "sgd", "rmsprop"].'
    }


# --- parse_answer: the answer as a whole -------------------------------------------------


def test_missing_required_parameter_is_an_error() -> None:
    proposal = parse_answer(_answer(layers=..., optimizer=...), SPECS)
    assert proposal.errors == {
        "layers": "missing; give a value for it.",
        "optimizer": "missing; give a value for it.",
    }
    assert set(proposal.params) == set(VALID) - {"layers", "optimizer"}
    lines = proposal.error_message().splitlines()
    assert lines == [
        '- "layers": missing; give a value for it.',
        '- "optimizer": missing; give a value for it.',
    ]


def test_missing_conditional_or_optional_parameter_is_not_an_error() -> None:
    specs = {
        **SPECS,
        "fresh": ParamSpec("fresh", IntDistribution(0, 5), required=False),
    }
    proposal = parse_answer(_answer(momentum=...), specs)
    assert proposal.errors == {}
    assert proposal.params == {k: v for k, v in VALID.items() if k != "momentum"}


def test_empty_params_object_reports_every_required_parameter() -> None:
    proposal = parse_answer('{"rationale": "hm", "params": {}}', SPECS)
    assert proposal.params == {}
    assert set(proposal.errors) == {name for name, spec in SPECS.items() if spec.required}


def test_unknown_keys_are_ignored() -> None:
    proposal = parse_answer(_answer(extra=1, another="x"), SPECS)
    assert proposal.errors == {}
    assert proposal.params == VALID


def test_answer_without_params_envelope_is_accepted() -> None:
    text = json.dumps({**VALID, "rationale": "flat", "comment": "ignored"})
    proposal = parse_answer(text, SPECS)
    assert proposal.params == VALID
    assert proposal.rationale == "flat"
    assert proposal.errors == {}


def test_params_that_are_not_an_object_fall_back_to_the_flat_answer() -> None:
    proposal = parse_answer(json.dumps({"params": "see below", **VALID}), SPECS)
    assert proposal.params == VALID


@pytest.mark.parametrize(
    "text",
    ['{"rationale": "nothing"}', '{"params": [1, 2]}', '{"params": null, "other": 1}', "{}"],
)
def test_answer_without_any_parameter_is_invalid(text: str) -> None:
    with pytest.raises(InvalidAnswerError, match='no "params" object'):
        parse_answer(text, SPECS)


def test_answer_without_json_is_invalid() -> None:
    with pytest.raises(InvalidAnswerError, match="no JSON object"):
        parse_answer("I would try a learning rate of 0.01.", SPECS)


def test_answer_in_prose_and_think_block() -> None:
    text = (
        '<think>The best trial used lr 0.1; {"params": {"lr": 0.1}}</think>\n'
        f"Here you go:\n```json\n{_answer(lr=0.002)}\n```\nGood luck!"
    )
    assert parse_answer(text, SPECS).params == {**VALID, "lr": 0.002}


@pytest.mark.parametrize(
    ("rationale", "expected"),
    [
        ("  Lower the\n\tlearning  rate. ", "Lower the learning rate."),
        ("", ""),
        (None, ""),
        (42, ""),
        (["a", "b"], ""),
        ("word " * 400, ("word " * 400)[:MAX_RATIONALE_CHARS]),
    ],
)
def test_rationale_is_one_line_and_bounded(rationale: Any, expected: str) -> None:
    proposal = parse_answer(_answer(rationale=rationale), SPECS)
    assert proposal.rationale == expected
    assert len(proposal.rationale) <= MAX_RATIONALE_CHARS


def test_missing_rationale_is_empty() -> None:
    assert parse_answer(json.dumps({"params": VALID}), SPECS).rationale == ""


def test_returned_values_are_plain_python_and_accepted_by_optuna() -> None:
    text = _answer(lr="0.0123", dropout=0.33, units=100.0, layers=2.7, batch=300.2)
    proposal = parse_answer(text, SPECS)
    assert proposal.errors == {}
    for name, value in proposal.params.items():
        assert type(value).__module__ == "builtins"
        _assert_valid(value, SPECS[name].distribution)


def test_error_message_quotes_names() -> None:
    name = 'a"b\nc'
    specs = {
        name: ParamSpec(name, IntDistribution(0, 3)),
        "other": ParamSpec("other", IntDistribution(0, 3)),
    }
    proposal = parse_answer('{"params": {"other": 1}}', specs)
    assert proposal.error_message() == '- "a\\"b\\nc": missing; give a value for it.'


# --- hostile input -----------------------------------------------------------------------


HUGE = 4_000_000  # characters: several megabytes of text

HOSTILE_TEXTS: dict[str, Callable[[], str]] = {
    "prose before the answer": lambda: "x" * HUGE + _answer(),
    "open braces": lambda: "{" * HUGE,
    "open quotes": lambda: '{"' * (HUGE // 2),
    "keys without values": lambda: '{"a": ' * (HUGE // 6),
    "deep arrays": lambda: '{"params": ' + "[" * HUGE,
    "deep arrays closed": lambda: '{"params": ' + "[" * 500_000 + "]" * 500_000 + "}",
    "deep objects": lambda: '{"a":' * 100_000 + "1" + "}" * 100_000,
    "integer of many digits": lambda: '{"params": {"layers": ' + "9" * HUGE + "}}",
    "integer beyond the digit limit": lambda: '{"params": {"layers": ' + "9" * 5000 + "}}",
    "unclosed think": lambda: "<think>" + "hmm " * (HUGE // 4) + _answer(),
    "many think tags": lambda: "<think></think>" * (HUGE // 15) + _answer(),
    "unterminated string": lambda: '{"params": {"optimizer": "' + "a" * HUGE,
}


@pytest.mark.parametrize("label", HOSTILE_TEXTS)
def test_huge_hostile_input_fails_quickly_and_cleanly(label: str) -> None:
    text = HOSTILE_TEXTS[label]()
    start = time.perf_counter()
    with pytest.raises(InvalidAnswerError):
        parse_answer(text, SPECS)
    assert time.perf_counter() - start < 2.0


def test_answer_followed_by_megabytes_of_junk_is_parsed_quickly() -> None:
    text = _answer() + "}" * HUGE
    start = time.perf_counter()
    proposal = parse_answer(text, SPECS)
    assert time.perf_counter() - start < 2.0
    assert proposal.params == VALID


@pytest.mark.parametrize(
    ("name", "value"),
    [("optimizer", "z" * 100_000), ("lr", "z" * 100_000), ("lr", ["z" * 1_000] * 100)],
)
def test_errors_about_huge_values_stay_short(name: str, value: Any) -> None:
    # Errors are sent back to the model verbatim, so they must not echo a huge value.
    proposal = parse_answer(_answer(**{name: value}), SPECS)
    assert name in proposal.errors
    assert len(proposal.error_message()) < 1_000


def test_parse_answers_reads_every_proposal_of_a_batch() -> None:
    specs = {"x": ParamSpec("x", FloatDistribution(0, 1))}
    text = json.dumps(
        {
            "proposals": [
                {"rationale": "a", "params": {"x": 0.1}},
                "not an object",
                {"rationale": "no params"},
                {"rationale": "b", "params": {"x": 7}},
            ]
        }
    )
    proposals = parse_answers(text, specs)
    assert [(p.params, p.rationale) for p in proposals] == [({"x": 0.1}, "a"), ({"x": 1.0}, "b")]


def test_parse_answers_takes_a_single_answer_as_a_batch_of_one() -> None:
    specs = {"x": ParamSpec("x", FloatDistribution(0, 1))}
    assert [p.params for p in parse_answers('{"params": {"x": 0.5}}', specs)] == [{"x": 0.5}]


@pytest.mark.parametrize("text", ['{"proposals": []}', '{"proposals": [{"rationale": "r"}]}'])
def test_parse_answers_without_any_proposal_is_an_error(text: str) -> None:
    specs = {"x": ParamSpec("x", FloatDistribution(0, 1))}
    with pytest.raises(InvalidAnswerError, match="proposals"):
        parse_answers(text, specs)
