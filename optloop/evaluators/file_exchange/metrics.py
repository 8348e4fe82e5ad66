"""Metrics of a lab cell from its BDF data, with the formation cycles left out by rule.

:func:`optloop.evaluators.measured.measured_metrics` computes every objective; this module only
removes the slow formation cycles first, so cycle life, retention and capacity describe the
cell as cycled by the protocol, while the first-cycle efficiency stays that of the very first
(formation) cycle, where the irreversible loss happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from optloop.data.bdf import CYCLE, validate_bdf
from optloop.data.metrics import CellConfiguration, MetricsError, ReferenceMode, compute_metrics
from optloop.evaluators.measured import measured_metrics
from optloop.space import Design

__all__ = ["ExchangeMetrics", "exchange_metrics"]


@dataclass(frozen=True)
class ExchangeMetrics:
    """Metrics of one cell and what they were computed from."""

    metrics: dict[str, float]
    """As :func:`~optloop.evaluators.measured.measured_metrics` names them."""
    censored: dict[str, bool]
    """``{"cycle_life": True}`` when the test stopped before end of life."""
    cycles_done: int
    """Complete cycles in the data, formation included."""
    formation_cycle_counts: list[int]
    """The instrument's cycle counts left out as formation."""
    notes: list[str] = field(default_factory=list)
    """What was left out and why."""

    def info(self) -> dict[str, Any]:
        """Return the provenance as JSON-ready data (for a result's metadata)."""
        return {
            "cycles_done": self.cycles_done,
            "formation_cycle_counts": list(self.formation_cycle_counts),
            "metric_notes": list(self.notes),
        }


def exchange_metrics(
    design: Design | Mapping[str, Any],
    frame: pd.DataFrame,
    *,
    electrode_area_cm2: float,
    cell: CellConfiguration = "full",
    reference: ReferenceMode = "first",
    threshold: float = 0.8,
    formation_cycles: int = 0,
    planned_cycles: int | None = None,
    in_progress: bool = False,
    stack_thickness_um: float | None = None,
    source: str = "<data frame>",
) -> ExchangeMetrics:
    """Compute a cell's metrics, leaving its first ``formation_cycles`` complete cycles out.

    Cycles are the complete cycles that deliver charge, as :func:`compute_metrics` counts
    them; the first ``formation_cycles`` of them (and any record before their end) are dropped
    before :func:`measured_metrics` runs. ``first_cycle_efficiency`` is always that of the
    first complete cycle of the whole file.

    Args:
        design: The design the cell was built from.
        frame: The cell's BDF time series, with a cycle count column.
        electrode_area_cm2: Negative-electrode area of the cell, in cm².
        cell: ``"full"`` or ``"half"``.
        reference: Reference-capacity mode for retention and cycle life.
        threshold: End of life is delivered capacity below ``threshold`` × reference.
        formation_cycles: Leading complete cycles to leave out.
        planned_cycles: Cycles after formation the protocol asked for.
        in_progress: True for partial data of a running test (its last cycle is dropped).
        stack_thickness_um: Full-cell stack thickness, for the energy density.
        source: What to call the data in error messages.

    Raises:
        BDFError: If the data are malformed or have no cycle count column.
        MetricsError: If no complete cycle remains after formation.
        EvaluationError: If the area or stack thickness is not a positive number.
    """
    if formation_cycles < 0:
        raise MetricsError(f"{source}: formation_cycles={formation_cycles!r}; limit: >= 0")
    frame = validate_bdf(frame, source=source)  # BDF labels, so the cycle column is found
    whole = compute_metrics(frame, cell=cell, in_progress=in_progress, source=source)
    kwargs: dict[str, Any] = {
        "electrode_area_cm2": electrode_area_cm2,
        "cell": cell,
        "reference": reference,
        "threshold": threshold,
        "planned_cycles": planned_cycles,
        "in_progress": in_progress,
        "stack_thickness_um": stack_thickness_um,
        "source": source,
    }
    if formation_cycles == 0:
        measured = measured_metrics(design, frame, **kwargs)
        return ExchangeMetrics(
            metrics=dict(measured.metrics),
            censored=dict(measured.censored),
            cycles_done=whole.cycles_completed,
            formation_cycle_counts=[],
            notes=list(measured.notes),
        )
    if whole.cycles_completed <= formation_cycles:
        raise MetricsError(
            f"{source}: {whole.cycles_completed} complete cycle(s), all of them formation "
            f"(formation_cycles={formation_cycles}); no cycle after formation to compute"
        )
    formation = list(whole.cycle_counts[:formation_cycles])
    after = frame[frame[CYCLE] > formation[-1]].reset_index(drop=True)
    measured = measured_metrics(design, after, **kwargs)
    metrics = dict(measured.metrics)
    notes = list(measured.notes)
    notes.append(
        f"formation cycle count(s) {formation} left out of cycle life, retention and capacity"
    )
    if whole.first_cycle_efficiency is not None:
        metrics["first_cycle_efficiency"] = whole.first_cycle_efficiency
    else:
        metrics.pop("first_cycle_efficiency", None)
    return ExchangeMetrics(
        metrics=metrics,
        censored=dict(measured.censored),
        cycles_done=whole.cycles_completed,
        formation_cycle_counts=formation,
        notes=notes,
    )
