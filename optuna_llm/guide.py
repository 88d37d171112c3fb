"""How the default LLMSampler combines the model with a classical sampler.

The model is asked, once per study, for what a small model knows best: the recommended
starting configuration for the task, and that configuration is tested as one trial of the
classical sampler's own start-up, beside its random trials and any trial the user enqueued
with ``study.enqueue_trial`` (with ``ask_ahead``, it is asked in the background while a trial
runs, and run by the next one). Only once the study confirms a guess (the model's start or an
enqueued trial is the best so far, having beaten another trial) are some start-up trials drawn
from a prior around the best trial, and the prior fades as the study grows, as in πBO; as soon
as a trial of the classical sampler does better, nothing more is drawn around the guesses.
After the start-up the classical sampler is in charge. With ``ask_every``, the model is also
shown the best trials and the classical sampler's candidate every ``ask_every`` trials, and
its proposal replaces the candidate only when it is not a near-repeat and its nearest
evaluated neighbour is among the better half. A flat history (the last ``flat_window``
values all equal) stops the model: the classical sampler explores instead.

See [why this design][why-this-design] for the evidence behind each choice.

Example:
    ```python
    from optuna_llm import Guide, LLMSampler

    # A longer start-up, and the model shown the classical candidate every 10 trials.
    guide = Guide(warmup_trials=16, ask_every=10)
    sampler = LLMSampler(model="gpt-4o-mini", guide=guide)
    ```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Guide:
    """The constants of the guided default; ``Guide()`` is what ``LLMSampler`` uses.

    A frozen dataclass.

    Args:
        warmup_trials: Trials of the start-up, before the classical sampler's model takes
            charge. One of them is the model's start.
        prior_share: Share of the start-up trials after the start that draw from the prior,
            when the study has confirmed a guess; the classical sampler's random start-up
            draws the rest. ``0`` keeps only the start; ``1``, the default, lets every slot
            draw while the study confirms a guess.
        prior_width: Standard deviation of the prior around each numeric value at the study's
            first trial, as a share of the parameter's range (of its logarithm for
            log-scaled parameters); at trial ``n`` it is ``prior_width·√(n+1)``.
        ask_every: Trials between the model's proposals after the start-up while they do
            well; ``0``, the default, never asks the model after the start.
        flat_window: How many equal values in a row count as a flat history.
        start: What the model is asked for first: ``"recommended"``, the recommended
            starting configuration for the task, or ``"defaults"``, the library's
            documented defaults of the algorithm the task names.
        ask_ahead: Send the model's requests (the start, and challenges) in the background,
            so that no trial waits for the model: the asking trial runs the classical
            sampler's values, and the first trial created after the answer runs the model's.
            ``False``, the default, has the asking trial wait and run the answer itself: once
            per study for the start. Measured, asking ahead moves the start one trial later
            and costs part of the early lead (see [why this design][why-this-design]).

    Raises:
        ValueError: A constant has a bad value; the message names it.
    """

    warmup_trials: int = 10
    prior_share: float = 1.0
    prior_width: float = 0.1
    ask_every: int = 0
    flat_window: int = 5
    start: Literal["recommended", "defaults"] = "recommended"
    ask_ahead: bool = False

    def __post_init__(self) -> None:
        for name in ("warmup_trials", "ask_every", "flat_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}.")
        if self.warmup_trials < 1:
            raise ValueError("`warmup_trials` must be at least 1: the start is one trial.")
        if self.flat_window < 2:
            raise ValueError(f"`flat_window` must be at least 2, got {self.flat_window!r}.")
        if not _is_number(self.prior_share) or not 0.0 <= self.prior_share <= 1.0:
            raise ValueError(f"`prior_share` must be in [0, 1], got {self.prior_share!r}.")
        if not isinstance(self.ask_ahead, bool):
            raise ValueError(f"`ask_ahead` must be True or False, got {self.ask_ahead!r}.")
        if self.start not in ("recommended", "defaults"):
            raise ValueError(f"`start` must be 'recommended' or 'defaults', got {self.start!r}.")
        if not _is_number(self.prior_width) or not 0.0 < self.prior_width <= 1.0:
            raise ValueError(f"`prior_width` must be in (0, 1], got {self.prior_width!r}.")

    def is_prior_draw(self, slot: int) -> bool:
        """Whether start-up slot ``slot`` (1 for the trial after the start) may draw from the
        prior: ``prior_share`` of the slots, spread evenly."""
        return _ceil(slot * self.prior_share) > _ceil((slot - 1) * self.prior_share)

    @property
    def n_prior_draws(self) -> int:
        """How many start-up trials may draw from the prior: ``prior_share`` of those after
        the start."""
        return sum(self.is_prior_draw(slot) for slot in range(1, self.warmup_trials))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ceil(value: float) -> int:
    # Exact for shares such as 0.3 times a slot, where float error would add a stray draw.
    return int(-(-round(value, 9) // 1))
