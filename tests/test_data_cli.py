"""``optloop data metrics``: text and JSON on good files, exact messages on bad ones."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from optloop.cli import cli
from optloop.data.bdf import CURRENT, CYCLE, TEST_TIME, VOLTAGE, build_bdf_frame, write_bdf
from optloop.data.readers import register_reader, unregister_reader


def cycling(
    charge_Ah: Sequence[float],
    discharge_Ah: Sequence[float],
    *,
    current_A: Sequence[float] | None = None,
    discharge_first: bool = False,
) -> pd.DataFrame:
    """Constant-current cycles, step changes at a shared time (exact integration)."""
    amps = list(current_A) if current_A is not None else [1.0] * len(charge_Ah)
    t: list[float] = []
    current: list[float] = []
    cycle: list[int] = []
    now = 0.0
    for n, (q_in, q_out, a) in enumerate(zip(charge_Ah, discharge_Ah, amps, strict=True)):
        halves = [(-a, q_out), (a, q_in)] if discharge_first else [(a, q_in), (-a, q_out)]
        for i, q in halves:
            duration = q * 3600.0 / a
            for s in np.linspace(now, now + duration, 5):
                t.append(float(s))
                current.append(i)
                cycle.append(n + 1)
            now += duration
    return build_bdf_frame(t, np.full(len(t), 3.7), current, cycle)


# Cycle n delivers 1 - 0.045 (n - 1) Ah after 1.0 Ah in; 80 % of 1.0 is first crossed at cycle
# 6 (0.775 Ah; cycle 5 has 0.82), 90 % at cycle 4 (0.865; cycle 3 has 0.91): no value sits on a
# threshold, where integration rounding could tip it.
CHARGE = [1.0] * 8
DISCHARGE = [round(1.0 - 0.045 * n, 12) for n in range(8)]


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def good_file(tmp_path: Path) -> Path:
    frame = cycling(CHARGE, DISCHARGE)
    # As a real cycler might write it: BatteryArchive labels, current in mA.
    raw = frame[[TEST_TIME, VOLTAGE, CURRENT, CYCLE]].rename(
        columns={TEST_TIME: "Test_Time (s)", CURRENT: "Current / mA", CYCLE: "Cycle_Index"}
    )
    raw["Current / mA"] *= 1000.0
    path = tmp_path / "cell1.bdf.csv"
    raw.to_csv(path, index=False)
    return path


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(cli, ["data", "metrics", *args])


def test_text_output(runner: CliRunner, good_file: Path) -> None:
    result = invoke(runner, str(good_file))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "reader: bdf" in out
    assert "cell: full (default)" in out
    assert "'Current / mA' -> 'Current / A' (x 0.001)" in out
    assert "reference: first = 1 Ah" in out
    assert "first-cycle efficiency: 1 (cycle 1)" in out
    assert "cycle life to 80 % of reference: 6 (censored: no)" in out
    assert "formation cycles excluded: none" in out
    assert "skipped cycles (delivered nothing): none" in out
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit()]
    assert [r[0] for r in rows] == [str(n) for n in range(1, 9)]
    # capacity and CE columns of cycle 6: 0.775 Ah delivered of 1.0 stored
    assert rows[5][4:6] == ["0.775", "0.775"]


def test_json_output_parses(runner: CliRunner, good_file: Path) -> None:
    result = invoke(runner, str(good_file), "--json", "--threshold", "0.9", "--reference",
                    "max_early")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    m = data["metrics"]
    assert data["reader"] == "bdf"
    assert m["reference_mode"] == "max_early"
    assert m["threshold"] == 0.9
    assert m["cycle_life"] == 4  # 0.865 < 0.9 * 1.0 is cycle 4
    assert m["cycle_life_censored"] is False
    np.testing.assert_allclose(m["capacity_Ah"], DISCHARGE, rtol=1e-9)
    np.testing.assert_allclose(m["coulombic_efficiency"], DISCHARGE, rtol=1e-9)
    assert data["ingest"]["conversions"][0]["column"] == "Current / mA"
    assert data["ingest"]["conversions"][0]["scale"] == pytest.approx(1e-3)


def test_half_cell_and_formation_auto(runner: CliRunner, tmp_path: Path) -> None:
    # Anode vs Li: two slow formation cycles (lithiation 1.2 Ah, delithiation 0.9 Ah), then
    # faster cycles with CE 0.98; the cell is taken from the metadata.
    lith = [1.2, 1.0] + [1.0] * 4
    delith = [0.9, 0.95] + [0.98] * 4
    rates = [0.05, 0.05] + [0.5] * 4
    frame = cycling(delith, lith, current_A=rates, discharge_first=True)
    path = write_bdf(frame, tmp_path / "half.bdf.parquet", {"cell_configuration": "half"})
    result = invoke(runner, str(path), "--formation", "auto", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    m = data["metrics"]
    assert data["cell_source"] == "metadata"
    assert m["cell"] == "half"
    assert m["formation_cycle_counts"] == [1, 2]
    assert m["formation_first_cycle_efficiency"] == pytest.approx(0.75, rel=1e-9)
    # The cell's first cycle (the first formation cycle), not cycle 1 as numbered.
    assert m["first_cycle_efficiency"] == pytest.approx(0.75, rel=1e-9)
    assert m["coulombic_efficiency"][0] == pytest.approx(0.98, rel=1e-9)
    assert m["cycle_counts"] == [3, 4, 5, 6]
    text = invoke(runner, str(path), "--formation", "2", "--cell", "half").stdout
    assert "formation cycles excluded: counts [1, 2] (rule: 2)" in text
    assert "first formation cycle CE 0.75" in text
    full = json.loads(invoke(runner, str(path), "--cell", "full", "--json").stdout)
    np.testing.assert_allclose(
        np.array(full["metrics"]["coulombic_efficiency"]) * np.array(
            json.loads(invoke(runner, str(path), "--json").stdout)["metrics"][
                "coulombic_efficiency"
            ]
        ),
        1.0,
        rtol=1e-9,
    )


def write_csv(path: Path, columns: dict[str, list[Any]]) -> Path:
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_malformed_file_names_column_row_and_value(runner: CliRunner, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bad.bdf.csv",
        {TEST_TIME: [0, 1, 2, 3], VOLTAGE: [3.0] * 4, CURRENT: [1, 1, 1, "x"], CYCLE: [1] * 4},
    )
    result = invoke(runner, str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'Current / A' row 3 is 'x'; limit: a finite number" in result.stderr
    assert "bad.bdf.csv" in result.stderr


def test_decreasing_time_names_row_values_and_limit(runner: CliRunner, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.bdf.csv",
        {"Test Time / h": [0, 1, 0.5], VOLTAGE: [3.0] * 3, CURRENT: [1, -1, 1], CYCLE: [1] * 3},
    )
    result = invoke(runner, str(path))
    assert result.exit_code == 2
    assert ("'Test Time / h' (read as 'Test Time / s') decreases at row 2: 0.5 after 1.0; "
            "limit: non-decreasing") in result.stderr


def test_missing_column(runner: CliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "m.bdf.csv", {TEST_TIME: [0, 1], CURRENT: [1, -1], CYCLE: [1, 1]})
    result = invoke(runner, str(path))
    assert result.exit_code == 2
    assert "missing required column(s) ['Voltage / V']" in result.stderr
    assert "found ['Test Time / s', 'Current / A', 'Cycle Count / 1']" in result.stderr


def test_wrong_unit(runner: CliRunner, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "u.bdf.csv",
        {TEST_TIME: [0, 1], VOLTAGE: [3.0, 3.0], "Current / kA": [1, -1], CYCLE: [1, 1]},
    )
    result = invoke(runner, str(path))
    assert result.exit_code == 2
    assert "column 'Current / kA' is current_ampere in unit 'kA'" in result.stderr
    assert "accepted units: 'A', 'mA', 'µA', 'nA'" in result.stderr


def test_bad_options_and_unknown_suffix(runner: CliRunner, good_file: Path,
                                        tmp_path: Path) -> None:
    result = invoke(runner, str(good_file), "--formation", "some")
    assert result.exit_code == 2 and "'some'; limit: a whole number >= 0 or 'auto'" in (
        result.stderr
    )
    result = invoke(runner, str(good_file), "--threshold", "1.5")
    assert result.exit_code == 2 and "threshold=1.5; limit: 0 < threshold <= 1" in result.stderr
    other = tmp_path / "run.mpr"
    other.write_text("x")
    result = invoke(runner, str(other))
    assert result.exit_code == 2
    assert "no reader for the suffix '.mpr'" in result.stderr


def test_plugin_format_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    frame = cycling(CHARGE[:3], DISCHARGE[:3])

    def read(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
        return frame, {"cell_configuration": "full", "vendor": "toy"}

    register_reader("toy", read, suffixes=[".toy"])
    try:
        path = tmp_path / "cell.toy"
        path.write_text("x")
        result = invoke(runner, str(path), "--json")
    finally:
        unregister_reader("toy")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["reader"] == "toy" and data["metadata"]["vendor"] == "toy"
    assert data["metrics"]["cycles_completed"] == 3


def test_help(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["data", "metrics", "--help"])
    assert result.exit_code == 0
    for option in ("--cell", "--formation", "--reference", "--threshold", "--json"):
        assert option in result.output
