"""From the model's text to parameter values Optuna accepts.

Pure functions. The model is told the rules, but its answer is only ever data: it is parsed as
JSON, every value is checked against its distribution, and nothing in it is executed. Error
messages are written for the model, since the one re-ask sends them back verbatim.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
import json
import math
import re
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalChoiceType
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_llm._study.search_space import MAX_RATIONALE_CHARS
from optuna_llm._study.search_space import ParamSpec
from optuna_llm._study.search_space import format_value
from optuna_llm.exceptions import InvalidAnswerError


# A JSON object is looked for in this many leading characters, from at most this many braces:
# enough for any honest answer, and a bound on the work a hostile one can cause.
MAX_SCANNED_CHARS = 200_000
MAX_OBJECT_STARTS = 64
# Error messages go back to the model, so they quote at most this much of a bad value.
MAX_QUOTED_VALUE_CHARS = 100

_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.IGNORECASE | re.DOTALL)
_THINK_END = re.compile(r"</think>", re.IGNORECASE)


@dataclass(frozen=True)
class Proposal:
    """What one answer held: valid values, and what was wrong with the rest."""

    params: dict[str, Any]
    rationale: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def error_message(self) -> str:
        """All problems of the answer, one per line, for the re-ask."""
        return "\n".join(f"- {json.dumps(name)}: {error}" for name, error in self.errors.items())


def extract_json_object(text: str) -> dict[str, Any]:
    """Find the first JSON object in a model's text.

    ``<think>`` blocks are dropped, and anything around the object (prose, code fences) is
    ignored.

    Raises:
        InvalidAnswerError: No JSON object was found.
    """
    text = _THINK_BLOCK.sub("", text[:MAX_SCANNED_CHARS])
    # Some servers strip the opening tag and leave only the closing one.
    text = _THINK_END.split(text)[-1]
    decoder = json.JSONDecoder()
    start = text.find("{")
    for _ in range(MAX_OBJECT_STARTS):
        if start < 0:
            break
        try:
            value, _end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            # Not JSON, an integer of too many digits, or nesting too deep for the decoder.
            pass
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    raise InvalidAnswerError(
        'The answer held no JSON object. Answer with one JSON object: {"rationale": "...", '
        '"params": {...}}.'
    )


def parse_answer(text: str, specs: Mapping[str, ParamSpec]) -> Proposal:
    """Parse and validate an answer against the search space.

    Values are clipped into bounds, rounded onto steps and the integer grid, and matched to
    choices exactly or by their string form. A value that cannot be made valid is an error, and
    so is a missing required parameter. Unknown names are ignored.

    Raises:
        InvalidAnswerError: The text held no JSON object, or no parameters at all.
    """
    return _proposal_from(extract_json_object(text), specs)


def parse_answers(text: str, specs: Mapping[str, ParamSpec]) -> list[Proposal]:
    """Parse an answer holding several proposals, ``{"proposals": [...]}``, or just one.

    Items that are not objects, or hold no parameters at all, are left out.

    Raises:
        InvalidAnswerError: The text held no JSON object, or no proposal with parameters.
    """
    answer = extract_json_object(text)
    items = answer.get("proposals")
    if not isinstance(items, list):
        return [_proposal_from(answer, specs)]
    proposals = []
    for item in items[:MAX_OBJECT_STARTS]:
        if isinstance(item, dict):
            with contextlib.suppress(InvalidAnswerError):
                proposals.append(_proposal_from(item, specs))
    if not proposals:
        raise InvalidAnswerError(
            'The "proposals" list held no object with a "params" object mapping parameter '
            "names to values."
        )
    return proposals


def _proposal_from(answer: Mapping[str, Any], specs: Mapping[str, ParamSpec]) -> Proposal:
    raw_params = answer.get("params")
    if not isinstance(raw_params, dict):
        # Some models answer with the configuration itself, without the envelope.
        raw_params = {name: value for name, value in answer.items() if name in specs}
        if not raw_params:
            raise InvalidAnswerError(
                'The answer had no "params" object mapping parameter names to values.'
            )
    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in specs.items():
        if name not in raw_params:
            if spec.required:
                errors[name] = "missing; give a value for it."
            continue
        try:
            params[name] = coerce_value(raw_params[name], spec.distribution)
        except ValueError as error:
            errors[name] = str(error)
    return Proposal(
        params=params,
        rationale=_clean_rationale(answer.get("rationale")),
        errors=errors,
    )


def coerce_value(value: Any, distribution: BaseDistribution) -> Any:
    """Turn one proposed value into a valid value of ``distribution``.

    Raises:
        ValueError: The value cannot be made valid; the message says why.
    """
    if isinstance(distribution, CategoricalDistribution):
        return match_choice(value, distribution.choices)
    number = _as_finite_number(value)
    if isinstance(distribution, FloatDistribution):
        return _on_float_grid(number, distribution)
    if isinstance(distribution, IntDistribution):
        return _on_int_grid(number, distribution)
    raise ValueError(f"unsupported distribution {distribution!r}.")


def match_choice(value: Any, choices: Iterable[CategoricalChoiceType]) -> CategoricalChoiceType:
    """Match a value to one of ``choices``: exactly, as an equal number, or by string form."""
    choices = tuple(choices)
    for choice in choices:
        if type(choice) is type(value) and choice == value:
            return choice
    texts = {value.strip() if isinstance(value, str) else _json_text(value)}
    if _is_number(value):
        numeric = [c for c in choices if _is_number(c) and c == value]
        if len(numeric) == 1:
            return numeric[0]
        # A number copied from the prompt, which shows six significant digits.
        texts.add(format_value(value))
    by_text = [c for c in choices if texts & _text_forms(c)]
    if len(by_text) == 1:
        return by_text[0]
    listed = ", ".join(_json_text(c) for c in choices)
    if len(by_text) > 1:
        raise ValueError(f"{_quoted(value)} matches several choices; pick one of [{listed}].")
    raise ValueError(f"{_quoted(value)} is not one of the choices [{listed}].")


def _as_finite_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {_quoted(value)}.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {_quoted(value)}.") from None
    except OverflowError:  # an int beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {_quoted(value)}.")
    return number


def _on_float_grid(number: float, distribution: FloatDistribution) -> float:
    low, high = distribution.low, distribution.high
    clipped = min(max(number, low), high)
    if distribution.step is None:
        return float(clipped)
    k = round((clipped - low) / distribution.step)
    # Decimal arithmetic keeps grid points clean: 0 + 3 * 0.1 is 0.3, not 0.30000000000000004.
    on_grid = float(Decimal(repr(low)) + k * Decimal(repr(distribution.step)))
    return min(on_grid, high)


def _on_int_grid(number: float, distribution: IntDistribution) -> int:
    low, high, step = distribution.low, distribution.high, distribution.step
    clipped = min(max(number, low), high)
    k = round((clipped - low) / step)
    return int(min(low + k * step, high))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def _quoted(value: Any) -> str:
    """A value as JSON, shortened for an error message."""
    text = _json_text(value)
    if len(text) <= MAX_QUOTED_VALUE_CHARS:
        return text
    return text[: MAX_QUOTED_VALUE_CHARS - 1] + "…"


def _text_forms(choice: CategoricalChoiceType) -> set[str]:
    forms = {str(choice), _json_text(choice), format_value(choice)}
    if choice is None or isinstance(choice, bool):
        forms |= {form.lower() for form in forms} | {form.capitalize() for form in forms}
    return forms


def _clean_rationale(rationale: Any) -> str:
    if not isinstance(rationale, str):
        return ""
    return " ".join(rationale.split())[:MAX_RATIONALE_CHARS]
