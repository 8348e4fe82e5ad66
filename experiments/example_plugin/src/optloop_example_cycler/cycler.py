"""A synchronous "bench cycler": scores a design with an empirical fade law, writes real BDF.

It stands in for a lab's cycler so that the plugin template is complete and testable: a real
plugin replaces :func:`_cell` and :func:`_time_series` (the fade law) by "send the job to the
instrument, poll it, convert its export to BDF". Everything around them (options, job ids,
idempotent submit, results computed by optloop's core from the BDF file) stays the same.

The fade law (made up, but monotone in the right directions): the cell delivers the anode's
capacity over the N/P ratio; each cycle keeps ``exp(-k)`` of the previous one, with ``k``
growing with the alloy's share of the capacity, its thickness and crystallinity, and shrinking
with inactive metal and a prelithiation layer. The first cycle loses more charge to SEI the
more alloy (and oxygen) the anode holds.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from optloop.data import build_bdf_frame, compute_metrics, read_bdf, write_bdf
from optloop.evaluators.base import EvaluationResult, JobState, JobStatus, SubmissionLedger
from optloop.evaluators.context import EvaluatorContext
from optloop.exceptions import EvaluationError, OptloopError
from optloop.space import ALLOYING_METALS, Design

__all__ = ["BenchCycler", "BenchOptions"]

#: Lithiated capacity per um of dense film, mAh/cm^2/um (theoretical, rounded); other
#: alloying metals get the default.
_ALLOY_MAH_CM2_UM = {"Si": 0.83, "Sn": 0.73, "Ge": 0.60, "Al": 0.27, "Sb": 0.44, "Zn": 0.29}
_DEFAULT_ALLOY_MAH_CM2_UM = 0.3
#: Graphite: 372 mAh/g at 2.26 g/cm^3, per um of solid.
_GRAPHITE_MAH_CM2_UM = 372.0 * 2.26 * 1e-4
_FIDELITIES = ("full",)
_EXTRA_METRICS = ("cycles_completed", "capacity_retention_final")


class BenchOptions(BaseModel):
    """Options of :class:`BenchCycler` (the config's ``evaluator.options``).

    optloop validates a config's options with this model before it builds the cycler (and
    ``optloop validate`` checks them), so errors name the field, the value and the limit.
    Campaign-wide settings (run folder, executor, seed) come from the context instead.

    Attributes:
        output_dir: Where BDF files go; default: ``<run folder>/bdf`` of the context.
        cycle_cap: Cycles before the test stops (the cycle life is then censored).
        electrode_area_cm2: Electrode area; sets the currents and capacities in Ah.
        end_of_life_fraction: End of life is a capacity below this times cycle 1's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    output_dir: str | None = None
    cycle_cap: int = Field(default=300, ge=1, le=5000)
    electrode_area_cm2: float = Field(default=1.0, gt=0.0)
    end_of_life_fraction: float = Field(default=0.8, gt=0.0, lt=1.0)


@dataclass(frozen=True)
class _Cell:
    """What the fade law needs from a design."""

    capacity_mAh_cm2: float
    fade_per_cycle: float
    first_cycle_efficiency: float


def _cell(design: Design) -> _Cell:
    """Apply the empirical law to a validated design."""
    alloy_cap = 0.0
    alloy_k = 0.0
    first_loss = 0.06
    a = design.alloy_layer
    if a is not None:
        # Alloying metals store lithium; inactive ones (Cu, Ni, ...) only dilute and buffer.
        stores = {el: f for el, f in a.composition.items() if el in ALLOYING_METALS}
        per_um = sum(
            f * _ALLOY_MAH_CM2_UM.get(el, _DEFAULT_ALLOY_MAH_CM2_UM) for el, f in stores.items()
        )
        alloy_cap = per_um * a.thickness_um
        inactive = 1.0 - min(1.0, sum(stores.values()))
        crystalline = 1.8 if a.structure == "crystalline" else 1.0
        alloy_k = 8e-3 * math.sqrt(a.thickness_um) * crystalline * (1.0 - 0.5 * inactive)
        first_loss += 0.05 * a.oxygen_ratio
    carbon_cap = 0.0
    if design.carbon_layer is not None:
        c = design.carbon_layer
        carbon_cap = _GRAPHITE_MAH_CM2_UM * c.thickness_um * (1.0 - c.porosity)
    anode = alloy_cap + carbon_cap
    if anode <= 0:
        raise ValueError("the design stores no lithium (no alloy and no carbon layer)")
    alloy_share = alloy_cap / anode
    fade = 3e-4 + alloy_k * alloy_share
    if design.lithium_layer is not None:
        fade *= 0.7  # prelithiation replaces the lithium lost to SEI growth
    first_loss += 0.12 * alloy_share
    return _Cell(
        capacity_mAh_cm2=anode / design.cell.np_ratio,
        fade_per_cycle=fade,
        first_cycle_efficiency=max(0.5, 1.0 - first_loss),
    )


def _time_series(cell: _Cell, opts: BenchOptions) -> dict[str, np.ndarray]:
    """Return CC charge / CC discharge records, one cycle after another, until end of life."""
    q0_Ah = cell.capacity_mAh_cm2 * opts.electrode_area_cm2 / 1000.0
    i_charge, i_discharge = 0.5 * q0_Ah, 1.0 * q0_Ah  # C/2 charge, 1C discharge
    t = 0.0
    rows: list[tuple[float, float, float, int, int]] = []
    for n in range(1, opts.cycle_cap + 1):
        q_out = q0_Ah * math.exp(-cell.fade_per_cycle * (n - 1))
        ce = cell.first_cycle_efficiency if n == 1 else 0.9995
        q_in = q_out / ce
        t_charge = 3600.0 * q_in / i_charge
        t_discharge = 3600.0 * q_out / i_discharge
        # Two records per step edge (same time, two currents) make the integrals exact.
        rows += [
            (t, 3.40, i_charge, n, 1),
            (t + t_charge, 4.20, i_charge, n, 1),
            (t + t_charge, 4.20, -i_discharge, n, 2),
            (t + t_charge + t_discharge, 3.00, -i_discharge, n, 2),
        ]
        t += t_charge + t_discharge + 600.0  # 10 min rest between cycles (no record)
        if q_out < opts.end_of_life_fraction * q0_Ah:
            break
    arr = np.array(rows)
    return {
        "time_s": arr[:, 0],
        "voltage_V": arr[:, 1],
        "current_A": arr[:, 2],
        "cycle": arr[:, 3].astype(int),
        "step": arr[:, 4].astype(int),
    }


class BenchCycler:
    """A synchronous bench cycler: ``submit`` runs the whole test and writes its BDF file.

    Implements optloop's evaluator protocol (``optloop.evaluators.base.Evaluator``). Jobs are
    terminal as soon as ``submit`` returns; a design that cannot be built is a FAILED result
    with the reason, never an exception.

    optloop builds it as ``BenchCycler(options, context=context)``.

    Args:
        options: A :class:`BenchOptions` or the config's ``evaluator.options`` mapping.
        context: The campaign's run folder, executor and seed; None for ad-hoc use
            (``runs/adhoc``).
    """

    name = "example_cycler"
    #: The model optloop validates ``evaluator.options`` with (the plugin contract).
    options_model: ClassVar[type[BaseModel]] = BenchOptions

    def __init__(
        self,
        options: BenchOptions | Mapping[str, Any] | None = None,
        *,
        context: EvaluatorContext | None = None,
    ) -> None:
        if isinstance(options, BenchOptions):
            self.options = options
        else:
            self.options = BenchOptions.model_validate(dict(options or {}))
        self.context = context or EvaluatorContext()
        self._dir = Path(self.options.output_dir or self.context.path("bdf"))
        self._results: dict[str, EvaluationResult] = {}
        self._ledger = SubmissionLedger(self.name)

    def capabilities(self) -> dict[str, Any]:
        """Return what this cycler supports."""
        return {
            "fidelities": list(_FIDELITIES),
            "asynchronous": False,
            "max_concurrency": 1,
            "supports_cancel": False,
            "supports_partial": False,
            "est_duration_s": 0.05,
            "extra_metrics": list(_EXTRA_METRICS),
            "cycle_cap": self.options.cycle_cap,
        }

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Run the test of one design now and return its job id.

        Raises:
            EvaluationError: If the fidelity is unknown, or ``trial_id`` was already submitted
                with another design or fidelity.
        """
        if fidelity not in _FIDELITIES:
            raise EvaluationError(
                f"{self.name}: fidelity={fidelity!r} unknown; allowed: {list(_FIDELITIES)}"
            )
        design_json = self._ledger.design_json(design)
        existing = self._ledger.lookup(trial_id, design_json, fidelity)
        if existing is not None:
            return existing
        job_id = f"bench-{uuid.uuid4().hex[:12]}"
        self._results[job_id] = self._run(json.loads(design_json), job_id, trial_id)
        self._ledger.record(trial_id, job_id, design_json, fidelity)
        return job_id

    def _run(self, design: dict[str, Any], job_id: str, trial_id: str) -> EvaluationResult:
        meta: dict[str, Any] = {"job_id": job_id, "trial_id": trial_id, "evaluator": self.name}
        try:
            cell = _cell(Design.from_dict(design))
        except (OptloopError, ValueError, TypeError, KeyError) as exc:
            return EvaluationResult.failed(f"rejected: {exc}", metadata=meta)
        series = _time_series(cell, self.options)
        frame = build_bdf_frame(
            series["time_s"], series["voltage_V"], series["current_A"], series["cycle"],
            series["step"],
        )
        self._dir.mkdir(parents=True, exist_ok=True)
        path = write_bdf(frame, self._dir / f"{job_id}.bdf.csv", {**meta, "design": design})
        # The objectives come from the file, computed by optloop's core, as for any cycler.
        data, _ = read_bdf(path)
        m = compute_metrics(
            data,
            cell="full",
            reference="first",
            threshold=self.options.end_of_life_fraction,
            planned_cycles=self.options.cycle_cap,
            source=str(path),
        )
        metrics = {
            "cycle_life": float(m.cycle_life),
            "discharge_capacity_Ah": m.capacity_Ah[0],
            "areal_capacity_mAh_cm2": m.capacity_Ah[0] * 1000.0 / self.options.electrode_area_cm2,
            "capacity_retention": m.capacity_retention_final,
            "cycles_completed": float(m.cycles_completed),
        }
        if m.first_cycle_efficiency is not None:
            metrics["first_cycle_efficiency"] = m.first_cycle_efficiency
        meta["fade_per_cycle"] = cell.fade_per_cycle
        return EvaluationResult(
            JobState.SUCCEEDED,
            metrics=metrics,
            censored=m.censored_metrics(),
            bdf_path=str(path),
            metadata=meta,
        )

    def _result(self, job_id: str) -> EvaluationResult:
        try:
            return self._results[job_id]
        except KeyError:
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}") from None

    def status(self, job_id: str) -> JobStatus:
        """Return the job's (always terminal) state."""
        result = self._result(job_id)
        return JobStatus(state=result.state, reason=result.reason, progress=1.0)

    def fetch(self, job_id: str) -> EvaluationResult:
        """Return the job's result."""
        return self._result(job_id)

    def cancel(self, job_id: str) -> None:
        """Do nothing: every job is finished when ``submit`` returns."""
        self._result(job_id)

    def close(self) -> None:
        """Release resources (none here; a real cycler closes its connection)."""
