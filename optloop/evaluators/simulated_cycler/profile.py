"""A cell model's cycling profile: per-cycle capacities, step times and currents, as JSON.

The simulated cycler does not replay a simulation's time series; it keeps, per simulated cycle,
what a CC-CV cycle needs (the charge of the CC and CV steps, the discharge, the step durations,
currents and end voltages) and builds each cell's data from that with its own variation and
noise (:mod:`optloop.evaluators.simulated_cycler.cell`). :func:`profile_from_bdf` makes a
profile from a PyBaMM BDF table; a ``cell_model`` function must return the same form.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from optloop.data import validate_bdf
from optloop.data.bdf import CHARGE_CAPACITY, CURRENT, CYCLE, DISCHARGE_CAPACITY, STEP, TEST_TIME
from optloop.data.bdf import VOLTAGE as VOLTAGE_COLUMN
from optloop.exceptions import EvaluationError

__all__ = [
    "PROFILE_FORMAT",
    "CellProfile",
    "ProfileCycles",
    "profile_from_bdf",
    "profile_key",
    "synthetic_profile",
]

PROFILE_FORMAT = "optloop.cell-profile/1"


class ProfileCycles(BaseModel):
    """Per-cycle columns of a CC-CV profile, one entry per simulated cycle (same lengths).

    Charges and currents are magnitudes (charge and discharge both positive).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    charge_cc_Ah: list[float]
    """Charge stored during the constant-current step."""
    charge_cv_Ah: list[float]
    """Charge stored during the constant-voltage hold."""
    discharge_Ah: list[float]
    """Charge delivered on discharge (> 0)."""
    cc_s: list[float]
    """Duration of the CC charge."""
    cv_s: list[float]
    """Duration of the CV hold."""
    discharge_s: list[float]
    """Duration of the discharge."""
    cc_current_A: list[float]
    """Current of the CC charge (> 0)."""
    cv_end_current_A: list[float]
    """Current at the end of the CV hold (the cut-off, > 0)."""
    discharge_current_A: list[float]
    """Current of the discharge (> 0)."""
    cc_start_V: list[float]
    """Voltage at the start of the CC charge."""
    charge_V: list[float]
    """Voltage of the CV hold (the upper cut-off)."""
    discharge_start_V: list[float]
    """Voltage at the start of the discharge."""
    discharge_end_V: list[float]
    """Voltage at the end of the discharge (the lower cut-off)."""

    @model_validator(mode="after")
    def _columns(self) -> ProfileCycles:
        data = self.model_dump()
        lengths = {k: len(v) for k, v in data.items()}
        if len(set(lengths.values())) != 1 or min(lengths.values()) < 1:
            raise ValueError(f"cycles: columns must have one equal length >= 1; got {lengths}")
        for name, values in data.items():
            arr = np.asarray(values, dtype=float)
            if not np.all(np.isfinite(arr)):
                i = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise ValueError(f"cycles.{name}[{i}] = {values[i]!r}; limit: finite")
            positive = name in ("discharge_Ah", "cc_current_A", "cv_end_current_A",
                                "discharge_current_A")
            bad = arr <= 0 if positive else arr < 0
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                limit = "> 0" if positive else ">= 0"
                raise ValueError(f"cycles.{name}[{i}] = {values[i]!r}; limit: {limit}")
        return self

    def __len__(self) -> int:
        return len(self.discharge_Ah)

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the columns as float arrays."""
        return {k: np.asarray(v, dtype=float) for k, v in self.model_dump().items()}


class CellProfile(BaseModel):
    """What a cell model says about one design at one fidelity: cycles, or why it failed.

    Attributes:
        format: Always :data:`PROFILE_FORMAT`.
        ok: False when the model could not build or cycle the cell.
        reason: Why not (required when ``ok`` is False).
        cycles: The simulated cycles (required when ``ok``).
        first_cycle_efficiency: Delivered / stored charge of the formation cycle (cycle 1);
            ``None`` takes the model's cycle-1 ratio.
        stack_thickness_m: Full-cell stack thickness, for the energy density; ``None`` leaves
            energy density out.
        static_metrics: The cell model's own scalar results, kept for reference only.
        ready_sim_s: Simulated time at which the profile was cached (set by the cycler).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = PROFILE_FORMAT
    ok: bool = True
    reason: str | None = None
    cycles: ProfileCycles | None = None
    first_cycle_efficiency: float | None = Field(default=None, gt=0.0, le=1.5)
    stack_thickness_m: float | None = Field(default=None, gt=0.0, lt=1.0)
    static_metrics: dict[str, float] = Field(default_factory=dict)
    ready_sim_s: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CellProfile:
        if self.format != PROFILE_FORMAT:
            raise ValueError(f"format = {self.format!r}; limit: {PROFILE_FORMAT!r}")
        if self.ok and self.cycles is None:
            raise ValueError("ok = True needs cycles; got None")
        if not self.ok and not (self.reason and self.reason.strip()):
            raise ValueError(f"ok = False needs a reason; got {self.reason!r}")
        bad = {k: v for k, v in self.static_metrics.items() if not math.isfinite(v)}
        if bad:
            raise ValueError(f"static_metrics {bad}; limit: finite numbers")
        return self

    @classmethod
    def failure(cls, reason: str) -> CellProfile:
        """Return the profile of a cell that could not be built or cycled."""
        return cls(ok=False, reason=reason)


def profile_key(design: Mapping[str, Any], fidelity: str, model: Mapping[str, Any]) -> str:
    """Return the cache key of a profile: a hash of the design, fidelity and cell model.

    Args:
        design: The design's JSON dict.
        fidelity: The fidelity asked for.
        model: What decides the cell model's answer (its name and physics options).
    """
    text = json.dumps(
        {"design": design, "fidelity": fidelity, "model": model}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def profile_from_bdf(
    frame: pd.DataFrame,
    *,
    first_cycle_efficiency: float | None = None,
    stack_thickness_m: float | None = None,
    static_metrics: Mapping[str, float] | None = None,
    source: str = "<data frame>",
) -> CellProfile:
    """Summarise a simulated CC-CV time series (three steps per cycle) into a profile.

    Cycles are grouped by the BDF cycle count; step 1 of each cycle is the CC charge, step 2
    the CV hold, step 3 the discharge (the PyBaMM evaluator's layout). Capacities come from the
    per-cycle capacity columns. Cycles that lack a step end the profile.

    The profile holds one entry per cycle, cycle by cycle. An extrapolating PyBaMM run keeps
    only the cycles it simulated, under their true cycle counts (gaps); a skipped cycle gets
    every column interpolated linearly in cycle number between its simulated neighbours, as
    the metrics interpolate its capacity (``cycle_numbering: count``), so entry ``k`` is
    always the ``k``-th cycle.

    Raises:
        EvaluationError: If the table lacks a column or holds no complete cycle.
    """
    df = validate_bdf(frame, source=source)
    needed = (TEST_TIME, VOLTAGE_COLUMN, CURRENT, CYCLE, STEP, CHARGE_CAPACITY,
              DISCHARGE_CAPACITY)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise EvaluationError(f"{source}: a profile needs column(s) {missing}")
    cols: dict[str, list[float]] = {k: [] for k in ProfileCycles.model_fields}
    numbers: list[int] = []
    for count, cyc in df.groupby(CYCLE, sort=True):
        steps = {int(s): g for s, g in cyc.groupby(STEP, sort=True)}
        if set(steps) != {1, 2, 3}:
            break
        cc, cv, dis = steps[1], steps[2], steps[3]
        q_cc = float(cc[CHARGE_CAPACITY].iloc[-1])
        q_cv = float(cv[CHARGE_CAPACITY].iloc[-1]) - q_cc
        q_dis = float(dis[DISCHARGE_CAPACITY].iloc[-1])
        if q_dis <= 0:
            break
        numbers.append(int(count))
        cols["charge_cc_Ah"].append(q_cc)
        cols["charge_cv_Ah"].append(max(q_cv, 0.0))
        cols["discharge_Ah"].append(q_dis)
        for name, g in (("cc_s", cc), ("cv_s", cv), ("discharge_s", dis)):
            cols[name].append(float(g[TEST_TIME].iloc[-1] - g[TEST_TIME].iloc[0]))
        cols["cc_current_A"].append(float(cc[CURRENT].abs().mean()))
        cols["cv_end_current_A"].append(float(abs(cv[CURRENT].iloc[-1])))
        cols["discharge_current_A"].append(float(dis[CURRENT].abs().mean()))
        cols["cc_start_V"].append(float(cc[VOLTAGE_COLUMN].iloc[0]))
        cols["charge_V"].append(float(cv[VOLTAGE_COLUMN].iloc[0]))
        cols["discharge_start_V"].append(float(dis[VOLTAGE_COLUMN].iloc[0]))
        cols["discharge_end_V"].append(float(dis[VOLTAGE_COLUMN].iloc[-1]))
    if not cols["discharge_Ah"]:
        raise EvaluationError(f"{source}: no complete CC-CV cycle to build a profile from")
    if any(b - a > 1 for a, b in zip(numbers, numbers[1:], strict=False)):
        grid = np.arange(numbers[0], numbers[-1] + 1)
        cols = {k: np.interp(grid, numbers, v).tolist() for k, v in cols.items()}
    return CellProfile(
        cycles=ProfileCycles(**cols),
        first_cycle_efficiency=first_cycle_efficiency,
        stack_thickness_m=stack_thickness_m,
        static_metrics={k: float(v) for k, v in (static_metrics or {}).items()
                        if isinstance(v, int | float) and math.isfinite(v)},
    )


def synthetic_profile(design: Mapping[str, Any], fidelity: str) -> dict[str, Any]:
    """Return a fast made-up profile (no physics): for tests and demonstrations only.

    Capacity grows with the alloy and carbon thickness and the fade rate per cycle with the
    alloy thickness (a 1 um film loses about 0.25 % of its capacity per cycle); 400 cycles of
    a 2 h CC charge, 0.25 h CV hold and 1 h discharge. ``cell_model:
    "optloop.evaluators.simulated_cycler.profile:synthetic_profile"`` selects it.

    Raises:
        ValueError: If the design has neither an alloy nor a carbon layer.
    """
    alloy = design.get("alloy_layer") or {}
    carbon = design.get("carbon_layer") or {}
    alloy_um = float(alloy.get("thickness_um") or 0.0)
    carbon_um = float(carbon.get("thickness_um") or 0.0)
    if alloy_um <= 0 and carbon_um <= 0:
        raise ValueError("synthetic_profile: the design has neither an alloy nor a carbon layer")
    q1 = 0.5 + 0.6 * alloy_um + 0.04 * carbon_um
    fade = 0.0004 + 0.0025 * alloy_um
    n = np.arange(400, dtype=float)
    q = q1 * np.clip(1.0 - fade * n - 2e-6 * n**2, 0.05, None)
    i_cc, i_dis = q1 / 2.0, q1 / 1.0
    cc_share = 0.93
    cycles = {
        "charge_cc_Ah": list(q / 0.999 * cc_share),
        "charge_cv_Ah": list(q / 0.999 * (1 - cc_share)),
        "discharge_Ah": list(q),
        "cc_s": list(q / 0.999 * cc_share / i_cc * 3600.0),
        "cv_s": list(np.full(n.shape, 900.0)),
        "discharge_s": list(q / i_dis * 3600.0),
        "cc_current_A": [i_cc] * len(n),
        "cv_end_current_A": [q1 / 50.0] * len(n),
        "discharge_current_A": [i_dis] * len(n),
        "cc_start_V": [3.2] * len(n),
        "charge_V": [4.2] * len(n),
        "discharge_start_V": [4.08] * len(n),
        "discharge_end_V": [2.5] * len(n),
    }
    return {
        "cycles": {k: [float(x) for x in v] for k, v in cycles.items()},
        "first_cycle_efficiency": 0.9,
        "stack_thickness_m": (2 * alloy_um + carbon_um + 90.0) * 1e-6,
        "static_metrics": {"fidelity_is_screen": float(fidelity == "screen")},
    }


def short_lived_profile(design: Mapping[str, Any], fidelity: str) -> dict[str, Any]:
    """Return :func:`synthetic_profile` with a fade that grows steeply with film thickness.

    A made-up population (no physics) whose lives span about 15-110 cycles over the default
    space, so a rehearsal has poor cells to stop: for tests and benchmarks of early stopping
    only. ``cell_model: "optloop.evaluators.simulated_cycler.profile:short_lived_profile"``.
    """
    profile = synthetic_profile(design, fidelity)
    alloy = design.get("alloy_layer") or {}
    t = float(alloy.get("thickness_um") or 0.0)
    cycles = profile["cycles"]
    n = np.arange(len(cycles["discharge_Ah"]), dtype=float)
    q1 = cycles["discharge_Ah"][0]
    q = q1 * np.clip(1.0 - (0.0008 + 0.012 * t) * n - 4e-6 * n**2, 0.05, None)
    scale = q / np.asarray(cycles["discharge_Ah"])
    for key in ("charge_cc_Ah", "charge_cv_Ah", "discharge_Ah", "cc_s", "discharge_s"):
        cycles[key] = [float(x) for x in np.asarray(cycles[key]) * scale]
    return profile
