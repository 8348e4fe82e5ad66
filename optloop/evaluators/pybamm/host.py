"""The host cell's ageing anchor: a graphite host like the LG M50's, against its measured fade.

The host degradation constants of :mod:`optloop.evaluators.pybamm.assumptions` (graphite SEI
solvent diffusivity, graphite LAM) are calibrated so that a graphite host cell with the LG M50's
electrode (85.2 um, N/P ~1.1, ~5 Ah; Chen et al. JES 2020) cycled on the anchor's protocol
follows the anchor's retention (:data:`ANCHOR_RETENTION`). The LG M50 anode is graphite-SiOx:
its measured fade already contains the silicon's, so the host is calibrated with no alloy
phase of its own and the fitted constants carry that silicon loss; a design's alloy layer
keeps its own LAM and SEI on top (the alloy is never counted twice).

:func:`retention_curve` runs one design for a fixed number of cycles (no end-of-life stop) and
returns the capacity per cycle and the elapsed hours, for the calibration script and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optloop.evaluators.pybamm.mapping import to_pybamm_inputs
from optloop.evaluators.pybamm.options import CCCVProtocol, PybammOptions
from optloop.space.design import Design

__all__ = [
    "ANCHOR_PROTOCOL",
    "ANCHOR_RETENTION",
    "ANCHOR_SOURCE",
    "HOST_DESIGN",
    "RetentionCurve",
    "retention_curve",
]

_ALLOY_CAPACITY = "Negative electrode secondary phase capacity [A.h]"

#: The host cell: graphite (porosity 0.25) as thick as the LG M50 negative (85.2 um, Chen2020),
#: N/P 1.1 (the M50's graphite + SiOx over its NMC811 window is 5.77 / 5.46 = 1.06 mAh/cm2),
#: which gives 5.03 Ah on the simulated electrode area (LG M50: 5 Ah nominal).
HOST_DESIGN: dict[str, Any] = {
    "alloy_layer": None,
    "carbon_layer": {"thickness_um": 85.2, "porosity": 0.25},
    "lithium_layer": None,
    "cell": {"positive_electrode": "NMC811", "np_ratio": 1.1},
}

#: The anchor's cycling protocol: 0.3C CC-CV charge to 4.2 V, 1C discharge to 2.5 V, 25 C
#: (the ageing cycle of O'Kane et al. PCCP 2022 and of the LG M50T data they compare with).
#: The CV cut-off C/50 is the evaluator's (the publication holds to C/100).
ANCHOR_PROTOCOL = CCCVProtocol(charge_c_rate=0.3, discharge_c_rate=1.0, cv_cutoff_c_rate=0.02)

ANCHOR_SOURCE = (
    "LG M50T (NMC811 / graphite-SiOx, 21700), 25 C, 2.5-4.2 V, 0.3C CC-CV charge, 1C "
    "discharge: Kirkaldy et al., J. Power Sources 603 (2024) 234185, the data O'Kane et al. "
    "PCCP 24 (2022) 7909 compare their model with. Points transcribed from recollection of the "
    "published retention-vs-cycle figure, NOT re-read on this machine (no access): approximate "
    "to about +-3 percentage points of retention and +-20 % in cycle number."
)

#: (cycle, capacity retention) of the anchor cell, relative to its first cycle.
ANCHOR_RETENTION: tuple[tuple[int, float], ...] = (
    (250, 0.94),
    (500, 0.89),
    (750, 0.85),
    (1000, 0.81),
)


@dataclass(frozen=True)
class RetentionCurve:
    """Discharge and charge capacity per cycle of one cell and the hours at each cycle's end."""

    capacity_Ah: np.ndarray
    charge_Ah: np.ndarray
    hours: np.ndarray
    alloy_capacity_Ah: np.ndarray
    """Capacity of the negative's secondary (alloy) phase at each cycle's end."""

    @property
    def coulombic_efficiency(self) -> np.ndarray:
        """Return each cycle's discharge over its charge (charge first, then discharge)."""
        return self.capacity_Ah / self.charge_Ah

    @property
    def retention(self) -> np.ndarray:
        """Return capacity relative to cycle 1."""
        return self.capacity_Ah / self.capacity_Ah[0]

    def retention_at(self, cycle: int) -> float:
        """Return the retention after ``cycle`` cycles (1-based)."""
        return float(self.retention[cycle - 1])


def retention_curve(
    design: Design | dict[str, Any],
    n_cycles: int,
    *,
    protocol: CCCVProtocol | None = None,
    chunk_cycles: int = 50,
    simulator: Any = None,
) -> RetentionCurve:
    """Simulate ``n_cycles`` cycles of a design without an end-of-life stop.

    Args:
        design: The design (or its dict).
        n_cycles: Cycles to simulate.
        protocol: The cycle; the evaluator's default when None.
        chunk_cycles: Cycles per solve call.
        simulator: A :class:`~optloop.evaluators.pybamm.simulate.CellSimulator` to reuse;
            built for ``protocol`` when None.

    Raises:
        RuntimeError: When a cycle is missing or empty (solver stopped early).
    """
    from optloop.evaluators.pybamm.simulate import CellSimulator, _discharge_capacity

    if simulator is None:
        opts = PybammOptions(
            protocol=protocol or CCCVProtocol(), chunk_cycles=chunk_cycles,
            cycle_cap=max(n_cycles, 1), screen_cycles=1,
        )
        simulator = CellSimulator(opts)
    d = design if isinstance(design, Design) else Design.from_dict(design)
    from optloop.evaluators.pybamm.mapping import cell_model_inputs

    inputs = to_pybamm_inputs(cell_model_inputs(d))
    sol = None
    caps: list[float] = []
    charges: list[float] = []
    alloy: list[float] = []
    hours: list[float] = []
    done = 0
    while done < n_cycles:
        n = min(simulator.options.chunk_cycles, n_cycles - done)
        offset = 0 if sol is None else len(sol.cycles)
        sol = simulator._sim(n).solve(inputs=inputs, starting_solution=sol)
        cycles = list(sol.cycles)[offset:]
        for k, cycle in enumerate(cycles):
            q = _discharge_capacity(cycle)
            if q is None:
                raise RuntimeError(
                    f"cycle {done + k + 1} of {n_cycles} missing or empty "
                    f"(termination: {sol.termination})"
                )
            caps.append(q)
            charges.append(_charge_capacity(cycle))
            alloy.append(float(cycle.steps[-1][_ALLOY_CAPACITY].entries[-1]))
            hours.append(float(cycle.steps[-1]["Time [s]"].entries[-1]) / 3600.0)
        if len(cycles) < n:
            raise RuntimeError(
                f"solver ran {done + len(cycles)} of {done + n} cycles "
                f"(termination: {sol.termination})"
            )
        done += n
        # Keep only the last cycle: the next chunk starts from it, memory stays bounded.
        sol = _last_cycle(sol)
    return RetentionCurve(
        np.asarray(caps), np.asarray(charges), np.asarray(hours), np.asarray(alloy)
    )


def _charge_capacity(cycle: Any) -> float:
    """Return the charge of a cycle's CC and CV steps (Ah, positive)."""
    from optloop.evaluators.pybamm.mapping import CAPACITY_VARIABLE

    total = 0.0
    for step in cycle.steps[:-1]:
        q = step[CAPACITY_VARIABLE].entries
        total += float(q[0] - q[-1])
    return total


def _last_cycle(sol: Any) -> Any:
    """Return a solution holding only the last cycle of ``sol`` (a valid starting solution)."""
    last = sol.cycles[-1]
    last.all_summary_variables = [sol.all_summary_variables[-1]]
    last.all_first_states = [sol.all_first_states[-1]]
    last.cycles = [last]
    return last
