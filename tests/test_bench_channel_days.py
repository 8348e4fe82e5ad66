"""Scoring of the channel-days benchmark (experiments/bench_channel_days.py) on hand-made cells.

Every expected number below is worked out by hand in the comments (exact arithmetic; the
tolerance 1e-12 is float round-off only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

import bench_channel_days as B  # noqa: E402

GOALS = [B.Goal("cycle_life", True, 20.0), B.Goal("areal_capacity_mAh_cm2", True, 0.5)]
ICE = [B.Bound("first_cycle_efficiency", ">=", 0.6)]


def _o(life: float, cap: float, ice: float = 0.9) -> dict[str, float]:
    return {"cycle_life": life, "areal_capacity_mAh_cm2": cap, "first_cycle_efficiency": ice}


def test_hypervolume_two_objectives_by_hand() -> None:
    # Points above the reference (20, 0.5): (100-20, 1.5-0.5) = (80, 1) and (40-20, 2.5-0.5)
    # = (20, 2). Union of boxes: 80*1 + 20*(2-1) = 100. The infeasible (ICE 0.5) point and the
    # one below the reference add nothing.
    outs = [_o(100, 1.5), _o(40, 2.5), _o(1000, 3.0, ice=0.5), _o(10, 9.0)]
    assert B.hypervolume(outs, GOALS, ICE) == pytest.approx(100.0, abs=1e-12)
    assert B.hypervolume([], GOALS, ICE) == 0.0


def test_hv_curve_against_channel_days_and_cells() -> None:
    # Cell 1: ordered day 0, channel days 2-12, finished (true (100, 1.5)).
    # Cell 2: ordered day 0, channel days 2-6, finished (true (40, 2.5)).
    # Cell 3: ordered day 7, channel from day 8, still running at the end (never finished).
    cells = [
        B.CellRecord(1, 0.0, 2.0, 12.0, True, _o(100, 1.5)),
        B.CellRecord(2, 0.0, 2.0, 6.0, True, _o(40, 2.5)),
        B.CellRecord(3, 7.0, 8.0, None, False, _o(5000, 5.0)),
    ]
    curve = B.hv_curve(cells, GOALS, ICE)
    # Day 6: cell 2 done: channel-days 4 (cell 1) + 4 (cell 2) = 8; cells ordered: 2;
    # HV of (20, 2) alone = 20*2 = 40.
    # Day 12: cell 1 done: 10 + 4 + 4 (cell 3, days 8-12) = 18; cells 3; HV 100 (above).
    assert [(p["day"], p["channel_days"], p["cells"]) for p in curve] == [
        (0.0, 0.0, 0.0), (6.0, 8.0, 2.0), (12.0, 18.0, 3.0)]
    assert [p["hv"] for p in curve] == pytest.approx([0.0, 40.0, 100.0], abs=1e-12)
    assert B.value_at(curve, "channel_days", 17.9) == pytest.approx(40.0)
    assert B.first_reaching(curve, "channel_days", 100.0) == 18.0
    assert B.first_reaching(curve, "cells", 40.0) == 2.0
    assert B.first_reaching(curve, "cells", 101.0) is None


def test_coverage_width_and_censoring() -> None:
    def cell(i: int, lo: float, med: float, hi: float, true: float) -> B.CellRecord:
        pred = {"lower_cycles": lo, "median_cycles": med, "upper_cycles": hi}
        return B.CellRecord(i, 0, 0, 1, True, _o(true, 1.0), _o(true, 1.0), pred, 10.0)

    cells = [
        cell(1, 100, 150, 200, 180),   # covered, width 2
        cell(2, 100, 150, 400, 90),    # below: not covered, width 4
        cell(3, 50, 100, 200, 4000),   # beyond the cap 3000 but upper < cap: not covered
        cell(4, 1000, 2000, 3000, 4000),  # beyond the cap, interval reaches it: covered
        B.CellRecord(5, 0, 0, 1, True, _o(50, 1.0), _o(50, 1.0)),  # no prediction: ignored
    ]
    s = B.interval_stats(cells, cap=3000.0)
    assert s["n"] == 4
    assert s["coverage"] == pytest.approx(0.5)
    assert s["median_width_ratio"] == pytest.approx(3.5)  # widths 2, 4, 4, 3
    # Channel-days saved: 4 stopped cells, each used 1 of a 10-day test.
    assert B.channel_days_saved(cells) == pytest.approx(36.0)


def test_wrong_stop_needs_a_miss_that_changes_the_front() -> None:
    pred = {"lower_cycles": 40.0, "median_cycles": 50.0, "upper_cycles": 60.0}
    # Cell 1 (measured): (300, 1.0) on the front. Cell 2 stopped, believed 50 cycles, truly
    # 400 at capacity 1.2: it dominates cell 1 in truth, so the miss changes the front.
    # Cell 3 stopped, believed 50, truly 30 at capacity 0.9 (outside [40, 60]) but dominated
    # either way: not a wrong stop. Cell 4 stopped, truly 55 (covered): never a wrong stop.
    cells = [
        B.CellRecord(1, 0, 0, 1, True, {}, _o(300, 1.0)),
        B.CellRecord(2, 0, 0, 1, True, {}, _o(400, 1.2), pred),
        B.CellRecord(3, 0, 0, 1, True, {}, _o(30, 0.9), pred),
        B.CellRecord(4, 0, 0, 1, True, {}, _o(55, 0.8), pred),
    ]
    w = B.wrong_stops(cells, GOALS, ICE, cap=3000.0)
    assert (w["stopped"], w["wrong"], w["trials"]) == (3, 1, [2])
    assert w["fraction"] == pytest.approx(1 / 3)


def test_placeholder_arms_name_the_missing_config() -> None:
    from optloop.config.models import CampaignConfig

    why = B.needs_sections("c")
    if "lives" in CampaignConfig.model_fields and "prior" in CampaignConfig.model_fields:
        assert why is None
    else:
        assert why is not None and "needs" in why and "config" in why
    assert B.needs_sections("a") is None
