"""Adaptive inter-cycle extrapolation: lives of thousands of cycles for the cost of a few hundred.

The method of Sulzer, Mohtat, Pannala, Siegel and Stefanopoulou ("Accelerated battery lifetime
simulations using adaptive inter-cycle extrapolation algorithm", J. Electrochem. Soc. 2021),
applied to the built PyBaMM experiment of :class:`~optloop.evaluators.pybamm.simulate.
CellSimulator`:

1. The state vector at the end of each cycle (end of discharge) changes slowly from cycle to
   cycle: the degradation states (SEI per phase, active-material fraction per phase, the
   lithium they took) drift, and the particle concentrations at end of discharge follow the
   lithium inventory. The cycle-end state is treated as a function of the cycle number.
2. After simulated cycles, its drift per cycle ``d = y[n] - y[n-1]`` is known; a jump of
   ``delta`` cycles is an explicit Euler step ``y[n + delta] = y[n] + delta * d`` on every
   differential state (the algebraic ones are made consistent by the solver). The jump is
   generic: no state is named, so other degradation mechanisms (plating, cracking) are carried
   along when the model has them.
3. Lithium is conserved through the jump: the lithium in the particles plus the lithium lost
   to side reactions and with lost active material is the same before and after (the particle
   concentrations are rescaled by the second-order defect of the product of fraction and
   concentration).
4. ``settle_cycles`` cycles are simulated from the extrapolated state; the mean drift of the
   last ``drift_window`` of them is the drift at the new point (a one-cycle drift is a noisy
   sample: stress-driven loss of active material comes in bursts). The difference between
   the drift used and the drift found, times ``delta / 2``, estimates the jump's local
   error (Euler against trapezoid). It is measured on the states (weighted RMS, relative to
   each state's size) and on the capacity (relative to cycle 1's). Under ``tolerance`` the
   jump is accepted and ``delta`` grows; over, it is rejected and retried smaller (step-size
   control of an ODE solver).
5. A jump never takes more than ``approach`` of the cycles predicted to remain before the
   end-of-life crossing, so the step shrinks near it; within ``min_jump`` cycles the cycles
   are simulated one by one, so the crossing itself is always a simulated cycle. A settle
   cycle found below end of life after a long jump rejects the jump.

Only simulated cycles are kept, with their true cycle numbers; the capacity of a skipped
cycle is interpolated between simulated ones (:func:`optloop.data.metrics.compute_metrics`
with ``cycle_numbering="count"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ExtrapolationRun",
    "ExtrapolationSettings",
    "SimulatedCycle",
    "run_extrapolated",
]

#: Variables whose sum is the cell's lithium (particles, side reactions, lost material).
_LITHIUM_PARTICLES = "Total lithium in particles [mol]"
_LITHIUM_SIDE = "Total lithium lost to side reactions [mol]"
_LITHIUM_LAM_PREFIX = "Loss of lithium due to loss of"
_PARTICLE_STATE = "particle concentration"
#: The state-wise error guard is this many times looser than the capacity / lithium tolerance.
_STATE_GUARD = 10.0


@dataclass(frozen=True)
class ExtrapolationSettings:
    """The step-size controller's settings (see the module docstring)."""

    tolerance: float = 2e-3
    """Largest accepted local error of a jump, relative (states to their size, capacity to Q1)."""
    max_jump: int = 200
    """Most cycles skipped in one jump."""
    min_jump: int = 2
    """Fewer cycles than this are simulated, not skipped."""
    settle_cycles: int = 2
    """Cycles simulated at the start and after each jump; the drift is measured on the last
    ``drift_window`` of them (the first after a jump lets the fast states settle)."""
    drift_window: int = 1
    """Cycle-to-cycle differences averaged into the drift (at most ``settle_cycles - 1``).
    Stress-driven loss of active material comes in bursts from cycle to cycle, so a one-cycle
    drift is a noisy, mostly low sample of the mean; the evaluator averages over 4
    (``PybammOptions.extrapolation_drift_window``)."""
    approach: float = 0.5
    """A jump takes at most this fraction of the cycles predicted to remain before end of life."""
    first_jump: int = 4
    """Size of the first jump tried."""


@dataclass
class SimulatedCycle:
    """One simulated cycle: its true number, its PyBaMM cycle solution and capacity."""

    number: int
    solution: Any
    capacity_Ah: float
    time_offset_s: float = 0.0
    """Time of the skipped cycles before it (added to its ``Time [s]`` in the BDF frame)."""


@dataclass
class ExtrapolationRun:
    """What :func:`run_extrapolated` did: the simulated cycles and the jumps."""

    cycles: list[SimulatedCycle] = field(default_factory=list)
    jumps: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    rejected: int = 0

    @property
    def simulated_cycles(self) -> int:
        """Return the number of cycles simulated and kept."""
        return len(self.cycles)

    @property
    def extrapolated_cycles(self) -> int:
        """Return the number of cycles skipped by jumps (accepted ones only)."""
        return sum(int(j["cycles"]) for j in self.jumps if j["accepted"])

    def summary(self) -> dict[str, Any]:
        """Return a JSON-ready record for the outcome's metadata."""
        return {
            "method": "adaptive inter-cycle extrapolation (Sulzer et al., JES 2021)",
            "simulated_cycles": self.simulated_cycles,
            "extrapolated_cycles": self.extrapolated_cycles,
            "last_cycle": self.cycles[-1].number if self.cycles else 0,
            "accepted_jumps": sum(1 for j in self.jumps if j["accepted"]),
            "rejected_jumps": self.rejected,
            "simulated_cycle_numbers": [c.number for c in self.cycles],
        }


class _Incomplete(Exception):
    """A solve returned fewer complete cycles than asked for."""

    def __init__(self, message: str, cycles: list[Any], caps: list[float]) -> None:
        super().__init__(message)
        self.cycles = cycles
        self.caps = caps


def _end_state(solution: Any) -> np.ndarray:
    return np.asarray(solution.last_state.all_ys[0][:, 0], dtype=float).copy()


def _seed(template: Any, y: np.ndarray) -> Any:
    """Return a one-point solution holding state ``y`` to start the next solve from.

    ``template`` is a solution ending at a cycle's end (its last state's model, inputs and
    termination are copied); PyBaMM maps ``y`` to the first step's model.
    """
    import pybamm

    last = template.last_state
    seed = pybamm.Solution(
        [last.all_ts[-1][-1:]],
        [y.reshape(-1, 1)],
        last.all_models[-1:],
        last.all_inputs[-1:],
        last.t_event,
        y.copy(),
        last.termination,
    )
    # No earlier cycles: the next solve's cycles are numbered from 1 (we renumber them).
    seed.cycles = []
    seed.all_summary_variables = []
    seed.all_first_states = []
    return seed


class _Lithium:
    """Evaluates the cell's lithium and rescales particle concentrations to conserve it."""

    def __init__(self, model: Any) -> None:
        self.particle_slices = [
            sl
            for var, slices in model.y_slices.items()
            if _PARTICLE_STATE in var.name
            for sl in slices
        ]
        names = set(model.variables.keys())
        # The lithium lost with active material, per phase: the model's states (the
        # per-electrode totals are sums of them and would count twice).
        self.lam_names = sorted(
            var.name for var in model.y_slices if var.name.startswith(_LITHIUM_LAM_PREFIX)
        )
        self.available = (
            bool(self.particle_slices) and _LITHIUM_PARTICLES in names and _LITHIUM_SIDE in names
        )

    def totals(self, template: Any, y: np.ndarray) -> tuple[float, float]:
        """Return (lithium in particles, all lithium counted) of state ``y`` [mol]."""
        sol = _seed(template, y)
        particles = float(sol[_LITHIUM_PARTICLES].entries[-1])
        lost = float(sol[_LITHIUM_SIDE].entries[-1])
        lost += sum(float(sol[n].entries[-1]) for n in self.lam_names)
        return particles, particles + lost

    def conserve(self, template: Any, y_from: np.ndarray, y_to: np.ndarray) -> float:
        """Rescale the particle concentrations of ``y_to`` in place; return the relative fix."""
        _, total_from = self.totals(template, y_from)
        particles_to, total_to = self.totals(template, y_to)
        if particles_to <= 0:
            return 0.0
        factor = 1.0 + (total_from - total_to) / particles_to
        for sl in self.particle_slices:
            y_to[sl] *= factor
        return factor - 1.0


class _Inventory:
    """The cell's lithium at a state: in the particles, and in total (0 when not available)."""

    def __init__(self, lithium: _Lithium, template: Any) -> None:
        self.lithium = lithium
        self.template = template

    def particles(self, y: np.ndarray) -> float:
        return self.lithium.totals(self.template, y)[0] if self.lithium.available else 0.0

    def total(self, y: np.ndarray) -> float:
        return self.lithium.totals(self.template, y)[1] if self.lithium.available else 0.0


def _variable_groups(model: Any, n_rhs: int) -> np.ndarray:
    """Return, per differential state, the index of the model variable it belongs to."""
    groups = np.arange(n_rhs)
    for k, slices in enumerate(model.y_slices.values()):
        for sl in slices:
            lo, hi = max(sl.start, 0), min(sl.stop, n_rhs)
            if lo < hi:
                groups[lo:hi] = n_rhs + k
    return groups


def _group_max(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Return each element's group maximum (the size of its variable)."""
    out = np.empty_like(values)
    for g in np.unique(groups):
        mask = groups == g
        out[mask] = values[mask].max()
    return out


def run_extrapolated(
    simulation: Callable[[int], Any],
    inputs: dict[str, float],
    n_total: int,
    end_of_life_fraction: float,
    capacity: Callable[[Any], float | None],
    settings: ExtrapolationSettings,
    *,
    check_time: Callable[[int], None] | None = None,
) -> ExtrapolationRun:
    """Cycle a cell to end of life or ``n_total`` cycles, skipping cycles by extrapolation.

    Args:
        simulation: Returns the built simulation of an ``n``-cycle experiment.
        inputs: The design's PyBaMM inputs.
        n_total: The cycle cap: the last simulated cycle is at most this one.
        end_of_life_fraction: End of life is a capacity below this times cycle 1's.
        capacity: Discharge capacity of a PyBaMM cycle solution, None if incomplete.
        settings: The controller's settings.
        check_time: Called with the current cycle number; raises to stop (a time limit).

    Returns:
        The simulated cycles (true numbers) and the jumps.

    Raises:
        RuntimeError: If the solver stopped before the end-of-life crossing.
    """
    run = ExtrapolationRun()
    s = settings
    state: dict[str, Any] = {"offset": 0.0}

    def solve(n_cycles: int, start: Any) -> tuple[Any, list[Any], list[float]]:
        import pybamm

        try:
            sol = simulation(n_cycles).solve(inputs=inputs, starting_solution=start)
        except pybamm.SolverError as exc:
            # PyBaMM raises when the very first step fails (later failures end the
            # experiment early): after a jump that rejects it, else it is a stop.
            raise _Incomplete(f"solver error at the first step: {exc}"[:600], [], []) from None
        cycles = list(sol.cycles)
        caps = [capacity(c) for c in cycles]
        known: list[float] = []
        for c in caps:  # the leading complete cycles
            if c is None:
                break
            known.append(float(c))
        if len(known) < n_cycles:
            raise _Incomplete(
                f"ran {len(known)} of {n_cycles} requested cycles "
                f"(termination: {getattr(sol, 'termination', '?')})",
                cycles[: len(known)],
                known,
            )
        return sol, cycles, known

    def keep(first_number: int, cycles: list[Any], caps: list[float]) -> None:
        for k, (cyc, q) in enumerate(zip(cycles, caps, strict=True)):
            run.cycles.append(SimulatedCycle(first_number + k, cyc, q, state["offset"]))

    def crossed(caps: list[float]) -> bool:
        return any(q < threshold for q in caps)

    n0 = min(max(2, s.settle_cycles), n_total)
    try:
        sol, cycles, caps = solve(n0, None)
    except _Incomplete as exc:
        _stopped(run, exc, 0, end_of_life_fraction)
        keep(1, exc.cycles, exc.caps)
        return run
    keep(1, cycles, caps)
    q1 = caps[0]
    if not (math.isfinite(q1) and q1 > 0):
        raise RuntimeError(f"first cycle delivered {q1!r} Ah")
    threshold = end_of_life_fraction * q1
    if crossed(caps) or n0 >= n_total or len(cycles) < 2:
        return run

    model = sol.last_state.all_models[-1]
    n_rhs = int(model.len_rhs)
    lithium = _Lithium(model)
    if not lithium.available:
        run.notes.append("lithium totals not found in the model: jumps not corrected")
    template = sol
    y_cur = _end_state(sol)
    m = _window(s, len(cycles))
    drift = (y_cur - _end_state_of_cycle(cycles[-1 - m])) / m
    dq = (caps[-1] - caps[-1 - m]) / m
    y_ref = np.abs(np.asarray(_end_state_of_cycle(cycles[0]), dtype=float))
    groups = _variable_groups(model, n_rhs)
    # The state guard watches the slow states: the particle concentrations are fast (their
    # slow part, the lithium inventory, is watched on its own).
    slow = np.ones(n_rhs, dtype=bool)
    for sl in lithium.particle_slices:
        slow[max(sl.start, 0) : min(sl.stop, n_rhs)] = False
    inventory = _Inventory(lithium, template)
    li_total = inventory.total(_end_state_of_cycle(cycles[0]))
    y_back = _end_state_of_cycle(cycles[-1 - m])
    dli = (inventory.particles(y_cur) - inventory.particles(y_back)) / m
    n = n0
    delta = s.first_jump
    cycle_time = _duration(cycles[-1])

    while n < n_total:
        if check_time is not None:
            check_time(n)
        q_last = run.cycles[-1].capacity_Ah
        remaining = (q_last - threshold) / (-dq) if dq < 0 else math.inf
        limit = min(s.max_jump, n_total - n - s.settle_cycles)
        if math.isfinite(remaining):
            limit = min(limit, int(s.approach * remaining))
        delta = min(delta, limit)
        if delta < s.min_jump:
            # Too close to the end of life or the cap to skip: simulate, a few cycles at once.
            k = min(n_total - n, s.settle_cycles)
            if math.isfinite(remaining):
                k = min(k, max(1, int(remaining)) + 1)
            k = max(1, k)
            try:
                sol_d, cycles_d, caps_d = solve(k, _seed(template, y_cur))
            except _Incomplete as exc:
                keep(n + 1, exc.cycles, exc.caps)
                _stopped(run, exc, n, end_of_life_fraction, q1)
                return run
            keep(n + 1, cycles_d, caps_d)
            y_new = _end_state(sol_d)
            m = _window(s, k)
            y_old = _end_state_of_cycle(cycles_d[-1 - m]) if k >= 2 else y_cur
            drift = (y_new - y_old) / m
            dli = (inventory.particles(y_new) - inventory.particles(y_old)) / m
            dq = (caps_d[-1] - (caps_d[-1 - m] if k >= 2 else q_last)) / m
            y_cur, template, n = y_new, sol_d, n + k
            cycle_time = _duration(cycles_d[-1])
            if crossed(caps_d):
                return run
            delta = s.min_jump
            continue

        y_jump = y_cur.copy()
        y_jump[:n_rhs] += delta * drift[:n_rhs]
        fix = lithium.conserve(template, y_cur, y_jump) if lithium.available else 0.0
        record: dict[str, Any] = {
            "from_cycle": n, "cycles": int(delta), "lithium_fix": fix, "accepted": False,
        }
        try:
            sol_j, cycles_j, caps_j = solve(s.settle_cycles, _seed(template, y_jump))
        except _Incomplete as exc:
            record["error"] = math.inf
            record["reason"] = str(exc)
            run.jumps.append(record)
            run.rejected += 1
            delta = delta // 2
            continue
        y_end = _end_state(sol_j)
        m = _window(s, len(cycles_j))
        y_before = _end_state_of_cycle(cycles_j[-1 - m]) if len(cycles_j) >= 2 else y_jump
        drift_new = (y_end - y_before) / m
        dq_new = (caps_j[-1] - (caps_j[-1 - m] if len(caps_j) >= 2 else q_last + delta * dq)) / m
        dli_new = (inventory.particles(y_end) - inventory.particles(y_before)) / m
        # Local error of the Euler jump, ~ delta/2 x the change of the drift, on: the
        # capacity (to cycle 1's), the lithium inventory (to the cell's lithium) and, as a
        # looser guard, every differential state (to its variable's size).
        scale = _group_max(np.maximum(np.abs(y_cur[:n_rhs]), y_ref[:n_rhs]), groups) + 1e-12
        rel = 0.5 * delta * (drift_new[:n_rhs] - drift[:n_rhs]) / scale
        err_y = float(np.sqrt(np.mean(rel[slow] ** 2))) if slow.any() else 0.0
        err_q = abs(0.5 * delta * (dq_new - dq)) / q1
        err_li = abs(0.5 * delta * (dli_new - dli)) / li_total if li_total > 0 else 0.0
        err = max(err_q, err_li, err_y / _STATE_GUARD) / s.tolerance
        record.update(
            error=err, error_states=err_y, error_capacity=err_q, error_lithium=err_li,
            worst_states=[int(i) for i in np.argsort(-np.abs(np.where(slow, rel, 0.0)))[:3]],
        )
        overshoot = crossed(caps_j) and delta > s.min_jump
        if err > 1.0 or overshoot:
            run.jumps.append(record)
            run.rejected += 1
            factor = 0.5 if overshoot else max(0.2, 0.9 / math.sqrt(err))
            delta = int(delta * min(factor, 0.9))
            continue
        record["accepted"] = True
        run.jumps.append(record)
        state["offset"] += delta * cycle_time
        keep(n + delta + 1, cycles_j, caps_j)
        n = n + delta + len(cycles_j)
        y_cur, template, drift, dq, dli = y_end, sol_j, drift_new, dq_new, dli_new
        cycle_time = _duration(cycles_j[-1])
        if crossed(caps_j):
            return run
        growth = 2.0 if err < 1e-6 else min(2.0, 0.9 / math.sqrt(err))
        delta = max(s.min_jump, int(delta * growth))
    return run


def _window(s: ExtrapolationSettings, n_cycles: int) -> int:
    """Return how many cycle differences of ``n_cycles`` simulated cycles the drift averages."""
    return max(1, min(s.drift_window, n_cycles - 1))


def _end_state_of_cycle(cycle: Any) -> np.ndarray:
    return np.asarray(cycle.steps[-1].last_state.all_ys[0][:, 0], dtype=float).copy()


def _duration(cycle: Any) -> float:
    t = cycle["Time [s]"].entries
    return float(t[-1] - t[0])


def _stopped(
    run: ExtrapolationRun,
    exc: _Incomplete,
    n_before: int,
    end_of_life_fraction: float,
    q1: float | None = None,
) -> None:
    """Record a solver stop; raise unless the cell had already reached end of life."""
    caps = [c.capacity_Ah for c in run.cycles] + list(exc.caps)
    ref = q1 if q1 is not None else (caps[0] if caps else None)
    below = ref is not None and any(q < end_of_life_fraction * ref for q in caps)
    detail = f"after cycle {n_before}: {exc}"
    if not below:
        raise RuntimeError(detail + " before reaching end of life")
    run.notes.append(detail + " after end of life; data kept up to the last full cycle")
    run.failure = {
        "after_end_of_life": True,
        "complete_cycles": int(n_before + len(exc.caps)),
        "termination": str(exc)[:600],
    }
