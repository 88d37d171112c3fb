"""What a request's words name: the fields, numbers, bounds and rankings in it, and the
condition the words around a named field make.

Read with a few patterns, only where the words say one thing plainly: a parameter by its name
("max_depth", "max depth", "estimators" for ``n_estimators``) or by a choice no other parameter
has ("entropy"), a user attribute by its key; a number not part of a name ("log2"); a bound
before its number ("above 0.9", "no more than 5") or after it ("5 or more", "from 30 on"); a
ranking ("best", "last", "highest"). ``agreement.py`` reads a query against them. Pure
functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any

from optuna_llm._dashboard.query import Field


# A number written in a request: not part of a name ("log2", "llm:v2"), maybe a percentage.
NUMBER = r"(?<![\w.:])(?P<n>\d+(?:\.\d+)?|\.\d+)(?P<percent>%?)(?![\w]|\.\d)"
NUMERAL = re.compile(NUMBER)
# Bounds, longest words first so that "no more than" is not read as "more than".
_BOUND_BEFORE = re.compile(
    r"(?P<word>no more than|no fewer than|no less than|at least|at most|up to|more than|"
    r"greater than|higher than|larger than|fewer than|less than|lower than|smaller than|"
    r"exceeding|above|over|below|under|>=|<=|>|<)\s*" + NUMBER
)
_BOUND_AFTER = re.compile(
    NUMBER + r"\s+(?P<word>or more|or above|or higher|or greater|or over|and up|and above|"
    r"on\b|onwards|or less|or fewer|or below|or lower|or under)"
    # "below 5 or above 35" bounds 35, not 5.
    r"(?!\s*[\d.])"
)
_BOUND_OPS = {
    "no more than": "<=",
    "at most": "<=",
    "up to": "<=",
    "<=": "<=",
    "no fewer than": ">=",
    "no less than": ">=",
    "at least": ">=",
    ">=": ">=",
    "more than": ">",
    "greater than": ">",
    "higher than": ">",
    "larger than": ">",
    "exceeding": ">",
    "above": ">",
    "over": ">",
    ">": ">",
    "fewer than": "<",
    "less than": "<",
    "lower than": "<",
    "smaller than": "<",
    "below": "<",
    "under": "<",
    "<": "<",
}
_AFTER_OPS = {
    "or more": ">=",
    "or above": ">=",
    "or higher": ">=",
    "or greater": ">=",
    "or over": ">=",
    "and up": ">=",
    "and above": ">=",
    "on": ">=",
    "onwards": ">=",
    "or less": "<=",
    "or fewer": "<=",
    "or below": "<=",
    "or lower": "<=",
    "or under": "<=",
}

RANK_WORDS = (
    (re.compile(r"\b(?:best|top)\b"), "best"),
    (re.compile(r"\b(?:worst|bottom)\b"), "worst"),
    (re.compile(r"\b(?:first|earliest|oldest)\b"), "first"),
    (re.compile(r"\b(?:last|latest|newest|most recent)\b"), "last"),
    (re.compile(r"\b(?:highest|largest|greatest)\b"), "highest"),
    (re.compile(r"\b(?:lowest|smallest)\b"), "lowest"),
)
# Choices that are words of a request's own ("the best trial", "all trials") name no parameter.
_PLAIN_WORDS = frozenset(
    (
        *("all", "any", "auto", "best", "first", "last", "worst", "top", "true", "false"),
        *("yes", "no", "none", "on", "off", "min", "max", "mean", "median", "sum", "count"),
        *("complete", "pruned", "fail", "failed", "running", "waiting"),
    )
)


@dataclass(frozen=True)
class Named:
    """A field a request names: where, by which words, and by which choice if by one."""

    field: Field
    start: int
    end: int
    words: str
    choice: Any = None
    by_choice: bool = False


def named_fields(request: str, known: Mapping[str, Field]) -> list[tuple[Field, str]]:
    """The parameters and user attributes ``request`` names, each with the words naming it:
    a parameter by its name (with spaces for underscores, or without an ``n_``/``num_``
    prefix: "estimators" for ``n_estimators``) or by a choice no other parameter has
    ("entropy"), a user attribute by its key."""
    return [(n.field, n.words) for n in naming(normalized(request), known)]


def naming(text: str, known: Mapping[str, Field]) -> list[Named]:
    named: dict[str, Named] = {}
    owners: dict[str, list[tuple[Field, Any]]] = {}
    for field in known.values():
        if field.kind == "user_attr":
            key = str(field.key).lower()
            if len(key) >= 3 and (found := _whole(key, text)):
                named[field.name] = Named(field, found.start(), found.end(), found.group())
        if field.kind != "param":
            continue
        for words in _spellings(str(field.key)):
            if found := _whole(words, text):
                named[field.name] = Named(field, found.start(), found.end(), found.group())
                break
        for choice in field.choices or ():
            label = choice.lower() if isinstance(choice, str) else ""
            if len(label) >= 3 and label not in _PLAIN_WORDS and not NUMERAL.fullmatch(label):
                owners.setdefault(label, []).append((field, choice))
    for label, fields in owners.items():
        if len(fields) != 1 or fields[0][0].name in named:
            continue
        field, choice = fields[0]
        if found := _whole(label, text):
            named[field.name] = Named(
                field, found.start(), found.end(), found.group(), choice, by_choice=True
            )
    return sorted(named.values(), key=lambda n: n.start)


def normalized(request: str) -> str:
    return " ".join(request.lower().split())


def _whole(words: str, text: str) -> re.Match[str] | None:
    return re.search(rf"(?<![\w.:]){re.escape(words)}(?![\w:])", text)


def _spellings(name: str) -> Iterator[str]:
    lowered = name.lower()
    if len(lowered) < 2:
        return
    yield lowered
    if "_" in lowered:
        yield lowered.replace("_", " ")
    for prefix in ("n_", "num_", "number_of_"):
        if lowered.startswith(prefix) and len(lowered) > len(prefix) + 2:
            yield lowered.removeprefix(prefix).replace("_", " ")


_TRACES_BEFORE = re.compile(
    r"\b(?:traces?|lines?|series|colou?rs?|colou?red)\s+(?:per|for each|by|for)\s+(?:\w+\s+)?$"
)
_NEGATED_BEFORE = re.compile(
    r"\b(?:no|without|non|not|never)\b[-\s]+(?:\w+\s+)?$|n't\s+(?:\w+\s+)?$"
)
_OFF_AFTER = re.compile(r"^[-\s]*(?:off|disabled|false|no|turned off)\b")
_EQUAL_AFTER = re.compile(
    r"^\s*(?:of|is|equal to|equals|=|==|set to)?\s*"
    + NUMBER
    + r"(?:\s*(?:,|or)\s*(?P<m>\d+(?:\.\d+)?))?(?![\d.])"
)
_BETWEEN_AFTER = re.compile(
    r"^\s*(?:is\s+|of\s+)?between\s+(?P<a>-?\d+(?:\.\d+)?)\s+and\s+(?P<b>-?\d+(?:\.\d+)?)"
)
# How far from a parameter's name a bound may be and still be its own ("n_estimators above
# 100", "100 or more estimators").
_NEAR = 24


def proposed_condition(text: str, named: Named) -> dict[str, Any] | None:
    """The condition the words around a named field say, where they say it plainly."""
    field, before, after = named.field, text[: named.start], text[named.end :]
    negated = _NEGATED_BEFORE.search(before) is not None
    if named.by_choice:
        return condition_json(field, "!=" if negated else "==", named.choice)
    choices = field.choices or ()
    if choices and all(isinstance(c, bool) for c in choices):
        return condition_json(field, "==", not (negated or _OFF_AFTER.search(after)))
    if not field.numeric:
        return None
    if found := _BETWEEN_AFTER.search(after):
        low, high = sorted((numeral(found.group("a")), numeral(found.group("b"))))
        return condition_json(field, "between", [low, high])
    nearby = [
        b
        for b in bounds(text)
        if 0 <= b.start - named.end <= _NEAR or 0 <= named.start - b.end <= _NEAR
    ]
    if nearby:
        bound = min(nearby, key=lambda b: min(abs(b.start - named.end), abs(named.start - b.end)))
        return condition_json(field, bound.op, numeral(str(bound.number)))
    if found := _EQUAL_AFTER.search(after):
        first = numeral(found.group("n"))
        if found.group("m"):
            return condition_json(field, "in", [first, numeral(found.group("m"))])
        return condition_json(field, "==", first)
    return None


def condition_json(field: Field, op: str, value: Any) -> dict[str, Any]:
    return {"field": field.name, "op": op, "value": value}


def numeral(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


@dataclass(frozen=True)
class Bound:
    start: int
    end: int
    words: str
    number: float
    op: str


def bounds(text: str) -> list[Bound]:
    """Each bound the request names: where, its words, its number and the comparison."""
    bounds = []
    for found in _BOUND_BEFORE.finditer(text):
        number = float(found.group("n")) / (100 if found.group("percent") else 1)
        op = _BOUND_OPS[found.group("word")]
        bounds.append(Bound(found.start(), found.end(), found.group(), number, op))
    for found in _BOUND_AFTER.finditer(text):
        number = float(found.group("n")) / (100 if found.group("percent") else 1)
        op = _AFTER_OPS[found.group("word")]
        bounds.append(Bound(found.start(), found.end(), found.group(), number, op))
    return bounds


def asks_for_traces(text: str, named: Named) -> bool:
    """Whether the words before ``named`` ask for a trace per value ("one line per ...")."""
    return _TRACES_BEFORE.search(text[: named.start]) is not None
