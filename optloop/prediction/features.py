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

Cycles are addressed by their **cycle numbers**, never by position: data with gaps (an
extrapolating simulation keeps only the cycles it simulated, ``CycleMetrics.cycle_numbers``
then skips) are first put on the whole cycles ``1..n_cycles`` by linear interpolation between
the given neighbours (:func:`cycles_on_grid`, the same rule as the cycle life of gapped data
in :func:`optloop.data.metrics.end_of_life_cycle_with_gaps`). Interpolated cycles carry no
scatter of their own, so ``log10_inefficiency_var`` of gapped data measures only the drift of
the CE between the simulated cycles.

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
    "cycles_on_grid",
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


def _check_numbers(numbers: npt.NDArray[np.int64], size: int, what: str) -> None:
    if numbers.size != size:
        raise PredictionError(
            f"cycle_numbers has {numbers.size} value(s) and {what} {size}; limit: equal"
        )
    if numbers.size and numbers[0] < 1:
        raise PredictionError(f"cycle_numbers[0] = {int(numbers[0])}; limit: >= 1")
    steps = np.diff(numbers)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0])
        raise PredictionError(
            f"cycle_numbers[{k + 1}] = {int(numbers[k + 1])} after {int(numbers[k])}; limit: "
            "strictly increasing"
        )


def cycles_on_grid(
    cycle_numbers: Sequence[int] | npt.ArrayLike,
    capacity_Ah: Sequence[float],
    coulombic_efficiency: Sequence[float | None],
    n_cycles: int,
) -> tuple[list[float], list[float | None]]:
    """Return the capacity and CE of the whole cycles ``1..n_cycles`` of gapped data.

    A cycle the data hold keeps its own values (a ``None`` efficiency stays ``None``); a cycle
    they skip gets both interpolated linearly in cycle number between the nearest given
    cycles (for the CE, the nearest with an efficiency). Data without gaps come back
    unchanged (their first ``n_cycles`` values).

    Args:
        cycle_numbers: Strictly increasing cycle numbers of the given cycles (1-based,
            ``CycleMetrics.cycle_numbers``).
        capacity_Ah: Delivered capacity of each given cycle.
        coulombic_efficiency: CE of each given cycle, ``None`` for a cycle with nothing stored.
        n_cycles: Last cycle wanted.

    Returns:
        ``(capacity_Ah, coulombic_efficiency)`` of cycles ``1..n_cycles``, position ``k`` for
        cycle ``k + 1``.

    Raises:
        PredictionError: If the lengths differ or the numbers are not strictly increasing
            from >= 1.
        InsufficientDataError: If the data do not hold cycle 1 or do not reach ``n_cycles``.
    """
    numbers = np.asarray(cycle_numbers, dtype=np.int64)
    _check_numbers(numbers, len(capacity_Ah), "capacity_Ah has")
    _check_numbers(numbers, len(coulombic_efficiency), "coulombic_efficiency has")
    if numbers.size == 0 or numbers[-1] < n_cycles:
        last = int(numbers[-1]) if numbers.size else 0
        raise InsufficientDataError(
            f"the data end at cycle {last}; the features need cycles up to n_cycles={n_cycles}"
        )
    if numbers[0] != 1:
        raise InsufficientDataError(
            f"the data start at cycle {int(numbers[0])}; the features need cycle 1"
        )
    # The given cycles up to the first at or after n_cycles: enough to interpolate.
    stop = int(np.searchsorted(numbers, n_cycles)) + 1
    numbers = numbers[:stop]
    if numbers[-1] == n_cycles == stop:  # no gap before n_cycles
        return list(capacity_Ah[:n_cycles]), list(coulombic_efficiency[:n_cycles])
    grid = np.arange(1, n_cycles + 1)
    q = np.interp(grid, numbers, np.asarray(capacity_Ah[:stop], dtype=float))
    given = dict(zip(numbers.tolist(), coulombic_efficiency[:stop], strict=True))
    valid = [(n, c) for n, c in given.items() if c is not None]
    ce: list[float | None]
    if valid:
        n_valid, c_valid = zip(*valid, strict=True)
        filled = np.interp(grid, np.asarray(n_valid, dtype=float), np.asarray(c_valid))
        ce = [given[k] if k in given else float(filled[k - 1]) for k in grid.tolist()]
    else:
        ce = [None] * n_cycles
    return [float(x) for x in q], ce


def fade_features(
    capacity_Ah: Sequence[float],
    coulombic_efficiency: Sequence[float | None],
    n_cycles: int,
    *,
    first_cycle: int = 2,
    reference_capacity_Ah: float | None = None,
    cycle_numbers: Sequence[int] | None = None,
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
        cycle_numbers: The cycle number of each value (``CycleMetrics.cycle_numbers``), for
            data with gaps (see :func:`cycles_on_grid`); None: value ``k`` is cycle ``k + 1``.

    Returns:
        The features named in :data:`FADE_FEATURES`, all finite.

    Raises:
        PredictionError: If the window is too short or a value is not finite or not positive.
        InsufficientDataError: If the data do not reach cycle ``n_cycles``, or fewer than two
            cycles of the window (or cycle 1) have an efficiency.
    """
    _check_window(n_cycles, first_cycle)
    if cycle_numbers is not None:
        capacity_Ah, coulombic_efficiency = cycles_on_grid(
            cycle_numbers, capacity_Ah, coulombic_efficiency, n_cycles
        )
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
        InsufficientDataError: If ``m``'s cycles do not reach cycle ``n_cycles``.
    """
    return fade_features(
        m.capacity_Ah,
        m.coulombic_efficiency,
        n_cycles,
        first_cycle=first_cycle,
        reference_capacity_Ah=m.reference_capacity_Ah,
        cycle_numbers=m.cycle_numbers,
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
    numbers are those of ``m`` (``CycleMetrics.cycle_numbers``: 1-based, skipped cycles not
    counted, gaps under ``"count"`` numbering). A cycle the data skip gets the curve
    interpolated linearly in cycle number between its nearest given neighbours, point by
    point on the voltage grid.

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

    numbers = list(m.cycle_numbers)
    branches: dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}

    def branch(index: int, cycle: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        if index not in branches:
            count = m.cycle_counts[index]
            rows = (counts == count) & (sign * current > 0)
            if rows.sum() < 2:
                raise InsufficientDataError(
                    f"{source}: cycle {numbers[index]} (cycle count {count}, used for cycle "
                    f"{cycle}) has {int(rows.sum())} {delivering} record(s); the delta-Q "
                    "feature needs >= 2"
                )
            branches[index] = _branch_curve(voltage[rows], delivered[rows], falling=sign < 0)
        return branches[index]

    # Each wanted cycle as (weight, branch) terms: its own branch, or two neighbours'.
    wanted = []
    for cycle in (early_cycle, n_cycles):
        j = int(np.searchsorted(numbers, cycle))
        if j < len(numbers) and numbers[j] == cycle:
            wanted.append([(1.0, branch(j, cycle))])
        else:  # skipped: between numbers[j - 1] < cycle < numbers[j] (j >= 1: cycle 1 exists)
            a, b = numbers[j - 1], numbers[j]
            w = (cycle - a) / (b - a)
            wanted.append([(1.0 - w, branch(j - 1, cycle)), (w, branch(j, cycle))])
    curves = [c for terms in wanted for _, c in terms]
    low = max(v[0] for v, _ in curves)
    high = min(v[-1] for v, _ in curves)
    if not high > low:
        spans = ", ".join(f"[{v[0]:.3f}, {v[-1]:.3f}] V" for v, _ in curves)
        raise InsufficientDataError(
            f"{source}: the {delivering} branches of cycles {early_cycle} and {n_cycles} "
            f"share no voltage range ({spans})"
        )
    grid = np.linspace(low, high, grid_points)
    q_early, q_late = (
        sum(w * np.interp(grid, v, q) for w, (v, q) in terms) for terms in wanted
    )
    # Q counts from the start of each branch, as Severson's Qdlin; a constant offset between
    # the two curves would not change the variance anyway.
    variance = float(np.var(q_late - q_early))
    return math.log10(max(variance, _VARIANCE_FLOOR))
