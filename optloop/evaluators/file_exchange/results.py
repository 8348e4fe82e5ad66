"""Accepting a lab result: read the data file, compute the metrics, update the job, file it.

A result the core cannot use raises :class:`~optloop.evaluators.file_exchange.metadata.Rejected`
and goes to quarantine; nothing recorded changes.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Callable
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
from optloop.evaluators.file_exchange.recipe import METADATA_SUFFIX
from optloop.evaluators.file_exchange.state import JobRecord, save_record
from optloop.evaluators.jobs import JobStore
from optloop.evaluators.measured import measured_metrics
from optloop.exceptions import EvaluationError, OptloopError

__all__ = ["LAB_STATUSES", "Results", "base_metadata"]

#: The lab's ``status`` values and the job states they end in.
LAB_STATUSES = {"failed": JobState.FAILED, "lost": JobState.LOST}
_log = logging.getLogger(LOGGER_NAME)


def describe(exc: BaseException) -> str:
    """Return an exception as a reason (optloop's own messages as they are)."""
    return str(exc) if isinstance(exc, OptloopError) else f"{type(exc).__name__}: {exc}"


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
    ) -> None:
        """Read a complete result, update the job, and file the result under ``accepted/``."""
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
                self.quarantine.move(processing, moved, str(exc), record.trial_id, report)
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
        try:
            frame, ingest_report = _read_frame(data_path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is quarantined
            raise Rejected(f"malformed data: {describe(exc)}") from None
        if ingest_report is not None:
            with contextlib.suppress(ProtocolError):
                check_json_serialisable(ingest_report, "ingest_report")
                metadata["ingest_report"] = ingest_report
        area = float(
            meta.electrode_area_cm2
            if meta.electrode_area_cm2 is not None
            else self.options.electrode_area_cm2
        )
        stack = meta.stack_thickness_um
        metadata["electrode_area_cm2"] = area
        try:
            m = measured_metrics(
                record.design,
                frame,
                electrode_area_cm2=area,
                cell=self.options.cell,
                reference=self.options.reference,
                threshold=self.options.threshold,
                formation_cycles=self.options.metric_formation_cycles,
                planned_cycles=self.options.protocol.cycles_for(record.fidelity),
                in_progress=not final,
                stack_thickness_um=float(stack) if stack is not None else None,
                source=data_path.name,
            )
        except MetricsError as exc:
            if final:
                raise Rejected(f"cannot compute metrics: {describe(exc)}") from None
            # Partial data without a complete cycle after formation: running, nothing yet.
            metadata["cycles_done"] = record.cycles_done or 0
            metadata["metric_notes"] = [f"no metrics yet: {describe(exc)}"]
            result = EvaluationResult(state=JobState.RUNNING, partial=True, metadata=metadata)
            return result, "running: partial data, no complete cycle after formation yet"
        except Exception as exc:  # noqa: BLE001 - data the core cannot score are quarantined
            raise Rejected(f"cannot compute metrics: {describe(exc)}") from None
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
