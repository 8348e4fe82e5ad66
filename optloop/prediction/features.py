"""Early-life features of one cell's cycling data, for predicting its cycle life.

The core features describe the fade curve and the coulombic efficiency (CE) of the first
``n_cycles`` cycles; they need only the per-cycle capacities and efficiencies of
:func:`optloop.data.compute_metrics`, which every evaluator provides. They adapt the
"discharge model" features of Severson et al. (2019, Nature Energy 4, 383): over the window of
cycles ``[first_cycle, n_cycles]`` (1-based, cycle 1 is left out by default because SEI
formation dominates it), with retention ``r(n) = Q(n) / Q_ref``:

* ``retention_slope_per_cycle``, ``retention_intercept``: linear fit of ``r(n)`` on ``n``
  (intercept at ``n = 0``);
* ``retention_curvature_per_cycle2``: the quadratic coefficient of a quadratic fit;
* ``retention_first``: ``r(first_cycle)`` (Severson: capacity at cycle 2);
* ``retention_gain``: ``max r - r(first_cycle)`` over the window (Severson: max capacity minus
  capacity at cycle 2);
* ``retention_min``: the minimum retention over the window;
* ``log10_inefficiency_mean``: ``log10`` of the mean coulombic inefficiency ``1 - CE`` over the
  window (floored at 1e-6: CE drift is the strongest early signal of alloy anodes, and a
  cell's life scales roughly as ``1 / (1 - CE)``, so the logarithm is near linear in log life);
* ``log10_inefficiency_var``: ``log10`` of the variance of ``1 - CE`` over the window
  (floored at 1e-12);
* ``first_cycle_efficiency``: CE of cycle 1.

:func:`delta_q_log_variance` adds Severson's strongest feature when the BDF frame has a
voltage-resolved discharge branch: ``log10 var(Q_N(V) - Q_early(V))`` on a voltage grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from optloop.data.bdf import CURRENT, CYCLE, TEST_TIME, VOLTAGE, integrate_capacity
from optloop.data.metrics import CycleMetrics
from optloop.exceptions import OptloopError

__all__ = [
    "FADE_FEATURES",
    "InsufficientDataError",
    "PredictionError",
    "delta_q_log_variance",
    "fade_features",
    "features_from_metrics",
]

#: Names of the features :func:`fade_features` returns, in this order.
FADE_FEATURES: tuple[str, ...] = (
    "retention_slope_per_cycle",
    "retention_intercept",
    "retention_curvature_per_cycle2",
    "retention_first",
    "retention_gain",
    "retention_min",
    "log10_inefficiency_mean",
    "log10_inefficiency_var",
    "first_cycle_efficiency",
)

_INEFFICIENCY_FLOOR = 1e-6
_VARIANCE_FLOOR = 1e-12
# A quadratic fit needs three points; the window must hold at least this many cycles.
_MIN_WINDOW = 3


class PredictionError(OptloopError, ValueError):
    """Cycle-life prediction cannot proceed: bad arguments, an unfitted model, bad data."""


class InsufficientDataError(PredictionError):
    """Too few cycles (or too few valid efficiencies) to compute the features."""


def _check_window(n_cycles: int, first_cycle: int) -> None:
    if first_cycle < 1:
        raise PredictionError(f"first_cycle={first_cycle!r}; limit: >= 1")
    minimum = first_cycle + _MIN_WINDOW - 1
    if n_cycles < minimum:
        raise PredictionError(
            f"n_cycles={n_cycles!r} with first_cycle={first_cycle}; limit: n_cycles >= "
            f"{minimum} (a quadratic fit needs {_MIN_WINDOW} cycles in the window)"
        )


def fade_features(
    capacity_Ah: Sequence[float],
    coulombic_efficiency: Sequence[float | None],
    n_cycles: int,
    *,
    first_cycle: int = 2,
    reference_capacity_Ah: float | None = None,
) -> dict[str, float]:
    """Compute the fade-curve and efficiency features of a cell's first ``n_cycles`` cycles.

    Args:
        capacity_Ah: Delivered capacity of each cycle, cycle 1 first (``CycleMetrics.
            capacity_Ah``); cycles past ``n_cycles`` are ignored.
        coulombic_efficiency: CE of each cycle, same indexing; ``None`` for a cycle with
            nothing stored (left out of the CE features).
        n_cycles: Last cycle (1-based) the features see.
        first_cycle: First cycle of the fit window (cycle 1 is dominated by SEI formation).
        reference_capacity_Ah: ``Q_ref`` of the retention; default the capacity of cycle 1
            (``compute_metrics(reference="first")``).

    Returns:
        The features named in :data:`FADE_FEATURES`, all finite.

    Raises:
        PredictionError: If the window is too short or a value is not finite or not positive.
        InsufficientDataError: If fewer than ``n_cycles`` cycles are given, or fewer than two
            cycles of the window (or cycle 1) have an efficiency.
    """
    _check_window(n_cycles, first_cycle)
    if len(capacity_Ah) < n_cycles:
        raise InsufficientDataError(
            f"capacity_Ah has {len(capacity_Ah)} cycle(s); the features need at least "
            f"n_cycles={n_cycles}"
        )
    if len(coulombic_efficiency) < n_cycles:
        raise InsufficientDataError(
            f"coulombic_efficiency has {len(coulombic_efficiency)} cycle(s); the features "
            f"need at least n_cycles={n_cycles}"
        )
    q = np.asarray(capacity_Ah[:n_cycles], dtype=float)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        bad = int(np.flatnonzero(~np.isfinite(q) | (q < 0))[0])
        raise PredictionError(
            f"capacity_Ah[{bad}] (cycle {bad + 1}) = {q[bad]!r}; limit: finite and >= 0"
        )
    q_ref = float(q[0]) if reference_capacity_Ah is None else float(reference_capacity_Ah)
    if not (math.isfinite(q_ref) and q_ref > 0):
        raise PredictionError(f"reference capacity = {q_ref!r} Ah; limit: finite and > 0")

    window = slice(first_cycle - 1, n_cycles)
    n = np.arange(first_cycle, n_cycles + 1, dtype=float)
    r = q[window] / q_ref
    slope, intercept = np.polyfit(n, r, 1)
    curvature = np.polyfit(n, r, 2)[0]

    ce_window = [c for c in coulombic_efficiency[window] if c is not None]
    if len(ce_window) < 2:
        raise InsufficientDataError(
            f"coulombic_efficiency has {len(ce_window)} valid value(s) in cycles "
            f"{first_cycle}..{n_cycles}; the features need at least 2"
        )
    ce = np.asarray(ce_window, dtype=float)
    if not np.all(np.isfinite(ce)):
        raise PredictionError(f"coulombic_efficiency has non-finite values: {ce.tolist()!r}")
    first_ce = coulombic_efficiency[0]
    if first_ce is None or not math.isfinite(first_ce):
        raise InsufficientDataError(
            f"coulombic_efficiency[0] (cycle 1) = {first_ce!r}; the features need a finite "
            "first-cycle efficiency"
        )
    inefficiency = 1.0 - ce
    return {
        "retention_slope_per_cycle": float(slope),
        "retention_intercept": float(intercept),
        "retention_curvature_per_cycle2": float(curvature),
        "retention_first": float(r[0]),
        "retention_gain": float(r.max() - r[0]),
        "retention_min": float(r.min()),
        "log10_inefficiency_mean": math.log10(
            max(float(inefficiency.mean()), _INEFFICIENCY_FLOOR)
        ),
        "log10_inefficiency_var": math.log10(
            max(float(inefficiency.var(ddof=1)), _VARIANCE_FLOOR)
        ),
        "first_cycle_efficiency": float(first_ce),
    }


def features_from_metrics(
    m: CycleMetrics, n_cycles: int, *, first_cycle: int = 2
) -> dict[str, float]:
    """Compute :func:`fade_features` from a cell's metrics, relative to its own ``Q_ref``.

    Args:
        m: Metrics of the cell (``compute_metrics(frame, in_progress=True)`` while it runs).
        n_cycles: Last cycle (1-based) the features see.
        first_cycle: First cycle of the fit window.

    Raises:
        InsufficientDataError: If ``m`` has fewer than ``n_cycles`` cycles.
    """
    return fade_features(
        m.capacity_Ah,
        m.coulombic_efficiency,
        n_cycles,
        first_cycle=first_cycle,
        reference_capacity_Ah=m.reference_capacity_Ah,
    )


def _branch_curve(
    voltage: npt.NDArray[np.float64],
    capacity: npt.NDArray[np.float64],
    falling: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return ``(V, Q)`` of one branch with ``V`` strictly increasing, for interpolation."""
    # Relaxation noise makes V non-monotone; the running extreme keeps the envelope.
    v = np.minimum.accumulate(voltage) if falling else np.maximum.accumulate(voltage)
    if falling:
        v, capacity = v[::-1], capacity[::-1]
    v_unique, first = np.unique(v, return_index=True)
    return v_unique, capacity[first]


def delta_q_log_variance(
    frame: pd.DataFrame,
    m: CycleMetrics,
    n_cycles: int,
    *,
    early_cycle: int = 10,
    grid_points: int = 1000,
    source: str = "<data frame>",
) -> float:
    """Compute Severson's ``log10 var(Q_N(V) - Q_early(V))`` on the delivering branch.

    ``Q_k(V)`` is the charge delivered so far in cycle ``k`` (discharge for a full cell,
    delithiation, i.e. cycler charge, for a half cell) as a function of voltage,
    interpolated on ``grid_points`` voltages spanning the range both cycles cover. Cycle
    numbers are those of ``m`` (1-based, skipped cycles not counted).

    Args:
        frame: The BDF time series ``m`` was computed from, with voltage, current, time and
            cycle count per record.
        m: The cell's metrics (for the cycle numbering and the cell configuration).
        n_cycles: The late cycle ``N``.
        early_cycle: The early cycle (Severson: 10).
        grid_points: Voltages on the interpolation grid.
        source: What to call the data in error messages.

    Returns:
        ``log10`` of the variance (floored at 1e-12 Ah^2 before the logarithm).

    Raises:
        PredictionError: If ``early_cycle >= n_cycles`` or a column is missing.
        InsufficientDataError: If either cycle is missing or has no delivering branch with
            at least two distinct voltages overlapping the other's.
    """
    if not (1 <= early_cycle < n_cycles):
        raise PredictionError(
            f"early_cycle={early_cycle!r} with n_cycles={n_cycles}; limit: 1 <= early_cycle "
            "< n_cycles"
        )
    if grid_points < 2:
        raise PredictionError(f"grid_points={grid_points!r}; limit: >= 2")
    missing = [c for c in (TEST_TIME, VOLTAGE, CURRENT, CYCLE) if c not in frame.columns]
    if missing:
        raise PredictionError(f"{source}: the delta-Q feature needs the column(s) {missing}")
    if m.cycles_completed < n_cycles:
        raise InsufficientDataError(
            f"{source}: {m.cycles_completed} cycle(s) completed; the delta-Q feature needs "
            f"n_cycles={n_cycles}"
        )
    time = frame[TEST_TIME].to_numpy(dtype=float)
    voltage = frame[VOLTAGE].to_numpy(dtype=float)
    current = frame[CURRENT].to_numpy(dtype=float)
    counts = frame[CYCLE].to_numpy()
    charge, discharge = integrate_capacity(time, current, counts)
    delivering: Literal["charge", "discharge"] = "discharge" if m.cell == "full" else "charge"
    sign = -1.0 if delivering == "discharge" else 1.0
    delivered = discharge if delivering == "discharge" else charge

    curves = []
    for cycle in (early_cycle, n_cycles):
        rows = (counts == m.cycle_counts[cycle - 1]) & (sign * current > 0)
        if rows.sum() < 2:
            raise InsufficientDataError(
                f"{source}: cycle {cycle} (cycle count {m.cycle_counts[cycle - 1]}) has "
                f"{int(rows.sum())} {delivering} record(s); the delta-Q feature needs >= 2"
            )
        curves.append(_branch_curve(voltage[rows], delivered[rows], falling=sign < 0))
    (v_a, q_a), (v_b, q_b) = curves
    low, high = max(v_a[0], v_b[0]), min(v_a[-1], v_b[-1])
    if not high > low:
        raise InsufficientDataError(
            f"{source}: the {delivering} branches of cycles {early_cycle} and {n_cycles} "
            f"share no voltage range ([{v_a[0]:.3f}, {v_a[-1]:.3f}] V vs "
            f"[{v_b[0]:.3f}, {v_b[-1]:.3f}] V)"
        )
    grid = np.linspace(low, high, grid_points)
    # Q counts from the start of each branch, as Severson's Qdlin; a constant offset between
    # the two curves would not change the variance anyway.
    variance = float(np.var(np.interp(grid, v_b, q_b) - np.interp(grid, v_a, q_a)))
    return math.log10(max(variance, _VARIANCE_FLOOR))
