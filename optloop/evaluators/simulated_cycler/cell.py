"""One simulated cell: its random draws and its whole test, record by record.

A cell's test is fixed the moment it is built: its draws (seeded by the campaign seed and the
trial id, so independent of submission order) turn the cell model's profile into the cell's
own cycles, and the test ends at end of life (the first cycle below the threshold times cycle
1, exactly as :func:`optloop.data.compute_metrics` counts it) or at the protocol's cycle
count. When the lab stops it early (a lost cell, a channel fault, a cancel) the data are the
same records cut at that moment.

Cycle ``n`` of a cell follows the profile at cycle ``x = 1 + (n - 1) / fade_factor`` (a
lognormal factor of mean 1: above 1 the cell fades more slowly). Between profile cycles every
quantity is interpolated linearly. **Beyond the profile's last cycle** the retention is
extrapolated by a least-squares line through the last 20 % of the profile's cycles (at least
2; one cycle: held constant), floored at 1 % and capped at the profile's largest retention;
the other quantities (efficiency, CC/CV split, currents, voltages) keep their last values.
The number of extrapolated cycles is recorded (:attr:`CellTest.extrapolated_cycles`).

Records per cycle (7): CC charge start and end; CV hold start, knee and end (the current falls
linearly from the CC current to the cut-off at the knee, then stays at the cut-off, which
keeps both the hold's duration and its charge); discharge start and end. Step changes share a
time stamp, so the integrated capacities are exact.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from optloop.data import build_bdf_frame, integrate_capacity
from optloop.evaluators.simulated_cycler.profile import CellProfile

if TYPE_CHECKING:
    from optloop.evaluators.simulated_cycler.reality import DesignTruth

__all__ = [
    "EXTRAPOLATION_RULE",
    "RECORDS_PER_CYCLE",
    "CellDraws",
    "CellTest",
    "build_cell_test",
    "draw_cell",
    "model_retention",
]

RECORDS_PER_CYCLE = 7
EXTRAPOLATION_RULE = (
    "retention beyond the cell model's last cycle: least-squares line through its last 20 % "
    "of cycles (>= 2), floored at 0.01 and capped at its largest retention; other quantities "
    "held at their last values"
)
_FLOOR = 0.01
_SECONDS_PER_HOUR = 3600.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CellDraws:
    """The random draws of one cell."""

    capacity_factor: float
    """Multiplies every capacity (lognormal, mean 1, CV ``capacity_cv``)."""
    fade_factor: float
    """Stretches the retention curve's cycle axis (lognormal, mean 1, CV ``fade_cv``)."""
    noise_out: tuple[float, ...]
    """Relative noise of each cycle's delivered capacity."""
    noise_in: tuple[float, ...]
    """Relative noise of each cycle's stored capacity."""
    lost: bool
    """Whether the cell dies during its test."""
    loss_position: float
    """Where in its test it dies, as a fraction of its cycles, in ``[0, 1)``."""
    loss_within_cycle: float
    """How far into that cycle, in ``[0, 1)``."""
    loss_kind: str
    """``"shorted"`` or ``"open circuit"``."""

    def to_dict(self) -> dict[str, Any]:
        """Return the scalar draws as JSON (the noise arrays are left out)."""
        return {
            "capacity_factor": self.capacity_factor,
            "fade_factor": self.fade_factor,
            "lost": self.lost,
            "loss_position": self.loss_position,
            "loss_within_cycle": self.loss_within_cycle,
            "loss_kind": self.loss_kind,
        }


def _lognormal_mean_one(rng: np.random.Generator, cv: float) -> float:
    if cv <= 0:
        return 1.0
    sigma = math.sqrt(math.log1p(cv * cv))
    return float(rng.lognormal(-0.5 * sigma * sigma, sigma))


def trial_entropy(seed: int, trial_id: str) -> list[int]:
    """Return the seed-sequence entropy of a cell: the campaign seed and its trial id's hash."""
    digest = hashlib.sha256(trial_id.encode()).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


def draw_cell(
    *,
    seed: int,
    trial_id: str,
    n_cycles: int,
    capacity_cv: float,
    fade_cv: float,
    measurement_noise: float,
    lost_cell_probability: float,
) -> CellDraws:
    """Draw a cell's variation, noise and fate; the same arguments give the same draws.

    Each kind of draw has its own stream (spawned from the seed and the trial id), so changing
    one option (say the loss probability) leaves the other draws unchanged.
    """
    streams = np.random.SeedSequence(trial_entropy(seed, trial_id)).spawn(4)
    cap_rng, fade_rng, noise_rng, loss_rng = (np.random.default_rng(s) for s in streams)
    noise = noise_rng.standard_normal((2, n_cycles)) * measurement_noise
    u_lost, u_pos, u_within, u_kind = loss_rng.random(4)
    return CellDraws(
        capacity_factor=_lognormal_mean_one(cap_rng, capacity_cv),
        fade_factor=_lognormal_mean_one(fade_rng, fade_cv),
        noise_out=tuple(float(x) for x in noise[0]),
        noise_in=tuple(float(x) for x in noise[1]),
        lost=bool(u_lost < lost_cell_probability),
        loss_position=float(u_pos),
        loss_within_cycle=float(u_within),
        loss_kind="shorted" if u_kind < 0.5 else "open circuit",
    )


@dataclass(frozen=True)
class CellTest:
    """A cell's whole test as the cycler would record it had nothing stopped it early."""

    time_s: FloatArray
    """Test time of every record (from the cell's start on its channel)."""
    voltage_V: FloatArray
    current_A: FloatArray
    cycle: npt.NDArray[np.int64]
    step: npt.NDArray[np.int64]
    cycle_end_s: FloatArray
    """Test time at which each cycle ends."""
    end_cycle: int
    """Cycles the test runs: the end-of-life cycle, or the protocol's count (censored)."""
    cycle_life: int
    """Cycle life of the whole test (censored when no cycle fell below the threshold)."""
    censored: bool
    planned_cycles: int
    extrapolated_cycles: int
    """Cycles of the test that used the extrapolated retention."""
    loss_cycle: int | None
    """The cycle during which the cell dies (None: it survives)."""
    loss_offset_s: float | None
    """Test time at which it dies."""

    @property
    def duration_s(self) -> float:
        """Return the test's length had nothing stopped it."""
        return float(self.cycle_end_s[self.end_cycle - 1])

    def cycles_done(self, t_s: float) -> int:
        """Return the cycles completed by test time ``t_s``."""
        return int(np.searchsorted(self.cycle_end_s[: self.end_cycle], t_s, side="right"))

    def frame_until(self, t_s: float) -> tuple[pd.DataFrame | None, bool]:
        """Return the BDF table of the records up to test time ``t_s`` and if it ends mid-cycle.

        The table is ``None`` when there is no record yet. A cut inside a step adds a record
        at ``t_s`` interpolated between its neighbours.
        """
        n_records = self.end_cycle * RECORDS_PER_CYCLE
        t = self.time_s[:n_records]
        k = int(np.searchsorted(t, t_s, side="right"))
        if k == 0:
            return None, False
        idx = slice(0, k)
        times, volts = t[idx], self.voltage_V[idx]
        amps, cycles, steps = self.current_A[idx], self.cycle[idx], self.step[idx]
        inside = k < n_records and t[k - 1] < t_s < t[k]
        if inside:
            w = (t_s - t[k - 1]) / (t[k] - t[k - 1])
            times = np.append(times, t_s)
            volts = np.append(volts, volts[-1] + w * (self.voltage_V[k] - volts[-1]))
            amps = np.append(amps, amps[-1] + w * (self.current_A[k] - amps[-1]))
            cycles = np.append(cycles, cycles[-1])
            steps = np.append(steps, steps[-1])
        mid_cycle = k % RECORDS_PER_CYCLE != 0 or inside
        return build_bdf_frame(times, volts, amps, cycles, steps), mid_cycle


def _retention(x: FloatArray, r: FloatArray) -> tuple[FloatArray, int]:
    """Return the profile's retention at fractional cycles ``x`` and how many were extrapolated."""
    m = len(r)
    cycles = np.arange(1, m + 1, dtype=float)
    out = np.interp(x, cycles, r)
    beyond = x > m
    if beyond.any() and m >= 2:
        k = max(2, math.ceil(0.2 * m))
        slope, intercept = np.polyfit(cycles[-k:], r[-k:], 1)
        out[beyond] = np.clip(intercept + slope * x[beyond], _FLOOR, float(r.max()))
    return np.maximum(out, _FLOOR), int(beyond.sum())


def model_retention(x: FloatArray, r: FloatArray) -> FloatArray:
    """Return a profile's retention ``r`` at fractional model cycles ``x`` (extrapolated)."""
    return _retention(np.asarray(x, dtype=float), r)[0]


def _cv_shape(
    q_As: FloatArray, duration_s: FloatArray, i0: FloatArray, i1: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return the CV knee time and the hold's duration that give charge ``q_As`` exactly.

    The current falls linearly from ``i0`` to ``i1`` until the knee, then stays at ``i1``.
    When no knee within ``duration_s`` fits, the duration is changed instead.
    """
    d = duration_s.copy()
    drop = i0 - i1
    with np.errstate(divide="ignore", invalid="ignore"):
        knee = np.where(drop > 1e-12, 2.0 * (q_As - i1 * d) / drop, 0.0)
    too_much = knee > d  # more charge than a linear fall over the whole hold
    d = np.where(too_much, 2.0 * q_As / (i0 + i1), d)
    knee = np.where(too_much, d, knee)
    too_little = knee < 0  # less charge than the cut-off current over the hold
    d = np.where(too_little, q_As / i1, d)
    knee = np.where(too_little, 0.0, knee)
    flat = drop <= 1e-12
    d = np.where(flat, q_As / i0, d)
    return knee, d


def build_cell_test(
    profile: CellProfile,
    draws: CellDraws,
    *,
    planned_cycles: int,
    threshold: float = 0.8,
    cycle_duration_h: float | None = None,
    truth: DesignTruth | None = None,
) -> CellTest:
    """Build a cell's test from the cell model's profile and the cell's draws.

    Args:
        profile: A successful profile.
        draws: The cell's draws (their noise must cover ``planned_cycles``).
        planned_cycles: The protocol's cycle count.
        threshold: End of life: delivered capacity below this times cycle 1's.
        cycle_duration_h: Length of the profile's first cycle on this cycler; ``None`` keeps the
            model's times. Currents scale inversely, so capacities are unchanged.
        truth: A rehearsal's hidden truth of the design
            (:mod:`~optloop.evaluators.simulated_cycler.reality`): it scales the profile's
            capacities and warps its cycle axis before the cell's draws act on it.

    Raises:
        ValueError: If the profile failed or the draws are too short.
    """
    if not profile.ok or profile.cycles is None:
        raise ValueError(f"a failed profile has no cycles ({profile.reason})")
    if len(draws.noise_out) < planned_cycles:
        raise ValueError(
            f"draws cover {len(draws.noise_out)} cycles; limit: >= planned_cycles "
            f"{planned_cycles}"
        )
    p = profile.cycles.arrays()
    m = len(p["discharge_Ah"])
    model_cycles = np.arange(1, m + 1, dtype=float)
    n = np.arange(1, planned_cycles + 1, dtype=float)
    x = 1.0 + (n - 1.0) / draws.fade_factor
    true_capacity = 1.0
    if truth is not None:
        x = truth.model_cycle(x)
        true_capacity = truth.capacity_factor

    def at(name: str) -> FloatArray:
        return np.interp(x, model_cycles, p[name])

    retention, extrapolated = _retention(x, p["discharge_Ah"] / p["discharge_Ah"][0])
    charge_model = p["charge_cc_Ah"] + p["charge_cv_Ah"]
    efficiency = np.interp(x, model_cycles, p["discharge_Ah"] / charge_model)
    if profile.first_cycle_efficiency is not None:
        efficiency[0] = profile.first_cycle_efficiency  # the formation cycle's SEI loss
    cc_share = np.interp(x, model_cycles, p["charge_cc_Ah"] / charge_model)
    base = draws.capacity_factor * true_capacity * p["discharge_Ah"][0] * retention
    noise_out = np.asarray(draws.noise_out[:planned_cycles])
    noise_in = np.asarray(draws.noise_in[:planned_cycles])
    q_out = base * (1.0 + noise_out)
    q_in = base / efficiency * (1.0 + noise_in)
    q_cc, q_cv = q_in * cc_share, q_in * (1.0 - cc_share)

    scale = 1.0
    if cycle_duration_h is not None:
        first = p["cc_s"][0] + p["cv_s"][0] + p["discharge_s"][0]
        scale = cycle_duration_h * _SECONDS_PER_HOUR / first
    i_cc = at("cc_current_A") / scale
    i_cut = np.minimum(at("cv_end_current_A") / scale, i_cc)
    i_dis = at("discharge_current_A") / scale
    t_cc = q_cc * _SECONDS_PER_HOUR / i_cc
    cv_model = at("charge_cv_Ah")
    with np.errstate(divide="ignore", invalid="ignore"):
        cv_time = np.where(cv_model > 0, at("cv_s") * scale * q_cv / cv_model, 0.0)
    knee, t_cv = _cv_shape(q_cv * _SECONDS_PER_HOUR, cv_time, i_cc, i_cut)
    t_dis = q_out * _SECONDS_PER_HOUR / i_dis

    durations = t_cc + t_cv + t_dis
    starts = np.concatenate(([0.0], np.cumsum(durations)[:-1]))
    offsets = np.stack(
        [np.zeros_like(t_cc), t_cc, t_cc, t_cc + knee, t_cc + t_cv, t_cc + t_cv, durations],
        axis=1,
    )
    time_s = (starts[:, None] + offsets).ravel()
    v_charge = at("charge_V")
    voltage = np.stack(
        [at("cc_start_V"), v_charge, v_charge, v_charge, v_charge, at("discharge_start_V"),
         at("discharge_end_V")],
        axis=1,
    ).ravel()
    current = np.stack([i_cc, i_cc, i_cc, i_cut, i_cut, -i_dis, -i_dis], axis=1).ravel()
    cycle = np.repeat(np.arange(1, planned_cycles + 1, dtype=np.int64), RECORDS_PER_CYCLE)
    step = np.tile(np.array([1, 1, 2, 2, 2, 3, 3], dtype=np.int64), planned_cycles)

    # The test stops where compute_metrics puts end of life, on the capacities the BDF file
    # will hold (the same integration), not on the targets above.
    _, discharged = integrate_capacity(time_s, current, cycle)
    delivered = np.maximum.reduceat(discharged, np.arange(0, len(time_s), RECORDS_PER_CYCLE))
    below = np.flatnonzero(delivered < threshold * delivered[0])
    censored = below.size == 0
    end_cycle = planned_cycles if censored else int(below[0]) + 1
    cycle_end = starts + durations
    loss_cycle: int | None = None
    loss_offset: float | None = None
    if draws.lost:
        loss_cycle = 1 + min(int(draws.loss_position * end_cycle), end_cycle - 1)
        loss_offset = float(
            starts[loss_cycle - 1] + draws.loss_within_cycle * durations[loss_cycle - 1]
        )
    return CellTest(
        time_s=time_s,
        voltage_V=voltage,
        current_A=current,
        cycle=cycle,
        step=step,
        cycle_end_s=cycle_end,
        end_cycle=end_cycle,
        cycle_life=end_cycle,
        censored=censored,
        planned_cycles=planned_cycles,
        extrapolated_cycles=int((x[:end_cycle] > m).sum()) if extrapolated else 0,
        loss_cycle=loss_cycle,
        loss_offset_s=loss_offset,
    )
