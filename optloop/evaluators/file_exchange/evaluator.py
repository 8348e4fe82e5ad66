"""The file-exchange evaluator: optloop and a lab talk through folders.

optloop writes a job ticket per trial into ``outbox/``; the lab builds and cycles the cell and
drops BDF files with a metadata sentinel into ``inbox/``. Every ``status``/``fetch`` (and
:meth:`FileExchangeEvaluator.scan`) ingests what is new: good files move to
``accepted/<trial_id>/``, bad ones to ``quarantine/`` with a reason. Job states live in the
job store ``state/<job_id>.json``, so any instance on the same folder reports the same.
See ``docs/lab-file-exchange.md`` for the lab's side.

The parts: :mod:`.tickets` (outbox), :mod:`.inbox` (scanning), :mod:`.metadata` (the lab's
sentinel, a model), :mod:`.results` (metrics of accepted files), :mod:`.quarantine`, and
:class:`~optloop.evaluators.jobs.JobStore` (records, lock, idempotent submission).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel

from optloop.evaluators.base import (
    EvaluationResult,
    JobState,
    JobStatus,
    design_json,
)
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.file_exchange.files import ExchangeFolders, is_safe_id
from optloop.evaluators.file_exchange.ids import make_cell_id, make_id, normalise_id
from optloop.evaluators.file_exchange.inbox import Inbox
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.evaluators.file_exchange.quarantine import (
    LOGGER_NAME,
    Quarantine,
    ScanReport,
    utc,
)
from optloop.evaluators.file_exchange.recipe import check_as_built
from optloop.evaluators.file_exchange.results import Results, base_metadata
from optloop.evaluators.file_exchange.state import JobRecord, load_record, save_record
from optloop.evaluators.file_exchange.tickets import Outbox
from optloop.evaluators.jobs import JobStore
from optloop.exceptions import EvaluationError, OptloopError

__all__ = ["JOB_PREFIX", "LOGGER_NAME", "FileExchangeEvaluator", "ScanReport"]

JOB_PREFIX = "fx-"
_log = logging.getLogger(LOGGER_NAME)


class FileExchangeEvaluator:
    """Evaluate designs by exchanging files with a lab: tickets out, BDF files in.

    Implements the :class:`~optloop.evaluators.base.Evaluator` protocol with jobs that outlive
    the process (``capabilities()["persistent_jobs"]``). Job ids are ``fx-<trial_id>``; each
    job record names the campaign (``context.campaign``) that submitted it, and another
    campaign cannot take over its trial ids on the same folder.

    Args:
        options: :class:`FileExchangeOptions` or the config's ``evaluator.options`` mapping.
        context: The campaign's side (its name keys the jobs); None: ``EvaluatorContext()``.
        clock: Wall-clock time in seconds since the epoch (inject a fake one in tests); used
            for ticket times, the stale timeout and the incomplete-file grace period.

    Raises:
        ConfigError: If an option is invalid (names the field, the value and the limit).
    """

    name = "file_exchange"
    options_model: ClassVar[type[BaseModel]] = FileExchangeOptions

    def __init__(
        self,
        options: FileExchangeOptions | Mapping[str, Any] | None = None,
        *,
        context: EvaluatorContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(options, FileExchangeOptions):
            self.options = options
        else:
            self.options = FileExchangeOptions.from_dict(
                dict(options) if options is not None else None
            )
        self.context = context if context is not None else EvaluatorContext()
        self.folders = ExchangeFolders(self.options.root_path)
        self._clock = clock
        self.store = JobStore(self.folders.state, self.name, prefix=JOB_PREFIX)
        self.quarantine = Quarantine(self.folders, clock, self.name)
        self.outbox = Outbox(self.folders, self.options, clock)
        results = Results(self.name, self.options, self.folders, self.store, self.quarantine,
                          clock)
        self.inbox = Inbox(self.options, self.folders, self.store, JOB_PREFIX, self.quarantine,
                           results, clock)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the exchange's lock: one reader of the inbox at a time, across processes."""
        self.folders.create()
        with self.store.lock():
            yield

    # --- records ----------------------------------------------------------------------------

    def _record(self, job_id: str) -> JobRecord:
        """Return the record of a job this exchange issued, or raise EvaluationError."""
        if not (isinstance(job_id, str) and job_id.startswith(JOB_PREFIX) and is_safe_id(job_id)):
            raise EvaluationError(f"{self.name}: unknown job id {job_id!r}")
        record = load_record(self.store, job_id)
        if record is None:
            raise EvaluationError(
                f"{self.name}: unknown job id {job_id!r} (no {self.store.path(job_id)})"
            )
        return record

    def _base_metadata(self, record: JobRecord) -> dict[str, Any]:
        return base_metadata(self.name, self.options, self.folders, record)

    def _finish(self, record: JobRecord, result: EvaluationResult, message: str) -> None:
        record.state = result.state
        record.result = result.to_dict()
        record.message = message
        save_record(self.store, record)

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
                or the trial was submitted before with another design or fidelity, or by
                another campaign.
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
        canonical = design_json(design)
        job_id = f"{JOB_PREFIX}{trial_id}"
        with self._locked():

            def create() -> dict[str, Any]:
                now = self._clock()
                records = self.store.records()
                taken = {str(r.get("lab_id")) for r in records}
                salt = 0
                while (lab_id := make_id(job_id, kind="T", salt=salt)) in taken:
                    salt += 1  # a hash collision on this folder: take the next id
                rebuild = self._rebuild_of(trial_id, canonical)
                attempt = int(rebuild["attempt"]) if rebuild is not None else 1
                cells = {str(r.get("lab_cell_id")) for r in records}
                salt = 0
                while (cell := make_cell_id(job_id, attempt, salt=salt)) in cells:
                    salt += 1
                return JobRecord(
                    rebuild=rebuild,
                    job_id=job_id,
                    trial_id=trial_id,
                    fidelity=fidelity,
                    design=json.loads(canonical),
                    design_json=canonical,
                    created_utc=utc(now),
                    submitted_at=now,
                    last_news_at=now,
                    message="ticket in outbox/; waiting for the lab",
                    lab_id=lab_id,
                    lab_cell_id=cell,
                ).to_dict()

            data, created = self.store.submit(
                job_id=job_id,
                trial_id=trial_id,
                campaign=self.context.campaign,
                design_json=canonical,
                fidelity=fidelity,
                create=create,
            )
            record = JobRecord.from_dict(data)
            if not created:
                if not record.ticket_written and not record.state.is_terminal:
                    self._write_ticket(record)  # a crash came between state and ticket
                return job_id
            try:
                self.outbox.ticket(record)
            except OptloopError as exc:
                # Nothing a lab could build: fail the job, write no ticket.
                result = EvaluationResult.failed(
                    f"rejected before writing a ticket: {exc}",
                    metadata=self._base_metadata(record),
                )
                self._finish(record, result, "rejected")
                return job_id
            self._write_ticket(record)
        return job_id

    def _rebuild_of(self, trial_id: str, canonical: str) -> dict[str, Any] | None:
        """Return what a new job replaces: the campaign's last lost cell of the same design.

        A campaign rebuilds a lost cell under a new trial id (``...-r1``) with the same design;
        the newest lost job of this campaign with that design is the one replaced (a job whose
        trial id starts the new one is preferred, so two trials of one design stay apart).
        """
        lost: list[JobRecord] = []
        for job_id in self.store.job_ids():
            rec = load_record(self.store, job_id)
            if (
                rec is not None
                and rec.state is JobState.LOST
                and rec.design_json == canonical
                and rec.campaign == self.context.campaign
                and rec.trial_id != trial_id
            ):
                lost.append(rec)
        if not lost:
            return None
        base = re.sub(r"-r\d+$", "", trial_id)
        family = [r for r in lost if re.sub(r"-r\d+$", "", r.trial_id) == base]
        pool = family or lost
        last = max(pool, key=lambda r: (r.seq, r.submitted_at))
        result = last.evaluation_result()
        reason = (result.reason if result is not None else None) or last.message or "lost"
        return {"replaces": last.trial_id, "reason": reason, "attempt": len(pool) + 1}

    def _write_ticket(self, record: JobRecord) -> None:
        self.outbox.write_ticket(record)
        save_record(self.store, record)

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
            self.inbox.ingest(ScanReport())
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
            return self._with_as_built(record, result)
        metadata = self._base_metadata(record)
        metadata["cycles_done"] = record.cycles_done or 0
        return EvaluationResult(state=record.state, partial=True, metadata=metadata)

    def _with_as_built(self, record: JobRecord, result: EvaluationResult) -> EvaluationResult:
        """Lift the lab's ``as_built`` values into the result, checked against the ticket.

        The metadata gains ``as_built`` (the lab's values as sent), ``as_built_check`` (one
        row per value: target, tolerance, within) and ``as_built_out_of_tolerance`` (keys).
        """
        lab = result.metadata.get("lab_metadata")
        as_built = lab.get("as_built") if isinstance(lab, dict) else None
        if as_built is None:
            return result
        try:
            targets = self.outbox.ticket(record)["as_built"]["targets"]
        except OptloopError:
            targets = {}
        rows = check_as_built(targets, as_built)
        metadata = {
            **result.metadata,
            "as_built": as_built,
            "as_built_check": rows,
            "as_built_out_of_tolerance": [r["key"] for r in rows if r["within"] is False],
        }
        return dataclasses.replace(result, metadata=metadata)

    def cancel(self, job_id: str, reason: str | None = None) -> None:
        """Ask the lab to stop: write ``outbox/<trial_id>.cancel.json``; the job is CANCELLED.

        The note carries ``reason``; the ticket is retired to ``outbox/retired/`` so the lab's
        list of open tickets no longer shows it. Cancelling a terminal job does nothing.
        Files that arrive later for the trial are quarantined as a cancelled trial's.

        Args:
            job_id: The job.
            reason: Why (written on the note and recorded); None: "cancelled by optloop".

        Raises:
            EvaluationError: If the job id was never issued on this exchange folder.
        """
        why = reason.strip() if reason and reason.strip() else "cancelled by optloop"
        with self._locked():
            self._record(job_id)
            self.inbox.ingest(ScanReport())
            record = self._record(job_id)
            if record.state.is_terminal:
                return
            self.outbox.write_cancel_note(record, why)
            self.outbox.retire_ticket(record)
            record.cancel_reason = why
            metadata = self._base_metadata(record)
            metadata["cycles_done"] = record.cycles_done or 0
            result = EvaluationResult.failed(
                f"cancelled: {why}", state=JobState.CANCELLED, metadata=metadata
            )
            self._finish(record, result, f"cancelled ({why}); the lab was asked to stop")

    def job_for_ticket(self, ticket_id: str) -> str | None:
        """Return the job id of the ticket with this trial id (as the lab writes it), or None."""
        wanted = normalise_id(ticket_id)
        for data in self.store.records():
            record = JobRecord.from_dict(data)
            if normalise_id(record.ticket_id) == wanted or record.trial_id == ticket_id:
                return record.job_id
        return None

    # --- scanning ---------------------------------------------------------------------------

    def scan(self) -> ScanReport:
        """Ingest the inbox and declare silent jobs LOST; return what was done.

        ``status`` and ``fetch`` do the same for their job; call this from a cron job or
        after the lab drops files, to process everything at once.
        """
        report = ScanReport()
        with self._locked():
            self.inbox.ingest(report)
            for job_id in self.store.job_ids():
                record = load_record(self.store, job_id)
                if record is not None:
                    self._check_stale(record, report)
        return report

    def lab_status(self) -> dict[str, Any]:
        """Return what a lab manager reads: tickets out, cells running, files waiting, losses.

        Ingests the inbox first (as :meth:`scan`). Times are UTC; a live job goes stale (is
        declared lost) ``stale_after_h`` after its last news.

        Returns:
            JSON-ready ``{"evaluator", "channels", "channel_use", "running", "waiting",
            "files_waiting", "quarantined", "lost", "rebuilt", "faults",
            "time_to_results"}``.
        """
        self.scan()
        limit_s = self.options.stale_after_h * 3600.0
        running: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        lost: list[dict[str, Any]] = []
        rebuilt: list[dict[str, Any]] = []
        faults: list[dict[str, Any]] = []
        hours: list[float] = []
        for job_id in self.store.job_ids():
            record = load_record(self.store, job_id)
            if record is None or record.campaign not in (None, self.context.campaign):
                continue
            result = record.evaluation_result()
            if record.rebuild is not None:
                rebuilt.append({"trial_id": record.trial_id, **record.rebuild})
            if not record.state.is_terminal:
                entry: dict[str, Any] = {
                    "job_id": job_id,
                    "trial_id": record.trial_id,
                    "cell_id": record.lab_cell_id,
                    "cycles_done": record.cycles_done,
                    "planned_cycles": self.options.protocol.cycles_for(record.fidelity),
                    "last_news_utc": utc(record.last_news_at),
                    "goes_stale_utc": utc(record.last_news_at + limit_s),
                }
                if record.state is JobState.RUNNING:
                    entry["metrics_so_far"] = dict(result.metrics) if result is not None else {}
                    running.append(entry)
                else:
                    waiting.append(entry)
            elif record.state is JobState.LOST:
                lost.append({"trial_id": record.trial_id, "cell_id": record.lab_cell_id,
                             "reason": result.reason if result is not None else record.message})
            elif record.state is JobState.FAILED and result is not None and (
                (result.reason or "").startswith("lab reported")
            ):
                faults.append({"trial_id": record.trial_id, "reason": result.reason})
            elif record.state is JobState.SUCCEEDED:
                finals = [a for a in record.accepted if a.get("final")]
                if finals:
                    done = datetime.fromisoformat(str(finals[0]["time"])).timestamp()
                    hours.append((done - record.submitted_at) / 3600.0)
        inbox = self.folders.inbox
        files = sorted(p.name for p in inbox.iterdir()) if inbox.is_dir() else []
        notices = self.notices()
        channels = self.options.channels
        out_now = len(running) + len(waiting)
        return {
            "evaluator": self.name,
            "channels": channels,
            "channel_use": {"tickets_out": out_now, "free": max(0, channels - out_now),
                            "utilisation": min(1.0, out_now / channels)},
            "running": running,
            "waiting": waiting,
            "files_waiting": files,
            "quarantined": {"count": len(notices), "latest": notices[-5:]},
            "lost": lost,
            "rebuilt": rebuilt,
            "faults": faults,
            "time_to_results": {
                "n": len(hours),
                **({"median_h": statistics.median(hours), "max_h": max(hours)} if hours else {}),
                "unit": "hours from ticket to final file",
            },
        }

    def notices(self) -> list[dict[str, Any]]:
        """Return the quarantine log: one dict per file (time, file, trial_id, reason)."""
        return self.quarantine.notices()

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
        self.outbox.write_cancel_note(record, f"declared lost by optloop: {reason}")
        self.outbox.retire_ticket(record)
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
