"""Metrics of a measured cell from its BDF data and design (shared by cycler evaluators)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pybamm_designs import SI, alloy, design

from optloop.data import build_bdf_frame
from optloop.evaluators.measured import measured_metrics
from optloop.exceptions import EvaluationError
from optloop.space import Design, derive

DESIGN = design(alloy(SI, 1.0), carbon_um=40.0)


def _cycles(
    capacities_Ah: list[float], *, current_A: float = 1.0, volts: float = 3.7
) -> pd.DataFrame:
    """Return a constant-current cell: each cycle charges then discharges ``q`` Ah at 1 A."""
    t, v, i, c = [], [], [], []
    now = 0.0
    for n, q in enumerate(capacities_Ah, start=1):
        dur = q / current_A * 3600.0
        for sign in (1.0, -1.0):
            t += [now, now + dur]
            v += [volts, volts]
            i += [sign * current_A, sign * current_A]
            c += [n, n]
            now += dur
    return build_bdf_frame(t, v, i, c)


def test_full_cell_metrics_follow_the_data_and_the_area() -> None:
    caps = [2.0, 1.9, 1.7, 1.5]
    m = measured_metrics(DESIGN, _cycles(caps), electrode_area_cm2=10.0, stack_thickness_um=200.0)
    assert m.metrics["discharge_capacity_Ah"] == pytest.approx(2.0, rel=1e-9)
    assert m.metrics["areal_capacity_mAh_cm2"] == pytest.approx(200.0, rel=1e-9)
    mass_g_cm2 = derive(Design.from_dict(DESIGN)).anode_mass_mg_cm2 * 1e-3
    assert m.metrics["anode_specific_capacity_mAh_g"] == pytest.approx(200.0 / mass_g_cm2)
    assert m.metrics["cycle_life"] == 4.0  # 1.5 < 0.8 * 2.0
    assert m.censored == {"cycle_life": False}
    # Energy: 2 Ah at 3.7 V over 10 cm2 x 200 um = 0.2 cm3 = 2e-4 L.
    assert m.metrics["energy_density_Wh_L"] == pytest.approx(7.4 / 2e-4, rel=1e-9)


def test_censored_and_half_cell_and_missing_stack() -> None:
    m = measured_metrics(DESIGN, _cycles([2.0, 1.95, 1.9]), electrode_area_cm2=1.0, cell="half")
    assert m.censored == {"cycle_life": True}
    assert m.metrics["cycle_life"] == 3.0
    assert "energy_density_Wh_L" not in m.metrics
    assert any("half cell" in note for note in m.notes)


@pytest.mark.parametrize("area", [0.0, -1.0, float("nan")])
def test_bad_area_is_named(area: float) -> None:
    with pytest.raises(EvaluationError, match="electrode_area_cm2"):
        measured_metrics(DESIGN, _cycles([1.0]), electrode_area_cm2=area)


def test_partial_data_drop_the_running_cycle() -> None:
    frame = _cycles([2.0, 1.9, 1.8])
    m = measured_metrics(DESIGN, frame, electrode_area_cm2=1.0, in_progress=True)
    assert m.cycles.cycles_completed == 2
    assert np.isclose(m.metrics["capacity_retention_final"], 0.95)


def test_formation_cycles_are_left_out_but_keep_the_first_cycle_loss() -> None:
    # Cycle 1 (formation) stores 2.5 Ah and delivers 2.0; cycling then delivers 1.8, 1.7, 1.3.
    frame = _cycles([2.0, 1.8, 1.7, 1.3])
    charge_1 = frame["Cycle Count / 1"] == 1
    frame.loc[charge_1, "Cycle Charging Capacity / Ah"] *= 1.25
    m = measured_metrics(DESIGN, frame, electrode_area_cm2=1.0, formation_cycles=1)
    assert m.cycles.formation_cycle_counts == (1,)
    assert m.metrics["discharge_capacity_Ah"] == pytest.approx(1.8)
    assert m.metrics["first_cycle_efficiency"] == pytest.approx(0.8)  # the formation cycle
    assert m.metrics["cycle_life"] == 3.0  # 1.3 < 0.8 * 1.8, the third cycle after formation
    assert m.cycles_done == 4
    assert any("formation" in note for note in m.notes)
