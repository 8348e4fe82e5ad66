"""The outbox: job tickets and cancel notes optloop writes for the lab."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

from optloop.data.atomic import atomic_write_json, atomic_write_text
from optloop.evaluators.file_exchange.files import ExchangeFolders
from optloop.evaluators.file_exchange.options import FileExchangeOptions
from optloop.evaluators.file_exchange.quarantine import utc
from optloop.evaluators.file_exchange.recipe import build_ticket, render_ticket_markdown
from optloop.evaluators.file_exchange.state import JobRecord

__all__ = ["Outbox"]


class Outbox:
    """Write tickets (``<trial_id>.ticket.json`` and ``.md``) and cancel notes to ``outbox/``.

    Args:
        folders: The exchange's folders.
        options: The exchange's options (protocol, cell, area) written on every ticket.
        clock: Wall-clock seconds (stamped on cancel notes).
    """

    def __init__(
        self,
        folders: ExchangeFolders,
        options: FileExchangeOptions,
        clock: Callable[[], float],
    ) -> None:
        self.folders = folders
        self.options = options
        self.clock = clock

    def ticket(self, record: JobRecord) -> dict[str, Any]:
        """Return the job's ticket.

        Raises:
            OptloopError: If the design cannot be built (malformed, no materials data).
        """
        return build_ticket(
            trial_id=record.ticket_id,
            cell_id=record.lab_cell_id,
            job_id=record.job_id,
            created_utc=record.created_utc,
            design=record.design,
            fidelity=record.fidelity,
            options=self.options,
            rebuild=record.rebuild,
        )

    def write_ticket(self, record: JobRecord) -> None:
        """Write the job's ticket files atomically and mark the record (not saved here)."""
        ticket = self.ticket(record)
        outbox = self.folders.outbox
        atomic_write_text(
            outbox / f"{record.trial_id}.ticket.json", json.dumps(ticket, indent=2) + "\n"
        )
        atomic_write_text(outbox / f"{record.trial_id}.ticket.md", render_ticket_markdown(ticket))
        record.ticket_written = True

    def write_cancel_note(self, record: JobRecord, reason: str) -> None:
        """Ask the lab to stop the job's test and send nothing more for it."""
        note = {
            "format": "optloop.file_exchange.cancel",
            "format_version": 1,
            "trial_id": record.ticket_id,
            "ticket": f"{record.trial_id}.ticket.json",
            "job_id": record.job_id,
            "cancelled_utc": utc(self.clock()),
            "reason": reason,
            "action": "stop the test and send nothing more for this trial",
        }
        atomic_write_json(self.folders.outbox / f"{record.trial_id}.cancel.json", note)

    def retire_ticket(self, record: JobRecord) -> None:
        """Move the job's ticket files to ``outbox/retired/``: the lab builds nothing more."""
        retired = self.folders.outbox / "retired"
        retired.mkdir(parents=True, exist_ok=True)
        for suffix in (".ticket.json", ".ticket.md"):
            name = f"{record.trial_id}{suffix}"
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.folders.outbox / name, retired / name)
