"""Turn a measured (or simulated) cell's BDF data into a campaign's metrics, one way for all.

The simulated cycler and lab cyclers hand over BDF files; the objectives come from those files
and the design, never from numbers a plugin reports. Capacities per area and per gram need the
cell's electrode area (a lab's coin cell is not PyBaMM's pouch) and the design's anode mass
(:func:`optloop.space.derive`); energy density needs the stack thickness, which only a full-cell
model or the lab knows, so it is reported only when given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optloop.data.bdf import CURRENT, CYCLE, TEST_TIME, VOLTAGE, validate_bdf
from optloop.data.metrics import (
    END_OF_LIFE_FRACTION,
    METRICS_PROTOCOL_KEY,
    CellConfiguration,
    CycleMetrics,
    FormationRule,
    MetricsProtocol,
    ReferenceMode,
)
from optloop.exceptions import EvaluationError
from optloop.space import Design, derive

__all__ = ["MeasuredMetrics", "measured_metrics"]

_SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class MeasuredMetrics:
    """Metrics of one cell, which of them are lower bounds, and the per-cycle data behind them."""

    metrics: dict[str, float]
    """Named with units, as in :data:`optloop.objectives.METRICS` plus ``cycles_completed``."""
    censored: dict[str, bool]
    """``{"cycle_life": True}`` when the test stopped before end of life."""
    cycles: CycleMetrics
    """Per-cycle capacities and efficiencies the metrics were computed from."""
    notes: list[str] = field(default_factory=list)
    """What was left out and why (e.g. no energy density without a stack thickness)."""
    protocol: MetricsProtocol = field(default_factory=MetricsProtocol)
    """The choices the metrics were computed with (recorded, so a file can be re-read alike)."""
    test_duration_h: float | None = None
    """Hours from the data's first to last record (the channel time so far); None if unknown."""

    @property
    def cycles_done(self) -> int:
        """Return the complete cycles in the data, formation cycles included."""
        return self.cycles.cycles_completed + len(self.cycles.formation_cycle_counts)

    def info(self) -> dict[str, Any]:
        """Return the provenance as JSON-ready data (for a result's metadata)."""
        return {
            "cycles_done": self.cycles_done,
            "formation_cycle_counts": list(self.cycles.formation_cycle_counts),
            "metric_notes": list(self.notes),
            METRICS_PROTOCOL_KEY: self.protocol.to_metadata(),
            "test_duration_h": self.test_duration_h,
        }


def _first_discharge_energy_Wh(frame: pd.DataFrame, cycle_count: int, cell: str) -> float:
    """Integrate V·|I| over the delivering half of one cycle (discharge in a full cell)."""
    rows = frame[frame[CYCLE] == cycle_count]
    cur = rows[CURRENT].to_numpy(dtype=float)
    volt = rows[VOLTAGE].to_numpy(dtype=float)
    tt = rows[TEST_TIME].to_numpy(dtype=float)
    delivering = cur < 0 if cell == "full" else cur > 0
    power = np.where(delivering, np.abs(cur) * volt, 0.0)
    return float(np.sum(0.5 * (power[1:] + power[:-1]) * np.diff(tt)) / _SECONDS_PER_HOUR)


def measured_metrics(
    design: Design | Mapping[str, Any],
    frame: pd.DataFrame,
    *,
    electrode_area_cm2: float,
    cell: CellConfiguration = "full",
    reference: ReferenceMode = "first",
    threshold: float = END_OF_LIFE_FRACTION,
    planned_cycles: int | None = None,
    in_progress: bool = False,
    formation_cycles: FormationRule = 0,
    stack_thickness_um: float | None = None,
    source: str = "<data frame>",
) -> MeasuredMetrics:
    """Compute a cell's metrics from its BDF time series and its design.

    Args:
        design: The design the cell was built from (a :class:`Design` or its dict).
        frame: The cell's BDF time series (see :func:`optloop.data.read_bdf`).
        electrode_area_cm2: Area of the cell's negative electrode, in cm².
        cell: ``"full"`` or ``"half"`` (anode against lithium: delivered = delithiation).
        reference: Reference-capacity mode for retention and cycle life.
        threshold: End of life is delivered capacity below ``threshold`` × reference.
        planned_cycles: Cycles the protocol asked for, when known.
        in_progress: True for partial data of a running test (its last cycle is dropped).
        formation_cycles: Leading cycles left out of capacity, retention and cycle life (a
            count or ``"auto"``, see :func:`~optloop.data.compute_metrics`); the first-cycle
            efficiency is then that of the first formation cycle (the one definition, in
            :mod:`optloop.data.metrics`).
        stack_thickness_um: Full-cell stack thickness (collectors, swollen anode, separator,
            positive), for the volumetric energy density; ``None`` leaves it out.
        source: What to call the data in error messages.

    Returns:
        The metrics, censoring flags and the per-cycle data.

    Raises:
        EvaluationError: If the area or stack thickness is not a positive number, or the
            design is malformed.
        BDFError, MetricsError: If the data are malformed or hold no complete cycle.
    """
    if not (isinstance(electrode_area_cm2, int | float) and math.isfinite(electrode_area_cm2)
            and electrode_area_cm2 > 0):
        raise EvaluationError(
            f"{source}: electrode_area_cm2={electrode_area_cm2!r}; limit: a number > 0"
        )
    if stack_thickness_um is not None and not (
        math.isfinite(stack_thickness_um) and stack_thickness_um > 0
    ):
        raise EvaluationError(
            f"{source}: stack_thickness_um={stack_thickness_um!r}; limit: a number > 0 or None"
        )
    d = design if isinstance(design, Design) else Design.from_dict(dict(design))
    protocol = MetricsProtocol(
        cell=cell,
        reference=reference,
        threshold=threshold,
        formation_cycles=formation_cycles,
        planned_cycles=planned_cycles,
    )
    cycles = protocol.compute(frame, in_progress=in_progress, source=source)
    derived = derive(d)
    notes: list[str] = []
    q1 = cycles.capacity_Ah[0]
    areal = q1 * 1000.0 / electrode_area_cm2
    metrics: dict[str, float] = {
        "discharge_capacity_Ah": q1,
        "areal_capacity_mAh_cm2": areal,
        "cycle_life": float(cycles.cycle_life),
        "capacity_retention_final": cycles.capacity_retention_final,
        "capacity_retention": cycles.capacity_retention_final,
        "cycles_completed": float(cycles.cycles_completed),
    }
    if derived.anode_mass_mg_cm2 > 0:
        metrics["anode_specific_capacity_mAh_g"] = areal / (derived.anode_mass_mg_cm2 * 1e-3)
    if cycles.first_cycle_efficiency is not None:
        metrics["first_cycle_efficiency"] = cycles.first_cycle_efficiency
    if cycles.formation_cycle_counts:
        notes.append(
            f"formation cycle count(s) {list(cycles.formation_cycle_counts)} left out of cycle "
            "life, retention and capacity"
        )
    if stack_thickness_um is not None and cell == "full":
        labelled = _with_bdf_labels(frame, source)
        energy = _first_discharge_energy_Wh(labelled, cycles.cycle_counts[0], cell)
        volume_L = electrode_area_cm2 * stack_thickness_um * 1e-4 * 1e-3
        metrics["discharge_energy_Wh"] = energy
        metrics["energy_density_Wh_L"] = energy / volume_L
    else:
        notes.append(
            "energy_density_Wh_L left out: "
            + ("a half cell has no full-cell energy" if cell == "half" else
               "no stack_thickness_um given")
        )
    return MeasuredMetrics(
        metrics=metrics,
        censored={"cycle_life": cycles.cycle_life_censored},
        cycles=cycles,
        notes=notes,
        protocol=protocol,
        test_duration_h=_test_duration_h(frame, source),
    )


def _test_duration_h(frame: pd.DataFrame, source: str) -> float | None:
    """Return the hours between the data's first and last record (None if not readable)."""
    try:
        times = (frame if TEST_TIME in frame.columns else _with_bdf_labels(frame, source))[
            TEST_TIME
        ].to_numpy(dtype=float)
    except Exception:  # noqa: BLE001 - the duration is bookkeeping, never a reason to fail
        return None
    times = times[np.isfinite(times)]
    if times.size == 0:
        return None
    return float(times.max() - times.min()) / _SECONDS_PER_HOUR


def _with_bdf_labels(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Return the frame with BDF labels (aliases renamed), for the energy integral."""
    return validate_bdf(frame, source=source)
