"""What a filter request says of the trials it wants, and whether a filter's result fits it.

A small model's filter often runs and is still wrong in a way its result shows: it keeps every
complete trial for "the top 3", nothing for "the 5 worst", pruned trials for "failed trials,
together with complete trials ...", or every trial whatever the request. Three things a
request says plainly are checked against what the filter kept on the storage's studies:

- **how many**: "top 3", "the 5 worst", "last 5", "the best trial" name a number of trials;
  a filter that keeps more is wrong, and so is one that keeps none, or some but fewer while
  the study has that many trials of the states named (complete ones if it names none);
- **which states**: "pruned or failed trials" names states; a filter that keeps trials of
  another state is wrong. A request with a negation ("not", "without", "except", ...) is not
  checked for states: "trials that did not complete" names a state it excludes;
- **that it filters**: a filter that keeps every trial of every study with two or more, or
  none of any, is sent back too, unless the request asks for all trials, or names a state no
  study has.

Pure functions: the words are read with a few patterns, and the problem is given in words for
the model, with what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
import json
import re

from optuna_llm._dashboard.check import Listed
from optuna_llm._dashboard.query import STATES
from optuna_llm._dashboard.query import ChartQuery
from optuna_llm._dashboard.query import Selection


# The states as the dashboard writes them, by the words a request uses for them.
_STATE_WORDS = (
    (re.compile(r"\b(?:complete|completed|succeeded|successful)\b"), "Complete"),
    (re.compile(r"\bfail(?:s|ed|ing|ure|ures)?\b"), "Fail"),
    (re.compile(r"\bprun(?:e|ed|ing)\b"), "Pruned"),
    (re.compile(r"\b(?:running|in progress)\b"), "Running"),
    (re.compile(r"\bwaiting\b"), "Waiting"),
)
_NEGATION = re.compile(
    r"\b(?:not|non|no|never|without|except|excluding|exclude|other than|besides)\b|n't\b"
)
_ALL = re.compile(r"\b(?:all|every|each)\s+(?:the\s+)?(?:\w+\s+)?trials?\b")

# Words that join groups of trials, so that several selections may be meant.
_UNION = re.compile(
    r"\b(?:or|plus|together with|as well as|along with|also|in addition to)\b|"
    r"\band\s+(?:the|all|any)\s+(?:\d+\s+|\w+\s+)?(?:best|worst|top|bottom|first|last|latest|"
    r"most recent|highest|lowest)\b|"
    r"\band\s+(?:(?:complete|completed|pruned|failed|running|waiting)\s+)?trials?\b"
)
# "50 estimators or fewer" bounds a number; its "or" joins no groups of trials.
_OR_BOUND = re.compile(
    r"\bor (?:more|fewer|less|above|below|higher|lower|greater|over|under)\b(?!\s*[\d.])"
)
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_NUMBER = r"(?P<n>\d+|" + "|".join(_NUMBER_WORDS) + r")"
_RANK = (
    r"(?:top|best|worst|bottom|first|last|latest|earliest|newest|oldest|most\s+recent|"
    r"highest|lowest|largest|smallest)"
)
_COUNTS = (
    # "top 3", "the last 5", "first 3 trials"
    re.compile(rf"\b{_RANK}\s+{_NUMBER}\b"),
    # "the 5 worst", "4 most recent", "two highest-accuracy trials"
    re.compile(rf"\b{_NUMBER}\s+{_RANK}"),
    # "the best trial", "the most recent trial": one
    re.compile(rf"\bthe\s+(?P<one>{_RANK})(?:[-\s]\w+)?\s+trial\b(?!s)"),
)


@dataclass(frozen=True)
class FilterIntent:
    """What a filter request names: how many trials (None when it names no number), the only
    states it wants (empty when it names none, or says what it does not want), whether it
    asks for all trials, and whether it joins groups of trials ("pruned trials or ...",
    "failed trials and the worst trial"), rather than only conditions."""

    count: int | None
    states: frozenset[str]
    wants_all: bool = False
    joins: bool = False


def filter_intent(query: str) -> FilterIntent:
    """What ``query`` names of the trials it wants."""
    text = " ".join(query.lower().split())
    states: frozenset[str] = frozenset()
    if not _NEGATION.search(text):
        states = frozenset(state for pattern, state in _STATE_WORDS if pattern.search(text))
    joins = _UNION.search(_OR_BOUND.sub(" ", text)) is not None
    return FilterIntent(_count(text), states, wants_all=bool(_ALL.search(text)), joins=joins)


def within_query(intent: FilterIntent, selections: Sequence[Selection]) -> FilterIntent:
    """What is left to check of ``intent`` for a filter made from a query's ``selections``.

    A selection that takes the named number of trials ("the best 1") keeps that number by
    construction, so the count is not checked, even when another selection adds more trials
    ("pruned trials and the best trial"). And where several selections rank trials by their
    value or test it, they keep complete trials by their own words, whatever states the
    request names for the others ("failed trials and the worst trial", "pruned trials or
    trials with accuracy above 0.9"); complete trials kept by a test of anything else are still
    trials of a state the request does not name. Where the request joins groups of trials,
    the selections keep every state it names, and one of them names no state, that one is a
    group the request names with no state ("pruned trials plus trials with min_samples_leaf of
    10"), and the states are not checked.
    """
    counted = intent.count is not None and any(
        s.take != "all" and s.count == intent.count for s in selections
    )
    states = intent.states
    kept = [states_of(s) for s in selections]
    if states and len(selections) > 1:
        covered = frozenset().union(*(k for k in kept if k is not None))
        if intent.joins and None in kept and states <= covered:
            states = frozenset()
        elif any(
            k is not None and "Complete" in k and _valued(s)
            for k, s in zip(kept, selections, strict=True)
        ):
            states = states | {"Complete"}
    return replace(intent, count=None if counted else intent.count, states=states)


def states_of(selection: Selection) -> frozenset[str] | None:
    """The states a selection keeps by its own words: those its conditions on the state allow,
    and only "Complete" among them if it ranks or tests the value (the only trials with a
    value); None if it says nothing of either, and keeps trials of any state."""
    valued = _valued(selection)
    stated = [c for c in selection.where if c.field.kind == "state"]
    if not stated and not valued:
        return None
    states = set(STATES)
    for c in stated:
        values = set(c.value) if isinstance(c.value, list) else {c.value}
        if c.op in ("==", "in"):
            states &= values
        elif c.op in ("!=", "not in"):
            states -= values
    return frozenset(states & {"Complete"} if valued else states)


def _valued(selection: Selection) -> bool:
    return selection.take in ("best", "worst") or any(
        c.field.kind in ("value", "values") for c in selection.where
    )


def chart_problem(request: str, chart: ChartQuery) -> str | None:
    """Why a chart query does not draw the trials of the states ``request`` names, or None.

    A request for "complete trials" (or pruned ones, ...) that the query draws with no
    condition on the state draws other trials too, unless what it draws only complete
    trials have (the objective, where it is drawn and not merely named as the y of counts),
    or it draws the state itself.
    """
    wanted = filter_intent(request).states
    drawn = [chart.x, chart.y, chart.series]
    if not wanted or any(f is not None and f.kind == "state" for f in drawn):
        return None
    if any(c.field.kind == "state" for c in chart.where):
        return None
    # The objective keeps the complete trials only where it is drawn: not as the y of counts.
    used = drawn if chart.draws_y else [chart.x, chart.series]
    if wanted == {"Complete"} and any(
        f is not None and f.kind in ("value", "values") for f in used
    ):
        return None
    states = sorted(wanted)
    condition = (
        f'{{"field": "state", "op": "==", "value": "{states[0]}"}}'
        if len(states) == 1
        else f'{{"field": "state", "op": "in", "value": {json.dumps(states)}}}'
    )
    named = " or ".join(f'"{s}"' for s in states)
    return (
        f'the request names {named} trials, but "where" has no condition on "state", so the '
        f'chart draws trials of every state. Add {condition} to "where".'
    )


def kept_problem(
    intent: FilterIntent,
    results: Sequence[Sequence[Listed]],
    *,
    own_trials: bool = True,
    query: bool = False,
) -> str | None:
    """Why the trials a filter kept on each checked study do not fit the request, or None.

    Keeping every trial or none says something only of the user's own trials: with
    ``own_trials`` False (the synthetic study stood in), only the number and the states are
    checked. With ``query`` the filter is a query's (see ``query.py``), and what to do about
    the problem is said in its terms rather than in code.
    """
    for trials in results:
        kept = [t for t in trials if t.kept]
        if intent.count is not None and len(kept) > intent.count:
            return _too_many(intent.count, len(kept), len(trials), query)
        if intent.count is not None and 0 < len(kept) < intent.count and own_trials:
            # It ranked, and stopped short: unless its own selection has fewer trials.
            candidates = [t for t in trials if t.state in (intent.states or {"Complete"})]
            if len(candidates) >= intent.count:
                return _too_few(intent.count, len(kept), query)
        strays = [t for t in kept if intent.states and t.state not in intent.states]
        if strays:
            return _other_states(intent.states, strays, query)
    if intent.wants_all or not own_trials:
        return None
    listed = [trials for trials in results if len(trials) >= 2]
    if listed and all(all(t.kept for t in trials) for trials in listed):
        total = len(listed[0])
        what = (
            "Add the conditions the request names."
            if query
            else "Return true only for the trials the request asks for."
        )
        return f"it keeps every trial ({total} of {total}): it filters nothing. {what}"
    present = [
        trials
        for trials in results
        if trials and (not intent.states or any(t.state in intent.states for t in trials))
    ]
    if present and not any(t.kept for trials in present for t in trials):
        what = (
            "condition (its field, the state names, and how values are written)"
            if query
            else "comparison (the state names, where values and parameters are, and how "
            "their values are written)"
        )
        return f"it keeps no trial of the {len(present[0])}: check each {what}."
    return None


def _count(text: str) -> int | None:
    for pattern in _COUNTS:
        found = pattern.search(text)
        if found is None:
            continue
        if "one" in found.groupdict() and found.group("one"):
            return 1
        word = found.group("n")
        return int(word) if word.isdigit() else _NUMBER_WORDS[word]
    return None


def _too_many(count: int, kept: int, total: int, query: bool) -> str:
    trials = "trial" if count == 1 else "trials"
    said = f"the request asks for {count} {trials}, but it keeps {kept} of the study's {total}. "
    if query:
        return said + take_hint(count)
    return said + (
        f"For the {count} best or worst of all complete trials, test trial.rank <= {count} or "
        f"trial.rank_from_worst <= {count}; otherwise rank the trials the request names and "
        "keep the first ones: function (trial, study) { const ranked = study.trials.filter("
        "/* the trials the request ranks */).sort(/* as the request ranks them */); return "
        f"ranked.slice(0, {count}).includes(trial); }}"
    )


def _too_few(count: int, kept: int, query: bool) -> str:
    said = f"the request asks for {count} trials, but it keeps {kept}. "
    if query:
        return said + take_hint(count) + f" Unless fewer than {count} trials fit the request."
    return said + (
        f"Keep the first {count} of "
        f"the ranked trials (trial.rank <= {count}, trial.rank_from_worst <= {count}, or "
        f"ranked.slice(0, {count})), unless fewer than {count} trials fit the request."
    )


def take_hint(count: int) -> str:
    """How a query keeps ``count`` trials, in words for the model."""
    return (
        f'Keep them with "take": "best", "worst", "first" or "last", as the request ranks '
        f'them, and "count": {count}.'
    )


def _other_states(states: frozenset[str], strays: Sequence[Listed], query: bool) -> str:
    wanted = " or ".join(f'"{s}"' for s in sorted(states))
    other = sorted({t.state for t in strays})
    numbers = ", ".join(str(t.number) for t in strays[:5])
    what = (
        'Add a condition on "state" to the "where" of the selection that keeps them (another '
        "selection adds trials, it does not remove any)"
        if query
        else "Test trial.state"
    )
    return (
        f"the request asks only for trials whose state is {wanted}, but it keeps "
        f"{', '.join(repr(s) for s in other)} trials too (trial {numbers}). {what} "
        '(one of "Complete", "Pruned", "Fail", "Running", "Waiting").'
    )
