"""A lab's pre-check: what the exchange would record for a data file, before it is dropped.

``optloop data metrics --config CONFIG FILE`` calls :func:`precheck_file`: the same reader,
the same metric definitions (:func:`~.results.exchange_metrics`: formation cycles left out,
first-cycle efficiency of the first formation cycle) and the same plausibility checks as the
intake, with the trial's design when the file's metadata (or ``trial``) names its ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optloop.data.metrics import CycleMetrics, MetricsProtocol
from optloop.data.readers import read_cycler_file
from optloop.evaluators.file_exchange.cells import check_cell_id
from optloop.evaluators.file_exchange.ids import normalise_id
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.evaluators.file_exchange.results import (
    exchange_metrics,
    nominal_capacity_mAh,
    plausibility_problems,
)
from optloop.evaluators.file_exchange.state import JobRecord
from optloop.evaluators.jobs import JobStore
from optloop.exceptions import EvaluationError

__all__ = ["Precheck", "find_record", "precheck_file"]


@dataclass
class Precheck:
    """What the campaign would record for one data file."""

    file: str
    trial_id: str | None
    """The ticket's trial id the file belongs to; None when no trial was found."""
    job_id: str | None
    fidelity: str
    final: bool
    electrode_area_cm2: float
    protocol: MetricsProtocol
    cycles: CycleMetrics
    metrics: dict[str, float]
    """As the campaign records them (all of them with a trial; without one, only those that
    need no design)."""
    censored: dict[str, bool]
    problems: list[str] = field(default_factory=list)
    """Why the intake would hold the file for review (empty: it would be accepted)."""
    notes: list[str] = field(default_factory=list)
    cell_id_checked: bool | None = None
    """Whether the metadata's ``cell_id`` is the ticket's checked cell id (None: no ticket or
    no cell id to check)."""

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "file": self.file,
            "trial_id": self.trial_id,
            "job_id": self.job_id,
            "fidelity": self.fidelity,
            "final": self.final,
            "electrode_area_cm2": self.electrode_area_cm2,
            "protocol": self.protocol.to_metadata(),
            "metrics": self.metrics,
            "censored": self.censored,
            "verdict": "held for review" if self.problems else "accepted",
            "plausibility_problems": self.problems,
            "cell_id_checked": self.cell_id_checked,
            "notes": self.notes,
            "cycles": self.cycles.to_dict(),
        }


def _records(options: FileExchangeOptions) -> list[JobRecord]:
    state = options.root_path / "state"
    if not state.is_dir():
        return []
    store = JobStore(state, "file_exchange", prefix="fx-")
    return [JobRecord.from_dict(data) for data in store.records()]


def find_record(options: FileExchangeOptions, trial: str) -> JobRecord | None:
    """Return the job of the exchange whose ticket shows ``trial`` (or old-style trial id)."""
    wanted = normalise_id(trial)
    for record in _records(options):
        if normalise_id(record.ticket_id) == wanted or record.trial_id == trial:
            return record
    return None


def precheck_file(
    options: FileExchangeOptions, path: Path, *, trial: str | None = None
) -> Precheck:
    """Compute what the campaign would record for a data file, and whether it would be held.

    Args:
        options: The campaign's file-exchange options (from its config).
        path: The data file (its ``<stem>.bdf.metadata.json`` is read when present).
        trial: The ticket's trial id; None: the one the file's metadata names.

    Raises:
        BDFError, MetricsError: If the file cannot be read or holds no complete cycle.
        EvaluationError: If a trial is named but the exchange has no such ticket.
    """
    frame, metadata, report, _ = read_cycler_file(path)
    named = trial if trial is not None else metadata.get("trial_id")
    record = find_record(options, str(named)) if isinstance(named, str) and named else None
    if trial is not None and record is None:
        raise EvaluationError(
            f"trial_id={trial!r}: no ticket with that trial id in {options.root_path / 'state'}"
        )
    final = metadata.get("final") is not False
    area_value = metadata.get("electrode_area_cm2")
    area = (
        float(area_value)
        if isinstance(area_value, int | float) and area_value > 0
        else options.electrode_area_cm2
    )
    stack_value = metadata.get("stack_thickness_um")
    stack = float(stack_value) if isinstance(stack_value, int | float) else None
    fidelity = record.fidelity if record is not None else "full"
    notes = [f"read as CSV with {report.csv_dialect}"] if report.csv_dialect else []
    if record is not None:
        m = exchange_metrics(
            options, record.design, fidelity, frame, final=final, electrode_area_cm2=area,
            stack_thickness_um=stack, source=path.name,
        )
        problems = plausibility_problems(
            m, nominal_mAh=nominal_capacity_mAh(record.design, options, area),
            options=options, fidelity=fidelity, final=final,
        )
        cell_checked = None
        if "cell_id" in metadata:
            cell = check_cell_id(metadata["cell_id"], record, _records(options))
            cell_checked = cell.checked
            if cell.problem is not None:
                problems.append(f"check the cell id: {cell.problem}")
        return Precheck(
            file=str(path), trial_id=record.ticket_id, job_id=record.job_id,
            fidelity=fidelity, final=final, electrode_area_cm2=area, protocol=m.protocol,
            cycles=m.cycles, metrics=dict(m.metrics), censored=dict(m.censored),
            problems=problems, notes=notes + list(m.notes), cell_id_checked=cell_checked,
        )
    protocol = MetricsProtocol(
        cell=options.cell,
        reference=options.reference,
        threshold=options.threshold,
        formation_cycles=options.metric_formation_cycles,
        planned_cycles=options.protocol.cycles_for(fidelity),
    )
    cycles = protocol.compute(frame, in_progress=not final, source=path.name)
    q1 = cycles.capacity_Ah[0]
    metrics = {
        "discharge_capacity_Ah": q1,
        "areal_capacity_mAh_cm2": q1 * 1000.0 / area,
        "cycle_life": float(cycles.cycle_life),
        "capacity_retention_final": cycles.capacity_retention_final,
        "capacity_retention": cycles.capacity_retention_final,
        "cycles_completed": float(cycles.cycles_completed),
    }
    if cycles.first_cycle_efficiency is not None:
        metrics["first_cycle_efficiency"] = cycles.first_cycle_efficiency
    notes.append(
        "no ticket found for this file (give --trial or a metadata file naming its trial_id): "
        "the metrics that need the design (per gram, energy) and the capacity check are "
        "left out"
    )
    problems = []
    if isinstance(named, str) and named:
        problems.append(
            f"unknown trial: trial_id {named!r} in the metadata names no ticket of this "
            "exchange; check the trial id on the ticket"
        )
    return Precheck(
        file=str(path), trial_id=None, job_id=None, fidelity=fidelity, final=final,
        electrode_area_cm2=area, protocol=protocol, cycles=cycles, metrics=metrics,
        censored={"cycle_life": cycles.cycle_life_censored}, problems=problems, notes=notes,
    )
