"""Robust ingestion: aliases, units, file formats, capacity columns, formation, reader plugins."""

from __future__ import annotations

import gzip
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from optloop.data import readers
from optloop.data.bdf import (
    AMBIENT_TEMPERATURE,
    CHARGE_CAPACITY,
    CUMULATIVE_CHARGE_CAPACITY,
    CUMULATIVE_DISCHARGE_CAPACITY,
    CURRENT,
    CYCLE,
    CYCLE_NET_CAPACITY,
    DISCHARGE_CAPACITY,
    NET_CAPACITY,
    STEP,
    STEP_CAPACITY,
    STEP_CHARGE_CAPACITY,
    STEP_DISCHARGE_CAPACITY,
    TEST_TIME,
    VOLTAGE,
    BDFError,
    build_bdf_frame,
    integrate_capacity,
    load_bdf,
    metadata_path,
    normalise_bdf,
    read_bdf,
    write_bdf,
)
from optloop.data.columns import TERMS, UNITS, name_key, unit_key
from optloop.data.ingest import unwrap_counter
from optloop.data.metrics import MetricsError, compute_metrics, formation_cycle_count
from optloop.data.readers import ReaderPluginWarning, read_cycler_file, register_reader

# Exact integration (constant current, step changes at a shared time) leaves only rounding.
RTOL = 1e-9


def cycles(
    charge_Ah: Sequence[float],
    discharge_Ah: Sequence[float],
    *,
    current_A: Sequence[float] | None = None,
    discharge_first: bool = False,
    samples: int = 6,
    rest_s: float = 0.0,
) -> pd.DataFrame:
    """Cycle at a constant current per cycle: charge then discharge (or the reverse).

    Each half-cycle is its own step (steps 1, 2 per cycle; 3 for an optional rest); step
    changes get two records at the same time, so trapezoid integration is exact. The table
    has the per-cycle capacity columns of :func:`build_bdf_frame`.
    """
    amps = list(current_A) if current_A is not None else [1.0] * len(charge_Ah)
    t: list[float] = []
    current: list[float] = []
    cycle: list[int] = []
    step: list[int] = []
    now = 0.0
    for n, (q_in, q_out, a) in enumerate(zip(charge_Ah, discharge_Ah, amps, strict=True)):
        halves = [(-a, q_out), (a, q_in)] if discharge_first else [(a, q_in), (-a, q_out)]
        if rest_s:
            halves.append((0.0, rest_s * a / 3600.0))
        for k, (i, q) in enumerate(halves):
            duration = q * 3600.0 / a
            for s in np.linspace(now, now + duration, samples):
                t.append(float(s))
                current.append(i if duration > 0 else 0.0)
                cycle.append(n + 1)
                step.append(k + 1)
            now += duration
    voltage = 3.0 + 0.5 * np.sin(np.arange(len(t)))
    return build_bdf_frame(t, voltage, current, cycle, step)


def step_id(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Return a running id that changes with every (cycle, step) pair."""
    pair = frame[CYCLE].to_numpy() * 1000 + frame[STEP].to_numpy()
    return np.concatenate(([0], np.cumsum(pair[1:] != pair[:-1])))


def representations(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Return the same test with each kind of capacity column a cycler may write."""
    raw = frame[[TEST_TIME, VOLTAGE, CURRENT, CYCLE, STEP]]
    t, i = frame[TEST_TIME].to_numpy(), frame[CURRENT].to_numpy()
    # Cumulative: integrate with one "cycle" for the whole test.
    cum_in, cum_out = integrate_capacity(t, i, np.zeros(len(t)))
    step_in, step_out = integrate_capacity(t, i, step_id(frame))
    return {
        "cycle": frame,
        "cumulative": raw.assign(
            **{CUMULATIVE_CHARGE_CAPACITY: cum_in, CUMULATIVE_DISCHARGE_CAPACITY: cum_out}
        ),
        "step": raw.assign(**{STEP_CHARGE_CAPACITY: step_in, STEP_DISCHARGE_CAPACITY: step_out}),
        "step_throughput": raw.assign(**{STEP_CAPACITY: step_in + step_out}),
        # Legacy label, signed (negative while discharging), and no step count column: steps
        # are found where the counter resets.
        "legacy_signed_step": raw.drop(columns=[STEP]).assign(
            **{"Step Capacity / Ah": step_in - step_out}
        ),
        "cycle_net": raw.assign(
            **{CYCLE_NET_CAPACITY: frame[CHARGE_CAPACITY] - frame[DISCHARGE_CAPACITY]}
        ),
        "net": raw.assign(**{NET_CAPACITY: cum_in - cum_out}),
        "integrated": raw,
    }


# ---------------------------------------------------------------- the alias table as data


def test_alias_table_is_consistent() -> None:
    owner: dict[str, str] = {}
    for term in TERMS:
        assert term.kind in UNITS, term
        assert unit_key(term.unit) in {unit_key(u) for u in UNITS[term.kind]}, term
        for name in (term.label.rsplit(" / ", 1)[0], *term.aliases, *term.fallback_aliases):
            key = name_key(name)
            assert owner.setdefault(key, term.name) == term.name, (key, owner[key], term.name)
    for kind, units in UNITS.items():
        seen: dict[str, tuple[float, float]] = {}
        for unit, factor in units.items():
            assert seen.setdefault(unit_key(unit), factor) == factor, (kind, unit)


BASE = {TEST_TIME: [0.0, 1.0, 2.0], VOLTAGE: [3.0, 3.1, 3.2], CURRENT: [1.0, 1.0, -1.0]}


def table_with(header: str, values: Sequence[float], replaces: str | None = None) -> pd.DataFrame:
    data: dict[str, Any] = {k: v for k, v in BASE.items() if k != replaces}
    data[header] = list(values)
    return pd.DataFrame(data)


@pytest.mark.parametrize(
    ("header", "label", "replaces"),
    [
        # BDF 1.3.0 preferred labels
        ("Temperature T1 / degC", "Temperature T1 / degC", None),
        ("Step Count / 1", STEP, None),
        # legacy BDF labels
        ("Step Index / 1", STEP, None),
        ("Step Capacity / Ah", STEP_CAPACITY, None),
        ("Surface Temperature T1 / degC", "Temperature T1 / degC", None),
        # machine names (ontology terms; the unit is implied)
        ("test_time_second", TEST_TIME, TEST_TIME),
        ("voltage_volt", VOLTAGE, VOLTAGE),
        ("current_ampere", CURRENT, CURRENT),
        ("cycle_count", CYCLE, None),
        ("step_count", STEP, None),
        ("step_index", STEP, None),
        ("charging_capacity_ah", CUMULATIVE_CHARGE_CAPACITY, None),
        ("cycle_discharging_capacity_ah", DISCHARGE_CAPACITY, None),
        # BatteryArchive
        ("Test_Time (s)", TEST_TIME, TEST_TIME),
        ("Voltage (V)", VOLTAGE, VOLTAGE),
        ("Current (A)", CURRENT, CURRENT),
        ("Cycle_Index", CYCLE, None),
        ("Charge_Capacity (Ah)", CHARGE_CAPACITY, None),
        ("Discharge_Capacity (Ah)", DISCHARGE_CAPACITY, None),
        ("Charge_Energy (Wh)", "Cycle Charging Energy / Wh", None),
        ("Environment_Temperature (C)", AMBIENT_TEMPERATURE, None),
        # case and whitespace
        ("  VOLTAGE  /  v ", VOLTAGE, VOLTAGE),
        ("cycle   INDEX", CYCLE, None),
        ("test-time [S]", TEST_TIME, TEST_TIME),
    ],
)
def test_alias_families(header: str, label: str, replaces: str | None) -> None:
    values = [1.0, 2.0, 3.0]
    frame, report = normalise_bdf(table_with(header, values, replaces), source="f.bdf.csv")
    assert label in frame.columns
    assert header not in frame.columns or header == label
    np.testing.assert_array_equal(frame[label].to_numpy(dtype=float), values)
    if header.strip() != label:
        assert (header.strip(), label) in report.renamed
    assert report.conversions == ()


def test_step_index_is_a_fallback_when_step_count_is_present() -> None:
    df = table_with(STEP, [1, 1, 2]).assign(**{"Step Index / 1": [7, 7, 9]})
    frame, report = normalise_bdf(df)
    assert frame[STEP].tolist() == [1, 1, 2]
    assert frame["Step Index / 1"].tolist() == [7, 7, 9]  # left as it is
    assert report.left_as_is == ("Step Index / 1",)


@pytest.mark.parametrize(
    ("header", "values", "label", "expected", "replaces"),
    [
        ("Current / mA", [1000.0, 500.0, -250.0], CURRENT, [1.0, 0.5, -0.25], CURRENT),
        ("Charge Capacity / mAh", [0.0, 250.0, 500.0], CHARGE_CAPACITY, [0.0, 0.25, 0.5], None),
        ("Test Time / h", [0.0, 0.5, 2.0], TEST_TIME, [0.0, 1800.0, 7200.0], TEST_TIME),
        ("Test Time / min", [0.0, 1.0, 2.5], TEST_TIME, [0.0, 60.0, 150.0], TEST_TIME),
        ("Test Time / ms", [0.0, 1500.0, 3000.0], TEST_TIME, [0.0, 1.5, 3.0], TEST_TIME),
        ("test_time_millisecond", [0.0, 10.0, 20.0], TEST_TIME, [0.0, 0.01, 0.02], TEST_TIME),
        ("Voltage / mV", [3000.0, 3100.0, 4200.0], VOLTAGE, [3.0, 3.1, 4.2], VOLTAGE),
        ("Ambient Temperature / K", [298.15, 300.0, 273.15], AMBIENT_TEMPERATURE,
         [25.0, 26.85, 0.0], None),
        ("Temperature T1 / K", [310.15, 298.15, 298.15], "Temperature T1 / degC",
         [37.0, 25.0, 25.0], None),
        ("Current (µA)", [1e6, 2e6, -1e6], CURRENT, [1.0, 2.0, -1.0], CURRENT),
        ("Discharge_Capacity (As)", [0.0, 3600.0, 7200.0], DISCHARGE_CAPACITY,
         [0.0, 1.0, 2.0], None),
    ],
)
def test_unit_conversions(
    header: str, values: list[float], label: str, expected: list[float], replaces: str | None
) -> None:
    frame, report = normalise_bdf(table_with(header, values, replaces), source="u.bdf.csv")
    np.testing.assert_allclose(frame[label].to_numpy(dtype=float), expected, rtol=1e-12,
                               atol=1e-12)
    (conversion,) = report.conversions
    assert (conversion.column, conversion.label) == (header, label)
    assert header in conversion.describe() and label in conversion.describe()
    assert any(header in line for line in report.lines())


def test_unknown_unit_names_column_unit_and_accepted_units() -> None:
    df = table_with("Current / furlong", [1.0, 2.0, 3.0], CURRENT)
    with pytest.raises(BDFError) as info:
        normalise_bdf(df, source="cell9.bdf.csv")
    message = str(info.value)
    for part in ("cell9.bdf.csv", "'Current / furlong'", "'furlong'", "'A'", "'mA'"):
        assert part in message, part


def test_known_quantity_without_unit_is_an_error() -> None:
    with pytest.raises(BDFError, match=r"'Voltage' is voltage_volt but has no unit.*'mV'"):
        normalise_bdf(table_with("Voltage", [3.0, 3.0, 3.0], VOLTAGE))


def test_missing_column_names_which_and_lists_found() -> None:
    df = pd.DataFrame({"Test_Time (s)": [0.0, 1.0], "Current / mA": [1.0, 1.0]})
    with pytest.raises(BDFError) as info:
        normalise_bdf(df, source="m.bdf.csv")
    message = str(info.value)
    assert "missing required column(s) ['Voltage / V']" in message
    assert "'Test_Time (s)'" in message and "'Current / mA'" in message


def test_bad_value_in_a_converted_column_names_the_header_as_written() -> None:
    df = table_with("Current / mA", [1.0, 2.0, 3.0], CURRENT).astype(object)
    df.loc[1, "Current / mA"] = "oops"
    expected = r"'Current / mA' \(read as 'Current / A'\) row 1 is 'oops'"
    with pytest.raises(BDFError, match=expected):
        normalise_bdf(df)


# ----------------------------------------------------------------------- file formats

SUFFIXES = [".bdf", ".bdf.csv", ".bdf.gz", ".bdf.csv.gz", ".bdf.parquet"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_suffix_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = cycles([1.0, 1.0], [0.9, 0.8])
    meta = {"cell_id": "c7", "cell_configuration": "full"}
    path = write_bdf(frame, tmp_path / f"cell{suffix}", meta)
    assert metadata_path(path) == tmp_path / "cell.bdf.metadata.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"cell{suffix}", "cell.bdf.metadata.json"]
    )
    if suffix.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"  # really gzip
        assert TEST_TIME in gzip.decompress(path.read_bytes()).decode().splitlines()[0]
    back, back_meta = read_bdf(path)
    pd.testing.assert_frame_equal(back, frame, check_exact=False, rtol=1e-15, atol=0.0)
    assert back_meta == meta
    metadata_path(path).unlink()
    assert read_bdf(path)[1] == {}  # a missing metadata file reads as {}


def test_gzip_file_written_by_hand_with_aliases_and_units(tmp_path: Path) -> None:
    frame = cycles([1.0], [0.9])
    legacy = frame[[TEST_TIME, VOLTAGE, CURRENT, CYCLE]].rename(
        columns={TEST_TIME: "Test_Time (s)", CURRENT: "Current / mA", CYCLE: "Cycle_Index"}
    )
    legacy["Current / mA"] *= 1000.0
    path = tmp_path / "x.bdf.csv.gz"
    legacy.to_csv(path, index=False, compression="gzip")
    data = load_bdf(path)
    np.testing.assert_allclose(data.frame[CURRENT], frame[CURRENT], rtol=1e-12)
    assert [c.column for c in data.report.conversions] == ["Current / mA"]
    assert data.metadata == {}


def test_unreadable_gzip_is_a_bdf_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.bdf.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(BDFError, match="broken.bdf.gz: not a readable"):
        read_bdf(path)


# ---------------------------------------------------------------- capacity columns


@pytest.mark.parametrize("cell", ["full", "half"])
def test_every_capacity_representation_gives_the_same_cycles(cell: str) -> None:
    # Cycle 2 is a rest-only cycle (skipped); cycle 4 has a rest step after discharging.
    charge = [1.0, 0.0, 0.97, 0.95, 0.93]
    discharge = [0.9, 0.0, 0.95, 0.94, 0.5]
    frame = cycles(charge, discharge, discharge_first=cell == "half", rest_s=600.0)
    expected = compute_metrics(frame, cell=cell)  # type: ignore[arg-type]
    assert expected.cycle_counts == (1, 3, 4, 5)
    assert expected.skipped_cycle_counts == (2,)
    for name, df in representations(frame).items():
        m = compute_metrics(df, cell=cell, source=name)  # type: ignore[arg-type]
        assert m.cycle_counts == expected.cycle_counts, name
        np.testing.assert_allclose(m.charge_capacity_Ah, expected.charge_capacity_Ah,
                                   rtol=RTOL, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(m.discharge_capacity_Ah, expected.discharge_capacity_Ah,
                                   rtol=RTOL, atol=1e-12, err_msg=name)
        assert m.cycle_life == expected.cycle_life, name
    sources = {
        name: compute_metrics(df).discharge_capacity_source
        for name, df in representations(frame).items()
    }
    assert sources == {
        "cycle": "cycle capacity column",
        "cumulative": "cumulative capacity column",
        "step": "step capacity column",
        "step_throughput": "step throughput column",
        "legacy_signed_step": "step throughput column",
        "cycle_net": "cycle net capacity column",
        "net": "net capacity column",
        "integrated": "integrated current",
    }


def test_cumulative_counter_restarted_by_the_instrument() -> None:
    frame = cycles([1.0, 1.0, 1.0], [0.9, 0.8, 0.7])
    cumulative = representations(frame)["cumulative"]
    restarted = cumulative.copy()
    # Restart the discharge counter from 0 at the first record of cycle 2 (it is flat there:
    # cycle 2 starts by charging), and the charge counter mid-way through cycle 3's charge.
    k = int(np.flatnonzero(frame[CYCLE].to_numpy() == 2)[0])
    restarted.loc[k:, CUMULATIVE_DISCHARGE_CAPACITY] -= cumulative.loc[
        k - 1, CUMULATIVE_DISCHARGE_CAPACITY
    ]
    j = int(np.flatnonzero(frame[CYCLE].to_numpy() == 3)[2])
    restarted.loc[j:, CUMULATIVE_CHARGE_CAPACITY] -= cumulative.loc[
        j - 1, CUMULATIVE_CHARGE_CAPACITY
    ]
    assert (np.diff(restarted[CUMULATIVE_DISCHARGE_CAPACITY]) < 0).any()
    normalised, report = normalise_bdf(restarted, source="r.bdf.csv")
    assert {(r.label, r.rows) for r in report.counter_resets} == {
        (CUMULATIVE_DISCHARGE_CAPACITY, (k,)),
        (CUMULATIVE_CHARGE_CAPACITY, (j,)),
    }
    np.testing.assert_allclose(normalised[CUMULATIVE_DISCHARGE_CAPACITY],
                               cumulative[CUMULATIVE_DISCHARGE_CAPACITY], rtol=RTOL)
    m = compute_metrics(restarted)
    np.testing.assert_allclose(m.discharge_capacity_Ah, [0.9, 0.8, 0.7], rtol=RTOL)
    np.testing.assert_allclose(m.charge_capacity_Ah, [1.0, 1.0, 1.0], rtol=RTOL)


def test_unwrap_counter_rule() -> None:
    same = np.array([0.0, 1.0, 1.0, 2.0])
    assert unwrap_counter(same)[0] is same  # untouched when it never drops
    noisy, rows = unwrap_counter(np.array([0.0, 1.0, 1.0 - 1e-12, 2.0]))
    assert rows == () and np.all(np.diff(noisy) >= 0)
    values, rows = unwrap_counter(np.array([0.0, 1.0, 2.0, 0.5, 1.0]))
    np.testing.assert_allclose(values, [0.0, 1.0, 2.0, 2.5, 3.0])
    assert rows == (3,)


# ------------------------------------------------------------------- cells, formation


def test_half_vs_full_cell_inverts_coulombic_efficiency_on_the_same_file(tmp_path: Path) -> None:
    frame = cycles([0.8, 0.95, 0.96], [1.0, 1.0, 0.99], discharge_first=True)
    path = write_bdf(frame, tmp_path / "half.bdf.csv.gz")
    data, _ = read_bdf(path)
    full = compute_metrics(data, cell="full")
    half = compute_metrics(data, cell="half")
    assert full.cycle_counts == half.cycle_counts == (1, 2, 3)
    product = np.array(full.coulombic_efficiency, float) * np.array(
        half.coulombic_efficiency, float
    )
    np.testing.assert_allclose(product, 1.0, rtol=RTOL)
    assert half.capacity_Ah == pytest.approx((0.8, 0.95, 0.96), rel=RTOL)  # delithiation
    assert half.first_cycle_efficiency == pytest.approx(0.8, rel=RTOL)


def formation_test(cell: str = "full") -> pd.DataFrame:
    """Two C/20 formation cycles (CE 0.75) then six C/2 cycles (CE 0.98) of a 1 Ah cell."""
    q_in = [1.2, 1.0] + [1.0] * 6
    q_out = [0.9, 0.95] + [0.98, 0.97, 0.96, 0.95, 0.94, 0.93]
    rates = [0.05, 0.05] + [0.5] * 6
    if cell == "half":  # lithiation (cycler discharge) first, delithiation delivers
        return cycles(q_out, q_in, current_A=rates, discharge_first=True)
    return cycles(q_in, q_out, current_A=rates)


@pytest.mark.parametrize("cell", ["full", "half"])
def test_formation_exclusion_explicit_and_auto_agree(cell: str) -> None:
    df = formation_test(cell)
    explicit = compute_metrics(df, cell=cell, formation_cycles=2)  # type: ignore[arg-type]
    auto = compute_metrics(df, cell=cell, formation_cycles="auto")  # type: ignore[arg-type]
    for m in (explicit, auto):
        assert m.formation_cycle_counts == (1, 2)
        assert m.cycle_counts == (3, 4, 5, 6, 7, 8)
        assert m.cycle_numbers == (1, 2, 3, 4, 5, 6)
        assert m.reference_capacity_Ah == pytest.approx(0.98, rel=RTOL)
        # One definition: the cell's first cycle, here the first formation cycle.
        assert m.first_cycle_efficiency == pytest.approx(0.75, rel=RTOL)
        assert m.coulombic_efficiency[0] == pytest.approx(0.98, rel=RTOL)
        assert m.formation_first_cycle_efficiency == pytest.approx(0.75, rel=RTOL)
        assert m.scalar_metrics()["formation_first_cycle_efficiency"] == pytest.approx(0.75)
    assert (explicit.formation_rule, auto.formation_rule) == (2, "auto")
    default = compute_metrics(df, cell=cell)  # type: ignore[arg-type]
    assert default.formation_cycle_counts == () and default.cycles_completed == 8
    assert default.formation_first_cycle_efficiency is None
    assert default.first_cycle_efficiency == pytest.approx(0.75, rel=RTOL)
    assert default.to_dict() == compute_metrics(df, cell=cell,  # type: ignore[arg-type]
                                                formation_cycles=0).to_dict()


def test_auto_formation_excludes_nothing_at_one_rate() -> None:
    m = compute_metrics(cycles([1.0] * 5, [0.99, 0.98, 0.97, 0.96, 0.95]),
                        formation_cycles="auto")
    assert m.formation_cycle_counts == () and m.cycles_completed == 5


@pytest.mark.parametrize(
    ("rates", "expected"),
    [
        ([0.05, 0.05, 0.5, 0.5, 0.5], 2),
        ([0.5, 0.5, 0.5], 0),
        ([0.05, 0.5, 0.05, 0.5, 0.5], 1),  # a later slow cycle is not formation
        ([0.2, 0.5, 0.5], 1),  # 0.2 < 0.5 * 0.5
        ([0.3, 0.5, 0.5], 0),  # 0.3 is not
        ([np.nan, 0.05, 0.5], 0),  # a cycle without discharge ends the run
        ([0.05], 0),  # at least one cycle must remain
    ],
)
def test_formation_cycle_count_rule(rates: list[float], expected: int) -> None:
    assert formation_cycle_count(rates) == expected


def test_formation_argument_limits() -> None:
    df = formation_test()
    with pytest.raises(MetricsError, match=r"formation_cycles=8 excludes 8 cycle\(s\)"):
        compute_metrics(df, formation_cycles=8)
    with pytest.raises(MetricsError, match=r"formation_cycles=-1"):
        compute_metrics(df, formation_cycles=-1)
    with pytest.raises(MetricsError, match=r"formation_cycles='all'"):
        compute_metrics(df, formation_cycles="all")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- reader plugins


class FakeEntryPoint:
    """What ``importlib.metadata.entry_points`` yields: a name, a value and ``load()``."""

    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.value = f"fake_plugin:{name}"
        self._target = target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def fake_vendor_reader(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a '.fake' file: BatteryArchive labels, current in mA."""
    frame = cycles([1.0, 1.0], [0.9, 0.85])
    out = pd.DataFrame(
        {
            "Test_Time (s)": frame[TEST_TIME],
            "Voltage (V)": frame[VOLTAGE],
            "Current (mA)": frame[CURRENT] * 1000.0,
            "Cycle_Index": frame[CYCLE],
        }
    )
    return out, {"instrument": "fake", "file": path.name}


fake_vendor_reader.suffixes = (".fake",)  # type: ignore[attr-defined]


def no_suffixes(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    raise AssertionError("never called")


@pytest.fixture()
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeEntryPoint]]:
    """Replace the entry-point lookup with a list the test fills."""
    eps: list[FakeEntryPoint] = []

    def lookup(group: str) -> list[FakeEntryPoint]:
        assert group == "optloop.readers"
        return list(eps)

    monkeypatch.setattr(readers, "entry_points", lookup)
    yield eps


def test_registered_reader_is_used_and_a_broken_plugin_is_skipped(
    tmp_path: Path, plugins: list[FakeEntryPoint]
) -> None:
    plugins += [
        FakeEntryPoint("broken", ImportError("No module named 'galvani'")),
        FakeEntryPoint("nosuffix", no_suffixes),
        FakeEntryPoint("vendor", fake_vendor_reader),
    ]
    path = tmp_path / "run.fake"
    path.write_text("opaque vendor bytes")
    with pytest.warns(ReaderPluginWarning) as caught:
        data = read_cycler_file(path)
    messages = " | ".join(str(w.message) for w in caught)
    assert "broken" in messages and "galvani" in messages
    assert "nosuffix" in messages and "suffixes" in messages
    assert data.reader == "vendor"
    assert data.metadata == {"instrument": "fake", "file": "run.fake"}
    assert [c.column for c in data.report.conversions] == ["Current (mA)"]
    m = compute_metrics(data.frame)
    np.testing.assert_allclose(m.discharge_capacity_Ah, [0.9, 0.85], rtol=RTOL)


def test_unknown_suffix_names_suffix_and_installed_readers(
    tmp_path: Path, plugins: list[FakeEntryPoint]
) -> None:
    plugins.append(FakeEntryPoint("vendor", fake_vendor_reader))
    path = tmp_path / "run.res"
    path.write_text("x")
    with pytest.raises(BDFError) as info:
        read_cycler_file(path)
    message = str(info.value)
    for part in ("'.res'", "'vendor': ['.fake']", "cellpy (MIT)", "galvani (GPL-3"):
        assert part in message, part


def test_failing_and_malformed_readers_are_bdf_errors(
    tmp_path: Path, plugins: list[FakeEntryPoint]
) -> None:
    def crashes(path: Path) -> Any:
        raise RuntimeError("bad header in vendor file")

    def wrong_type(path: Path) -> Any:
        return [1, 2]

    register_reader("crashes", crashes, suffixes=[".crash"])
    register_reader("wrong", wrong_type, suffixes=[".wrong"])
    try:
        (tmp_path / "a.crash").write_text("x")
        (tmp_path / "a.wrong").write_text("x")
        with pytest.raises(BDFError, match=r"reader 'crashes' \(registered\) failed: "
                                           r"RuntimeError: bad header"):
            read_cycler_file(tmp_path / "a.crash")
        with pytest.raises(BDFError, match=r"reader 'wrong' returned list"):
            read_cycler_file(tmp_path / "a.wrong")
    finally:
        readers.unregister_reader("crashes")
        readers.unregister_reader("wrong")
    with pytest.raises(ValueError, match="suffixes"):
        register_reader("bad", crashes, suffixes=["crash"])


def test_bdf_files_use_the_built_in_reader(tmp_path: Path, plugins: list[FakeEntryPoint]) -> None:
    path = write_bdf(cycles([1.0], [0.9]), tmp_path / "c.bdf.parquet", {"k": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no plugin lookup noise for BDF files
        data = read_cycler_file(path)
    assert (data.reader, data.metadata) == ("bdf", {"k": 1})


def test_module_exports_are_defined() -> None:
    import optloop.data as package
    from optloop.data import capacity, columns, ingest, metrics

    for module in (package, capacity, columns, ingest, metrics, readers):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
