"""The host cell's ageing anchor: a graphite host like the LG M50's, against a fitted LG M50 fade.

The host degradation constants of :mod:`optloop.evaluators.pybamm.assumptions` (graphite SEI
solvent diffusivity, graphite LAM) are calibrated so that a graphite host cell with the LG M50's
electrode (85.2 um, N/P ~1.1, ~5 Ah; Chen et al. JES 2020) cycled on the evaluator's default
protocol (0.5C CC-CV / 1C, 25 C) follows the reference retention :data:`ANCHOR_RETENTION`.

The reference is NOT a set of raw measurements: it is NREL BLAST-Lite 1.1.1's LG M50 model
(``Nmc811_GrSi_LGM50_5Ah_Battery``), an empirical calendar + cycling fade model fitted to the
measured LG M50 ageing data of Truong Bui et al. (2021), evaluated at our default protocol
(``experiments/data/lgm50_fade_nrel_blast.csv`` and its generator ``make_lgm50_reference.py``).
Its values carry the fitted model's own error against the cells it was fitted to.

The LG M50 anode is graphite-SiOx: its fade already contains the silicon's (and the positive's),
so the host is calibrated with no alloy phase of its own and the fitted constants carry that
silicon loss; a design's alloy layer keeps its own LAM and SEI on top (the alloy is never counted
twice).

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
    "ANCHOR_CHECK",
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

#: The anchor's protocol is the evaluator's default: 0.5C CC-CV charge to 4.2 V (C/50 cut-off),
#: 1C discharge to 2.5 V, 25 C; the reference was evaluated at this protocol (3.3 h per cycle).
ANCHOR_PROTOCOL = CCCVProtocol()

ANCHOR_SOURCE = (
    "LG M50 (21700, NMC811 / graphite-SiOx, 5 Ah), 25 C, 100 % DOD, 0.5C CC-CV charge, 1C "
    "discharge (optloop's default protocol): NREL BLAST-Lite 1.1.1 model "
    "Nmc811_GrSi_LGM50_5Ah_Battery (P. Gasper, NREL), an empirical calendar + cycling model "
    "fitted to measured LG M50 ageing data of Truong Bui et al. 2021 (IEEE Xplore 9617644), "
    "evaluated at our protocol: the fitted model's values, not raw measurements "
    "(experiments/data/lgm50_fade_nrel_blast.csv, generator make_lgm50_reference.py). "
    "Retention relative to the fresh cell (BLAST cycle 0), compared with the simulated "
    "capacity relative to the first discharge (formation included in cycle 1)."
)

#: (cycle, relative capacity) of the reference at the anchor points (fitted to).
ANCHOR_RETENTION: tuple[tuple[int, float], ...] = (
    (100, 0.93027),
    (200, 0.90455),
    (300, 0.88517),
    (500, 0.85490),
    (800, 0.81984),
    (1000, 0.80027),
)

#: An out-of-fit point of the same reference (not fitted to; stated, not asserted tightly).
ANCHOR_CHECK: tuple[int, float] = (2000, 0.72446)


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
