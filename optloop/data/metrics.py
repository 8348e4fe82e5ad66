"""Compute cycling metrics from a BDF time series, the same way for every evaluator.

Definitions (``lab-data-tracking-scale.md`` §1.5):

* **Cycles** are grouped by the BDF cycle count and numbered ``1, 2, ...`` in file order,
  counting only cycles that deliver charge. The instrument's own cycle counts are kept in
  :attr:`CycleMetrics.cycle_counts`. Cycles that deliver nothing (rest-only, say) are skipped
  and listed. A last cycle that took charge in but delivered nothing, or any last cycle of a
  test still in progress, is dropped as incomplete and flagged.
* **Formation cycles** (``formation_cycles``) are leading delivering cycles excluded from the
  numbering, the reference and the cycle life, and listed in
  :attr:`CycleMetrics.formation_cycle_counts`: either an explicit count, or ``"auto"``: the
  longest run of leading cycles whose median discharge current (cycler discharge, negative
  current, in either cell) is below :data:`FORMATION_RATE_RATIO` times the median over all
  later cycles (slow C/10 to C/20 formation before faster cycling). The default, 0, excludes
  nothing.
* **Delivered capacity** ``Q_out`` and **stored capacity** ``Q_in`` depend on the cell. In a
  full cell, ``Q_out`` is the cycler's discharge and ``Q_in`` its charge. In a half cell of the
  anode against lithium, lithiation is the cell's discharge, so ``Q_out`` is the cycler's
  *charge* (delithiation) and ``Q_in`` its discharge.
* **Coulombic efficiency** of a cycle is ``Q_out / Q_in``, reported per cycle.
* **First-cycle efficiency** (``first_cycle_efficiency``) is the coulombic efficiency of the
  cell's first cycle, where the irreversible (SEI) loss happens: the first formation cycle
  when formation cycles are excluded (also kept as ``formation_first_cycle_efficiency``), else
  cycle 1. When the data start after a charge they do not hold (a simulation that does not
  simulate formation), the protocol gives that charge, ``first_charge_capacity_Ah``, and the
  efficiency is ``Q_out`` of cycle 1 over it. The efficiency of cycle 1 *as numbered* is
  ``coulombic_efficiency[0]``.
* **Reference capacity**: ``"first"`` is ``Q_out`` of cycle 1; ``"max_early"`` is the largest
  ``Q_out`` of cycles 1 to 5; ``"nominal"`` is a number the caller gives. The mode is recorded.
* **Cycle life** is the number ``n`` of the first cycle with ``Q_out[n] < threshold * Q_ref``
  (:func:`end_of_life_cycle`; reaching the threshold exactly is not end of life; the default
  threshold is :data:`END_OF_LIFE_FRACTION`). If no cycle falls below, the test stopped first
  (at the cycle cap, say): the cycle life is the number of cycles completed, a lower bound,
  and ``cycle_life_censored`` is true. Censored values must never be used as exact.
* **Cycle numbering** (``cycle_numbering``): ``"order"`` (the default) numbers the counted
  cycles ``1, 2, ...`` in file order, as above. ``"count"`` takes the BDF cycle counts as the
  true cycle numbers (shifted so the first counted cycle is 1), for data with gaps: a
  simulation that extrapolated over cycles keeps only the cycles it simulated. The capacity
  of a missing cycle is then interpolated linearly between its simulated neighbours, the
  cycle life is the first whole cycle whose interpolated capacity is below the threshold
  (:func:`end_of_life_cycle_with_gaps`), and ``cycles_completed`` is the last cycle's number.
* **The protocol** (:class:`MetricsProtocol`) holds every choice above: cell, reference,
  threshold, formation cycles, the first charge when the data lack it, the planned cycles,
  the cycle numbering.
  Evaluators compute their metrics through one (measured data through
  :func:`optloop.evaluators.measured.measured_metrics`, which records it in the result's
  metadata) and record it under :data:`METRICS_PROTOCOL_KEY`: the PyBaMM evaluator in the
  metadata of its BDF files. ``optloop data metrics`` and the reports read a file with the
  protocol it records (:func:`file_protocol`), else with the defaults, which are the
  campaign's (full cell, cycle 1, 80 %, no formation cycle), so a file shows the numbers the
  campaign recorded.

Per-cycle capacities come from the BDF per-cycle capacity columns when present, else from the
cumulative, step or net capacity columns, else by integrating current
(:func:`~optloop.data.capacity.per_cycle_capacity` gives the rules).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from optloop.data.bdf import CURRENT, CYCLE, BDFError, validate_bdf
from optloop.data.capacity import per_cycle_capacity
from optloop.exceptions import OptloopError

__all__ = [
    "EARLY_CYCLES",
    "END_OF_LIFE_FRACTION",
    "FORMATION_RATE_RATIO",
    "METRICS_PROTOCOL_KEY",
    "CellConfiguration",
    "CycleMetrics",
    "CycleNumbering",
    "FormationRule",
    "MetricsError",
    "MetricsProtocol",
    "ReferenceMode",
    "compute_metrics",
    "end_of_life_cycle",
    "end_of_life_cycle_with_gaps",
    "file_protocol",
    "formation_cycle_count",
]

CellConfiguration = Literal["full", "half"]
ReferenceMode = Literal["first", "max_early", "nominal"]
FormationRule = int | Literal["auto"]
CycleNumbering = Literal["order", "count"]
#: Cycles searched by the ``"max_early"`` reference mode.
EARLY_CYCLES = 5
#: ``formation_cycles="auto"``: a leading cycle is formation when its median discharge current
#: is below this fraction of the median over the later cycles.
FORMATION_RATE_RATIO = 0.5
#: End of life: a delivered capacity below this share of the reference capacity.
END_OF_LIFE_FRACTION = 0.8
#: The BDF metadata key under which an evaluator records its :class:`MetricsProtocol`.
METRICS_PROTOCOL_KEY = "metrics_protocol"


class MetricsError(OptloopError, ValueError):
    """Metrics cannot be computed: a bad argument, or data without a single complete cycle."""


@dataclass(frozen=True)
class CycleMetrics:
    """Per-cycle and summary metrics of one cell; per-cycle tuples share one index."""

    cell: CellConfiguration
    """``"full"`` or ``"half"`` (anode against lithium); decides ``Q_out`` and ``Q_in``."""
    reference_mode: ReferenceMode
    """How :attr:`reference_capacity_Ah` was chosen."""
    reference_capacity_Ah: float
    """``Q_ref``: retention and cycle life are relative to it."""
    threshold: float
    """End of life is ``Q_out < threshold * Q_ref``."""
    cycle_numbers: tuple[int, ...]
    """``1, 2, ...``: the numbering cycle life uses (with gaps under ``"count"`` numbering)."""
    cycle_counts: tuple[int, ...]
    """The instrument's cycle count of each cycle, as in the file."""
    charge_capacity_Ah: tuple[float, ...]
    """Cycler charge (positive current) of each cycle."""
    discharge_capacity_Ah: tuple[float, ...]
    """Cycler discharge (negative current) of each cycle."""
    capacity_Ah: tuple[float, ...]
    """Delivered capacity ``Q_out``: discharge for a full cell, charge for a half cell."""
    coulombic_efficiency: tuple[float | None, ...]
    """``Q_out / Q_in``; ``None`` for a cycle with nothing stored."""
    capacity_retention: tuple[float, ...]
    """``Q_out / Q_ref``."""
    first_cycle_efficiency: float | None
    """The cell's first-cycle efficiency (see the module docstring); None if undefined."""
    first_discharge_capacity_Ah: float
    """Cycler discharge of cycle 1 (the first lithiation in a half cell)."""
    cycle_life: int
    """First cycle below the threshold; if censored, the cycles completed (a lower bound)."""
    cycle_life_censored: bool
    """True when no cycle fell below the threshold: :attr:`cycle_life` is a lower bound."""
    cycles_completed: int
    """Number of cycles counted."""
    capacity_retention_final: float
    """Retention of the last counted cycle."""
    skipped_cycle_counts: tuple[int, ...]
    """Cycle counts skipped because they delivered nothing (rest-only cycles, say)."""
    final_cycle_dropped: bool
    """True when the last cycle in the data was dropped as incomplete."""
    planned_cycles: int | None
    """The cycles the test protocol asked for, when known."""
    stopped_early: bool
    """Censored with fewer cycles than planned: still running, stopped, or the cell failed."""
    charge_capacity_source: str
    """Where the charge capacities came from (column or integrated current)."""
    discharge_capacity_source: str
    """Where the discharge capacities came from (column or integrated current)."""
    formation_cycle_counts: tuple[int, ...] = ()
    """Cycle counts of the leading cycles excluded as formation (empty by default)."""
    formation_rule: int | str = 0
    """The ``formation_cycles`` argument: a count, or ``"auto"``."""
    formation_first_cycle_efficiency: float | None = None
    """Coulombic efficiency of the first formation cycle; None when none was excluded."""
    first_charge_capacity_Ah: float | None = None
    """The first charge the protocol gave because the data lack it; None when they hold it."""
    cycle_numbering: CycleNumbering = "order"
    """``"order"``: cycles numbered in file order; ``"count"``: by their cycle counts (gaps)."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def scalar_metrics(self) -> dict[str, float]:
        """Return the summary numbers, named with units, for an evaluation result."""
        out = {
            "cycle_life": float(self.cycle_life),
            "cycles_completed": float(self.cycles_completed),
            "capacity_retention_final": self.capacity_retention_final,
            "reference_capacity_Ah": self.reference_capacity_Ah,
            "first_discharge_capacity_Ah": self.first_discharge_capacity_Ah,
            "first_capacity_Ah": self.capacity_Ah[0],
        }
        if self.first_cycle_efficiency is not None:
            out["first_cycle_efficiency"] = self.first_cycle_efficiency
        if self.formation_first_cycle_efficiency is not None:
            out["formation_first_cycle_efficiency"] = self.formation_first_cycle_efficiency
        return out

    def censored_metrics(self) -> dict[str, bool]:
        """Return which of :meth:`scalar_metrics` are lower bounds rather than exact values."""
        return {"cycle_life": self.cycle_life_censored}


def _check_arguments(
    cell: str,
    reference: str,
    nominal_capacity_Ah: float | None,
    threshold: float,
    planned_cycles: int | None,
    formation_cycles: object,
    first_charge_capacity_Ah: float | None = None,
    cycle_numbering: str = "order",
) -> None:
    if cycle_numbering not in ("order", "count"):
        raise MetricsError(
            f"cycle_numbering={cycle_numbering!r} is not allowed; use 'order' or 'count'"
        )
    if cell not in ("full", "half"):
        raise MetricsError(f"cell={cell!r} is not allowed; use 'full' or 'half'")
    if reference not in ("first", "max_early", "nominal"):
        raise MetricsError(
            f"reference={reference!r} is not allowed; use 'first', 'max_early' or 'nominal'"
        )
    if reference == "nominal":
        if nominal_capacity_Ah is None:
            raise MetricsError("reference='nominal' needs nominal_capacity_Ah; got None")
        if not (math.isfinite(nominal_capacity_Ah) and nominal_capacity_Ah > 0):
            raise MetricsError(f"nominal_capacity_Ah={nominal_capacity_Ah!r}; limit: > 0")
    elif nominal_capacity_Ah is not None:
        raise MetricsError(
            f"nominal_capacity_Ah={nominal_capacity_Ah!r} is only used with "
            f"reference='nominal'; got reference={reference!r}"
        )
    if not (0.0 < threshold <= 1.0):
        raise MetricsError(f"threshold={threshold!r}; limit: 0 < threshold <= 1")
    if planned_cycles is not None and planned_cycles < 1:
        raise MetricsError(f"planned_cycles={planned_cycles!r}; limit: >= 1")
    if formation_cycles != "auto" and (
        isinstance(formation_cycles, bool)
        or not isinstance(formation_cycles, int)
        or formation_cycles < 0
    ):
        raise MetricsError(
            f"formation_cycles={formation_cycles!r}; limit: a whole number >= 0 or 'auto'"
        )
    if first_charge_capacity_Ah is not None:
        if not (
            isinstance(first_charge_capacity_Ah, int | float)
            and math.isfinite(first_charge_capacity_Ah)
            and first_charge_capacity_Ah > 0
        ):
            raise MetricsError(
                f"first_charge_capacity_Ah={first_charge_capacity_Ah!r}; limit: a number > 0"
            )
        if formation_cycles != 0:
            raise MetricsError(
                f"first_charge_capacity_Ah={first_charge_capacity_Ah!r} stands for a formation "
                f"charge the data lack; got formation_cycles={formation_cycles!r}, limit: 0"
            )


def end_of_life_cycle(
    capacity_Ah: Sequence[float] | npt.ArrayLike,
    reference_capacity_Ah: float | None = None,
    threshold: float = END_OF_LIFE_FRACTION,
) -> int | None:
    """Return the first 1-based cycle whose capacity is below ``threshold`` x the reference.

    The one end-of-life rule: reaching the threshold exactly is not end of life.

    Args:
        capacity_Ah: Delivered capacity of each counted cycle, cycle 1 first.
        reference_capacity_Ah: ``Q_ref``; None takes cycle 1's capacity.
        threshold: The end-of-life fraction of the reference.

    Returns:
        The cycle life, or None when no cycle fell below (censored at the cycles given).
    """
    q = np.asarray(capacity_Ah, dtype=float)
    if q.size == 0:
        return None
    q_ref = float(q[0]) if reference_capacity_Ah is None else float(reference_capacity_Ah)
    below = np.flatnonzero(q < threshold * q_ref)
    return int(below[0]) + 1 if below.size else None


def end_of_life_cycle_with_gaps(
    cycle_numbers: Sequence[int] | npt.ArrayLike,
    capacity_Ah: Sequence[float] | npt.ArrayLike,
    reference_capacity_Ah: float,
    threshold: float = END_OF_LIFE_FRACTION,
) -> int | None:
    """Return the first whole cycle whose capacity is below ``threshold`` x the reference.

    The cycles given may have gaps (an extrapolating simulation keeps only the cycles it
    simulated); a missing cycle's capacity is interpolated linearly between its neighbours.
    Between a cycle ``a`` at or above the threshold and the next given cycle ``b`` below it,
    the cycle life is the first whole ``n`` in ``(a, b]`` whose interpolated capacity is below.
    Without gaps this is :func:`end_of_life_cycle`.

    Args:
        cycle_numbers: Increasing cycle numbers of the given cycles.
        capacity_Ah: Delivered capacity of each given cycle.
        reference_capacity_Ah: ``Q_ref``.
        threshold: The end-of-life fraction of the reference.

    Returns:
        The cycle life, or None when no given cycle fell below.

    Raises:
        MetricsError: If the numbers are not increasing or the lengths differ.
    """
    n = np.asarray(cycle_numbers, dtype=float)
    q = np.asarray(capacity_Ah, dtype=float)
    if n.shape != q.shape:
        raise MetricsError(
            f"cycle_numbers has {n.size} entries, capacity_Ah {q.size}; they must match"
        )
    if n.size > 1 and not np.all(np.diff(n) > 0):
        raise MetricsError(f"cycle_numbers must increase; got {n.astype(int).tolist()[:20]}")
    limit = threshold * float(reference_capacity_Ah)
    below = np.flatnonzero(q < limit)
    if not below.size:
        return None
    j = int(below[0])
    if j == 0:
        return int(n[0])
    a, b, qa, qb = n[j - 1], n[j], q[j - 1], q[j]
    # qa >= limit > qb: the interpolated capacity falls below the limit after a + x.
    x = (qa - limit) / (qa - qb) * (b - a)
    life = a + math.floor(x) + 1
    return int(min(max(life, a + 1), b))


@dataclass(frozen=True)
class MetricsProtocol:
    """How a cell's cycling data become its metrics: every choice, in one place.

    Evaluators build one, compute through :meth:`compute` and record :meth:`to_metadata` in
    the BDF metadata (under :data:`METRICS_PROTOCOL_KEY`); ``optloop data metrics`` reads it
    back with :meth:`from_metadata`. The defaults are the campaign's: a full cell, cycle 1 as
    the reference, end of life below 80 %, no formation cycle excluded.
    """

    cell: CellConfiguration = "full"
    """``"full"`` or ``"half"`` (anode against lithium)."""
    reference: ReferenceMode = "first"
    """Reference-capacity mode (see the module docstring)."""
    nominal_capacity_Ah: float | None = None
    """The reference capacity for ``reference="nominal"``."""
    threshold: float = END_OF_LIFE_FRACTION
    """End of life is a delivered capacity below ``threshold`` x the reference."""
    formation_cycles: FormationRule = 0
    """Leading cycles excluded as formation: a count or ``"auto"``."""
    first_charge_capacity_Ah: float | None = None
    """The first charge when the data lack it (formation not simulated), for the FCE."""
    planned_cycles: int | None = None
    """The cycles the test asked for (the cycle cap), to flag early stops."""
    cycle_numbering: CycleNumbering = "order"
    """``"order"``: number cycles in file order; ``"count"``: by their cycle counts, with
    gaps interpolated (data of an extrapolating simulation)."""

    def __post_init__(self) -> None:
        _check_arguments(
            self.cell, self.reference, self.nominal_capacity_Ah, self.threshold,
            self.planned_cycles, self.formation_cycles, self.first_charge_capacity_Ah,
            self.cycle_numbering,
        )

    def compute(
        self, df: pd.DataFrame, *, in_progress: bool = False, source: str = "<data frame>"
    ) -> CycleMetrics:
        """Compute the metrics of a BDF time series under this protocol.

        Raises:
            BDFError, MetricsError: As :func:`compute_metrics`.
        """
        return compute_metrics(
            df,
            cell=self.cell,
            reference=self.reference,
            nominal_capacity_Ah=self.nominal_capacity_Ah,
            threshold=self.threshold,
            planned_cycles=self.planned_cycles,
            in_progress=in_progress,
            formation_cycles=self.formation_cycles,
            first_charge_capacity_Ah=self.first_charge_capacity_Ah,
            cycle_numbering=self.cycle_numbering,
            source=source,
        )

    def with_changes(self, **changes: Any) -> MetricsProtocol:
        """Return a copy with the given fields changed (checked again)."""
        return replace(self, **changes)

    def to_metadata(self) -> dict[str, Any]:
        """Return the protocol as JSON-ready data, for a BDF file's metadata."""
        return asdict(self)

    @classmethod
    def from_metadata(
        cls, metadata: Mapping[str, Any], *, source: str = "<metadata>"
    ) -> MetricsProtocol | None:
        """Return the protocol recorded in a BDF file's metadata, None when it has none.

        Raises:
            MetricsError: If the recorded protocol is malformed (names the field and value).
        """
        data = metadata.get(METRICS_PROTOCOL_KEY)
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise MetricsError(
                f"{source}: metadata[{METRICS_PROTOCOL_KEY!r}] = {data!r}; limit: an object"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MetricsError(
                f"{source}: metadata[{METRICS_PROTOCOL_KEY!r}] has unknown field(s) {unknown}; "
                f"allowed: {sorted(known)}"
            )
        try:
            return cls(**dict(data))
        except (MetricsError, TypeError) as exc:  # TypeError: a value of the wrong type
            raise MetricsError(f"{source}: metadata[{METRICS_PROTOCOL_KEY!r}]: {exc}") from None


def file_protocol(
    metadata: Mapping[str, Any], *, source: str = "<metadata>"
) -> tuple[MetricsProtocol, str]:
    """Return the protocol to read a BDF file with, and where it came from.

    The protocol the evaluator recorded in the file's metadata when there is one (``"file
    metadata"``); else the defaults, with the cell configuration from the metadata's
    ``cell_configuration`` or ``cell`` when it names one (``"defaults"``).

    Raises:
        MetricsError: If the recorded protocol is malformed.
    """
    recorded = MetricsProtocol.from_metadata(metadata, source=source)
    if recorded is not None:
        return recorded, "file metadata"
    found = metadata.get("cell_configuration", metadata.get("cell"))
    cell: CellConfiguration = "half" if found == "half" else "full"
    return MetricsProtocol(cell=cell), "defaults"


def formation_cycle_count(discharge_current_A: npt.ArrayLike) -> int:
    """Return how many leading cycles are slow formation cycles (the ``"auto"`` rule).

    The count is the largest ``n`` (at most all cycles but one) such that each of the first
    ``n`` cycles has a median discharge current below :data:`FORMATION_RATE_RATIO` times the
    median over cycles ``n + 1`` onwards. A cycle with no discharge record (NaN) ends the run.

    Args:
        discharge_current_A: Median ``|I|`` of the discharge records of each cycle, in order.

    Returns:
        The number of leading formation cycles, 0 when there are none.
    """
    rates = np.asarray(discharge_current_A, dtype=float)
    if rates.size < 2 or np.isnan(rates).all():
        return 0
    # No later median exceeds the largest rate, so once the leading cycles reach a fraction of
    # it no longer run can qualify: stop there (the scan is then linear in practice).
    ceiling = FORMATION_RATE_RATIO * float(np.nanmax(rates))
    best = 0
    for n in range(1, rates.size):
        leading = rates[:n]
        if np.isnan(leading).any() or leading.max() >= ceiling:
            break
        later = rates[n:]
        later = later[~np.isnan(later)]
        if later.size and leading.max() < FORMATION_RATE_RATIO * float(np.median(later)):
            best = n
    return best


def _median_discharge_current(frame: pd.DataFrame, starts: npt.NDArray[np.intp]) -> Any:
    """Return the median |I| of each cycle's discharge records (NaN for a cycle with none)."""
    current = frame[CURRENT].to_numpy(dtype=float)
    cycle_index = np.repeat(np.arange(starts.size), np.diff(np.append(starts, current.size)))
    discharging = current < 0
    medians = (
        pd.Series(-current[discharging])
        .groupby(cycle_index[discharging])
        .median()
        .reindex(range(starts.size))
    )
    return medians.to_numpy(dtype=float)


def compute_metrics(
    df: pd.DataFrame,
    *,
    cell: CellConfiguration = "full",
    reference: ReferenceMode = "first",
    nominal_capacity_Ah: float | None = None,
    threshold: float = END_OF_LIFE_FRACTION,
    planned_cycles: int | None = None,
    in_progress: bool = False,
    formation_cycles: FormationRule = 0,
    first_charge_capacity_Ah: float | None = None,
    cycle_numbering: CycleNumbering = "order",
    source: str = "<data frame>",
) -> CycleMetrics:
    """Compute per-cycle capacities, efficiencies, retention and cycle life of one cell.

    Args:
        df: A BDF time series with a cycle count column (see :func:`~optloop.data.bdf.read_bdf`
            and :func:`~optloop.data.bdf.build_bdf_frame`).
        cell: ``"full"`` for a full cell, ``"half"`` for the anode against lithium.
        reference: How to choose the reference capacity: ``"first"``, ``"max_early"`` or
            ``"nominal"``.
        nominal_capacity_Ah: The reference capacity for ``reference="nominal"``; not allowed
            with the other modes.
        threshold: End of life is a delivered capacity below ``threshold`` times the reference.
        planned_cycles: The cycles the protocol asked for; used to flag early stops.
        in_progress: True for data from a test still running: its last cycle may be cut off
            mid-discharge, so it is dropped.
        formation_cycles: Leading delivering cycles to exclude as formation: a count, or
            ``"auto"`` (slow leading cycles, see :func:`formation_cycle_count`). Excluded
            cycles are listed and do not count for numbering, reference or cycle life.
        first_charge_capacity_Ah: The cell's first charge when the data do not hold it (a
            simulation starting after formation); the first-cycle efficiency is then cycle
            1's ``Q_out`` over it. Not allowed with formation cycles.
        cycle_numbering: ``"order"`` numbers the counted cycles in file order; ``"count"``
            by their cycle counts (gaps allowed, capacities interpolated for the cycle life).
        source: What to call the data in error messages (usually the file name).

    Returns:
        The metrics, with every choice recorded.

    Raises:
        BDFError: If the data fail :func:`~optloop.data.bdf.validate_bdf` or have no cycle
            count column.
        MetricsError: If an argument is out of range, no complete cycle delivered charge, or
            the formation cycles would leave none.
    """
    _check_arguments(
        cell, reference, nominal_capacity_Ah, threshold, planned_cycles, formation_cycles,
        first_charge_capacity_Ah, cycle_numbering,
    )
    frame = validate_bdf(df, source=source)
    if CYCLE not in frame.columns:
        raise BDFError(
            f"{source}: metrics need the column {CYCLE!r}; found {list(map(str, frame.columns))}"
        )
    counts_per_row = frame[CYCLE].to_numpy()
    counts, starts = np.unique(counts_per_row, return_index=True)
    ends = np.append(starts[1:], len(counts_per_row)) - 1

    charge, charge_source = per_cycle_capacity(frame, starts, ends, "charge")
    discharge, discharge_source = per_cycle_capacity(frame, starts, ends, "discharge")
    q_out, q_in = (discharge, charge) if cell == "full" else (charge, discharge)

    keep = q_out > 0
    final_cycle_dropped = False
    if in_progress and (q_out[-1] > 0 or q_in[-1] > 0):
        final_cycle_dropped = True
    elif q_out[-1] == 0 and q_in[-1] > 0:
        final_cycle_dropped = True
    if final_cycle_dropped:
        keep[-1] = False
    skipped_mask = q_out <= 0
    skipped_mask[-1] &= not final_cycle_dropped
    skipped = tuple(int(c) for c in counts[skipped_mask])
    if not keep.any():
        raise MetricsError(
            f"{source}: no complete cycle delivered charge ({len(counts)} cycle(s) in the "
            f"data, cell={cell!r}, in_progress={in_progress}); nothing to compute"
        )

    kept_index = np.flatnonzero(keep)
    if formation_cycles == "auto":
        rates = _median_discharge_current(frame, starts)[kept_index]
        n_formation = formation_cycle_count(rates)
    else:
        n_formation = int(formation_cycles)
    if n_formation >= kept_index.size:
        raise MetricsError(
            f"{source}: formation_cycles={formation_cycles!r} excludes {n_formation} cycle(s) "
            f"but only {kept_index.size} complete cycle(s) delivered charge; limit: fewer"
        )
    formation_index = kept_index[:n_formation]
    formation_efficiency: float | None = None
    if n_formation:
        q_in_first = q_in[formation_index[0]]
        if q_in_first > 0:
            formation_efficiency = float(q_out[formation_index[0]] / q_in_first)
        keep[formation_index] = False

    out_kept, in_kept = q_out[keep], q_in[keep]
    if reference == "first":
        q_ref = float(out_kept[0])
    elif reference == "max_early":
        q_ref = float(out_kept[:EARLY_CYCLES].max())
    else:
        q_ref = float(nominal_capacity_Ah or 0.0)  # > 0: checked in _check_arguments

    efficiency = tuple(
        float(o / i) if i > 0 else None for o, i in zip(out_kept, in_kept, strict=True)
    )
    retention = out_kept / q_ref
    if cycle_numbering == "count":
        kept_counts = counts[keep].astype(float)
        if not np.allclose(kept_counts, np.round(kept_counts)):
            raise MetricsError(
                f"{source}: cycle_numbering='count' needs whole cycle counts; got "
                f"{kept_counts[:10].tolist()}"
            )
        numbers = (np.round(kept_counts) - round(kept_counts[0]) + 1).astype(int)
        crossed = end_of_life_cycle_with_gaps(numbers, out_kept, q_ref, threshold)
        n_cycles = int(numbers[-1])
    else:
        numbers = np.arange(1, int(keep.sum()) + 1)
        crossed = end_of_life_cycle(out_kept, q_ref, threshold)
        n_cycles = int(keep.sum())
    censored = crossed is None
    cycle_life = n_cycles if crossed is None else crossed
    if first_charge_capacity_Ah is not None:
        first_efficiency: float | None = float(out_kept[0] / first_charge_capacity_Ah)
    elif n_formation:
        first_efficiency = formation_efficiency
    else:
        first_efficiency = efficiency[0]

    return CycleMetrics(
        cell=cell,
        reference_mode=reference,
        reference_capacity_Ah=q_ref,
        threshold=float(threshold),
        cycle_numbers=tuple(int(x) for x in numbers),
        cycle_counts=tuple(int(c) for c in counts[keep]),
        charge_capacity_Ah=tuple(float(x) for x in charge[keep]),
        discharge_capacity_Ah=tuple(float(x) for x in discharge[keep]),
        capacity_Ah=tuple(float(x) for x in out_kept),
        coulombic_efficiency=efficiency,
        capacity_retention=tuple(float(x) for x in retention),
        first_cycle_efficiency=first_efficiency,
        first_discharge_capacity_Ah=float(discharge[keep][0]),
        cycle_life=cycle_life,
        cycle_life_censored=censored,
        cycles_completed=n_cycles,
        capacity_retention_final=float(retention[-1]),
        skipped_cycle_counts=skipped,
        final_cycle_dropped=final_cycle_dropped,
        planned_cycles=planned_cycles,
        stopped_early=censored and planned_cycles is not None and n_cycles < planned_cycles,
        charge_capacity_source=charge_source,
        discharge_capacity_source=discharge_source,
        formation_cycle_counts=tuple(int(c) for c in counts[formation_index]),
        formation_rule=formation_cycles,
        formation_first_cycle_efficiency=formation_efficiency,
        first_charge_capacity_Ah=first_charge_capacity_Ah,
        cycle_numbering=cycle_numbering,
    )
