"""A job's state on disk: one record per job in the exchange's job store (``state/``).

The exchange folder, not the process, holds the truth: a cron ``tick`` builds a new evaluator
each time and must report what the last one saw. The records live in a
:class:`~optloop.evaluators.jobs.JobStore` (locked, atomic, idempotent by trial).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from optloop.evaluators.base import EvaluationResult, JobState
from optloop.evaluators.jobs import JobStore
from optloop.exceptions import EvaluationError

__all__ = ["STATE_FORMAT_VERSION", "JobRecord", "load_record", "save_record"]

STATE_FORMAT_VERSION = 1


@dataclass
class JobRecord:
    """Everything optloop knows about one job of the exchange."""

    job_id: str
    trial_id: str
    fidelity: str
    design: dict[str, Any]
    """The design as first submitted (the ticket is built from it)."""
    design_json: str
    """Canonical JSON of the design: a resubmission must match it."""
    created_utc: str
    submitted_at: float
    """Clock time of the submission, in s."""
    last_news_at: float
    """Clock time of the submission or of the last accepted partial file, in s."""
    state: JobState = JobState.QUEUED
    ticket_written: bool = False
    result: dict[str, Any] | None = None
    """:meth:`EvaluationResult.to_dict` of the terminal result or the latest partial one."""
    cycles_done: int | None = None
    message: str | None = None
    accepted: list[dict[str, Any]] = field(default_factory=list)
    """One entry per accepted file pair: names, cell id, final, time."""
    campaign: str | None = None
    """The campaign that submitted the job (None in records older than this field)."""
    seq: int = 0
    """Submission order on the folder (0 in records older than this field)."""
    lab_id: str | None = None
    """The checked trial id on the ticket (:mod:`.ids`), the one the lab writes back; None in
    records older than this field, whose ticket carries :attr:`trial_id` instead."""
    lab_cell_id: str | None = None
    """The checked cell id on the ticket (:func:`.ids.make_cell_id`), the label the lab puts on
    the cell and writes back as ``cell_id``; None in records older than this field, whose
    ticket named no cell id (any ``cell_id`` is then the lab's own label)."""
    cancel_reason: str | None = None
    """Why the job was cancelled (the reason written on the cancel note), if it was."""
    rebuild: dict[str, Any] | None = None
    """For a new cell of a lost one: ``{"replaces", "reason", "attempt"}`` (on its ticket)."""

    @property
    def ticket_id(self) -> str:
        """Return the trial id the ticket shows and the lab's metadata must name."""
        return self.lab_id or self.trial_id

    def evaluation_result(self) -> EvaluationResult | None:
        """Return the stored result, or None before any."""
        return None if self.result is None else EvaluationResult.from_dict(self.result)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data (with the format version)."""
        data = asdict(self)
        data["state"] = self.state.value
        data["format_version"] = STATE_FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        """Build a record from :meth:`to_dict` output."""
        data = dict(data)
        data.pop("format_version", None)
        data["state"] = JobState(data["state"])
        return cls(**data)


def load_record(store: JobStore, job_id: str) -> JobRecord | None:
    """Read a job's record; None if there is none.

    Raises:
        EvaluationError: If the record exists but cannot be read (names the file and the problem).
    """
    data = store.load(job_id)
    if data is None:
        return None
    try:
        return JobRecord.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise EvaluationError(
            f"file_exchange: job state file {store.path(job_id)} is unreadable "
            f"({type(exc).__name__}: {exc}); restore it from a backup or remove it to forget "
            "the job"
        ) from None


def save_record(store: JobStore, record: JobRecord) -> None:
    """Write a job's record atomically."""
    store.save(record.to_dict())
