"""Read, write and validate cycler time series in the Battery Data Format (BDF).

One file holds one cell: a table whose header row names each column by its BDF label
``Quantity / unit`` (fixed SI units, **positive current charges the cell**), written as
``*.bdf.csv`` or ``*.bdf`` (CSV), ``*.bdf.csv.gz`` or ``*.bdf.gz`` (gzip-compressed CSV) or
``*.bdf.parquet``, with its metadata in a parallel ``*.bdf.metadata.json`` (``x.bdf.csv.gz``
-> ``x.bdf.metadata.json``; a missing metadata file reads as ``{}``). Every evaluator,
simulated or real, hands its data over in this form so that :mod:`optloop.data.metrics`
computes the objectives one way for all of them.

Reading is tolerant of what real files do (:mod:`optloop.data.ingest`): legacy, machine and
BatteryArchive labels are renamed through the alias table of :mod:`optloop.data.columns`,
columns in other units (``Current / mA``, ``Test Time / h``, temperatures in K) are converted
to the BDF unit, and cumulative counters that the instrument restarted are unwrapped; each
change is recorded in an :class:`~optloop.data.ingest.IngestReport`
(:func:`load_bdf`, :func:`normalise_bdf`). Only a few columns are checked (see
:data:`REQUIRED_COLUMNS` and :data:`NUMERIC_COLUMNS`); other columns pass through untouched.
Vendor formats are converted by reader plugins (:mod:`optloop.data.readers`).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from optloop.data.atomic import atomic_write_files
from optloop.data.columns import (
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
)
from optloop.data.ingest import (
    BDFError,
    ColumnPlan,
    CounterReset,
    IngestReport,
    resolve_columns,
    unwrap_counter,
)

__all__ = [
    "AMBIENT_TEMPERATURE",
    "BDF_SUFFIXES",
    "CHARGE_CAPACITY",
    "CUMULATIVE_CHARGE_CAPACITY",
    "CUMULATIVE_DISCHARGE_CAPACITY",
    "CURRENT",
    "CYCLE",
    "CYCLE_NET_CAPACITY",
    "DISCHARGE_CAPACITY",
    "NET_CAPACITY",
    "NUMERIC_COLUMNS",
    "REQUIRED_COLUMNS",
    "STEP",
    "STEP_CAPACITY",
    "STEP_CHARGE_CAPACITY",
    "STEP_DISCHARGE_CAPACITY",
    "TEST_TIME",
    "VOLTAGE",
    "BDFData",
    "BDFError",
    "build_bdf_frame",
    "integrate_capacity",
    "is_bdf_path",
    "load_bdf",
    "metadata_path",
    "normalise_bdf",
    "read_bdf",
    "read_metadata",
    "validate_bdf",
    "write_bdf",
]

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
    STEP_CAPACITY,
    STEP_CHARGE_CAPACITY,
    STEP_DISCHARGE_CAPACITY,
    NET_CAPACITY,
    CYCLE_NET_CAPACITY,
)
_NON_DECREASING = (TEST_TIME, CYCLE)
#: Never decrease by definition; a drop is an instrument restart (see ``unwrap_counter``).
_CUMULATIVE = (CUMULATIVE_CHARGE_CAPACITY, CUMULATIVE_DISCHARGE_CAPACITY)
_NON_NEGATIVE = (
    CHARGE_CAPACITY,
    DISCHARGE_CAPACITY,
    CUMULATIVE_CHARGE_CAPACITY,
    CUMULATIVE_DISCHARGE_CAPACITY,
    STEP_CHARGE_CAPACITY,
    STEP_DISCHARGE_CAPACITY,
)
_INTEGER = (CYCLE, STEP)

#: File name endings of BDF time series and their format, longest first.
BDF_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".bdf.parquet", "parquet"),
    (".bdf.csv.gz", "csv.gz"),
    (".bdf.gz", "csv.gz"),
    (".bdf.csv", "csv"),
    (".bdf", "csv"),
)
_SECONDS_PER_HOUR = 3600.0


class BDFData(NamedTuple):
    """A BDF file as read: the validated table, its metadata and what reading changed."""

    frame: pd.DataFrame
    metadata: dict[str, Any]
    report: IngestReport


def _split_name(path: Path) -> tuple[str, str]:
    """Return ``(stem, format)`` of a BDF file name (format: see :data:`BDF_SUFFIXES`)."""
    name = path.name
    for suffix, fmt in BDF_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], fmt
    raise BDFError(
        f"{path}: file name must end in one of {tuple(s for s, _ in BDF_SUFFIXES)}; got {name!r}"
    )


def is_bdf_path(path: str | os.PathLike[str]) -> bool:
    """Return True when the file name ends in a BDF suffix (see :data:`BDF_SUFFIXES`)."""
    name = Path(path).name.lower()
    return any(name.endswith(suffix) for suffix, _ in BDF_SUFFIXES)


def metadata_path(path: str | os.PathLike[str]) -> Path:
    """Return the metadata file of a BDF file: ``x.bdf.csv.gz`` -> ``x.bdf.metadata.json``.

    Args:
        path: The BDF time-series file.

    Raises:
        BDFError: If the name does not end in a BDF suffix (see :data:`BDF_SUFFIXES`).
    """
    p = Path(path)
    stem, _ = _split_name(p)
    return p.with_name(stem + ".bdf.metadata.json")


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _show(value: Any) -> str:
    """Return ``repr`` of a value, numpy scalars shown as plain Python numbers."""
    return repr(value.item() if isinstance(value, np.generic) else value)


_DECIMAL_COMMA_VALUE = re.compile(r"^[-+]?\d*,\d+([eE][-+]?\d+)?$")


def _check_numeric(
    out: pd.DataFrame, col: str, plan: ColumnPlan, source: str
) -> npt.NDArray[np.float64]:
    """Return a checked column as floats in the file's own unit; raise naming row and value."""
    name = plan.shown(col)
    values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = _first_bad(bad)
        value = out[col].iloc[i]
        hint = ""
        if isinstance(value, str) and _DECIMAL_COMMA_VALUE.match(value.strip()):
            hint = (
                " (a decimal comma: use ';' as the separator with decimal commas, or ',' "
                "with decimal points)"
            )
        raise BDFError(
            f"{source}: column {name} row {i} is {_show(value)}; limit: a finite number{hint}"
        )
    if col in _NON_DECREASING:
        dropped = np.diff(values) < 0
        if dropped.any():
            i = _first_bad(dropped) + 1
            raise BDFError(
                f"{source}: column {name} decreases at row {i}: {_show(values[i])} after "
                f"{_show(values[i - 1])}; limit: non-decreasing"
            )
    if col in _NON_NEGATIVE and (values < 0).any():
        i = _first_bad(values < 0)
        raise BDFError(f"{source}: column {name} row {i} is {_show(values[i])}; limit: >= 0")
    if col in _INTEGER:
        fractional = values != np.round(values)
        if fractional.any():
            i = _first_bad(fractional)
            raise BDFError(
                f"{source}: column {name} row {i} is {_show(values[i])}; limit: a whole number"
            )
    return values


def normalise_bdf(
    df: pd.DataFrame, *, source: str = "<data frame>"
) -> tuple[pd.DataFrame, IngestReport]:
    """Check a BDF table and return a copy with BDF labels, BDF units and numeric dtypes.

    Headers are matched to BDF terms (:func:`~optloop.data.ingest.resolve_columns`); then:
    the required columns exist; the known numeric columns (:data:`NUMERIC_COLUMNS`) are
    numeric with no NaN or infinity; test time and cycle count never decrease; capacities
    that cannot be negative are not; cycle and step counts are whole numbers. Checks run on
    the values as written (messages quote them), then units are converted, and cumulative
    capacity counters that drop are unwrapped as instrument restarts
    (:func:`~optloop.data.ingest.unwrap_counter`).

    Args:
        df: The time series, one row per record (row numbers in messages count from 0).
        source: What to call the data in error messages (usually the file name).

    Returns:
        ``(frame, report)``: a new frame (cycle and step counts as ``int64``, the other
        checked or converted columns as ``float64``, unknown columns unchanged) and what was
        renamed, converted or unwrapped.

    Raises:
        BDFError: If a check fails; the message names the source, the column (as written in
            the file), the row, the value and the limit; or for an unknown unit, naming the
            column, the unit found and the units accepted.
    """
    plan = resolve_columns(list(df.columns), source=source)
    out = df.rename(columns=plan.renames)
    missing = [c for c in REQUIRED_COLUMNS if c not in out.columns]
    if missing:
        raise BDFError(
            f"{source}: missing required column(s) {missing}; found "
            f"{[str(c).strip() for c in df.columns]}"
        )
    if len(out) == 0:
        raise BDFError(f"{source}: no rows (columns {list(map(str, out.columns))})")
    out = out.copy()
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    for col in NUMERIC_COLUMNS:
        if col in out.columns:
            numeric[col] = _check_numeric(out, col, plan, source)
    for conversion in plan.conversions:
        col = conversion.label
        if col not in numeric:
            numeric[col] = _convertible(out, col, plan, source)
        numeric[col] = conversion.scale * numeric[col] + conversion.offset
    resets: list[CounterReset] = []
    for col in _CUMULATIVE:
        if col in numeric:
            numeric[col], rows = unwrap_counter(numeric[col])
            if rows:
                resets.append(CounterReset(col, rows))
    for col, values in numeric.items():
        out[col] = values.astype(np.int64) if col in _INTEGER else values
    report = IngestReport(
        source=source,
        renamed=tuple((h, lab) for lab, h in plan.origin.items() if h != lab),
        conversions=plan.conversions,
        counter_resets=tuple(resets),
        left_as_is=plan.left_as_is,
    )
    return out, report


def _convertible(
    out: pd.DataFrame, col: str, plan: ColumnPlan, source: str
) -> npt.NDArray[np.float64]:
    """Return a column to convert as floats; blanks stay NaN, text is an error."""
    values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(values) & out[col].notna().to_numpy()
    if bad.any():
        i = _first_bad(bad)
        raise BDFError(
            f"{source}: column {plan.shown(col)} row {i} is {_show(out[col].iloc[i])}; "
            "limit: a number (its unit is converted)"
        )
    return values


def validate_bdf(df: pd.DataFrame, *, source: str = "<data frame>") -> pd.DataFrame:
    """Check a BDF table and return a copy with BDF labels, BDF units and numeric dtypes.

    The same as :func:`normalise_bdf` without the report.

    Args:
        df: The time series, one row per record.
        source: What to call the data in error messages (usually the file name).

    Returns:
        A new frame: aliases renamed to BDF labels, units converted, cycle and step counts as
        ``int64``, the other checked columns as ``float64``; unknown columns unchanged.

    Raises:
        BDFError: If a check fails; the message names the source, the column, the row, the
            value and the limit.
    """
    return normalise_bdf(df, source=source)[0]


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


def write_bdf(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Validate a BDF table and write it atomically, with its metadata file.

    The format follows the name: ``*.bdf.csv`` or ``*.bdf`` give CSV, ``*.bdf.csv.gz`` or
    ``*.bdf.gz`` gzip-compressed CSV, ``*.bdf.parquet`` Parquet (needs pyarrow). The metadata
    (cell id, design, evaluator, ...) go to ``*.bdf.metadata.json``. Both are written to
    temporary files first and renamed into place only when both are complete, metadata first,
    so a watcher that sees the data file also finds its metadata, and a failed write leaves
    any old files unchanged.

    Args:
        df: The time series, with BDF labels (aliases are renamed, units converted).
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
        elif fmt == "csv.gz":
            # Explicit: the temporary name ends in .tmp, so pandas cannot infer it; mtime 0
            # makes the bytes depend on the data only.
            frame.to_csv(p, index=False, compression={"method": "gzip", "mtime": 0})
        else:
            frame.to_csv(p, index=False)

    atomic_write_files(
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


#: The CSV dialects read, for messages: separator and decimal mark.
CSV_DIALECTS = (
    "',' separator with decimal point (1.5)",
    "';' separator with decimal comma (1,5) or point",
    "tab separator with decimal comma or point",
)
_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_DECIMAL_COMMA = re.compile(r"\d,\d")


def _sniff_csv(source: Path, compression: str | None) -> tuple[str, str]:
    """Return ``(separator, decimal mark)`` of a CSV file from its header and first rows.

    The header's separator wins: ``;`` or a tab if the header has one (European cycler
    exports), else ``,``. With ``;`` or a tab, digits around a comma in the rows mean a
    decimal comma. A ``,``-separated file cannot have a decimal comma.
    """
    opener: Any = gzip.open if compression == "gzip" else open
    try:
        with opener(source, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            head = fh.read(65536)
    except (OSError, EOFError, zlib.error):
        return ",", "."  # pandas reports the unreadable file below
    lines = [line for line in head.splitlines() if line.strip()][:50]
    if not lines:
        return ",", "."
    header = lines[0]
    sep = ";" if ";" in header else ("\t" if "\t" in header else ",")
    if sep == ",":
        return sep, "."
    comma = any(_DECIMAL_COMMA.search(line) for line in lines[1:])
    return sep, ("," if comma else ".")


def _dialect_text(sep: str, decimal: str) -> str | None:
    if (sep, decimal) == (",", "."):
        return None
    name = {";": "';' separator", "\t": "tab separator"}.get(sep, repr(sep))
    return f"{name}, decimal {'comma' if decimal == ',' else 'point'}"


def _fields_problem(where: str, saw: int, expected: int, sep: str) -> str:
    """Return why rows and header disagree, with the likely cause and the accepted dialects."""
    cause = (
        "a decimal comma in a ','-separated file (use ';' as the separator), or a "
        "separator inside a value"
        if sep == "," and saw > expected
        else "rows with missing or extra values"
    )
    return (
        f"{where} {saw} values but the header has {expected}: probably {cause}; accepted: "
        + "; ".join(CSV_DIALECTS)
    )


def _csv_problem(exc: Exception, sep: str) -> str:
    """Return a pandas CSV error in a technician's words (no parser jargon)."""
    found = _FIELDS.search(str(exc))
    if found:
        expected, line, saw = found.groups()
        return _fields_problem(f"line {line} has", int(saw), int(expected), sep)
    if isinstance(exc, pd.errors.EmptyDataError):
        return "the file is empty (no header row)"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start}); export the file as UTF-8 CSV"
    return "not a readable table; accepted: " + "; ".join(CSV_DIALECTS)


def _read_table(source: Path, fmt: str) -> tuple[pd.DataFrame, str | None]:
    """Read the raw table of a BDF file and the CSV dialect it used (None: the plain one).

    Raises:
        BDFError: If the file cannot be read (in a technician's words, no parser jargon).
    """
    if fmt == "parquet":
        _require_pyarrow(source)
        try:
            return pd.read_parquet(source, engine="pyarrow"), None
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise BDFError(f"{source}: not a readable Parquet table ({exc})") from None
    compression = "gzip" if fmt == "csv.gz" else None
    sep, decimal = _sniff_csv(source, compression)
    try:
        frame = pd.read_csv(source, compression=compression, sep=sep, decimal=decimal)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BDFError(f"{source}: {_csv_problem(exc, sep)}") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise BDFError(f"{source}: not a readable gzip file ({exc})") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas takes surplus leading values of every row as an index: never silently.
        header = len(frame.columns)
        problem = _fields_problem("the rows have", header + frame.index.nlevels, header, sep)
        raise BDFError(f"{source}: {problem}")
    return frame, _dialect_text(sep, decimal)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the parsed ``*.bdf.metadata.json`` of a BDF file, ``{}`` when there is none.

    Raises:
        BDFError: If the metadata file is not valid JSON or not a JSON object.
    """
    meta_file = metadata_path(path)
    if not meta_file.is_file():
        return {}
    try:
        loaded = json.loads(meta_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BDFError(f"{meta_file}: not valid JSON ({exc})") from None
    if not isinstance(loaded, dict):
        raise BDFError(f"{meta_file}: must hold a JSON object; got {type(loaded).__name__}")
    return loaded


def load_bdf(path: str | os.PathLike[str]) -> BDFData:
    """Read and validate a BDF file and its metadata, reporting what reading changed.

    Args:
        path: A file with a BDF suffix (see :data:`BDF_SUFFIXES`).

    Returns:
        ``(frame, metadata, report)``: the table as :func:`normalise_bdf` returns it, the
        parsed ``*.bdf.metadata.json`` (``{}`` when there is none), and the renames, unit
        conversions and counter restarts applied.

    Raises:
        FileNotFoundError: If the data file does not exist.
        BDFError: If the data or the metadata file are malformed.
    """
    source = Path(path)
    _, fmt = _split_name(source)
    if not source.is_file():
        raise FileNotFoundError(f"BDF file not found: {source}")
    raw, dialect = _read_table(source, fmt)
    frame, report = normalise_bdf(raw, source=str(source))
    if dialect is not None:
        report = dataclasses.replace(report, csv_dialect=dialect)
    return BDFData(frame, read_metadata(source), report)


def read_bdf(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read and validate a BDF file and its metadata.

    Args:
        path: A ``*.bdf``, ``*.bdf.csv``, ``*.bdf.gz``, ``*.bdf.csv.gz`` or ``*.bdf.parquet``
            file.

    Returns:
        ``(frame, metadata)``: the table as :func:`validate_bdf` returns it, and the parsed
        ``*.bdf.metadata.json`` (``{}`` when there is none). :func:`load_bdf` also returns
        what reading changed.

    Raises:
        FileNotFoundError: If the data file does not exist.
        BDFError: If the data or the metadata file are malformed.
    """
    frame, metadata, _ = load_bdf(path)
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
