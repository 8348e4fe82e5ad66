"""Driver sessions: which process submitted a job, so a restart can tell whose jobs died.

A campaign process that drives the loop (``run``, ``tick``) opens a session in the store and
stamps it on every job it submits. When a later driver finds a job the evaluator no longer
knows, the job's session says why: submitted by a driver that has since died or stopped (its
in-process jobs died with it: the design is not at fault), or by the current driver (the
evaluator itself forgot the job: a lost job).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = ["DriverSession", "SessionState", "process_start_token"]


class SessionState(StrEnum):
    """What the current driver can tell about another driver session."""

    CURRENT = "current"
    """This process."""
    ENDED = "ended"
    """Closed cleanly (its in-process jobs were shut down with it)."""
    DIED = "died"
    """Its process is gone (killed) or its pid now names another process."""
    ELSEWHERE = "elsewhere"
    """Ran on another host; it no longer drives the campaign (the lock says so)."""
    UNKNOWN = "unknown"
    """Not recorded (a job submitted before sessions were recorded)."""


def process_start_token(pid: int) -> str | None:
    """Return the kernel's start time of process ``pid`` (Linux), or None where unknown.

    Two processes that share a pid (the pid was reused) have different tokens.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None  # field 22: starttime in clock ticks


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


@dataclass(frozen=True)
class DriverSession:
    """One driver process's session, as stored."""

    id: str
    pid: int
    host: str
    started_at: float
    process_token: str | None = None
    """:func:`process_start_token` of ``pid`` when the session started."""
    ended_at: float | None = None

    @classmethod
    def new(cls) -> DriverSession:
        """Return a session for this process."""
        pid = os.getpid()
        return cls(
            id=uuid.uuid4().hex[:16],
            pid=pid,
            host=socket.gethostname(),
            started_at=time.time(),
            process_token=process_start_token(pid),
        )

    def state(self, current: str | None) -> SessionState:
        """Return what this session is now, seen from the session ``current``."""
        if self.id == current:
            return SessionState.CURRENT
        if self.ended_at is not None:
            return SessionState.ENDED
        if self.host != socket.gethostname():
            return SessionState.ELSEWHERE
        if not _pid_alive(self.pid):
            return SessionState.DIED
        token = process_start_token(self.pid)
        if token is not None and self.process_token is not None and token != self.process_token:
            return SessionState.DIED  # the pid was reused by another process
        if self.pid == os.getpid():
            return SessionState.ENDED  # an earlier session of this very process
        # Alive and not holding the campaign lock (we do): it no longer drives the campaign.
        return SessionState.ENDED

    def describe(self) -> str:
        """Return ``pid 123 on host, started 2026-12-04 17:01:02`` for messages."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
        return f"pid {self.pid} on {self.host}, started {since}"
