"""Read, write and validate cycler time series in the Battery Data Format (BDF).

One file holds one cell: a table whose header row names each column by its BDF label
``Quantity / unit`` (fixed SI units, **positive current charges the cell**), written as
``*.bdf.csv`` (or ``*.bdf``) or ``*.bdf.parquet``, with its metadata in a parallel
``*.bdf.metadata.json``. Every evaluator, simulated or real, hands its data over in this form
so that :mod:`optloop.data.metrics` computes the objectives one way for all of them.

Only a few columns are checked (see :data:`REQUIRED_COLUMNS` and :data:`NUMERIC_COLUMNS`);
other columns pass through untouched. A small alias map accepts legacy and variant labels;
robust ingestion of vendor files is left to the plugins that convert them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from optloop.exceptions import OptloopError

__all__ = [
    "AMBIENT_TEMPERATURE",
    "CHARGE_CAPACITY",
    "CUMULATIVE_CHARGE_CAPACITY",
    "CUMULATIVE_DISCHARGE_CAPACITY",
    "CURRENT",
    "CYCLE",
    "DISCHARGE_CAPACITY",
    "NUMERIC_COLUMNS",
    "REQUIRED_COLUMNS",
    "STEP",
    "TEST_TIME",
    "VOLTAGE",
    "BDFError",
    "build_bdf_frame",
    "integrate_capacity",
    "metadata_path",
    "read_bdf",
    "validate_bdf",
    "write_bdf",
]

TEST_TIME = "Test Time / s"
VOLTAGE = "Voltage / V"
#: Positive current charges the cell.
CURRENT = "Current / A"
#: Non-decreasing; its start value is the instrument's (converters must not renumber).
CYCLE = "Cycle Count / 1"
STEP = "Step Count / 1"
#: Charge passed in while charging, reset to zero when the cycle count increments.
CHARGE_CAPACITY = "Cycle Charging Capacity / Ah"
#: Charge passed out while discharging, reset to zero when the cycle count increments.
DISCHARGE_CAPACITY = "Cycle Discharging Capacity / Ah"
#: Charge passed in while charging since the test started, never reset.
CUMULATIVE_CHARGE_CAPACITY = "Charging Capacity / Ah"
#: Charge passed out while discharging since the test started, never reset.
CUMULATIVE_DISCHARGE_CAPACITY = "Discharging Capacity / Ah"
AMBIENT_TEMPERATURE = "Ambient Temperature / degC"

REQUIRED_COLUMNS: tuple[str, ...] = (TEST_TIME, VOLTAGE, CURRENT)
#: Columns that must be numeric and free of NaN when present.
NUMERIC_COLUMNS: tuple[str, ...] = (
    TEST_TIME,
    VOLTAGE,
    CURRENT,
    CYCLE,
    STEP,
    CHARGE_CAPACITY,
    DISCHARGE_CAPACITY,
    CUMULATIVE_CHARGE_CAPACITY,
    CUMULATIVE_DISCHARGE_CAPACITY,
)
_NON_DECREASING = (TEST_TIME, CYCLE, CUMULATIVE_CHARGE_CAPACITY, CUMULATIVE_DISCHARGE_CAPACITY)
_NON_NEGATIVE = (
    CHARGE_CAPACITY,
    DISCHARGE_CAPACITY,
    CUMULATIVE_CHARGE_CAPACITY,
    CUMULATIVE_DISCHARGE_CAPACITY,
)
_INTEGER = (CYCLE, STEP)

# Legacy or variant labels -> BDF label. Kept small on purpose (legacy BDF and BatteryArchive).
_ALIASES: dict[str, str] = {
    "test_time_second": TEST_TIME,
    "Test_Time (s)": TEST_TIME,
    "Voltage (V)": VOLTAGE,
    "Current (A)": CURRENT,
    "Cycle_Index": CYCLE,
    "Step Index / 1": STEP,
    "Environment_Temperature (C)": AMBIENT_TEMPERATURE,
}

_CSV_SUFFIXES = (".bdf.csv", ".bdf")
_PARQUET_SUFFIX = ".bdf.parquet"
_SECONDS_PER_HOUR = 3600.0


class BDFError(OptloopError, ValueError):
    """BDF data are malformed: a missing column, a non-numeric value, a broken ordering."""


def _split_name(path: Path) -> tuple[str, str]:
    """Return ``(stem, format)`` of a BDF file name, format ``"csv"`` or ``"parquet"``."""
    name = path.name
    if name.endswith(_PARQUET_SUFFIX):
        return name[: -len(_PARQUET_SUFFIX)], "parquet"
    for suffix in _CSV_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], "csv"
    raise BDFError(
        f"{path}: file name must end in one of {(*_CSV_SUFFIXES, _PARQUET_SUFFIX)}; got {name!r}"
    )


def metadata_path(path: str | os.PathLike[str]) -> Path:
    """Return the metadata file of a BDF file: ``x.bdf.csv`` -> ``x.bdf.metadata.json``.

    Args:
        path: The BDF time-series file.

    Raises:
        BDFError: If the name does not end in ``.bdf``, ``.bdf.csv`` or ``.bdf.parquet``.
    """
    p = Path(path)
    stem, _ = _split_name(p)
    return p.with_name(stem + ".bdf.metadata.json")


def _canonical_columns(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Rename alias labels to BDF labels; refuse two columns that mean the same quantity."""
    stripped = {c: str(c).strip() for c in df.columns}
    renames: dict[Any, str] = {}
    owner: dict[str, str] = {}
    for original, label in stripped.items():
        target = _ALIASES.get(label, label)
        if target in owner:
            raise BDFError(
                f"{source}: columns {owner[target]!r} and {original!r} both give {target!r}; "
                "keep only one"
            )
        owner[target] = str(original)
        renames[original] = target
    return df.rename(columns=renames)


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _show(value: Any) -> str:
    """Return ``repr`` of a value, numpy scalars shown as plain Python numbers."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def validate_bdf(df: pd.DataFrame, *, source: str = "<data frame>") -> pd.DataFrame:
    """Check a BDF table and return a copy with BDF labels and numeric dtypes.

    Checks: the required columns exist; the known numeric columns (:data:`NUMERIC_COLUMNS`)
    are numeric with no NaN or infinity; test time, cycle count and cumulative capacities never
    decrease; capacities are not negative; cycle and step counts are whole numbers.

    Args:
        df: The time series, one row per record.
        source: What to call the data in error messages (usually the file name).

    Returns:
        A new frame: aliases renamed to BDF labels, cycle and step counts as ``int64``,
        the other checked columns as ``float64``; unknown columns unchanged.

    Raises:
        BDFError: If a check fails; the message names the source, the column, the row, the
            value and the limit.
    """
    out = _canonical_columns(df, source)
    missing = [c for c in REQUIRED_COLUMNS if c not in out.columns]
    if missing:
        raise BDFError(
            f"{source}: missing required column(s) {missing}; found {list(map(str, out.columns))}"
        )
    if len(out) == 0:
        raise BDFError(f"{source}: no rows (columns {list(map(str, out.columns))})")
    out = out.copy()
    for col in NUMERIC_COLUMNS:
        if col not in out.columns:
            continue
        numeric = pd.to_numeric(out[col], errors="coerce")
        values = numeric.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            i = _first_bad(bad)
            raise BDFError(
                f"{source}: column {col!r} row {i} is {_show(out[col].iloc[i])}; "
                "limit: a finite number"
            )
        if col in _NON_DECREASING:
            dropped = np.diff(values) < 0
            if dropped.any():
                i = _first_bad(dropped) + 1
                raise BDFError(
                    f"{source}: column {col!r} decreases at row {i}: {_show(values[i])} after "
                    f"{_show(values[i - 1])}; limit: non-decreasing"
                )
        if col in _NON_NEGATIVE and (values < 0).any():
            i = _first_bad(values < 0)
            raise BDFError(f"{source}: column {col!r} row {i} is {_show(values[i])}; limit: >= 0")
        if col in _INTEGER:
            fractional = values != np.round(values)
            if fractional.any():
                i = _first_bad(fractional)
                raise BDFError(
                    f"{source}: column {col!r} row {i} is {_show(values[i])}; "
                    "limit: a whole number"
                )
            out[col] = values.astype(np.int64)
        else:
            out[col] = values
    return out


def _check_metadata(metadata: Mapping[str, Any], source: str) -> dict[str, Any]:
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise BDFError(f"{source}: metadata key {key!r} is not a string")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BDFError(
                f"{source}: metadata[{key!r}] = {value!r} is not JSON-serialisable ({exc})"
            ) from None
    return dict(metadata)


def _write_atomically(writes: Sequence[tuple[Path, Callable[[Path], object]]]) -> None:
    """Write each file to a temporary sibling, then rename all of them into place.

    Nothing is renamed until every temporary file is complete, so a failed write leaves the
    old files as they were; temporary files are removed whatever happens.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, write in writes:
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            staged.append((tmp, path))
            write(tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def write_bdf(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Validate a BDF table and write it atomically, with its metadata file.

    The format follows the name: ``*.bdf.csv`` or ``*.bdf`` give CSV, ``*.bdf.parquet`` gives
    Parquet (needs pyarrow). The metadata (cell id, design, evaluator, ...) go to
    ``*.bdf.metadata.json``. Both are written to temporary files first and renamed into place
    only when both are complete, metadata first, so a watcher that sees the data file also finds
    its metadata, and a failed write leaves any old files unchanged.

    Args:
        df: The time series, with BDF labels (aliases are renamed).
        path: Where to write; its parent folder must exist.
        metadata: JSON-serialisable facts about the cell and the test; ``None`` writes ``{}``.

    Returns:
        The path of the data file.

    Raises:
        BDFError: If the table fails :func:`validate_bdf`, the name has no BDF suffix, the
            metadata are not JSON-serialisable, or Parquet is asked for without pyarrow.
    """
    target = Path(path)
    _, fmt = _split_name(target)
    frame = validate_bdf(df, source=str(target))
    meta = _check_metadata(metadata or {}, str(target))
    if fmt == "parquet":
        _require_pyarrow(target)
    text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n"

    def write_data(p: Path) -> None:
        if fmt == "parquet":
            frame.to_parquet(p, index=False, engine="pyarrow")
        else:
            frame.to_csv(p, index=False)

    _write_atomically(
        [
            (metadata_path(target), lambda p: p.write_text(text, encoding="utf-8")),
            (target, write_data),
        ]
    )
    return target


def _require_pyarrow(path: Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise BDFError(f"{path}: Parquet needs pyarrow (pip install pyarrow)") from None


def read_bdf(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read and validate a BDF file and its metadata.

    Args:
        path: A ``*.bdf.csv``, ``*.bdf`` or ``*.bdf.parquet`` file.

    Returns:
        ``(frame, metadata)``: the table as :func:`validate_bdf` returns it, and the parsed
        ``*.bdf.metadata.json`` (``{}`` when there is none).

    Raises:
        FileNotFoundError: If the data file does not exist.
        BDFError: If the data or the metadata file are malformed.
    """
    source = Path(path)
    _, fmt = _split_name(source)
    if not source.is_file():
        raise FileNotFoundError(f"BDF file not found: {source}")
    if fmt == "parquet":
        _require_pyarrow(source)
        raw = pd.read_parquet(source, engine="pyarrow")
    else:
        try:
            raw = pd.read_csv(source)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise BDFError(f"{source}: not a readable CSV table ({exc})") from None
    frame = validate_bdf(raw, source=str(source))
    meta_file = metadata_path(source)
    metadata: dict[str, Any] = {}
    if meta_file.is_file():
        try:
            loaded = json.loads(meta_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BDFError(f"{meta_file}: not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise BDFError(f"{meta_file}: must hold a JSON object; got {type(loaded).__name__}")
        metadata = loaded
    return frame, metadata


def integrate_capacity(
    time_s: npt.ArrayLike, current_A: npt.ArrayLike, cycle: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Integrate current into per-cycle charging and discharging capacity.

    Within each cycle, ``max(I, 0)`` and ``max(-I, 0)`` are integrated over time by the
    trapezoid rule and restart from zero at the cycle's first record (the interval between
    the last record of one cycle and the first of the next is not counted, as on a cycler).
    Give step changes two records at the same time, one per current, for exact results.

    Args:
        time_s: Test time in seconds, shape `(n,)`, non-decreasing.
        current_A: Current in amperes, shape `(n,)`, positive while charging.
        cycle: Cycle count, shape `(n,)`, non-decreasing.

    Returns:
        ``(charge_Ah, discharge_Ah)``, each of shape `(n,)`, non-decreasing within a cycle.

    Raises:
        BDFError: If the arrays are not 1-D of one length.
    """
    t = np.asarray(time_s, dtype=float)
    current = np.asarray(current_A, dtype=float)
    c = np.asarray(cycle)
    if not (t.shape == current.shape == c.shape and t.ndim == 1):
        raise BDFError(
            f"integrate_capacity: shapes differ or are not 1-D: time {t.shape}, "
            f"current {current.shape}, cycle {c.shape}"
        )
    if t.size == 0:
        return np.zeros(0), np.zeros(0)
    dt = np.diff(t)
    starts = np.concatenate(([True], c[1:] != c[:-1]))
    # Index of the first record of each record's cycle.
    first = np.maximum.accumulate(np.where(starts, np.arange(len(t)), 0))

    def cumulative(i: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        total = np.concatenate(([0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * dt))) / _SECONDS_PER_HOUR
        # Restart from zero at each cycle's first record (drops the between-cycles interval).
        return np.asarray(total - total[first], dtype=np.float64)

    return cumulative(np.clip(current, 0.0, None)), cumulative(np.clip(-current, 0.0, None))


def build_bdf_frame(
    time_s: npt.ArrayLike,
    voltage_V: npt.ArrayLike,
    current_A: npt.ArrayLike,
    cycle: npt.ArrayLike,
    step: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Assemble a validated BDF table from raw arrays, adding the per-cycle capacities.

    Simulated evaluators hand over the raw time series; the per-cycle
    :data:`CHARGE_CAPACITY` and :data:`DISCHARGE_CAPACITY` come from
    :func:`integrate_capacity`.

    Args:
        time_s: Test time in seconds, shape `(n,)`.
        voltage_V: Cell voltage in volts, shape `(n,)`.
        current_A: Current in amperes, shape `(n,)`, positive while charging.
        cycle: Cycle count, shape `(n,)`.
        step: Optional step count, shape `(n,)`.

    Returns:
        The BDF table, checked by :func:`validate_bdf`.

    Raises:
        BDFError: If the arrays differ in length or fail :func:`validate_bdf`.
    """
    arrays: dict[str, npt.NDArray[Any]] = {
        TEST_TIME: np.asarray(time_s, dtype=float).ravel(),
        VOLTAGE: np.asarray(voltage_V, dtype=float).ravel(),
        CURRENT: np.asarray(current_A, dtype=float).ravel(),
        CYCLE: np.asarray(cycle).ravel(),
    }
    if step is not None:
        arrays[STEP] = np.asarray(step).ravel()
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise BDFError(f"build_bdf_frame: arrays differ in length: {lengths}")
    frame = validate_bdf(pd.DataFrame(arrays), source="build_bdf_frame")
    charge, discharge = integrate_capacity(frame[TEST_TIME], frame[CURRENT], frame[CYCLE])
    frame[CHARGE_CAPACITY] = charge
    frame[DISCHARGE_CAPACITY] = discharge
    return frame
