from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optloop.data import bdf
from optloop.data.bdf import (
    AMBIENT_TEMPERATURE,
    CHARGE_CAPACITY,
    CURRENT,
    CYCLE,
    DISCHARGE_CAPACITY,
    STEP,
    TEST_TIME,
    VOLTAGE,
    BDFError,
    build_bdf_frame,
    integrate_capacity,
    metadata_path,
    read_bdf,
    validate_bdf,
    write_bdf,
)
from optloop.exceptions import OptloopError


def two_cycles() -> pd.DataFrame:
    """Two cycles of 1 A charge then 1 A discharge, 0.5 h each; step changes share a time."""
    t = np.array([0, 900, 1800, 1800, 2700, 3600, 3600, 4500, 5400, 5400, 6300, 7200], float)
    current = np.array([1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1, -1], float)
    voltage = np.linspace(3.0, 4.0, len(t))
    cycle = np.repeat([1, 2], 6)
    step = np.repeat([1, 2, 1, 2], 3)
    frame = build_bdf_frame(t, voltage, current, cycle, step)
    frame[AMBIENT_TEMPERATURE] = 25.0
    return frame


def test_build_bdf_frame_integrates_per_cycle_capacity() -> None:
    frame = two_cycles()
    assert list(frame.columns[:5]) == [TEST_TIME, VOLTAGE, CURRENT, CYCLE, STEP]
    per_cycle = frame.groupby(CYCLE)[[CHARGE_CAPACITY, DISCHARGE_CAPACITY]].max()
    np.testing.assert_allclose(per_cycle.to_numpy(), 0.5, rtol=1e-12)
    # Each cycle starts from zero.
    assert frame.loc[frame[CYCLE] == 2, CHARGE_CAPACITY].iloc[0] == 0.0
    assert frame[CYCLE].dtype == np.int64


def test_integration_of_varying_current_within_1e_3() -> None:
    # A constant-voltage-like decay, I = 2 exp(-t / 1800 s) A, over 2 h, sampled every 36 s.
    t = np.linspace(0.0, 7200.0, 201)
    current = 2.0 * np.exp(-t / 1800.0)
    exact = 2.0 * 1800.0 * (1.0 - np.exp(-4.0)) / 3600.0
    charge, discharge = integrate_capacity(t, current, np.ones_like(t))
    assert abs(charge[-1] - exact) / exact < 1e-3
    assert np.all(discharge == 0.0)
    assert np.all(np.diff(charge) >= 0)
    charge2, discharge2 = integrate_capacity(t, -current, np.ones_like(t))
    assert np.all(charge2 == 0.0)
    np.testing.assert_array_equal(discharge2, charge)


def test_integration_restarts_each_cycle() -> None:
    charge, _ = integrate_capacity([0.0, 3600.0, 7200.0, 10800.0], [1.0] * 4, [1, 1, 2, 2])
    np.testing.assert_allclose(charge, [0.0, 1.0, 0.0, 1.0])


def test_csv_round_trip(tmp_path: Path) -> None:
    frame = two_cycles()
    meta = {"cell_id": "c1", "design": {"thickness_um": 2.5}, "reference_mode": "first"}
    path = write_bdf(frame, tmp_path / "cell.bdf.csv", meta)
    assert path == tmp_path / "cell.bdf.csv"
    assert metadata_path(path) == tmp_path / "cell.bdf.metadata.json"
    back, back_meta = read_bdf(path)
    # Exact on pandas 3; pandas 2's default CSV float parser may be 1 ulp off.
    pd.testing.assert_frame_equal(back, frame, check_exact=False, rtol=1e-15, atol=0.0)
    assert back_meta == meta


def test_parquet_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = two_cycles()
    path = write_bdf(frame, tmp_path / "cell.bdf.parquet", {"evaluator": "pybamm"})
    back, meta = read_bdf(path)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    assert meta == {"evaluator": "pybamm"}


def test_write_leaves_only_data_and_metadata(tmp_path: Path) -> None:
    write_bdf(two_cycles(), tmp_path / "cell.bdf.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.bdf.csv", "cell.bdf.metadata.json"]
    assert json.loads((tmp_path / "cell.bdf.metadata.json").read_text()) == {}


def test_failed_write_keeps_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_bdf(two_cycles(), tmp_path / "cell.bdf.csv", {"cell_id": "old"})
    before = path.read_bytes()

    def broken_to_csv(self: pd.DataFrame, target: Path, **kwargs: object) -> None:
        Path(target).write_text("Test Time / s\n1\n")  # half-written
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(OSError, match="disk full"):
        write_bdf(two_cycles(), path, {"cell_id": "new"})
    assert path.read_bytes() == before
    assert json.loads(metadata_path(path).read_text()) == {"cell_id": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.bdf.csv", "cell.bdf.metadata.json"]


def test_missing_column_names_column_file_and_found(tmp_path: Path) -> None:
    path = tmp_path / "bad.bdf.csv"
    pd.DataFrame({TEST_TIME: [0.0, 1.0], CURRENT: [1.0, 1.0]}).to_csv(path, index=False)
    with pytest.raises(BDFError) as info:
        read_bdf(path)
    message = str(info.value)
    assert str(path) in message
    assert "Voltage / V" in message
    assert "Current / A" in message  # lists what was found
    assert isinstance(info.value, OptloopError)
    assert isinstance(info.value, ValueError)


def test_aliases_are_renamed(tmp_path: Path) -> None:
    path = tmp_path / "legacy.bdf.csv"
    pd.DataFrame(
        {
            "Test_Time (s)": [0.0, 1.0],
            "Voltage (V)": [3.0, 3.1],
            "Current (A)": [1.0, 1.0],
            "Step Index / 1": [1, 1],
        }
    ).to_csv(path, index=False)
    frame, meta = read_bdf(path)
    assert list(frame.columns) == [TEST_TIME, VOLTAGE, CURRENT, STEP]
    assert meta == {}


def test_alias_and_label_together_is_an_error() -> None:
    df = pd.DataFrame({TEST_TIME: [0.0], "Test_Time (s)": [0.0], VOLTAGE: [3.0], CURRENT: [0.0]})
    with pytest.raises(BDFError, match="both give 'Test Time / s'"):
        validate_bdf(df)


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        pytest.param(
            TEST_TIME,
            [0.0, 2.0, 1.0],
            r"'Test Time / s' decreases at row 2: 1\.0 after 2\.0",
            id="time",
        ),
        pytest.param(CYCLE, [2, 1, 1], r"'Cycle Count / 1' decreases at row 1", id="cycle"),
        pytest.param(CYCLE, [1, 1.5, 2], r"row 1 is 1\.5; limit: a whole number", id="cycle_int"),
        pytest.param(VOLTAGE, [3.0, np.nan, 3.0], r"'Voltage / V' row 1 is nan", id="nan"),
        pytest.param(CURRENT, ["1", "x", "1"], r"'Current / A' row 1 is 'x'", id="text"),
        pytest.param(
            DISCHARGE_CAPACITY, [0.0, -0.1, 0.2], r"row 1 is -0\.1; limit: >= 0", id="neg"
        ),
    ],
)
def test_validation_messages(column: str, values: list[object], expected: str) -> None:
    df = pd.DataFrame(
        {TEST_TIME: [0.0, 1.0, 2.0], VOLTAGE: [3.0] * 3, CURRENT: [1.0] * 3, CYCLE: [1] * 3}
    )
    df[column] = values
    with pytest.raises(BDFError, match=expected) as info:
        validate_bdf(df, source="cell7.bdf.csv")
    assert "cell7.bdf.csv" in str(info.value)


def test_empty_table_is_an_error() -> None:
    with pytest.raises(BDFError, match="no rows"):
        validate_bdf(pd.DataFrame({TEST_TIME: [], VOLTAGE: [], CURRENT: []}))


def test_bad_suffix_and_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(BDFError, match=r"must end in one of"):
        write_bdf(two_cycles(), tmp_path / "cell.csv")
    with pytest.raises(BDFError, match=r"metadata\['when'\]"):
        write_bdf(two_cycles(), tmp_path / "cell.bdf.csv", {"when": {1, 2}})
    assert list(tmp_path.iterdir()) == []


def test_build_bdf_frame_rejects_unequal_lengths() -> None:
    with pytest.raises(BDFError, match="differ in length"):
        build_bdf_frame([0.0, 1.0], [3.0, 3.0], [1.0], [1, 1])


def test_module_exports_are_defined() -> None:
    for name in bdf.__all__:
        assert hasattr(bdf, name), name
