"""Optuna distributions as the model sees them: one line of text each, and a JSON schema.

Pure functions. Parameter names, string choices and descriptions are written as JSON string
literals (see :func:`quote`) wherever they are put into text, so none can break the structure of
a prompt.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
import json
import math
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of the search space, with what the prompt says about it."""

    name: str
    distribution: BaseDistribution
    conditional: bool = False
    description: str | None = None
    required: bool = True


MAX_DESCRIPTION_CHARS = 200
# Long enough for one sentence; a grammar-constrained local model cannot ramble past it.
MAX_RATIONALE_CHARS = 160


def quote(text: str) -> str:
    """``text`` as a JSON string literal that stays on one line and keeps non-ASCII readable."""
    return json.dumps(text, ensure_ascii=False).translate(_LINE_BREAK_ESCAPES)


# Line breaks that json.dumps leaves unescaped once non-ASCII is kept as it is.
_LINE_BREAK_ESCAPES = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}


def format_number(value: float) -> str:
    """Format a number with about six significant digits.

    Scientific notation is used below 1e-4 and from 1e6 on, so values such as ``1e-07`` or
    ``123456789`` survive, where fixed decimals would round them away.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def format_value(value: Any) -> str:
    """Format a parameter value as a JSON literal with compact numbers."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, bool | int | float):
        text = format_number(value)
        return text if text not in ("nan", "inf", "-inf") else quote(text)
    return quote(str(value))


def format_params(params: Mapping[str, Any]) -> str:
    """Format parameters as a compact JSON object, keys in the order given."""
    items = ", ".join(f"{quote(name)}: {format_value(v)}" for name, v in params.items())
    return "{" + items + "}"


def describe_distribution(distribution: BaseDistribution) -> str:
    """Describe a distribution in a few words: type, bounds, log scale, step or choices."""
    if isinstance(distribution, FloatDistribution | IntDistribution):
        kind = "float" if isinstance(distribution, FloatDistribution) else "int"
        low, high = format_number(distribution.low), format_number(distribution.high)
        text = f"{kind} in [{low}, {high}]"
        if distribution.log:
            text += ", log scale"
        if distribution.step is not None and not (kind == "int" and distribution.step == 1):
            text += f", step {format_number(distribution.step)}"
        return text
    if isinstance(distribution, CategoricalDistribution):
        choices = ", ".join(format_value(choice) for choice in distribution.choices)
        return f"one of [{choices}]"
    raise TypeError(f"Unsupported distribution {distribution!r}.")


def describe_param(spec: ParamSpec) -> str:
    """One line of the prompt's parameter list."""
    line = f"- {quote(spec.name)}: {describe_distribution(spec.distribution)}"
    if spec.conditional:
        line += " (conditional: only some trials use it)"
    if spec.description:
        description = " ".join(spec.description.split())[:MAX_DESCRIPTION_CHARS]
        line += f". {quote(description)[1:-1]}"
    return line


def infer_specs(
    trials: Iterable[FrozenTrial],
    known: Mapping[str, BaseDistribution] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> dict[str, ParamSpec]:
    """The union of every parameter the trials used, each with its latest distribution.

    ``trials`` come in trial order, as Optuna returns them.

    A parameter is conditional when some completed trials used it and others did not, and
    required (an answer must give it) when every completed trial used it. ``known``
    adds parameters declared before any trial used them; single-valued distributions are left
    out, as Optuna never asks a sampler for them. Names come out sorted.
    """
    distributions: dict[str, BaseDistribution] = {}
    counts: dict[str, int] = {}
    n_complete = 0
    for trial in trials:
        distributions.update(trial.distributions)
        if trial.state == TrialState.COMPLETE and trial.distributions:
            n_complete += 1
            for name in trial.distributions:
                counts[name] = counts.get(name, 0) + 1
    for name, distribution in (known or {}).items():
        distributions.setdefault(name, distribution)
    descriptions = descriptions or {}
    return {
        name: ParamSpec(
            name=name,
            distribution=distribution,
            conditional=0 < counts.get(name, 0) < n_complete,
            description=descriptions.get(name),
            required=counts.get(name, 0) == n_complete > 0,
        )
        for name, distribution in sorted(distributions.items())
        if not distribution.single()
    }


def answer_schema(specs: Mapping[str, ParamSpec], batch_size: int = 1) -> dict[str, Any]:
    """JSON schema of an answer: ``{"rationale": str, "params": {name: value}}``.

    With ``batch_size`` above one, the answer is ``{"proposals": [...]}`` holding up to that
    many such objects. Only required parameters are required by the schema: a conditional one
    may be left out, and so may one no completed trial has used yet, whose role the study has
    not shown.
    """
    properties = {name: _value_schema(spec.distribution) for name, spec in specs.items()}
    required = [name for name, spec in specs.items() if spec.required]
    proposal = {
        "type": "object",
        "properties": {
            "rationale": {"type": "string", "maxLength": MAX_RATIONALE_CHARS},
            "params": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
        "required": ["rationale", "params"],
        "additionalProperties": False,
    }
    if batch_size == 1:
        return proposal
    return {
        "type": "object",
        "properties": {
            "proposals": {
                "type": "array",
                "items": proposal,
                "minItems": 1,
                "maxItems": batch_size,
            }
        },
        "required": ["proposals"],
        "additionalProperties": False,
    }


def _value_schema(distribution: BaseDistribution) -> dict[str, Any]:
    if isinstance(distribution, FloatDistribution):
        return {"type": "number", "minimum": distribution.low, "maximum": distribution.high}
    if isinstance(distribution, IntDistribution):
        return {"type": "integer", "minimum": distribution.low, "maximum": distribution.high}
    if isinstance(distribution, CategoricalDistribution):
        return {"enum": list(distribution.choices)}
    raise TypeError(f"Unsupported distribution {distribution!r}.")
