"""Accepting a lab result: read the data file, compute the metrics, update the job, file it.

A result the core cannot use raises :class:`~optloop.evaluators.file_exchange.metadata.Rejected`
and goes to quarantine; nothing recorded changes.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import statistics
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from optloop.data.metrics import MetricsError
from optloop.evaluators.base import (
    EvaluationResult,
    JobState,
    ProtocolError,
    check_json_serialisable,
)
from optloop.evaluators.file_exchange.files import (
    ExchangeFolders,
    split_result_name,
    unique_destination,
)
from optloop.evaluators.file_exchange.metadata import LabMetadata, Rejected
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.evaluators.file_exchange.quarantine import (
    LOGGER_NAME,
    Quarantine,
    ScanReport,
    utc,
)
from optloop.evaluators.file_exchange.recipe import METADATA_SUFFIX, build_recipe
from optloop.evaluators.file_exchange.state import JobRecord, save_record
from optloop.evaluators.jobs import JobStore
from optloop.evaluators.measured import MeasuredMetrics, measured_metrics
from optloop.exceptions import EvaluationError, OptloopError

__all__ = [
    "LAB_STATUSES",
    "REVIEWED_KEY",
    "Results",
    "base_metadata",
    "exchange_metrics",
    "nominal_capacity_mAh",
    "plausibility_problems",
    "plain_reason",
]

#: Metadata key a person adds to a held file, once checked, to have it accepted as it is.
REVIEWED_KEY = "reviewed"

#: The lab's ``status`` values and the job states they end in.
LAB_STATUSES = {"failed": JobState.FAILED, "lost": JobState.LOST}
_log = logging.getLogger(LOGGER_NAME)


def describe(exc: BaseException) -> str:
    """Return an exception as a reason (optloop's own messages as they are)."""
    return str(exc) if isinstance(exc, OptloopError) else f"{type(exc).__name__}: {exc}"


def plain_reason(text: str, data_path: Path, root: Path) -> str:
    """Return a reason without internal paths: the data file by its name, no exchange folder."""
    out = text.replace(str(data_path), data_path.name)
    out = out.replace(f"{data_path.parent}{os.sep}", "")
    return out.replace(str(root), "the exchange folder")


def exchange_metrics(
    options: FileExchangeOptions,
    design: Mapping[str, Any],
    fidelity: str,
    frame: pd.DataFrame,
    *,
    final: bool,
    electrode_area_cm2: float,
    stack_thickness_um: float | None = None,
    source: str = "<data frame>",
) -> MeasuredMetrics:
    """Compute the metrics the exchange records for a data file (one definition for all).

    ``optloop data metrics --config`` calls this too, so a lab's pre-check shows exactly the
    numbers the campaign would record: the same formation cycles left out, the same
    first-cycle efficiency (that of the first formation cycle), reference and threshold.

    Raises:
        BDFError, MetricsError, EvaluationError: As :func:`measured_metrics`.
    """
    return measured_metrics(
        design,
        frame,
        electrode_area_cm2=electrode_area_cm2,
        cell=options.cell,
        reference=options.reference,
        threshold=options.threshold,
        formation_cycles=options.metric_formation_cycles,
        planned_cycles=options.protocol.cycles_for(fidelity),
        in_progress=not final,
        stack_thickness_um=stack_thickness_um,
        source=source,
    )


def nominal_capacity_mAh(
    design: Mapping[str, Any], options: FileExchangeOptions, electrode_area_cm2: float
) -> float:
    """Return the ticket's nominal capacity of a design for a cell of the given area, in mAh.

    Raises:
        DesignError, MaterialsError: If the design cannot be built (as :func:`build_recipe`).
    """
    per_cm2 = float(build_recipe(design, options)["cell"]["nominal_capacity_mAh"])
    return per_cm2 / options.electrode_area_cm2 * electrode_area_cm2


def plausibility_problems(
    m: MeasuredMetrics,
    *,
    nominal_mAh: float,
    options: FileExchangeOptions,
    fidelity: str,
    final: bool,
) -> list[str]:
    """Return why a result does not fit its ticket (empty when it does).

    Checks: the largest delivered capacity after formation against the ticket's nominal
    (``capacity_ratio_min``..``capacity_ratio_max``); for a full cell, the median coulombic
    efficiency after formation at most ``1 + ce_tolerance``; the cycles after formation at
    most the protocol's; and a final file that stopped before both the planned cycles and
    end of life.
    """
    c = m.cycles
    problems: list[str] = []
    delivered = max(c.capacity_Ah) * 1000.0
    if nominal_mAh > 0:
        ratio = delivered / nominal_mAh
        if not options.capacity_ratio_min <= ratio <= options.capacity_ratio_max:
            problems.append(
                f"delivered capacity {delivered:.4g} mAh is {ratio:.3g} x the ticket's nominal "
                f"{nominal_mAh:.4g} mAh (allowed: {options.capacity_ratio_min:g} to "
                f"{options.capacity_ratio_max:g} x)"
            )
    efficiencies = [x for x in c.coulombic_efficiency if x is not None]
    if options.cell == "full" and efficiencies:
        median = float(statistics.median(efficiencies))
        if median > 1.0 + options.ce_tolerance:
            problems.append(
                f"coulombic efficiency {median:.4f} (median after formation) is above "
                f"1 + ce_tolerance={options.ce_tolerance:g}: a full cell cannot give out more "
                "charge than it took in (current sign swapped, a half-cell file, or another "
                "cell's data?)"
            )
    planned = options.protocol.cycles_for(fidelity)
    if c.cycles_completed > planned:
        problems.append(
            f"{c.cycles_completed} cycles after formation; the ticket's protocol asks for "
            f"{planned}"
        )
    elif final and c.cycle_life_censored and c.cycles_completed < planned:
        problems.append(
            f"final=true but the test stopped after {c.cycles_completed} of {planned} cycles, "
            f"before end of life (below {c.threshold:g} x the first cycle after formation): "
            "if the test is still running, send final=false"
        )
    return problems


def _read_frame(path: Path) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """Read a cycler data file with the core's reader (``read_cycler_file`` if it exists).

    Returns:
        The BDF table and, when the reader records one, its ingest report (renamed columns,
        unit conversions) as JSON-ready data.
    """
    data = importlib.import_module("optloop.data")
    reader = getattr(data, "read_cycler_file", None) or data.read_bdf
    out = reader(path)
    frame = out[0] if isinstance(out, tuple) else out
    if not isinstance(frame, pd.DataFrame):
        raise EvaluationError(f"{path}: the reader returned {type(frame).__name__}, no table")
    to_dict = getattr(getattr(out, "report", None), "to_dict", None)
    report = to_dict() if callable(to_dict) else None
    return frame, report if isinstance(report, dict) else None


def base_metadata(
    name: str, options: FileExchangeOptions, folders: ExchangeFolders, record: JobRecord
) -> dict[str, Any]:
    """Return the metadata every result of a job carries."""
    return {
        "evaluator": name,
        "job_id": record.job_id,
        "trial_id": record.trial_id,
        "fidelity": record.fidelity,
        "cell": options.cell,
        "planned_cycles": options.protocol.cycles_for(record.fidelity),
        "formation_cycles": options.metric_formation_cycles,
        "exchange_root": str(folders.root),
    }


class Results:
    """Turn accepted lab files into job results.

    Args:
        name: The evaluator's name.
        options: The exchange's options.
        folders: The exchange's folders.
        store: The job store (records are saved before files move).
        quarantine: Where unusable data go.
        clock: Wall-clock seconds.
    """

    def __init__(
        self,
        name: str,
        options: FileExchangeOptions,
        folders: ExchangeFolders,
        store: JobStore,
        quarantine: Quarantine,
        clock: Callable[[], float],
    ) -> None:
        self.name = name
        self.options = options
        self.folders = folders
        self.store = store
        self.quarantine = quarantine
        self.clock = clock

    def accept(
        self,
        record: JobRecord,
        meta_name: str,
        data_name: str | None,
        meta: LabMetadata,
        raw: dict[str, Any],
        report: ScanReport,
        *,
        cell: Mapping[str, Any] | None = None,
    ) -> None:
        """Read a complete result, update the job, and file the result under ``accepted/``.

        Args:
            record: The job the result belongs to.
            meta_name: The metadata sentinel's name in ``inbox/``.
            data_name: The data file's name, or None (a lab status without data).
            meta: The checked metadata.
            raw: The metadata as the lab wrote it (kept).
            report: The scan's report.
            cell: What the intake found about the cell id (``cell_id_checked``, and
                ``cell_id_warnings`` of a reviewed hold), kept in the result and the record.
        """
        processing = self.folders.processing
        names = [meta_name] + ([data_name] if data_name else [])
        moved: list[str] = []
        for name in names:
            try:
                os.rename(self.folders.inbox / name, processing / name)
                moved.append(name)
            except FileNotFoundError:
                pass
        if meta_name not in moved or (data_name is not None and data_name not in moved):
            for name in moved:  # another reader took part of the pair: put ours back
                os.rename(processing / name, unique_destination(self.folders.inbox, name))
            return

        seq = len(record.accepted) + 1
        parsed = split_result_name(data_name) if data_name else None
        data_stem = parsed[0] if parsed else meta_name[: -len(METADATA_SUFFIX)]
        folder = self.folders.accepted / record.trial_id
        accepted_meta = f"{seq:03d}_{data_stem}{METADATA_SUFFIX}"
        accepted_data = f"{seq:03d}_{data_name}" if data_name else None
        bdf_path = str(folder / accepted_data) if accepted_data else None
        metadata = base_metadata(self.name, self.options, self.folders, record)
        metadata.update(
            {
                "cell_id": str(meta.cell_id),
                **(cell or {}),
                "lab_metadata": raw,
                "data_file": data_name,
                "accepted_data_file": bdf_path,
                "accepted_metadata_file": str(folder / accepted_meta),
            }
        )
        for key in ("operator", "channel", "notes"):
            if key in raw:
                metadata[key] = raw[key]

        status = meta.status
        if status is not None:
            last = record.evaluation_result()
            result = EvaluationResult(
                state=LAB_STATUSES[status],
                reason=f"lab reported {status}: {meta.reason}",
                bdf_path=bdf_path or (last.bdf_path if last is not None else None),
                metadata={**metadata, "cycles_done": record.cycles_done or 0},
            )
            message = f"lab reported {status}"
        else:
            assert data_name is not None  # a result without a lab status has its data file
            try:
                result, message = self._measure(record, processing / data_name, meta, metadata)
            except Rejected as exc:
                self.quarantine.move(processing, moved, str(exc), record.trial_id, report,
                                     record.ticket_id)
                return
            result = EvaluationResult(
                state=result.state,
                metrics=result.metrics,
                censored=result.censored,
                partial=result.partial,
                bdf_path=bdf_path,
                metadata=result.metadata,
            )
            record.cycles_done = int(result.metadata["cycles_done"])
        record.accepted.append(
            {
                "time": utc(self.clock()),
                "cell_id": str(meta.cell_id),
                **(cell or {}),
                "final": bool(meta.final) if status is None else True,
                "status": status,
                "data_file": data_name,
                "metadata_file": meta_name,
                "accepted_data_file": accepted_data,
                "accepted_metadata_file": accepted_meta,
            }
        )
        record.last_news_at = self.clock()
        record.state = result.state
        record.result = result.to_dict()
        record.message = message
        # State first: after a crash the files are read again and land as duplicates.
        save_record(self.store, record)
        folder.mkdir(parents=True, exist_ok=True)
        os.rename(processing / meta_name, folder / accepted_meta)
        if data_name and accepted_data:
            os.rename(processing / data_name, folder / accepted_data)
        report.accepted.extend(names)
        _log.info("%s: accepted %s for %s (%s)", self.name, names, record.trial_id, message)

    def _measure(
        self,
        record: JobRecord,
        data_path: Path,
        meta: LabMetadata,
        metadata: dict[str, Any],
    ) -> tuple[EvaluationResult, str]:
        """Compute the metrics of a data file; raise Rejected when it cannot be used."""
        final = bool(meta.final)
        root = self.folders.root
        try:
            frame, ingest_report = _read_frame(data_path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is quarantined
            text = plain_reason(describe(exc), data_path, root)
            raise Rejected(f"malformed data: {text}") from None
        if ingest_report is not None:
            with contextlib.suppress(ProtocolError):
                check_json_serialisable(ingest_report, "ingest_report")
                if isinstance(ingest_report.get("source"), str):
                    ingest_report["source"] = data_path.name
                metadata["ingest_report"] = ingest_report
        area = float(
            meta.electrode_area_cm2
            if meta.electrode_area_cm2 is not None
            else self.options.electrode_area_cm2
        )
        stack = meta.stack_thickness_um
        metadata["electrode_area_cm2"] = area
        try:
            m = exchange_metrics(
                self.options,
                record.design,
                record.fidelity,
                frame,
                final=final,
                electrode_area_cm2=area,
                stack_thickness_um=float(stack) if stack is not None else None,
                source=data_path.name,
            )
        except MetricsError as exc:
            if final:
                text = plain_reason(describe(exc), data_path, root)
                raise Rejected(f"cannot compute metrics: {text}") from None
            # Partial data without a complete cycle after formation: running, nothing yet.
            metadata["cycles_done"] = record.cycles_done or 0
            metadata["metric_notes"] = [f"no metrics yet: {describe(exc)}"]
            result = EvaluationResult(state=JobState.RUNNING, partial=True, metadata=metadata)
            return result, "running: partial data, no complete cycle after formation yet"
        except Exception as exc:  # noqa: BLE001 - data the core cannot score are quarantined
            text = plain_reason(describe(exc), data_path, root)
            raise Rejected(f"cannot compute metrics: {text}") from None
        self._check_plausible(record, m, meta, area, final, metadata)
        metadata.update(m.info())
        if final:
            result = EvaluationResult(
                state=JobState.SUCCEEDED,
                metrics=m.metrics,
                censored=m.censored,
                metadata=metadata,
            )
            return result, f"finished: {m.cycles_done} cycles"
        result = EvaluationResult(
            state=JobState.RUNNING,
            metrics=m.metrics,
            censored=m.censored,
            partial=True,
            metadata=metadata,
        )
        return result, f"running: {m.cycles_done} cycles so far"

    def _nominal(self, record: JobRecord, area: float) -> float:
        try:
            return nominal_capacity_mAh(record.design, self.options, area)
        except OptloopError:
            return float("nan")  # no ticket could be built: no capacity check

    def _check_plausible(
        self,
        record: JobRecord,
        m: MeasuredMetrics,
        meta: LabMetadata,
        area: float,
        final: bool,
        metadata: dict[str, Any],
    ) -> None:
        """Hold a result that does not fit its ticket (Rejected), unless a person reviewed it."""
        nominal = self._nominal(record, area)
        problems = plausibility_problems(
            m, nominal_mAh=nominal, options=self.options, fidelity=record.fidelity, final=final
        )
        if not problems:
            return
        reviewed = getattr(meta, REVIEWED_KEY, None)
        if isinstance(reviewed, str) and reviewed.strip():
            metadata["plausibility_warnings"] = problems
            metadata[REVIEWED_KEY] = reviewed
            return
        delivered = max(m.cycles.capacity_Ah) * 1000.0
        fits = []
        for data in self.store.records():
            other = JobRecord.from_dict(data)
            if other.job_id == record.job_id or other.state.is_terminal:
                continue
            q = self._nominal(other, area)
            if q > 0 and 0.85 <= delivered / q <= self.options.capacity_ratio_max:
                fits.append(f"{other.ticket_id} (nominal {q:.4g} mAh)")
        fit = f"; the capacity fits the ticket of {', '.join(fits[:3])}" if fits else ""
        raise Rejected(
            f"held for review, check the trial id: the data do not fit the ticket of "
            f"{record.ticket_id}: " + "; ".join(problems) + fit + ". Nothing was recorded. "
            f"If the trial id is right and the data are real, add \"{REVIEWED_KEY}\": "
            "\"<who checked, and why>\" to the metadata and put both files back in inbox/"
        )
