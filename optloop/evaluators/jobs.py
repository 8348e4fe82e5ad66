"""The job store of evaluators whose jobs outlive the process (the file exchange, the cycler).

One JSON record per job in a folder, ``<folder>/<job_id>.json``, written atomically
(:func:`optloop.data.atomic.atomic_write_json`), under one lock shared by every process and
thread on the folder (:class:`filelock.FileLock` on ``<folder>/.lock``). Submission is
idempotent by trial: the job id is a function of the trial id, and submitting a trial again
returns the job it got (:func:`~optloop.evaluators.base.check_resubmission`), from any process.
A record also names the campaign that submitted it, so two campaigns sharing a folder cannot
take each other's jobs.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from optloop.data.atomic import atomic_write_json
from optloop.evaluators.base import check_resubmission
from optloop.exceptions import EvaluationError

__all__ = ["JobStore"]

#: One line (the job id) appended per save: readers reload only the records named since.
_CHANGES = ".changes"

class JobStore:
    """Jobs of one evaluator in one folder, shared by processes.

    Args:
        folder: Where the records live (created on first use).
        evaluator_name: Named in error messages.
        prefix: Job ids start with it; :meth:`job_ids` lists only these files.
        durable: fsync each record before it replaces the old one (survives a power cut);
            False: survives a killed process only, and saves about 10 ms per write.
    """

    def __init__(
        self, folder: Path, evaluator_name: str, *, prefix: str = "", durable: bool = True
    ) -> None:
        self.folder = folder
        self.evaluator_name = evaluator_name
        self.prefix = prefix
        self.durable = durable
        # Reentrant within a thread; other threads and processes wait for it.
        self._lock = FileLock(folder / ".lock")
        self._cache: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        self._by_id: dict[str, dict[str, Any]] | None = None
        self._changes_read = 0
        self._listing: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (reentrant); other threads and processes wait."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            yield

    def path(self, job_id: str) -> Path:
        """Return the record file of a job."""
        return self.folder / f"{job_id}.json"

    def load(self, job_id: str) -> dict[str, Any] | None:
        """Return a job's record, or None if the job was never stored.

        Raises:
            EvaluationError: If the file exists but is not a JSON object (names the file).
        """
        path = self.path(job_id)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cache.get(job_id)
        if cached is not None and cached[0] == stamp:
            return dict(cached[1])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise self._unreadable(path, exc) from None
        if not isinstance(data, dict):
            raise self._unreadable(path, TypeError(f"a {type(data).__name__}, not an object"))
        self._cache[job_id] = (stamp, data)
        return dict(data)

    def _unreadable(self, path: Path, exc: Exception) -> EvaluationError:
        return EvaluationError(
            f"{self.evaluator_name}: job record {path} is unreadable "
            f"({type(exc).__name__}: {exc}); restore it from a backup or remove it to forget "
            "the job"
        )

    def save(self, record: dict[str, Any]) -> None:
        """Write a job's record atomically (its ``job_id`` names the file)."""
        job_id = str(record["job_id"])
        with self.lock():
            atomic_write_json(self.path(job_id), record, durable=self.durable)
            # After the record: a reader that sees the line finds the new record.
            with open(self.folder / _CHANGES, "a", encoding="utf-8") as fh:
                fh.write(job_id + "\n")

    def job_ids(self) -> list[str]:
        """Return the stored job ids, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(
            p.name[: -len(".json")]
            for p in self.folder.glob(f"{self.prefix}*.json")
            if not p.name.startswith(".")
        )

    def records(self) -> list[dict[str, Any]]:
        """Return every record in submission order (``seq``); do not change them.

        Only records saved since the last call (by any process: each save appends its job
        id to ``.changes``) are read again, so polling many jobs stays cheap; the same list
        object is returned while nothing changed.
        """
        changes = self.folder / _CHANGES
        try:
            size = changes.stat().st_size
        except FileNotFoundError:
            size = 0
        if self._by_id is None or size < self._changes_read:
            # First read (or the log was removed): every record; later, only those named.
            self._by_id = {}
            self._changes_read = 0
            changed = self.job_ids()
            self._changes_read = self._complete_lines_end(changes, 0, size)
        elif size == self._changes_read:
            return self._listing
        else:
            with open(changes, "rb") as fh:
                fh.seek(self._changes_read)
                chunk = fh.read(size - self._changes_read)
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a half-written line waits
            if not complete:
                return self._listing
            self._changes_read += len(complete)
            changed = sorted(set(complete.decode("utf-8").split()))
        for job_id in changed:
            record = self.load(job_id)
            if record is not None:
                self._by_id[job_id] = record
        self._listing = sorted(
            self._by_id.values(), key=lambda r: (int(r.get("seq") or 0), str(r["job_id"]))
        )
        return self._listing

    @staticmethod
    def _complete_lines_end(path: Path, start: int, size: int) -> int:
        if size <= start:
            return start
        with open(path, "rb") as fh:
            fh.seek(start)
            chunk = fh.read(size - start)
        return start + chunk.rfind(b"\n") + 1

    def submit(
        self,
        *,
        job_id: str,
        trial_id: str,
        campaign: str,
        design_json: str,
        fidelity: str,
        create: Callable[[], dict[str, Any]],
    ) -> tuple[dict[str, Any], bool]:
        """Store a new job, or return the one the trial already has.

        Args:
            job_id: The trial's job id (a function of the trial id).
            trial_id: The campaign's trial id.
            campaign: The submitting campaign.
            design_json: Canonical JSON of the design.
            fidelity: The fidelity asked for.
            create: Returns the evaluator's own fields of a new record; called under the lock.

        Returns:
            ``(record, created)``: the stored record and whether this call created it.

        Raises:
            EvaluationError: If the trial was submitted before with another design or
                fidelity, or by another campaign.
        """
        with self.lock():
            known = self.load(job_id)
            if known is not None:
                other = known.get("campaign")
                if other is not None and other != campaign:
                    raise EvaluationError(
                        f"{self.evaluator_name}: trial_id={trial_id!r} is job {job_id!r} of "
                        f"campaign {other!r} in {self.folder}; this is campaign {campaign!r}: "
                        "use one folder per campaign"
                    )
                check_resubmission(
                    self.evaluator_name,
                    trial_id,
                    job_id,
                    (str(known.get("design_json")), str(known.get("fidelity"))),
                    (design_json, fidelity),
                )
                return known, False
            record = create()
            record.update(
                job_id=job_id,
                trial_id=trial_id,
                campaign=campaign,
                design_json=design_json,
                fidelity=fidelity,
                seq=len(self.records()) + 1,
            )
            self.save(record)
            return record, True
