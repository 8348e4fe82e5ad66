"""Quarantine: where files the exchange cannot use go, each with the reason why.

A refused file moves (links as links, never followed) to ``quarantine/``, next to a
``<name>.reason.txt``; every refusal is also a line of ``quarantine/quarantine.jsonl`` (the
notices ``optloop status`` shows) and a warning in the log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optloop.data.atomic import atomic_write_text
from optloop.evaluators.file_exchange.files import ExchangeFolders, unique_destination

__all__ = ["LOGGER_NAME", "QUARANTINE_LOG", "Quarantine", "ScanReport", "utc"]

LOGGER_NAME = "optloop.evaluators.file_exchange"
QUARANTINE_LOG = "quarantine.jsonl"
_log = logging.getLogger(LOGGER_NAME)


def utc(seconds: float) -> str:
    """Return a clock time as an ISO 8601 UTC string, to the second."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


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


class Quarantine:
    """The ``quarantine/`` folder of one exchange.

    Args:
        folders: The exchange's folders.
        clock: Wall-clock seconds (stamped on every notice).
        name: The evaluator's name, for log lines.
    """

    def __init__(self, folders: ExchangeFolders, clock: Callable[[], float], name: str) -> None:
        self.folders = folders
        self.clock = clock
        self.name = name

    def move(
        self,
        folder: Path,
        names: list[str],
        reason: str,
        trial_id: str | None,
        report: ScanReport | None,
        ticket_id: str | None = None,
    ) -> None:
        """Move files to quarantine with a reason file, a log line and a notice.

        Args:
            folder: Where the files are.
            names: Their names.
            reason: Why (for the lab: no internal paths).
            trial_id: optloop's name of the trial they belong to, when known.
            report: The scan's report, told of each file.
            ticket_id: The trial id on the ticket (what the lab writes), when known.
        """
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
                    target.write_bytes(source.read_bytes())
                source.unlink()
            now = utc(self.clock())
            notice = {
                "time": now,
                "file": name,
                "quarantined_as": target.name,
                "trial_id": trial_id,
                "reason": reason,
            }
            if ticket_id is not None:
                notice["ticket_id"] = ticket_id
            trial_line = ""
            if trial_id is not None:
                shown = ticket_id if ticket_id is not None else trial_id
                trial_line = f"trial id (on the ticket): {shown}\nticket file: {trial_id}\n"
            text = f"{reason}\n\nfile: {name}\n{trial_line}time (UTC): {now}\n"
            atomic_write_text(target.with_name(target.name + ".reason.txt"), text)
            with open(self.folders.quarantine / QUARANTINE_LOG, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(notice, sort_keys=True) + "\n")
            # Name the trial only when the file named one (no "(trial None)").
            trial = f" (trial {trial_id})" if trial_id is not None else ""
            _log.warning("%s: quarantined %s%s: %s", self.name, name, trial, reason)
            if report is not None:
                report.quarantined.append(name)

    def notices(self) -> list[dict[str, Any]]:
        """Return the quarantine log: one dict per file (time, file, trial_id, reason)."""
        path = self.folders.quarantine / QUARANTINE_LOG
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
