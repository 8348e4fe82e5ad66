"""One built PyBaMM simulation per worker; cycling to 80 % or the cycle cap.

:class:`CellSimulator` builds the model once (per chunk length) and solves every design through
its input parameters. With ``extrapolation`` (the default, for runs of at least
``extrapolation_min_cycles`` planned cycles) it skips cycles by adaptive inter-cycle
extrapolation (:mod:`~optloop.evaluators.pybamm.extrapolate`) and keeps the simulated cycles
with their true numbers; otherwise it simulates every cycle, in chunks of ``chunk_cycles`` with
``starting_solution``, stopping after the chunk in which capacity fell below the end-of-life
fraction. It never raises for a design: every failure comes back as a
:class:`SimulationOutcome` with ``ok=False`` and a reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optloop.data.bdf import build_bdf_frame
from optloop.data.metrics import CycleNumbering, MetricsProtocol, end_of_life_cycle
from optloop.evaluators.pybamm import assumptions as A
from optloop.evaluators.pybamm.extrapolate import (
    ExtrapolationRun,
    ExtrapolationSettings,
    run_extrapolated,
)
from optloop.evaluators.pybamm.mapping import (
    CAPACITY_VARIABLE,
    CellModelInputs,
    build_parameter_values,
    cell_model_inputs,
    model_options,
    to_pybamm_inputs,
    validate_inputs,
    var_pts,
)
from optloop.evaluators.pybamm.options import PybammOptions
from optloop.exceptions import DesignError
from optloop.space.design import Design

__all__ = [
    "CellSimulator",
    "SimulationOutcome",
    "design_metrics",
    "first_charge_Ah",
    "formation_charge_Ah",
    "metrics_protocol",
]

_REASON_CHARS = 600


@dataclass
class SimulationOutcome:
    """The result of simulating one design: metrics and data, or a failure reason."""

    ok: bool
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    censored: dict[str, bool] = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    cell: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    protocol: MetricsProtocol | None = None
    """How the metrics were computed from ``frame`` (recorded in the BDF metadata)."""
    solver_failure: dict[str, Any] | None = None
    """A solver failure after the end-of-life crossing: the run stopped early, its metrics
    stand (the cycle life is known), and this says where and why. A failure before the
    crossing is never here: it makes the evaluation fail (``ok=False``) with its reason."""
    extrapolation: dict[str, Any] | None = None
    """With extrapolation: simulated and extrapolated cycles, jumps, the simulated cycle
    numbers (:meth:`~optloop.evaluators.pybamm.extrapolate.ExtrapolationRun.summary`)."""


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + " ..."


class _Timeout(Exception):
    pass


class CellSimulator:
    """Holds the built model and its simulations; :meth:`run` evaluates one design."""

    def __init__(self, options: PybammOptions | None = None) -> None:
        import pybamm

        self.options = options or PybammOptions()
        t0 = time.perf_counter()
        self._pybamm = pybamm
        cls = getattr(pybamm.lithium_ion, self.options.model)
        self._model = cls(model_options())
        self._parameter_values = build_parameter_values(self.options.parameter_set)
        self._sims: dict[int, Any] = {}
        self.build_seconds = time.perf_counter() - t0
        self._sim(self.options.chunk_cycles)
        self.build_seconds = time.perf_counter() - t0

    def _sim(self, n_cycles: int) -> Any:
        """Return the simulation of an ``n_cycles`` experiment, building it on first use."""
        sim = self._sims.get(n_cycles)
        if sim is None:
            pybamm = self._pybamm
            experiment = pybamm.Experiment([self.options.protocol.cycle_steps()] * n_cycles)
            sim = pybamm.Simulation(
                self._model,
                parameter_values=self._parameter_values,
                experiment=experiment,
                solver=pybamm.IDAKLUSolver(),
                var_pts=var_pts(self.options.coarse_mesh),
            )
            sim.build_for_experiment()
            self._sims[n_cycles] = sim
        return sim

    def run(
        self,
        design: Design | dict[str, Any],
        fidelity: str = "screen",
        *,
        timeout_s: float | None = None,
    ) -> SimulationOutcome:
        """Simulate a design; every failure is returned as an outcome, never raised."""
        t_start = time.perf_counter()
        limit = self.options.timeout_s if timeout_s is None else timeout_s
        try:
            n_total = self.options.cycles_for(fidelity)
            if not isinstance(design, Design):
                design = Design.from_dict(design)
            cmi = cell_model_inputs(design, parameter_set=self.options.parameter_set)
        except DesignError as exc:
            return SimulationOutcome(ok=False, reason="rejected before solving: " + str(exc))
        except Exception as exc:  # noqa: BLE001 - materials or option errors become data
            return SimulationOutcome(ok=False, reason="rejected before solving: " + _short(exc))
        inputs = to_pybamm_inputs(cmi)
        problems = validate_inputs(inputs)
        if problems:
            return SimulationOutcome(
                ok=False,
                reason="rejected before solving: " + "; ".join(problems),
                cell=cmi.to_dict(),
            )
        outcome = SimulationOutcome(ok=False, cell=cmi.to_dict())
        extrapolate = (
            self.options.extrapolation and n_total >= self.options.extrapolation_min_cycles
        )
        try:
            if extrapolate:
                xrun = self._cycle_extrapolated(inputs, n_total, t_start, limit)
                outcome.notes.extend(xrun.notes)
                outcome.solver_failure = xrun.failure
                outcome.extrapolation = xrun.summary()
                outcome.notes.append(
                    f"inter-cycle extrapolation: {xrun.simulated_cycles} cycles simulated, "
                    f"{xrun.extrapolated_cycles} extrapolated in "
                    f"{outcome.extrapolation['accepted_jumps']} jumps "
                    f"({xrun.rejected} rejected)"
                )
                t_solved = time.perf_counter()
                outcome.frame = _bdf_frame_cycles(
                    [(c.number, c.solution, c.time_offset_s) for c in xrun.cycles]
                )
            else:
                sol, notes, failure = self._cycle(inputs, n_total, t_start, limit)
                outcome.notes.extend(notes)
                outcome.solver_failure = failure
                t_solved = time.perf_counter()
                outcome.frame = _bdf_frame(sol)
            outcome.protocol = metrics_protocol(
                cmi, self.options.end_of_life_fraction, n_total,
                first_charge_capacity_Ah=first_charge_Ah(cmi, outcome.frame),
                cycle_numbering="count" if extrapolate else "order",
            )
            metrics = outcome.protocol.compute(outcome.frame)
            outcome.metrics, outcome.censored = design_metrics(cmi, metrics, outcome.frame)
            n_solved = (
                outcome.extrapolation["simulated_cycles"]
                if outcome.extrapolation
                else metrics.cycles_completed
            )
            outcome.metrics["cycles_solved"] = float(n_solved)
            outcome.metrics["cycles_extrapolated"] = float(
                outcome.extrapolation["extrapolated_cycles"] if outcome.extrapolation else 0
            )
            outcome.ok = True
            outcome.timings["solve_s"] = t_solved - t_start
        except (_Timeout, TimeoutError) as exc:
            outcome.reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - every solver/model error is a failed evaluation
            outcome.reason = "simulation failed: " + _short(exc)
        outcome.timings["total_s"] = time.perf_counter() - t_start
        return outcome

    def _cycle_extrapolated(
        self, inputs: dict[str, float], n_total: int, t_start: float, limit: float
    ) -> ExtrapolationRun:
        """Cycle with adaptive inter-cycle extrapolation; raise before the end of life."""
        o = self.options
        settings = ExtrapolationSettings(
            tolerance=o.extrapolation_tolerance,
            max_jump=o.extrapolation_max_jump,
            settle_cycles=max(2, o.extrapolation_drift_window + 1),
            drift_window=o.extrapolation_drift_window,
        )

        def check_time(n: int) -> None:
            if time.perf_counter() - t_start > limit:
                raise _Timeout(
                    f"timeout: wall-time limit {limit:g} s reached at cycle {n} of {n_total}"
                )

        return run_extrapolated(
            self._sim, inputs, n_total, o.end_of_life_fraction, _discharge_capacity,
            settings, check_time=check_time,
        )

    def _cycle(
        self, inputs: dict[str, float], n_total: int, t_start: float, limit: float
    ) -> tuple[Any, list[str], dict[str, Any] | None]:
        """Solve chunk by chunk until below end of life or ``n_total`` cycles; check each.

        Returns the solution, notes and, when the solver stopped after the end-of-life
        crossing, a record of that failure (None otherwise). Raises when it stopped before.
        """
        chunk = self.options.chunk_cycles
        sol = None
        done = 0
        q_first: float | None = None
        notes: list[str] = []
        failure: dict[str, Any] | None = None
        while done < n_total:
            n = min(chunk, n_total - done)
            sol = self._sim(n).solve(inputs=inputs, starting_solution=sol)
            cycles = list(sol.cycles)
            caps = [_discharge_capacity(c) for c in cycles[done:]]
            if q_first is None and caps and caps[0] is not None:
                q_first = caps[0]
            if len(cycles) < done + n or any(c is None for c in caps):
                # The experiment stopped early or skipped a step. Acceptable only if the cell
                # had already reached end of life (its cycle life is then known).
                known = [c for c in caps if c is not None]
                eol_cycle = (
                    end_of_life_cycle(known, q_first, self.options.end_of_life_fraction)
                    if q_first is not None
                    else None
                )
                termination = str(getattr(sol, "termination", "?"))
                detail = (
                    f"ran {len(cycles)} of {done + n} requested cycles "
                    f"(termination: {termination})"
                )
                if eol_cycle is None:
                    raise RuntimeError(detail + " before reaching end of life")
                notes.append(detail + " after end of life; data kept up to the last full cycle")
                failure = {
                    "after_end_of_life": True,
                    "end_of_life_cycle": int(done + eol_cycle),
                    "complete_cycles": int(done + len(known)),
                    "requested_cycles": int(done + n),
                    "termination": termination[:_REASON_CHARS],
                }
                break
            done += n
            if q_first is None or not math.isfinite(q_first) or q_first <= 0:
                raise RuntimeError(f"first cycle delivered {q_first!r} Ah")
            eol = self.options.end_of_life_fraction
            if end_of_life_cycle([c for c in caps if c is not None], q_first, eol) is not None:
                break
            if time.perf_counter() - t_start > limit and done < n_total:
                raise _Timeout(
                    f"timeout: wall-time limit {limit:g} s reached after {done} of {n_total} "
                    "cycles"
                )
        return sol, notes, failure


def _discharge_capacity(cycle: Any) -> float | None:
    """Discharge capacity of a cycle's last step, None if a step is missing or empty."""
    if cycle is None:
        return None
    steps = getattr(cycle, "steps", None)
    if not steps or len(steps) < 3:
        return None
    for step in steps:
        if step is None or type(step).__name__ == "EmptySolution":
            return None
    q = steps[-1][CAPACITY_VARIABLE].entries
    return float(q[-1] - q[0])


def _bdf_frame(sol: Any) -> pd.DataFrame:
    """Turn the solution's complete cycles into a BDF frame (current positive = charge)."""
    return _bdf_frame_cycles([(k, c, 0.0) for k, c in enumerate(sol.cycles, start=1)])


def _bdf_frame_cycles(cycles: list[tuple[int, Any, float]]) -> pd.DataFrame:
    """Turn (cycle number, cycle solution, time offset [s]) into a BDF frame.

    Stops at the first incomplete cycle. The cycle numbers are the true ones (gaps where
    cycles were extrapolated); each cycle's time is shifted by its offset (the duration of
    the skipped cycles before it).
    """
    t, v, i, cyc, stp = [], [], [], [], []
    for k, cycle, offset in cycles:
        if _discharge_capacity(cycle) is None:
            break
        for s, step in enumerate(cycle.steps, start=1):
            tt = step["Time [s]"].entries + offset
            t.append(tt)
            v.append(step["Voltage [V]"].entries)
            i.append(-step["Current [A]"].entries)
            cyc.append(np.full(tt.shape, k))
            stp.append(np.full(tt.shape, s))
    return build_bdf_frame(
        np.concatenate(t), np.concatenate(v), np.concatenate(i), np.concatenate(cyc),
        np.concatenate(stp),
    )


def _first_discharge_energy_Wh(frame: pd.DataFrame) -> float:
    first = frame[frame["Cycle Count / 1"] == frame["Cycle Count / 1"].iloc[0]]
    cur = first["Current / A"].to_numpy()
    volt = first["Voltage / V"].to_numpy()
    tt = first["Test Time / s"].to_numpy()
    power = np.where(cur < 0, -cur * volt, 0.0)
    return float(np.sum(0.5 * (power[1:] + power[:-1]) * np.diff(tt)) / 3600.0)


def formation_charge_Ah(cmi: CellModelInputs) -> float:
    """Charge the positive gave before the simulated first charge: as-made minus its start.

    It is the lithium the formation took (SEI, oxide, plated metal) plus the reservoir and
    the negative's floor: the simulation starts after those, a cycler sees them on charge 1.
    """
    window = A.POSITIVE_STO_DISCHARGED - A.POSITIVE_STO_CHARGED
    q_tot = cmi.positive_capacity_mAh_cm2 / window
    mAh_cm2 = A.POSITIVE_STO_AS_MADE * q_tot - cmi.positive_lithium_mAh_cm2
    return max(0.0, mAh_cm2) * A.ELECTRODE_AREA_M2 * 1e4 / 1000.0


def first_charge_Ah(cmi: CellModelInputs, frame: pd.DataFrame) -> float:
    """The cell's first charge as a cycler measures it: formation part + simulated charge 1."""
    first = frame[frame["Cycle Count / 1"] == frame["Cycle Count / 1"].iloc[0]]
    cur = first["Current / A"].to_numpy()
    tt = first["Test Time / s"].to_numpy()
    charge = np.where(cur > 0, cur, 0.0)
    c1 = float(np.sum(0.5 * (charge[1:] + charge[:-1]) * np.diff(tt)) / 3600.0)
    return formation_charge_Ah(cmi) + c1


def metrics_protocol(
    cmi: CellModelInputs,
    end_of_life_fraction: float,
    planned_cycles: int,
    first_charge_capacity_Ah: float | None = None,
    cycle_numbering: CycleNumbering = "order",
) -> MetricsProtocol:
    """Return how a simulated cell's metrics are computed from its BDF frame.

    A full cell against cycle 1's capacity. Formation is not simulated: its lithium loss is
    taken from the inventory before cycle 1, so the first charge a cycler would measure is
    the simulated first charge plus what the positive gave before it
    (:func:`first_charge_Ah`); the first-cycle efficiency is cycle 1's discharge over it.
    Without a frame, the positive's formation charge Q_pos / eta_pos stands for it.
    ``cycle_numbering="count"`` for a frame of an extrapolating run (true cycle numbers,
    gaps interpolated).
    """
    if first_charge_capacity_Ah is None:
        first_charge_capacity_Ah = (
            cmi.positive_first_charge_mAh_cm2 * A.ELECTRODE_AREA_M2 * 1e4 / 1000.0
        )
    return MetricsProtocol(
        cell="full",
        reference="first",
        threshold=end_of_life_fraction,
        formation_cycles=0,
        first_charge_capacity_Ah=first_charge_capacity_Ah,
        planned_cycles=planned_cycles,
        cycle_numbering=cycle_numbering,
    )


def design_metrics(
    cmi: CellModelInputs, metrics: Any, frame: pd.DataFrame
) -> tuple[dict[str, float], dict[str, bool]]:
    """Return the evaluation's metrics (names carry units) and which are censored."""
    area_cm2 = A.ELECTRODE_AREA_M2 * 1e4
    q1 = float(metrics.capacity_Ah[0])
    areal = q1 * 1000.0 / area_cm2
    energy = _first_discharge_energy_Wh(frame)
    stack_volume_L = A.ELECTRODE_AREA_M2 * cmi.stack_thickness_m * 1000.0
    out = {
        "discharge_capacity_Ah": q1,
        "areal_capacity_mAh_cm2": areal,
        "anode_specific_capacity_mAh_g": areal / cmi.anode_active_mass_g_cm2,
        "anode_theoretical_capacity_mAh_g": cmi.anode_theoretical_capacity_mAh_g,
        "energy_density_Wh_L": energy / stack_volume_L,
        "discharge_energy_Wh": energy,
        "first_cycle_efficiency": metrics.first_cycle_efficiency,
        "cycle_life": float(metrics.cycle_life),
        "capacity_retention_final": float(metrics.capacity_retention_final),
        "cycles_simulated": float(metrics.cycles_completed),
        "np_ratio": cmi.np_ratio,
        "swollen_stack_thickness_um": cmi.stack_thickness_m * 1e6,
    }
    return out, {"cycle_life": bool(metrics.cycle_life_censored)}
