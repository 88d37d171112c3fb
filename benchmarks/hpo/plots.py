"""Plots of the benchmark report: each ``plot_*`` function writes one PNG file.

Every arm keeps the same colour in every plot (see ``arm_styles``); model arms are dashed.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Literal

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
import numpy as np

from benchmarks.hpo.stats import Curve
from benchmarks.hpo.stats import TaskResults
from benchmarks.hpo.stats import mean_and_se


@dataclass(frozen=True)
class ArmStyle:
    """How an arm is drawn in every plot: its colour, dashed for model arms."""

    colour: str
    dashed: bool

    @property
    def linestyle(self) -> Literal["-", "--"]:
        return "--" if self.dashed else "-"


def arm_styles(arms: Sequence[str], models: Iterable[str]) -> dict[str, ArmStyle]:
    """One colour per arm, in the given order, the same in every plot; model arms dashed."""
    palette = [
        to_hex(colour)
        for name in ("tab10", "Dark2", "Set1")
        for colour in matplotlib.color_sequences[name]
    ]
    model_set = set(models)
    return {
        arm: ArmStyle(palette[i % len(palette)], arm in model_set) for i, arm in enumerate(arms)
    }


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100, metadata={"Software": None})


def _legend(figure: Figure, arms: Sequence[str], styles: Mapping[str, ArmStyle]) -> None:
    handles = [
        Line2D([], [], color=styles[arm].colour, linestyle=styles[arm].linestyle, label=arm)
        for arm in arms
    ]
    figure.legend(
        handles=handles, loc="outside lower center", ncol=min(len(arms), 5), frameon=False
    )


def plot_best_so_far(
    results: Sequence[TaskResults], arms: Sequence[str], styles: Mapping[str, ArmStyle], path: Path
) -> None:
    """One subplot per task: mean best-so-far over seeds, shaded ± one standard error."""
    columns = min(3, len(results))
    rows = math.ceil(len(results) / columns)
    legend_rows = math.ceil(len(arms) / 5)
    figure = Figure(figsize=(4.5 * columns, 3.3 * rows + 0.35 * legend_rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, task in zip(axes, results, strict=False):
        trials = np.arange(1, task.n_trials + 1)
        for arm in arms:
            if arm not in task.curves:
                continue
            mean, se = mean_and_se(task.curves[arm])
            style = styles[arm]
            ax.plot(trials, mean, color=style.colour, linestyle=style.linestyle)
            ax.fill_between(
                trials, mean - se, mean + se, color=style.colour, alpha=0.2, linewidth=0
            )
        ax.set_title(task.name)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"best so far ({task.info.direction})")
        ax.grid(alpha=0.3)
    for ax in axes[len(results) :]:
        ax.set_visible(False)
    _legend(figure, arms, styles)
    _save(figure, path)


def plot_average_rank(
    ranks: Mapping[str, Curve], arms: Sequence[str], styles: Mapping[str, ArmStyle], path: Path
) -> None:
    """Average rank over tasks at each trial, one line per arm."""
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = figure.subplots()
    for arm in arms:
        if arm in ranks:
            trials = np.arange(1, len(ranks[arm]) + 1)
            style = styles[arm]
            ax.plot(trials, ranks[arm], color=style.colour, linestyle=style.linestyle, label=arm)
    ax.set_xlabel("trial")
    ax.set_ylabel("average rank over tasks (1 = best)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    _save(figure, path)
