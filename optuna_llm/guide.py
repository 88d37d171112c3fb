"""How the default LLMSampler combines the model with a classical sampler.

The model is asked for what a small model knows best, the recommended starting configuration
for the task, once per study. That configuration is the first trial and the centre of a prior
from which the rest of the warm-up is drawn, spread to fill it (a share of the warm-up can be
left to the classical sampler's own random start-up instead). After the warm-up the classical
sampler is in charge. Every ``ask_every`` trials the model is shown the best trials and the
classical sampler's candidate, and its proposal replaces the candidate only when it is not a
near-repeat and its nearest evaluated neighbour is among the better half; each proposal that
does not do well halves how often it is asked. A flat history (the last ``flat_window``
values all equal) stops the model: the classical sampler explores instead.

See [why this design][why-this-design] for the evidence behind each choice.

Example:
    ```python
    from optuna_llm import Guide, LLMSampler

    # A longer warm-up, every other trial of it drawn from the model's prior.
    guide = Guide(warmup_trials=16, prior_share=0.5)
    sampler = LLMSampler(model="gpt-4o-mini", guide=guide)
    ```
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guide:
    """The constants of the guided default; ``Guide()`` is what ``LLMSampler`` uses.

    A frozen dataclass.

    Args:
        warmup_trials: Trials before the classical sampler takes charge. The first is the
            model's recommended start.
        prior_share: Share of the other warm-up trials drawn from the prior around the
            model's start; the classical sampler's random start-up draws the rest. ``0``
            keeps only the start; ``1``, the default, draws the whole warm-up from the prior.
        prior_width: Standard deviation of the prior around each numeric value, as a share of
            the parameter's range (of its logarithm for log-scaled parameters).
        ask_every: Trials between the model's proposals after the warm-up while they do well;
            ``0`` never asks the model after the start.
        flat_window: How many equal values in a row count as a flat history.

    Raises:
        ValueError: A constant has a bad value; the message names it.
    """

    warmup_trials: int = 10
    prior_share: float = 1.0
    prior_width: float = 0.15
    ask_every: int = 10
    flat_window: int = 5

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
        if not _is_number(self.prior_width) or not 0.0 < self.prior_width <= 1.0:
            raise ValueError(f"`prior_width` must be in (0, 1], got {self.prior_width!r}.")

    def is_prior_draw(self, slot: int) -> bool:
        """Whether warm-up slot ``slot`` (1 for the trial after the start) draws from the
        prior: ``prior_share`` of the slots, spread evenly."""
        return _ceil(slot * self.prior_share) > _ceil((slot - 1) * self.prior_share)

    @property
    def n_prior_draws(self) -> int:
        """How many warm-up trials draw from the prior: ``prior_share`` of those after the
        start."""
        return sum(self.is_prior_draw(slot) for slot in range(1, self.warmup_trials))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ceil(value: float) -> int:
    # Exact for shares such as 0.3 times a slot, where float error would add a stray draw.
    return int(-(-round(value, 9) // 1))
