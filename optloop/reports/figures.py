"""Matplotlib figures of a campaign (object API on the Agg canvas; never ``pyplot``).

Every function returns a :class:`~matplotlib.figure.Figure`; :func:`save` writes it as PNG.
No global state is touched, so figures can be drawn from a background thread.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optloop.analysis import feasible_completed, pareto_trials
from optloop.config.models import Objective, OutcomeConstraint
from optloop.data.bdf import CHARGE_CAPACITY, CURRENT, CYCLE, DISCHARGE_CAPACITY, VOLTAGE
from optloop.data.metrics import CycleMetrics
from optloop.store import Trial, TrialStatus

__all__ = [
    "Calibration",
    "calibration_figure",
    "capacity_fade_figure",
    "hypervolume_figure",
    "importance_figure",
    "message_figure",
    "pareto_figure",
    "save",
    "voltage_profile_figure",
]

_DPI = 110
_FRONT = "#c0392b"
_GREY = "#9aa0a6"


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def _figure(w: float = 6.4, h: float = 4.6) -> Figure:
    return Figure(figsize=(w, h), layout="constrained")


def _simple_figure() -> Figure:
    """Return a one-panel figure with fixed margins (a third cheaper than a layout engine)."""
    fig = Figure(figsize=(6.4, 4.6))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.11, top=0.92)
    return fig


def _label(o: Objective) -> str:
    arrow = "higher is better" if o.direction == "maximize" else "lower is better"
    return f"{o.name} ({arrow})"


def message_figure(title: str, message: str) -> Figure:
    """Return a small figure that says why a plot is empty."""
    fig = _figure(6.4, 2.4)
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10)
    return fig


def pareto_figure(
    trials: Sequence[Trial],
    objectives: Sequence[Objective],
    constraints: Sequence[OutcomeConstraint] = (),
) -> Figure:
    """Plot the objectives of completed trials: Pareto set, dominated and infeasible points.

    Two or more objectives give one panel per pair; one objective gives the values in
    evaluation order with the best so far. Censored values (lower bounds) are ringed.
    """
    done = [t for t in trials if t.status is TrialStatus.COMPLETED
            and all(o.name in t.outcomes for o in objectives)]
    if not done:
        return message_figure("Pareto front", "no completed trial with every objective yet")
    feasible = {t.id for t in feasible_completed(done, objectives, constraints)}
    front = {t.id for t in pareto_trials(done, objectives, constraints)}
    if len(objectives) == 1:
        return _single_objective(done, objectives[0], feasible, front)
    pairs = list(itertools.combinations(range(len(objectives)), 2))
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig = _figure(5.2 * cols, 4.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (i, j) in zip(axes, pairs, strict=False):
        oi, oj = objectives[i], objectives[j]

        def xy(ts: list[Trial], oi: Objective = oi, oj: Objective = oj) -> tuple[
            list[float], list[float]
        ]:
            return [t.outcomes[oi.name] for t in ts], [t.outcomes[oj.name] for t in ts]

        bad = [t for t in done if t.id not in feasible]
        dom = [t for t in done if t.id in feasible and t.id not in front]
        best = [t for t in done if t.id in front]
        if bad:
            ax.scatter(*xy(bad), marker="x", color=_GREY, label="breaks a constraint")
        if dom:
            ax.scatter(*xy(dom), color=_GREY, alpha=0.8, label="dominated")
        if best:
            ax.scatter(*xy(best), color=_FRONT, zorder=3, label="Pareto set")
            if len(objectives) == 2:
                order = sorted(best, key=lambda t: t.outcomes[oi.name],
                               reverse=oi.direction == "maximize")
                x, y = xy(order)
                ax.step(x, y, where="post", color=_FRONT, alpha=0.5)
            for t in best:
                ax.annotate(str(t.id), (t.outcomes[oi.name], t.outcomes[oj.name]),
                            textcoords="offset points", xytext=(4, 4), fontsize=8)
        cens = [t for t in done if any(t.censored.get(o.name) for o in (oi, oj))]
        if cens:
            ax.scatter(*xy(cens), s=110, facecolors="none", edgecolors="k", linewidths=0.8,
                       label="censored (lower bound)")
        ax.axvline(oi.reference, color="k", ls=":", lw=0.8)
        ax.axhline(oj.reference, color="k", ls=":", lw=0.8, label="reference point")
        ax.set_xlabel(_label(oi))
        ax.set_ylabel(_label(oj))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(pairs):]:
        ax.set_axis_off()
    fig.suptitle(f"Pareto front: {len(front)} of {len(done)} completed trials")
    return fig


def _single_objective(
    done: list[Trial], o: Objective, feasible: set[int], front: set[int]
) -> Figure:
    fig = _figure()
    ax = fig.subplots()
    order = sorted(done, key=lambda t: (t.finished_at or 0.0, t.id))
    x = np.arange(1, len(order) + 1)
    y = np.array([t.outcomes[o.name] for t in order])
    ok = np.array([t.id in feasible for t in order])
    ax.scatter(x[ok], y[ok], color=_GREY, label="completed")
    if (~ok).any():
        ax.scatter(x[~ok], y[~ok], marker="x", color=_GREY, label="breaks a constraint")
    masked = np.where(ok, y, -np.inf if o.direction == "maximize" else np.inf)
    run = (np.maximum if o.direction == "maximize" else np.minimum).accumulate(masked)
    ax.step(x, np.where(np.isfinite(run), run, np.nan), where="post", color=_FRONT,
            label="best so far")
    bx = [i + 1 for i, t in enumerate(order) if t.id in front]
    ax.scatter(bx, [order[i - 1].outcomes[o.name] for i in bx], color=_FRONT, zorder=3)
    ax.axhline(o.reference, color="k", ls=":", lw=0.8, label="reference")
    ax.set_xlabel("completed trials, in finishing order")
    ax.set_ylabel(_label(o))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Best design (single objective)")
    return fig


def hypervolume_figure(history: Sequence[tuple[int, float]], n_objectives: int) -> Figure:
    """Plot the hypervolume (improvement over the reference, for one objective) per evaluation."""
    if not history:
        return message_figure("Hypervolume", "no finished evaluation yet")
    fig = _figure()
    ax = fig.subplots()
    x = [k for k, _ in history]
    y = [v for _, v in history]
    ax.step(x, y, where="post", color="#1f77b4")
    ax.plot(x, y, "o", ms=3, color="#1f77b4")
    ax.set_xlabel("evaluations finished (completed + failed)")
    ax.set_ylabel("hypervolume" if n_objectives > 1 else "improvement over the reference")
    ax.set_title(f"Hypervolume after {x[-1]} evaluations: {y[-1]:.4g}")
    ax.grid(alpha=0.3)
    return fig


def capacity_fade_figure(curves: Mapping[str, CycleMetrics], title: str) -> Figure:
    """Plot capacity against cycle: Ah for one cell, retention for several."""
    if not curves:
        return message_figure(title, "no cycling data")
    fig = _simple_figure()
    ax = fig.subplots()
    if len(curves) == 1:
        (label, m), = curves.items()
        ax.plot(m.cycle_numbers, m.capacity_Ah, "-o", ms=2.5, label="delivered capacity")
        ax.axhline(m.threshold * m.reference_capacity_Ah, color=_FRONT, ls="--", lw=1,
                   label=f"end of life ({m.threshold:.0%} of {m.reference_capacity_Ah:.4g} Ah)")
        life = f"cycle life {'>= ' if m.cycle_life_censored else ''}{m.cycle_life}"
        ax.axvline(m.cycle_life, color="k", ls=":", lw=0.8, label=life)
        ax.set_ylabel("capacity / Ah")
    else:
        threshold = 0.8
        for label, m in curves.items():
            suffix = " (censored)" if m.cycle_life_censored else ""
            ax.plot(m.cycle_numbers, np.array(m.capacity_retention) * 100, "-", lw=1.5,
                    label=f"{label}: life {m.cycle_life}{suffix}")
            threshold = m.threshold
        ax.axhline(threshold * 100, color=_FRONT, ls="--", lw=1, label="end of life")
        ax.set_ylabel("capacity retention / %")
    ax.set_xlabel("cycle")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def voltage_profile_figure(frame: pd.DataFrame, title: str, n_cycles: int = 5) -> Figure:
    """Plot voltage against capacity for a few cycles, first to last (charge dashed)."""
    if CYCLE not in frame.columns or VOLTAGE not in frame.columns:
        return message_figure(title, "no cycle count or voltage in the data")
    counts = np.unique(frame[CYCLE].to_numpy())
    picks = counts[np.unique(np.linspace(0, len(counts) - 1, min(n_cycles, len(counts)))
                             .round().astype(int))]
    fig = _simple_figure()
    ax = fig.subplots()
    cmap = matplotlib.colormaps["viridis"]
    current = frame[CURRENT].to_numpy()
    for k, c in enumerate(picks):
        rows = (frame[CYCLE] == c).to_numpy()
        color = cmap(k / max(1, len(picks) - 1))
        for col, sign, ls in ((DISCHARGE_CAPACITY, -1, "-"), (CHARGE_CAPACITY, 1, "--")):
            sel = rows & (np.sign(current) == sign)
            if col not in frame.columns or not sel.any():
                continue
            ax.plot(frame.loc[sel, col].to_numpy(), frame.loc[sel, VOLTAGE].to_numpy(),
                    ls=ls, color=color, lw=1.2,
                    label=f"cycle {c}" if sign == -1 else None)
    ax.set_xlabel("capacity in the cycle / Ah (discharge solid, charge dashed)")
    ax.set_ylabel("voltage / V")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def importance_figure(importance: Mapping[str, Sequence[tuple[str, float]]], top: int = 12
                      ) -> Figure:
    """Plot each objective's input importances as horizontal bars (largest on top)."""
    if not importance:
        return message_figure("Which inputs matter", "too few completed trials to fit a surrogate")
    n = len(importance)
    fig = _figure(5.0 * n, 0.35 * top + 1.6)
    axes = np.atleast_1d(fig.subplots(1, n)).ravel()
    for ax, (metric, values) in zip(axes, importance.items(), strict=True):
        items = sorted(values, key=lambda kv: kv[1], reverse=True)[:top][::-1]
        ax.barh([k for k, _ in items], [v for _, v in items], color="#1f77b4")
        ax.set_title(metric)
        ax.set_xlabel("share of the surrogate's sensitivity")
        ax.grid(alpha=0.3, axis="x")
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle("Which inputs matter (permutation sensitivity of the GP mean)")
    return fig


@dataclass(frozen=True)
class Calibration:
    """Predicted (before evaluation) against observed values of one metric."""

    metric: str
    trial_ids: list[int]
    predicted_mean: np.ndarray
    predicted_std: np.ndarray
    observed: np.ndarray
    censored: np.ndarray

    @property
    def z(self) -> np.ndarray:
        """Return standardised errors ``(observed - mean) / std`` of uncensored points."""
        keep = ~self.censored & (self.predicted_std > 0)
        return np.asarray(
            (self.observed[keep] - self.predicted_mean[keep]) / self.predicted_std[keep]
        )

    def coverage(self, k: float) -> float | None:
        """Return the fraction of uncensored outcomes within ``k`` predicted std's."""
        z = self.z
        return float(np.mean(np.abs(z) <= k)) if z.size else None

    def rmse(self) -> float | None:
        """Return the root-mean-square error of the predicted means (uncensored points)."""
        keep = ~self.censored
        if not keep.any():
            return None
        return float(np.sqrt(np.mean((self.observed[keep] - self.predicted_mean[keep]) ** 2)))


def calibration_figure(cals: Sequence[Calibration]) -> Figure:
    """Plot predicted (mean and 2 std) against observed outcomes, one panel per metric."""
    cals = [c for c in cals if len(c.trial_ids)]
    if not cals:
        return message_figure(
            "Predicted against observed",
            "no evaluated trial carries a surrogate prediction yet (Sobol designs have none)",
        )
    fig = _figure(4.6 * len(cals), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(cals))).ravel()
    for ax, c in zip(axes, cals, strict=True):
        exact = ~c.censored
        ax.errorbar(c.observed[exact], c.predicted_mean[exact], yerr=2 * c.predicted_std[exact],
                    fmt="o", color="#1f77b4", ecolor="#9ecae1", capsize=2, label="observed")
        if c.censored.any():
            ax.errorbar(c.observed[~exact], c.predicted_mean[~exact],
                        yerr=2 * c.predicted_std[~exact], fmt="o", mfc="none", color="#1f77b4",
                        ecolor="#9ecae1", capsize=2, label="censored (lower bound)")
        lo = float(np.nanmin(np.concatenate([c.observed, c.predicted_mean - 2 * c.predicted_std])))
        hi = float(np.nanmax(np.concatenate([c.observed, c.predicted_mean + 2 * c.predicted_std])))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="perfect prediction")
        cov = c.coverage(2.0)
        cov_text = f"{cov:.0%} within 2 std (ideal 95%)" if cov is not None else "no exact values"
        ax.set_title(f"{c.metric}\n{cov_text}", fontsize=10)
        ax.set_xlabel("observed")
        ax.set_ylabel("predicted before evaluation (mean, 2 std)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig
