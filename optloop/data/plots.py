"""Plots of cycling data: capacity fade and voltage profiles (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: campaigns run headless
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from optloop.data.bdf import CYCLE, TEST_TIME, VOLTAGE  # noqa: E402
from optloop.data.metrics import CycleMetrics  # noqa: E402

__all__ = ["plot_capacity_fade", "plot_voltage_profiles"]


def plot_capacity_fade(series: Sequence[tuple[CycleMetrics, str]], path: str | Path) -> Path:
    """Plot delivered capacity against cycle for one or more cells, with the 80 % line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for m, label in series:
        life = f"{m.cycle_life}{'+' if m.cycle_life_censored else ''}"
        ax.plot(
            m.cycle_numbers,
            m.capacity_Ah,
            marker="o",
            ms=2.5,
            lw=1.2,
            label=f"{label} (life {life})",
        )
        ax.axhline(m.threshold * m.reference_capacity_Ah, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("cycle")
    ax.set_ylabel("discharge capacity [Ah]")
    ax.set_title("capacity fade (dotted: end of life)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_voltage_profiles(
    frame: pd.DataFrame, path: str | Path, cycles: Sequence[int] | None = None
) -> Path:
    """Plot voltage against time within a few cycles (first, middle, last by default)."""
    counts = sorted(frame[CYCLE].unique()) if CYCLE in frame else [0]
    if cycles is None:
        cycles = sorted({counts[0], counts[len(counts) // 2], counts[-1]})
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for c in cycles:
        part = frame[frame[CYCLE] == c] if CYCLE in frame else frame
        if part.empty:
            continue
        t = (part[TEST_TIME] - part[TEST_TIME].iloc[0]) / 3600.0
        ax.plot(t, part[VOLTAGE], lw=1.0, label=f"cycle {int(c)}")
    ax.set_xlabel("time in cycle [h]")
    ax.set_ylabel("voltage [V]")
    ax.set_title("voltage profiles")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
