"""Per-cycle charge and discharge capacity from whichever capacity columns a BDF file has.

Cyclers count charge in different ways; each gives the same per-cycle capacities (to the
accuracy of the instrument) by one rule. In order of preference, per direction:

1. **Cycle columns** (``Cycle Charging Capacity / Ah``; BatteryArchive ``Charge_Capacity``):
   reset every cycle, so a cycle's capacity is their maximum within the cycle.
2. **Cumulative columns** (``Charging Capacity / Ah``): never reset, so a cycle's capacity is
   the value at its last record minus the value at the previous cycle's last record (the first
   cycle: minus the first record). A counter the instrument restarted has already been
   unwrapped on reading (:func:`~optloop.data.ingest.unwrap_counter`).
3. **Step columns by direction** (``Step Charging Capacity / Ah``): reset every step, so each
   step contributes its maximum, and a cycle's capacity is the sum over its steps.
4. **Step throughput** (``Step Cumulative Capacity / Ah``, legacy ``Step Capacity / Ah``):
   reset every step and counts either direction (a signed one is read by magnitude); each step
   contributes its maximum to the direction of its net current (a step whose current sums to
   zero is a rest and contributes nothing).
5. **Net columns**: ``Cycle Net Capacity / Ah`` (charge in minus out, reset every cycle), then
   ``Net Capacity / Ah`` (never reset): a rise between two records is charge, a fall is
   discharge, summed per cycle. A net counter cannot show restarts (it may fall anyway), so
   ``Net Capacity`` is assumed never restarted.
6. **Integrated current** (:func:`~optloop.data.bdf.integrate_capacity`), when the file has
   none of the above.

A step starts where the step count changes (when there is a ``Step Count`` column), where the
cycle count changes, or where the step capacity drops (the instrument's reset), so files
without a step count work too. Step capacities must reset at each step, as BDF defines them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from optloop.data.bdf import integrate_capacity
from optloop.data.columns import (
    CHARGE_CAPACITY,
    CUMULATIVE_CHARGE_CAPACITY,
    CUMULATIVE_DISCHARGE_CAPACITY,
    CURRENT,
    CYCLE,
    CYCLE_NET_CAPACITY,
    DISCHARGE_CAPACITY,
    NET_CAPACITY,
    STEP,
    STEP_CAPACITY,
    STEP_CHARGE_CAPACITY,
    STEP_DISCHARGE_CAPACITY,
    TEST_TIME,
)

__all__ = [
    "SOURCE_CUMULATIVE",
    "SOURCE_CYCLE",
    "SOURCE_CYCLE_NET",
    "SOURCE_INTEGRATED",
    "SOURCE_NET",
    "SOURCE_STEP",
    "SOURCE_STEP_THROUGHPUT",
    "Direction",
    "per_cycle_capacity",
]

Direction = Literal["charge", "discharge"]

SOURCE_CYCLE = "cycle capacity column"
SOURCE_CUMULATIVE = "cumulative capacity column"
SOURCE_STEP = "step capacity column"
SOURCE_STEP_THROUGHPUT = "step throughput column"
SOURCE_CYCLE_NET = "cycle net capacity column"
SOURCE_NET = "net capacity column"
SOURCE_INTEGRATED = "integrated current"

_Float = npt.NDArray[np.float64]
_Index = npt.NDArray[np.intp]


def per_cycle_capacity(
    frame: pd.DataFrame, starts: _Index, ends: _Index, direction: Direction
) -> tuple[_Float, str]:
    """Return one capacity per cycle, in Ah, and where it came from.

    Args:
        frame: A validated BDF table (see :func:`~optloop.data.bdf.validate_bdf`) with a
            cycle count column, rows in time order.
        starts: Index of each cycle's first row.
        ends: Index of each cycle's last row.
        direction: ``"charge"`` (positive current) or ``"discharge"``.

    Returns:
        ``(capacity_Ah, source)``: one non-negative value per cycle, and one of the
        ``SOURCE_*`` names.
    """
    charge = direction == "charge"
    columns = frame.columns
    cycle_col = CHARGE_CAPACITY if charge else DISCHARGE_CAPACITY
    cumulative_col = CUMULATIVE_CHARGE_CAPACITY if charge else CUMULATIVE_DISCHARGE_CAPACITY
    step_col = STEP_CHARGE_CAPACITY if charge else STEP_DISCHARGE_CAPACITY
    if cycle_col in columns:
        return np.maximum.reduceat(_values(frame, cycle_col), starts), SOURCE_CYCLE
    if cumulative_col in columns:
        values = _values(frame, cumulative_col)
        at_end = values[ends]
        before = np.concatenate(([values[0]], at_end[:-1]))
        return at_end - before, SOURCE_CUMULATIVE
    if step_col in columns:
        values = _values(frame, step_col)
        seg_starts = _segments(frame, values, starts)
        per_step = np.maximum.reduceat(values, seg_starts)
        return _sum_per_cycle(per_step, seg_starts, starts), SOURCE_STEP
    if STEP_CAPACITY in columns:
        values = np.abs(_values(frame, STEP_CAPACITY))
        seg_starts = _segments(frame, values, starts)
        per_step = np.maximum.reduceat(values, seg_starts)
        net_current = np.add.reduceat(_values(frame, CURRENT), seg_starts)
        per_step = np.where(net_current > 0 if charge else net_current < 0, per_step, 0.0)
        return _sum_per_cycle(per_step, seg_starts, starts), SOURCE_STEP_THROUGHPUT
    if CYCLE_NET_CAPACITY in columns:
        values = _values(frame, CYCLE_NET_CAPACITY)
        steps = np.diff(values, prepend=0.0)
        steps[starts] = values[starts]  # counted from zero at each cycle's start
        return _split_net(steps, starts, charge), SOURCE_CYCLE_NET
    if NET_CAPACITY in columns:
        steps = np.diff(_values(frame, NET_CAPACITY), prepend=np.nan)
        steps[0] = 0.0
        return _split_net(steps, starts, charge), SOURCE_NET
    charged, discharged = integrate_capacity(
        frame[TEST_TIME].to_numpy(), frame[CURRENT].to_numpy(), frame[CYCLE].to_numpy()
    )
    values = charged if charge else discharged
    return np.maximum.reduceat(values, starts), SOURCE_INTEGRATED


def _values(frame: pd.DataFrame, column: str) -> _Float:
    return frame[column].to_numpy(dtype=float)


def _segments(frame: pd.DataFrame, values: _Float, starts: _Index) -> _Index:
    """Return the first row of each step: a cycle start, a step-count change or a reset."""
    new = np.zeros(len(values), dtype=bool)
    new[starts] = True
    new[1:] |= values[1:] < values[:-1]
    if STEP in frame.columns:
        step = frame[STEP].to_numpy()
        new[1:] |= step[1:] != step[:-1]
    return np.flatnonzero(new)


def _sum_per_cycle(per_step: _Float, seg_starts: _Index, starts: _Index) -> _Float:
    cycle_of_step = np.searchsorted(starts, seg_starts, side="right") - 1
    return np.bincount(cycle_of_step, weights=per_step, minlength=len(starts)).astype(float)


def _split_net(steps: _Float, starts: _Index, charge: bool) -> _Float:
    """Sum the rises (charge) or falls (discharge) of a net counter per cycle."""
    part = np.clip(steps, 0.0, None) if charge else np.clip(-steps, 0.0, None)
    return np.add.reduceat(part, starts).astype(float)
