"""The file-exchange evaluator: optloop and a lab talk through folders.

optloop writes a job ticket per trial into ``outbox/``; the lab builds and cycles the cell and
drops BDF files with a metadata sentinel into ``inbox/``. Every ``status``/``fetch`` (and
:meth:`FileExchangeEvaluator.scan`) ingests what is new: good files move to
``accepted/<trial_id>/``, bad ones to ``quarantine/`` with a reason. Job states live in
``state/<job_id>.json``, so any instance on the same folder reports the same.
See ``docs/lab-file-exchange.md`` for the lab's side.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import math
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from optloop.data.metrics import MetricsError
from optloop.evaluators.base import (
    EvaluationResult,
    JobState,
    JobStatus,
    ProtocolError,
    SubmissionLedger,
    check_json_serialisable,
)
from optloop.evaluators.file_exchange.files import (
    ExchangeFolders,
    atomic_write_json,
    atomic_write_text,
    is_safe_id,
    split_result_name,
    unique_destination,
)
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.evaluators.file_exchange.recipe import (
    DATA_SUFFIXES,
    METADATA_SUFFIX,
    build_ticket,
    render_ticket_markdown,
)
from optloop.evaluators.file_exchange.state import JobRecord, load_record, save_record
from optloop.evaluators.measured import measured_metrics
from optloop.exceptions import EvaluationError, OptloopError

__all__ = ["JOB_PREFIX", "LOGGER_NAME", "FileExchangeEvaluator", "ScanReport"]

LOGGER_NAME = "optloop.evaluators.file_exchange"
JOB_PREFIX = "fx-"
_log = logging.getLogger(LOGGER_NAME)

_MAX_METADATA_BYTES = 1_000_000
_LAB_STATUSES = {"failed": JobState.FAILED, "lost": JobState.LOST}
_QUARANTINE_LOG = "quarantine.jsonl"


class _Reject(Exception):
    """A file (group) that must go to quarantine; the message is the reason."""


@dataclass
class ScanReport:
    """What one ingestion pass did."""

    accepted: list[str] = field(default_factory=list)
    """Inbox file names moved to ``accepted/``."""
    quarantined: list[str] = field(default_factory=list)
    """Inbox file names moved to ``quarantine/``."""
    waiting: list[str] = field(default_factory=list)
    """Inbox file names left for later (a sentinel or a data file not there yet)."""
    lost: list[str] = field(default_factory=list)
    """Job ids declared LOST because the lab sent no news for ``stale_after_h``."""


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, OptloopError) else f"{type(exc).__name__}: {exc}"


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not allowed in JSON (use a number or null)")


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


class FileExchangeEvaluator:
    """Evaluate designs by exchanging files with a lab: tickets out, BDF files in.

    Implements the :class:`~optloop.evaluators.base.Evaluator` protocol with jobs that outlive
    the process (``capabilities()["persistent_jobs"]``). Job ids are ``fx-<trial_id>``.

    Args:
        options: :class:`FileExchangeOptions` or the config's ``evaluator.options`` mapping.
        clock: Wall-clock time in seconds since the epoch (inject a fake one in tests); used
            for ticket times, the stale timeout and the incomplete-file grace period.

    Raises:
        ConfigError: If an option is invalid (names the field, the value and the limit).
    """

    name = "file_exchange"

    def __init__(
        self,
        options: FileExchangeOptions | Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(options, FileExchangeOptions):
            self.options = options
        else:
            self.options = FileExchangeOptions.from_dict(
                dict(options) if options is not None else None
            )
        self.folders = ExchangeFolders(self.options.root_path)
        self._clock = clock
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._lock_depth = 0

    # --- locking ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the exchange's lock: one reader of the inbox at a time, across processes."""
        with self._thread_lock:
            if self._lock_depth == 0:
                self.folders.create()
                fd = os.open(self.folders.state / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._lock_fd = fd
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                    os.close(self._lock_fd)
                    self._lock_fd = None

    # --- ids and records --------------------------------------------------------------------

    def _state_path(self, job_id: str) -> Path:
        return self.folders.state / f"{job_id}.json"

    def _record(self, job_id: str) -> JobRecord:
        """Return the record of a job this exchange issued, or raise EvaluationError."""
        if not (isinstance(job_id, str) and job_id.startswith(JOB_PREFIX) and is_safe_id(job_id)):
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}")
        record = load_record(self._state_path(job_id))
        if record is None:
            raise EvaluationError(
                f"{self.name}: unknown job id {job_id!r} (no {self._state_path(job_id)})"
            )
        return record

    def _save(self, record: JobRecord) -> None:
        save_record(self._state_path(record.job_id), record)

    def _base_metadata(self, record: JobRecord) -> dict[str, Any]:
        return {
            "evaluator": self.name,
            "job_id": record.job_id,
            "trial_id": record.trial_id,
            "fidelity": record.fidelity,
            "cell": self.options.cell,
            "planned_cycles": self.options.protocol.cycles_for(record.fidelity),
            "formation_cycles": self.options.metric_formation_cycles,
            "exchange_root": str(self.folders.root),
        }

    def _finish(self, record: JobRecord, result: EvaluationResult, message: str) -> None:
        record.state = result.state
        record.result = result.to_dict()
        record.message = message
        self._save(record)

    # --- protocol ---------------------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """Return what this evaluator supports (jobs persist on disk beyond the process)."""
        p = self.options.protocol
        return {
            "fidelities": p.fidelities(),
            "asynchronous": True,
            "max_concurrency": self.options.channels,
            "supports_cancel": True,
            "supports_partial": True,
            "est_duration_s": p.est_duration_s("full"),
            "persistent_jobs": True,
            "extra_metrics": ["discharge_energy_Wh"],
            "cell": self.options.cell,
        }

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        """Write the trial's job ticket into ``outbox/`` and return its job id at once.

        Submitting the same trial and design again (from any instance on the same folder)
        writes nothing and returns the same id. A design that cannot be built (malformed, no
        materials data) gives a FAILED job and no ticket.

        Raises:
            EvaluationError: If the fidelity is unknown, the trial id is not a safe file name,
                or the trial was submitted before with another design or fidelity.
        """
        allowed = self.options.protocol.fidelities()
        if fidelity not in allowed:
            raise EvaluationError(
                f"{self.name}: fidelity={fidelity!r} unknown; allowed: {allowed}"
            )
        if not is_safe_id(trial_id):
            raise EvaluationError(
                f"{self.name}: trial_id={trial_id!r} cannot name a file; limit: 1-128 of "
                "letters, digits, '.', '_', '-', not starting with '.', no '..'"
            )
        design_json = SubmissionLedger.design_json(design)
        job_id = f"{JOB_PREFIX}{trial_id}"
        with self._locked():
            record = load_record(self._state_path(job_id))
            if record is not None:
                if (record.design_json, record.fidelity) != (design_json, fidelity):
                    raise EvaluationError(
                        f"{self.name}: trial_id={trial_id!r} was submitted as job {job_id!r} "
                        "with a different design or fidelity"
                    )
                if not record.ticket_written and not record.state.is_terminal:
                    self._write_ticket(record)  # a crash came between state and ticket
                return job_id
            now = self._clock()
            record = JobRecord(
                job_id=job_id,
                trial_id=trial_id,
                fidelity=fidelity,
                design=json.loads(design_json),
                design_json=design_json,
                created_utc=_utc(now),
                submitted_at=now,
                last_news_at=now,
                message="ticket in outbox/; waiting for the lab",
            )
            try:
                self._ticket(record)
            except OptloopError as exc:
                # Nothing a lab could build: fail the job, write no ticket.
                result = EvaluationResult.failed(
                    f"rejected before writing a ticket: {exc}",
                    metadata=self._base_metadata(record),
                )
                self._finish(record, result, "rejected")
                return job_id
            self._save(record)
            self._write_ticket(record)
        return job_id

    def _ticket(self, record: JobRecord) -> dict[str, Any]:
        return build_ticket(
            trial_id=record.trial_id,
            job_id=record.job_id,
            created_utc=record.created_utc,
            design=record.design,
            fidelity=record.fidelity,
            options=self.options,
        )

    def _write_ticket(self, record: JobRecord) -> None:
        ticket = self._ticket(record)
        outbox = self.folders.outbox
        atomic_write_text(
            outbox / f"{record.trial_id}.ticket.json", json.dumps(ticket, indent=2) + "\n"
        )
        atomic_write_text(outbox / f"{record.trial_id}.ticket.md", render_ticket_markdown(ticket))
        record.ticket_written = True
        self._save(record)

    def status(self, job_id: str) -> JobStatus:
        """Ingest new lab files, then return the job's state (never blocks on the lab).

        Raises:
            EvaluationError: If the job id was never issued on this exchange folder.
        """
        return self._status_of(self._refreshed(job_id))

    def _refreshed(self, job_id: str) -> JobRecord:
        """Check the job id, ingest new lab files, mark a silent job lost; return its record."""
        with self._locked():
            self._record(job_id)
            self._ingest(ScanReport())
            return self._check_stale(self._record(job_id), None)

    def _status_of(self, record: JobRecord) -> JobStatus:
        result = record.evaluation_result()
        reason = result.reason if result is not None and record.state.is_terminal else None
        planned = self.options.protocol.cycles_for(record.fidelity)
        total = planned + self.options.protocol.formation_cycles
        progress = None
        if record.cycles_done is not None and not record.state.is_terminal:
            progress = min(1.0, record.cycles_done / total)
        return JobStatus(
            state=record.state,
            reason=reason,
            progress=progress,
            cycles_done=record.cycles_done,
            message=record.message,
        )

    def fetch(self, job_id: str) -> EvaluationResult:
        """Ingest new lab files, then return the job's result (partial while it runs).

        Raises:
            EvaluationError: If the job id was never issued on this exchange folder.
        """
        record = self._refreshed(job_id)
        result = record.evaluation_result()
        if result is not None and (record.state.is_terminal or result.partial):
            return result
        metadata = self._base_metadata(record)
        metadata["cycles_done"] = record.cycles_done or 0
        return EvaluationResult(state=record.state, partial=True, metadata=metadata)

    def cancel(self, job_id: str) -> None:
        """Ask the lab to stop: write ``outbox/<trial_id>.cancel.json``; the job is CANCELLED.

        Cancelling a terminal job does nothing. Files that arrive later for the trial are
        quarantined as a cancelled trial's.

        Raises:
            EvaluationError: If the job id was never issued on this exchange folder.
        """
        with self._locked():
            self._record(job_id)
            self._ingest(ScanReport())
            record = self._record(job_id)
            if record.state.is_terminal:
                return
            self._write_cancel_note(record, "cancelled by optloop")
            metadata = self._base_metadata(record)
            metadata["cycles_done"] = record.cycles_done or 0
            result = EvaluationResult.failed(
                "cancelled by optloop", state=JobState.CANCELLED, metadata=metadata
            )
            self._finish(record, result, "cancelled; the lab was asked to stop")

    def _write_cancel_note(self, record: JobRecord, reason: str) -> None:
        note = {
            "format": "optloop.file_exchange.cancel",
            "format_version": 1,
            "trial_id": record.trial_id,
            "job_id": record.job_id,
            "cancelled_utc": _utc(self._clock()),
            "reason": reason,
            "action": "stop the test and send nothing more for this trial",
        }
        atomic_write_json(self.folders.outbox / f"{record.trial_id}.cancel.json", note)

    # --- scanning ---------------------------------------------------------------------------

    def scan(self) -> ScanReport:
        """Ingest the inbox and declare silent jobs LOST; return what was done.

        ``status`` and ``fetch`` do the same for their job; call this from a cron job or
        after the lab drops files, to process everything at once.
        """
        report = ScanReport()
        with self._locked():
            self._ingest(report)
            for path in sorted(self.folders.state.glob(f"{JOB_PREFIX}*.json")):
                record = load_record(path)
                if record is not None:
                    self._check_stale(record, report)
        return report

    def notices(self) -> list[dict[str, Any]]:
        """Return the quarantine log: one dict per file (time, file, trial_id, reason)."""
        path = self.folders.quarantine / _QUARANTINE_LOG
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    out.append(item)
        return out

    def _check_stale(self, record: JobRecord, report: ScanReport | None) -> JobRecord:
        """Declare a live job LOST when the lab sent nothing for ``stale_after_h``."""
        if record.state.is_terminal:
            return record
        silent_h = (self._clock() - record.last_news_at) / 3600.0
        limit_h = self.options.stale_after_h
        if silent_h <= limit_h:
            return record
        since = "the last partial file" if record.accepted else "submission"
        reason = (
            f"no news from the lab for {silent_h:.1f} h since {since}; limit: "
            f"stale_after_h={limit_h:g}"
        )
        self._write_cancel_note(record, f"declared lost by optloop: {reason}")
        metadata = self._base_metadata(record)
        metadata["cycles_done"] = record.cycles_done or 0
        last = record.evaluation_result()
        bdf_path = last.bdf_path if last is not None else None
        result = EvaluationResult(
            state=JobState.LOST, reason=reason, bdf_path=bdf_path, metadata=metadata
        )
        self._finish(record, result, "lost: no news from the lab")
        _log.warning("%s: job %s is LOST: %s", self.name, record.job_id, reason)
        if report is not None:
            report.lost.append(record.job_id)
        return record

    def _age_s(self, st: os.stat_result) -> float:
        return self._clock() - st.st_mtime

    def _recover_processing(self) -> None:
        """Finish or undo what a crashed ingestion left in ``state/processing/``.

        A file whose job state already records it as accepted is moved on to ``accepted/``;
        any other goes back to the inbox, to be read again.
        """
        leftovers = list(os.scandir(self.folders.processing))
        if not leftovers:
            return
        recorded: dict[str, Path] = {}
        for path in self.folders.state.glob(f"{JOB_PREFIX}*.json"):
            record = load_record(path)
            if record is None or not record.accepted:
                continue
            last = record.accepted[-1]
            folder = self.folders.accepted / record.trial_id
            for key in ("metadata_file", "data_file"):
                original, kept = last.get(key), last.get(f"accepted_{key}")
                if original and kept and not os.path.lexists(folder / kept):
                    recorded[original] = folder / kept
        for entry in leftovers:
            target = recorded.get(entry.name)
            if target is None:
                target = unique_destination(self.folders.inbox, entry.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.rename(entry.path, target)

    def _ingest(self, report: ScanReport) -> None:
        """Move every complete, valid result from the inbox to ``accepted/``; reject the bad."""
        self._recover_processing()
        inbox = self.folders.inbox
        inbox_real = os.path.realpath(inbox)
        grace = self.options.incomplete_grace_s
        entries = {e.name: e.stat(follow_symlinks=False) for e in os.scandir(inbox)}
        regular: dict[str, tuple[str, str, os.stat_result]] = {}
        bad_stems: dict[str, str] = {}
        for name, st in sorted(entries.items()):
            parsed = split_result_name(name)
            reason = None
            if not stat.S_ISREG(st.st_mode):
                reason = self._not_regular(inbox / name, st)
            elif os.path.realpath(inbox / name) != os.path.join(inbox_real, name):
                reason = "resolves outside inbox/ (path trick); only plain files are read"
            elif name.startswith("."):
                if self._age_s(st) > grace:
                    reason = (
                        f"incomplete upload: hidden temporary file left for more than "
                        f"incomplete_grace_s={grace:g} s"
                    )
                else:
                    report.waiting.append(name)
                    continue
            elif parsed is None:
                reason = (
                    f"unexpected file name {name!r}; expected <stem>{METADATA_SUFFIX} and a data "
                    f"file <stem> + one of {list(DATA_SUFFIXES)}"
                )
            if reason is not None:
                self._quarantine(inbox, [name], reason, None, report)
                if parsed is not None:
                    bad_stems[parsed[0]] = f"its companion {name!r} was quarantined: {reason}"
                continue
            assert parsed is not None
            regular[name] = (parsed[0], parsed[1], st)

        def same_stem_data(stem: str) -> list[str]:
            return sorted(n for n, (s, k, _) in regular.items() if s == stem and k == "data")

        handled: set[str] = set()
        sentinels = sorted(
            (n for n, (_, k, _) in regular.items() if k == "metadata"),
            key=lambda n: (regular[n][2].st_mtime, n),
        )
        for meta_name in sentinels:
            stem, _, meta_st = regular[meta_name]
            companions = same_stem_data(stem)
            group = [meta_name]
            trial_id: str | None = None
            try:
                if stem in bad_stems:
                    raise _Reject(bad_stems[stem])
                meta = self._read_metadata(inbox / meta_name)
                trial_id = meta["trial_id"]
                data_name = self._data_name(meta, companions)
                if data_name is not None:
                    group.append(data_name)
                present = data_name is not None and data_name in regular
                record = load_record(self._state_path(f"{JOB_PREFIX}{trial_id}"))
                if record is None:
                    raise _Reject(
                        f"unknown trial: trial_id {trial_id!r} has no job on this exchange"
                    )
                self._check_open(record)
                if "status" not in meta and not present:
                    if self._age_s(meta_st) > grace:
                        missing = data_name or f"{stem} + one of {list(DATA_SUFFIXES)}"
                        raise _Reject(
                            f"incomplete: metadata sentinel without its data file {missing!r} "
                            f"after incomplete_grace_s={grace:g} s"
                        )
                    report.waiting.extend(group)
                    handled.update(group)
                    continue
            except _Reject as exc:
                # The sentinel and every data file it may belong to go together.
                bad = sorted({*group, *companions} & set(regular) - handled)
                self._quarantine(inbox, bad, str(exc), trial_id, report)
                handled.update(bad)
                continue
            handled.update(group)
            self._accept(record, meta_name, data_name if present else None, meta, report)

        for name, (stem, kind, st) in sorted(regular.items()):
            if name in handled or kind != "data":
                continue
            if stem in bad_stems:
                self._quarantine(inbox, [name], bad_stems[stem], None, report)
            elif self._age_s(st) > grace:
                reason = (
                    f"incomplete: no metadata sentinel {stem}{METADATA_SUFFIX} after "
                    f"incomplete_grace_s={grace:g} s"
                )
                self._quarantine(inbox, [name], reason, None, report)
            else:
                report.waiting.append(name)

    @staticmethod
    def _not_regular(path: Path, st: os.stat_result) -> str:
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return (
                f"not a regular file: a symbolic link (to {target!r}); links are never "
                "followed, copy the file itself into inbox/"
            )
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a special file"
        return f"not a regular file: {kind}; put plain files directly in inbox/"

    def _read_metadata(self, path: Path) -> dict[str, Any]:
        """Read and check a metadata sentinel without following links; raise _Reject."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise _Reject(f"cannot open metadata file: {exc}") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise _Reject("not a regular file")
            raw = fh.read(_MAX_METADATA_BYTES + 1)
        if len(raw) > _MAX_METADATA_BYTES:
            raise _Reject(f"malformed metadata: larger than {_MAX_METADATA_BYTES} bytes")
        try:
            meta = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Reject(f"malformed metadata: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise _Reject(
                f"malformed metadata: must be a JSON object; got {type(meta).__name__}"
            )
        problems = []
        trial_id = meta.get("trial_id")
        if not is_safe_id(trial_id):
            problems.append(f"trial_id={trial_id!r}; limit: the ticket's trial_id")
        cell_id = meta.get("cell_id")
        if not (isinstance(cell_id, str | int) and not isinstance(cell_id, bool) and str(cell_id)):
            problems.append(f"cell_id={cell_id!r}; limit: a non-empty string")
        status = meta.get("status")
        if status is not None and status not in _LAB_STATUSES:
            problems.append(f"status={status!r}; allowed: {sorted(_LAB_STATUSES)} or absent")
        if status is not None:
            reason = meta.get("reason")
            if not (isinstance(reason, str) and reason.strip()):
                problems.append(f"status={status!r} needs a reason; got reason={reason!r}")
        elif not isinstance(meta.get("final"), bool):
            problems.append(f"final={meta.get('final')!r}; limit: true or false")
        for key in ("electrode_area_cm2", "stack_thickness_um"):
            value = meta.get(key)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                problems.append(f"{key}={value!r}; limit: a number > 0")
        if problems:
            raise _Reject("malformed metadata: " + "; ".join(problems))
        return meta

    @staticmethod
    def _data_name(meta: Mapping[str, Any], companions: list[str]) -> str | None:
        """Return the data file a sentinel belongs to (its ``data_file`` or same-stem file)."""
        named = meta.get("data_file")
        if named is not None:
            if not isinstance(named, str) or not named:
                raise _Reject(f"malformed metadata: data_file={named!r}; limit: a file name")
            if os.path.isabs(named) or "/" in named or "\\" in named or ".." in named:
                raise _Reject(
                    f"path outside inbox/: data_file={named!r}; limit: a plain file name in "
                    "inbox/ (no folders, no '..', not absolute)"
                )
            parsed = split_result_name(named)
            if parsed is None or parsed[1] != "data":
                raise _Reject(
                    f"malformed metadata: data_file={named!r}; limit: a name ending in one "
                    f"of {list(DATA_SUFFIXES)}"
                )
            return named
        if len(companions) > 1:
            raise _Reject(f"ambiguous: several data files for one sentinel: {companions}")
        return companions[0] if companions else None

    def _check_open(self, record: JobRecord) -> None:
        """Raise _Reject if the trial takes no more files."""
        if record.state is JobState.CANCELLED:
            raise _Reject(f"cancelled trial: {record.trial_id} was cancelled; nothing is recorded")
        if record.state.is_terminal:
            raise _Reject(
                f"duplicate result: trial {record.trial_id} already ended as "
                f"{record.state.value!r}; the first result wins, nothing recorded is changed"
            )

    def _quarantine(
        self,
        folder: Path,
        names: list[str],
        reason: str,
        trial_id: str | None,
        report: ScanReport | None,
    ) -> None:
        """Move files (links as links) to quarantine with a reason file and a log line."""
        for name in names:
            source = folder / name
            target = unique_destination(self.folders.quarantine, name)
            try:
                os.rename(source, target)
            except FileNotFoundError:
                continue  # another reader took it
            except OSError:
                # Another file system: copy a plain file; a link or oddity is only removed.
                st = os.lstat(source)
                if stat.S_ISREG(st.st_mode):
                    data = source.read_bytes()
                    target.write_bytes(data)
                source.unlink()
            now = _utc(self._clock())
            notice = {
                "time": now,
                "file": name,
                "quarantined_as": target.name,
                "trial_id": trial_id,
                "reason": reason,
            }
            text = f"{reason}\n\nfile: {name}\ntrial_id: {trial_id}\ntime (UTC): {now}\n"
            atomic_write_text(target.with_name(target.name + ".reason.txt"), text)
            with open(self.folders.quarantine / _QUARANTINE_LOG, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(notice, sort_keys=True) + "\n")
            _log.warning("%s: quarantined %s (trial %s): %s", self.name, name, trial_id, reason)
            if report is not None:
                report.quarantined.append(name)

    def _accept(
        self,
        record: JobRecord,
        meta_name: str,
        data_name: str | None,
        meta: dict[str, Any],
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
        metadata = self._base_metadata(record)
        metadata.update(
            {
                "cell_id": str(meta["cell_id"]),
                "lab_metadata": meta,
                "data_file": data_name,
                "accepted_data_file": bdf_path,
                "accepted_metadata_file": str(folder / accepted_meta),
            }
        )
        for key in ("operator", "channel", "notes"):
            if key in meta:
                metadata[key] = meta[key]

        status = meta.get("status")
        if status is not None:
            state = _LAB_STATUSES[status]
            last = record.evaluation_result()
            result = EvaluationResult(
                state=state,
                reason=f"lab reported {status}: {meta['reason']}",
                bdf_path=bdf_path or (last.bdf_path if last is not None else None),
                metadata={**metadata, "cycles_done": record.cycles_done or 0},
            )
            message = f"lab reported {status}"
        else:
            assert data_name is not None  # a result without a lab status has its data file
            try:
                result, message = self._measure(record, processing / data_name, meta, metadata)
            except _Reject as exc:
                self._quarantine(processing, moved, str(exc), record.trial_id, report)
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
                "time": _utc(self._clock()),
                "cell_id": str(meta["cell_id"]),
                "final": bool(meta.get("final", True)) if status is None else True,
                "status": status,
                "data_file": data_name,
                "metadata_file": meta_name,
                "accepted_data_file": accepted_data,
                "accepted_metadata_file": accepted_meta,
            }
        )
        record.last_news_at = self._clock()
        record.state = result.state
        record.result = result.to_dict()
        record.message = message
        # State first: after a crash the files are read again and land as duplicates.
        self._save(record)
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
        meta: Mapping[str, Any],
        metadata: dict[str, Any],
    ) -> tuple[EvaluationResult, str]:
        """Compute the metrics of a data file; raise _Reject when it cannot be used."""
        final = bool(meta["final"])
        try:
            frame, ingest_report = _read_frame(data_path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is quarantined
            raise _Reject(f"malformed data: {_describe(exc)}") from None
        if ingest_report is not None:
            with contextlib.suppress(ProtocolError):
                check_json_serialisable(ingest_report, "ingest_report")
                metadata["ingest_report"] = ingest_report
        area = float(meta.get("electrode_area_cm2", self.options.electrode_area_cm2))
        stack = meta.get("stack_thickness_um")
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
                raise _Reject(f"cannot compute metrics: {_describe(exc)}") from None
            # Partial data without a complete cycle after formation: running, nothing yet.
            metadata["cycles_done"] = record.cycles_done or 0
            metadata["metric_notes"] = [f"no metrics yet: {_describe(exc)}"]
            result = EvaluationResult(state=JobState.RUNNING, partial=True, metadata=metadata)
            return result, "running: partial data, no complete cycle after formation yet"
        except Exception as exc:  # noqa: BLE001 - data the core cannot score are quarantined
            raise _Reject(f"cannot compute metrics: {_describe(exc)}") from None
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
