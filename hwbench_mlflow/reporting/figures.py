"""What every hwbench plot is made of: a matplotlib figure and a plotly figure of the same data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIM = " (SIMULATED)"


@dataclass
class Plot:
    name: str  # file stem
    title: str
    figure: Any  # matplotlib Figure
    interactive: Any  # plotly Figure


def _subtitle(ax: Any, title: str, notes: list[str]) -> None:
    """The title, left-aligned, with the notes (what the error bars are, why the axis is log)
    in small print under it."""
    ax.set_title(title, fontsize=11, loc="left", pad=16 if notes else 6)
    if notes:
        ax.text(0, 1.01, " · ".join(notes), transform=ax.transAxes, fontsize=7.5, color="#444", va="bottom")
