"""Turn the column headers of a cycler table into BDF labels, with units converted.

A header is read as ``Name / unit`` (BDF), ``Name (unit)`` or ``Name [unit]`` (BatteryArchive
and most vendors), or a bare name (``Cycle_Index``, or a machine name such as
``test_time_second`` that implies its unit). The name is matched against
:data:`~optloop.data.columns.TERMS` ignoring case, spaces and punctuation; the unit against
:data:`~optloop.data.columns.UNITS` for the term's kind. Headers that match no term pass
through untouched (stripped of surrounding spaces).

Every rename and conversion is recorded in an :class:`IngestReport` so that a user can see
what was changed, and a known quantity in an unknown unit is an error, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from optloop.data.columns import TERMS, UNITS, Term, name_key, unit_key
from optloop.exceptions import OptloopError

__all__ = [
    "BDFError",
    "ColumnPlan",
    "CounterReset",
    "IngestReport",
    "UnitConversion",
    "resolve_columns",
    "unwrap_counter",
]


class BDFError(OptloopError, ValueError):
    """BDF data are malformed: a missing column, a non-numeric value, a broken ordering."""


@dataclass(frozen=True)
class UnitConversion:
    """A column read in another unit than BDF's, and how its values were converted."""

    column: str
    """The header in the file, e.g. ``"Current / mA"``."""
    label: str
    """The BDF label it became, e.g. ``"Current / A"``."""
    unit: str
    """The unit found, e.g. ``"mA"``."""
    scale: float
    """``value_in_bdf_unit = scale * value + offset``."""
    offset: float

    def describe(self) -> str:
        """Return one line for a human, e.g. ``'Current / mA' -> 'Current / A' (x 0.001)``."""
        how = f"x {self.scale:g}"
        if self.offset:
            how += f", {self.offset:+g}"
        return f"{self.column!r} -> {self.label!r} ({how})"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"column": self.column, "label": self.label, "unit": self.unit,
                "scale": self.scale, "offset": self.offset}


@dataclass(frozen=True)
class CounterReset:
    """A never-decreasing counter that dropped: read as the instrument restarting it from 0."""

    label: str
    """The BDF label of the counter."""
    rows: tuple[int, ...]
    """Rows (0-based) where it dropped."""

    def describe(self) -> str:
        """Return one line for a human."""
        shown = ", ".join(map(str, self.rows[:5])) + (", ..." if len(self.rows) > 5 else "")
        return f"{self.label!r} restarted {len(self.rows)} time(s) (rows {shown})"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"label": self.label, "rows": list(self.rows)}


@dataclass(frozen=True)
class IngestReport:
    """What reading a table changed: renamed headers, converted units, restarted counters."""

    source: str
    """The file (or data frame) read."""
    renamed: tuple[tuple[str, str], ...] = ()
    """``(header, BDF label)`` of every header that was not already its BDF label."""
    conversions: tuple[UnitConversion, ...] = ()
    """Columns converted to the BDF unit."""
    counter_resets: tuple[CounterReset, ...] = ()
    """Cumulative counters that the instrument restarted, unwrapped."""
    left_as_is: tuple[str, ...] = field(default=())
    """Fallback headers (``Step Index / 1``) not used because a better column was present."""
    csv_dialect: str | None = None
    """How a CSV file other than ``,``-separated with a decimal point was read, e.g.
    ``"';' separator, decimal comma"``; None for the plain dialect and other formats."""

    def lines(self) -> list[str]:
        """Return one line per change, for a human; empty when nothing changed."""
        converted = {c.column for c in self.conversions}
        out = [f"renamed {a!r} -> {b!r}" for a, b in self.renamed if a not in converted]
        out += [f"converted {c.describe()}" for c in self.conversions]
        out += [f"counter {r.describe()}" for r in self.counter_resets]
        out += [f"left as is {h!r} (a preferred column gives the same quantity)"
                for h in self.left_as_is]
        if self.csv_dialect is not None:
            out.append(f"read as CSV with {self.csv_dialect}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "source": self.source,
            "renamed": [{"column": a, "label": b} for a, b in self.renamed],
            "conversions": [c.to_dict() for c in self.conversions],
            "counter_resets": [r.to_dict() for r in self.counter_resets],
            "left_as_is": list(self.left_as_is),
            **({"csv_dialect": self.csv_dialect} if self.csv_dialect is not None else {}),
        }


@dataclass(frozen=True)
class ColumnPlan:
    """How to turn a table's headers into BDF labels."""

    renames: dict[Any, str]
    """Original header -> new header (a BDF label, or the stripped original)."""
    conversions: tuple[UnitConversion, ...]
    """Unit conversions to apply, keyed by their BDF label."""
    origin: dict[str, str]
    """BDF label -> the header it came from, for every matched header."""
    left_as_is: tuple[str, ...]

    def shown(self, label: str) -> str:
        """Return how to name a column in a message: its label, and its header if different."""
        header = self.origin.get(label, label)
        return repr(label) if header == label else f"{header!r} (read as {label!r})"


_BY_LABEL = {t.label: t for t in TERMS}
_BY_NAME: dict[str, Term] = {}
_BY_FALLBACK_NAME: dict[str, Term] = {}
_BY_MACHINE_NAME: dict[str, tuple[Term, str]] = {}
for _term in TERMS:
    _BY_NAME.setdefault(name_key(_term.label.rsplit(" / ", 1)[0]), _term)
    for _alias in _term.aliases:
        _BY_NAME.setdefault(name_key(_alias), _term)
    for _alias in _term.fallback_aliases:
        _BY_FALLBACK_NAME.setdefault(name_key(_alias), _term)
    _BY_MACHINE_NAME.setdefault(name_key(_term.name), (_term, _term.unit))
    for _machine, _unit in _term.machine_aliases:
        _BY_MACHINE_NAME.setdefault(name_key(_machine), (_term, _unit))
_UNIT_INDEX = {kind: {unit_key(u): f for u, f in units.items()} for kind, units in UNITS.items()}

_WITH_UNIT = (
    re.compile(r"^(?P<name>.+?)\s*/\s*(?P<unit>[^/]*)$"),
    re.compile(r"^(?P<name>.+?)\s*\((?P<unit>[^()]*)\)$"),
    re.compile(r"^(?P<name>.+?)\s*\[(?P<unit>[^\[\]]*)\]$"),
)


def _split(header: str) -> tuple[str, str | None]:
    """Return ``(name, unit)`` of a header; unit None when the header carries none."""
    for pattern in _WITH_UNIT:
        match = pattern.match(header)
        if match:
            return match["name"], match["unit"].strip()
    return header, None


def _match(header: str, source: str) -> tuple[Term, str, bool] | None:
    """Return ``(term, unit, is_fallback)`` for a header, or None if it names no known term."""
    exact = _BY_LABEL.get(header)
    if exact is not None:
        return exact, exact.unit, False
    name, unit = _split(header)
    key = name_key(name)
    fallback = key not in _BY_NAME and key in _BY_FALLBACK_NAME
    term = _BY_NAME.get(key) or _BY_FALLBACK_NAME.get(key)
    if unit is None:
        machine = _BY_MACHINE_NAME.get(key)
        if machine is not None:
            return machine[0], machine[1], fallback
        if term is None:
            return None
        if term.kind != "count":
            raise BDFError(
                f"{source}: column {header!r} is {term.name} but has no unit; write it as "
                f"{term.label!r} (accepted units: {_accepted(term)})"
            )
        unit = ""
    if term is None:
        return None
    return term, unit, fallback


def _accepted(term: Term) -> str:
    return ", ".join(repr(u) for u in UNITS[term.kind] if u)


def _factor(term: Term, header: str, unit: str, source: str) -> tuple[float, float]:
    factor = _UNIT_INDEX[term.kind].get(unit_key(unit))
    if factor is None:
        raise BDFError(
            f"{source}: column {header!r} is {term.name} in unit {unit!r}, which is not "
            f"accepted; accepted units: {_accepted(term)} (BDF unit {term.unit!r})"
        )
    return factor


def resolve_columns(columns: Sequence[Any], *, source: str) -> ColumnPlan:
    """Match each header to a BDF term and its unit.

    Args:
        columns: The table's headers, in order.
        source: What to call the data in error messages (usually the file name).

    Returns:
        The renames and unit conversions to apply.

    Raises:
        BDFError: When a known quantity has an unknown unit or none (naming the column, the
            unit found and the units accepted), or two headers give the same quantity.
    """
    renames: dict[Any, str] = {}
    owner: dict[str, str] = {}
    conversions: list[UnitConversion] = []
    fallbacks: list[tuple[Any, str, Term, str]] = []
    for original in columns:
        header = str(original).strip()
        matched = _match(header, source)
        if matched is None:
            renames[original] = header
            continue
        term, unit, is_fallback = matched
        if is_fallback:
            fallbacks.append((original, header, term, unit))
            continue
        _claim(owner, term.label, header, source)
        renames[original] = term.label
        scale, offset = _factor(term, header, unit, source)
        if (scale, offset) != (1.0, 0.0):
            conversions.append(UnitConversion(header, term.label, unit, scale, offset))
    left: list[str] = []
    for original, header, term, unit in fallbacks:
        if term.label in owner:
            renames[original] = header
            left.append(header)
            continue
        _claim(owner, term.label, header, source)
        renames[original] = term.label
        scale, offset = _factor(term, header, unit, source)
        if (scale, offset) != (1.0, 0.0):
            conversions.append(UnitConversion(header, term.label, unit, scale, offset))
    return ColumnPlan(renames, tuple(conversions), dict(owner), tuple(left))


def _claim(owner: dict[str, str], label: str, header: str, source: str) -> None:
    if label in owner:
        raise BDFError(
            f"{source}: columns {owner[label]!r} and {header!r} both give {label!r}; "
            "keep only one"
        )
    owner[label] = header


def unwrap_counter(
    values: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], tuple[int, ...]]:
    """Undo instrument restarts of a counter that should never decrease.

    Rule: a drop larger than rounding (``1e-9`` of the largest value) is a restart of the
    counter from zero, so the charge passed since the restart is the new value itself; a
    smaller drop is rounding and is clipped. Values that never drop are returned unchanged.

    Args:
        values: The counter, one value per record.

    Returns:
        ``(unwrapped, rows)``: a non-decreasing counter and the rows where it restarted.
    """
    diffs = np.diff(values)
    if not (diffs < 0).any():
        return values, ()
    tolerance = 1e-9 * max(1.0, float(np.max(np.abs(values))))
    restarts = diffs < -tolerance
    if not restarts.any():
        return np.maximum.accumulate(values), ()
    increments = np.where(restarts, values[1:], np.maximum(diffs, 0.0))
    unwrapped = values[0] + np.concatenate(([0.0], np.cumsum(increments)))
    return unwrapped, tuple(int(i) + 1 for i in np.flatnonzero(restarts))
