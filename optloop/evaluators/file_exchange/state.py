"""A job's state on disk: one JSON file per job, written atomically, read by every instance.

The exchange folder, not the process, holds the truth: a cron ``tick`` builds a new evaluator
each time and must report what the last one saw.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from optloop.evaluators.base import EvaluationResult, JobState
from optloop.evaluators.file_exchange.files import atomic_write_json
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


def load_record(path: Path) -> JobRecord | None:
    """Read a job's state file; None if there is none.

    Raises:
        EvaluationError: If the file exists but cannot be read (names the file and the problem).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return JobRecord.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        raise EvaluationError(
            f"file_exchange: job state file {path} is unreadable ({type(exc).__name__}: {exc}); "
            "restore it from a backup or remove it to forget the job"
        ) from None


def save_record(path: Path, record: JobRecord) -> None:
    """Write a job's state file atomically."""
    atomic_write_json(path, record.to_dict())
