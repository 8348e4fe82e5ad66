from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from optloop.data.bdf import (
    CHARGE_CAPACITY,
    CUMULATIVE_CHARGE_CAPACITY,
    CUMULATIVE_DISCHARGE_CAPACITY,
    CURRENT,
    CYCLE,
    DISCHARGE_CAPACITY,
    TEST_TIME,
    VOLTAGE,
    BDFError,
    build_bdf_frame,
)
from optloop.data.metrics import CycleMetrics, MetricsError, compute_metrics


def cycling(
    charge_Ah: Sequence[float],
    discharge_Ah: Sequence[float],
    *,
    first_cycle: int = 1,
    discharge_first: bool = False,
    samples: int = 5,
) -> pd.DataFrame:
    """Cycle at 1 A: per cycle, charge then discharge (or the reverse) by the given amounts.

    Step changes get two records at the same time, so trapezoid integration is exact.
    """
    t: list[float] = []
    current: list[float] = []
    cycle: list[int] = []
    now = 0.0
    for n, (q_in, q_out) in enumerate(zip(charge_Ah, discharge_Ah, strict=True)):
        halves = [(-1.0, q_out), (1.0, q_in)] if discharge_first else [(1.0, q_in), (-1.0, q_out)]
        for amps, q in halves:
            duration = q * 3600.0  # at 1 A
            for s in np.linspace(now, now + duration, samples):
                t.append(float(s))
                current.append(amps if duration > 0 else 0.0)
                cycle.append(first_cycle + n)
            now += duration
    voltage = np.full(len(t), 3.7)
    return build_bdf_frame(np.array(t), voltage, np.array(current), np.array(cycle))


def linear_fade(n_cycles: int) -> tuple[list[float], list[float]]:
    """Delivered capacity 1.0 Ah - 1 % per cycle: 0.99 Ah in cycle 1; CE 0.99."""
    discharge = [round(1.0 - 0.01 * n, 12) for n in range(1, n_cycles + 1)]
    return [q / 0.99 for q in discharge], discharge


def test_linear_fade_gives_cycle_life_21() -> None:
    # Cycle n (from 1) delivers 1 - 0.01 n Ah; reference = cycle 1 = 0.99 Ah; threshold
    # 0.792 Ah: cycle 20 (0.80) is above, cycle 21 (0.79) is the first below.
    m = compute_metrics(cycling(*linear_fade(30)))
    assert m.reference_mode == "first"
    assert m.reference_capacity_Ah == pytest.approx(0.99, rel=1e-12)
    assert m.cycle_life == 21
    assert m.cycle_life_censored is False
    assert m.cycles_completed == 30
    assert m.cycle_numbers == tuple(range(1, 31))
    assert m.capacity_retention_final == pytest.approx(0.70 / 0.99, rel=1e-9)
    assert m.first_discharge_capacity_Ah == pytest.approx(0.99, rel=1e-12)
    assert m.first_cycle_efficiency == pytest.approx(0.99, rel=1e-12)
    assert m.discharge_capacity_source == "cycle capacity column"


def test_cycle_numbering_ignores_instrument_start_value() -> None:
    m = compute_metrics(cycling(*linear_fade(30), first_cycle=0))
    assert m.cycle_life == 21
    assert m.cycle_counts[:2] == (0, 1)


def test_nominal_reference() -> None:
    # Threshold 0.8 * 1.02 = 0.816 Ah: cycle 18 (0.82) above, cycle 19 (0.81) below.
    m = compute_metrics(cycling(*linear_fade(30)), reference="nominal", nominal_capacity_Ah=1.02)
    assert (m.reference_mode, m.reference_capacity_Ah, m.cycle_life) == ("nominal", 1.02, 19)


def test_exactly_at_threshold_is_not_end_of_life() -> None:
    df = cycling([1.0] * 4, [1.0, 0.9, 0.8, 0.79])
    # Pin the per-cycle discharge column to exact values (integration may be off by an ulp).
    exact = df[CYCLE].map({1: 1.0, 2: 0.9, 3: 0.8, 4: 0.79})
    peak = df.groupby(CYCLE)[DISCHARGE_CAPACITY].transform("max")
    df[DISCHARGE_CAPACITY] = df[DISCHARGE_CAPACITY] / peak * exact
    assert compute_metrics(df).capacity_Ah[2] == 0.8
    assert compute_metrics(df).cycle_life == 4  # 0.8 is not below 0.8 * 1.0; 0.79 is


def test_stops_above_threshold_is_censored() -> None:
    charge, discharge = [1.0] * 10, [1.0 - 0.01 * n for n in range(10)]  # 1.00 .. 0.91 Ah
    m = compute_metrics(cycling(charge, discharge), planned_cycles=500)
    assert (m.cycle_life, m.cycle_life_censored, m.cycles_completed) == (10, True, 10)
    assert m.stopped_early is True
    assert m.censored_metrics() == {"cycle_life": True}
    assert compute_metrics(cycling(charge, discharge), planned_cycles=10).stopped_early is False


def test_coulombic_efficiency_full_vs_half_cell() -> None:
    # Cycler charge 1.0 Ah, discharge 0.8 Ah in cycle 1; 1.0 and 0.95 in cycle 2.
    df = cycling([1.0, 1.0], [0.8, 0.95])
    full = compute_metrics(df, cell="full")
    assert full.coulombic_efficiency == pytest.approx((0.8, 0.95), rel=1e-12)
    assert full.first_cycle_efficiency == pytest.approx(0.8, rel=1e-12)
    assert full.capacity_Ah == pytest.approx((0.8, 0.95), rel=1e-12)

    # Anode vs Li: lithiation (cycler discharge) comes first and stores charge; delithiation
    # (cycler charge) delivers it.
    half_df = cycling([0.8, 0.95], [1.0, 1.0], discharge_first=True)
    half = compute_metrics(half_df, cell="half")
    assert half.coulombic_efficiency == pytest.approx((0.8, 0.95), rel=1e-12)
    assert half.first_cycle_efficiency == pytest.approx(0.8, rel=1e-12)
    assert half.capacity_Ah == pytest.approx((0.8, 0.95), rel=1e-12)
    assert half.first_discharge_capacity_Ah == pytest.approx(1.0, rel=1e-12)
    # The same data read as a full cell give the inverse.
    inverted = compute_metrics(half_df, cell="full").coulombic_efficiency
    assert inverted == pytest.approx((1 / 0.8, 1 / 0.95), rel=1e-12)


def test_max_early_reference_differs_from_first() -> None:
    discharge = [0.90, 1.00, 0.98, 0.96, 0.94, 0.85, 0.79, 0.75]
    df = cycling([1.05] * len(discharge), discharge)
    first = compute_metrics(df, reference="first")
    early = compute_metrics(df, reference="max_early")
    assert first.reference_capacity_Ah == pytest.approx(0.90, rel=1e-12)
    assert early.reference_capacity_Ah == pytest.approx(1.00, rel=1e-12)
    assert early.reference_mode == "max_early"
    assert first.cycle_life_censored is True  # 0.75 > 0.8 * 0.90
    assert (early.cycle_life, early.cycle_life_censored) == (7, False)  # 0.79 < 0.80
    assert early.capacity_retention[1] == pytest.approx(1.0, rel=1e-12)


def test_rest_cycle_skipped_and_incomplete_last_cycle_dropped() -> None:
    df = cycling([1.0, 0.0, 1.0, 1.0], [0.95, 0.0, 0.94, 0.0])  # cycle 2 rest, cycle 4 charge only
    m = compute_metrics(df)
    assert m.cycle_counts == (1, 3)
    assert m.cycle_numbers == (1, 2)
    assert m.skipped_cycle_counts == (2,)
    assert m.final_cycle_dropped is True
    assert m.cycles_completed == 2


def test_in_progress_drops_a_cut_off_last_cycle() -> None:
    df = cycling([1.0, 1.0, 1.0], [1.0, 0.99, 0.3])  # cycle 3 cut off mid-discharge
    assert compute_metrics(df).cycle_life == 3  # taken at face value: a (false) end of life
    m = compute_metrics(df, in_progress=True)
    assert (m.cycle_life, m.cycle_life_censored, m.final_cycle_dropped) == (2, True, True)


def test_capacity_sources_agree_within_1e_3() -> None:
    df = cycling([1.0, 1.0, 1.0], [0.9, 0.8, 0.7], samples=50)
    from_columns = compute_metrics(df)
    raw = df[[TEST_TIME, VOLTAGE, CURRENT, CYCLE]]
    integrated = compute_metrics(raw)
    assert integrated.discharge_capacity_source == "integrated current"
    np.testing.assert_allclose(
        integrated.discharge_capacity_Ah, from_columns.discharge_capacity_Ah, rtol=1e-3
    )
    cumulative = raw.assign(
        **{
            CUMULATIVE_CHARGE_CAPACITY: np.cumsum(
                df.groupby(CYCLE)[CHARGE_CAPACITY].diff().fillna(0.0)
            ),
            CUMULATIVE_DISCHARGE_CAPACITY: np.cumsum(
                df.groupby(CYCLE)[DISCHARGE_CAPACITY].diff().fillna(0.0)
            ),
        }
    )
    via_cumulative = compute_metrics(cumulative)
    assert via_cumulative.charge_capacity_source == "cumulative capacity column"
    np.testing.assert_allclose(via_cumulative.discharge_capacity_Ah, [0.9, 0.8, 0.7], rtol=1e-9)
    np.testing.assert_allclose(via_cumulative.charge_capacity_Ah, [1.0, 1.0, 1.0], rtol=1e-9)


def test_to_dict_is_json_ready() -> None:
    m = compute_metrics(cycling(*linear_fade(25)))
    data = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert data["cycle_life"] == 21
    assert data["cycle_life_censored"] is False
    assert data["reference_mode"] == "first"
    assert len(data["capacity_retention"]) == 25
    assert set(data) == {f for f in CycleMetrics.__dataclass_fields__}
    assert m.scalar_metrics()["cycle_life"] == 21.0


def test_bad_data_and_arguments() -> None:
    df = cycling([1.0, 1.0], [0.9, 0.9])
    with pytest.raises(BDFError, match="Cycle Count / 1"):
        compute_metrics(df.drop(columns=[CYCLE]), source="cell3.bdf.csv")
    nan_df = df.copy()
    nan_df.loc[3, CURRENT] = np.nan
    with pytest.raises(BDFError, match=r"'Current / A' row 3 is nan"):
        compute_metrics(nan_df)
    negative = df.copy()
    negative.loc[2, CHARGE_CAPACITY] = -0.5
    with pytest.raises(BDFError, match=r"row 2 is -0\.5; limit: >= 0"):
        compute_metrics(negative)
    with pytest.raises(MetricsError, match="no complete cycle"):
        compute_metrics(cycling([1.0], [0.0]))
    with pytest.raises(MetricsError, match="needs nominal_capacity_Ah"):
        compute_metrics(df, reference="nominal")
    with pytest.raises(MetricsError, match="only used with reference='nominal'"):
        compute_metrics(df, nominal_capacity_Ah=1.0)
    with pytest.raises(MetricsError, match=r"threshold=1\.5"):
        compute_metrics(df, threshold=1.5)
    with pytest.raises(MetricsError, match="cell='coin'"):
        compute_metrics(df, cell="coin")  # type: ignore[arg-type]


def gapped_linear_fade(numbers: Sequence[int]) -> pd.DataFrame:
    """The linear fade of :func:`linear_fade`, keeping only the cycles numbered ``numbers``."""
    charge, discharge = linear_fade(max(numbers))
    frames = []
    offset = 0.0
    for n in numbers:
        one = cycling([charge[n - 1]], [discharge[n - 1]], first_cycle=n)
        one[TEST_TIME] += offset
        offset = float(one[TEST_TIME].iloc[-1]) + 10.0
        frames.append(one)
    t = np.concatenate([f[TEST_TIME].to_numpy() for f in frames])
    i = np.concatenate([f[CURRENT].to_numpy() for f in frames])
    c = np.concatenate([f[CYCLE].to_numpy() for f in frames])
    return build_bdf_frame(t, np.full(t.shape, 3.7), i, c)


def test_gapped_frame_interpolates_cycle_life_between_simulated_cycles() -> None:
    # Cycles 12..29 are missing (extrapolated); the fade is linear, so interpolating between
    # cycle 11 (0.89 Ah) and 30 (0.70 Ah) must give the exact life, 21, not the position 6.
    numbers = [1, 2, 3, 10, 11, 30, 31]
    frame = gapped_linear_fade(numbers)
    m = compute_metrics(frame, cycle_numbering="count")
    assert m.cycle_numbers == tuple(numbers)
    assert m.cycle_life == 21
    assert m.cycle_life_censored is False
    assert m.cycles_completed == 31
    assert m.cycle_numbering == "count"
    by_order = compute_metrics(frame)
    assert by_order.cycle_life == 6  # the default numbering counts rows of cycles, not cycles
    assert by_order.cycles_completed == 7


def test_gapped_frame_above_threshold_is_censored_at_its_last_cycle() -> None:
    m = compute_metrics(gapped_linear_fade([1, 2, 8, 9, 15]), cycle_numbering="count")
    assert m.cycle_life_censored is True
    assert m.cycle_life == 15
    assert m.cycles_completed == 15


def test_end_of_life_with_gaps_interpolates_and_checks_its_input() -> None:
    from optloop.data.metrics import end_of_life_cycle, end_of_life_cycle_with_gaps

    # 1.0 Ah at cycle 1, 0.5 Ah at cycle 10: interpolated 0.833 Ah at cycle 4, 0.778 at 5.
    assert end_of_life_cycle_with_gaps([1, 10], [1.0, 0.5], 1.0, 0.8) == 5
    # Without gaps it is the plain rule, cycle by cycle (exactly at the threshold is not).
    q = [1.0, 0.9, 0.8, 0.79, 0.7]
    assert end_of_life_cycle_with_gaps([1, 2, 3, 4, 5], q, 1.0, 0.8) == end_of_life_cycle(q)
    assert end_of_life_cycle_with_gaps([1, 5], [1.0, 0.9], 1.0, 0.8) is None
    assert end_of_life_cycle_with_gaps([3, 7], [0.5, 0.4], 1.0, 0.8) == 3
    with pytest.raises(MetricsError, match="must increase"):
        end_of_life_cycle_with_gaps([1, 3, 3], [1.0, 0.9, 0.7], 1.0, 0.8)
    with pytest.raises(MetricsError, match="must match"):
        end_of_life_cycle_with_gaps([1, 2], [1.0], 1.0, 0.8)
    with pytest.raises(MetricsError, match=r"cycle_numbering='gaps'.*'order' or 'count'"):
        compute_metrics(gapped_linear_fade([1, 2]), cycle_numbering="gaps")  # type: ignore[arg-type]
