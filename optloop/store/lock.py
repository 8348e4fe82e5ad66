"""One driver per campaign: an exclusive lock that a crashed process cannot leave behind.

For an SQLite store the lock is an ``flock`` on a file beside the database: the kernel drops
it when the process dies (even by SIGKILL), so a stale lock is impossible. For a server
database (PostgreSQL) it is a session-level advisory lock, dropped when the connection
closes.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from optloop.exceptions import OptloopError

__all__ = ["CampaignBusyError", "CampaignLock"]


class CampaignBusyError(OptloopError):
    """Another process is driving this campaign."""


class CampaignLock:
    """An exclusive, non-blocking lock on one campaign."""

    def __init__(self, engine: Engine, campaign: str, sqlite_path: Path | None) -> None:
        self.engine = engine
        self.campaign = campaign
        self.sqlite_path = sqlite_path
        self._fd: int | None = None
        self._conn: Connection | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`CampaignBusyError` naming the holder."""
        if self.sqlite_path is not None:
            path = Path(f"{self.sqlite_path}.{self.campaign}.lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise CampaignBusyError(
                    f"campaign {self.campaign!r} is busy: another process holds {path} "
                    f"({holder}); wait for it to finish, or stop it first"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(_me()).encode())
            os.fsync(fd)
            self._fd = fd
            return
        conn = self.engine.connect()
        key = zlib.crc32(f"optloop:{self.campaign}".encode())
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        if not got:
            conn.close()
            raise CampaignBusyError(
                f"campaign {self.campaign!r} is busy: another process holds its advisory lock"
            )
        self._conn = conn

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> CampaignLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("since", 0)))
        return f"pid {info.get('pid')} on {info.get('host')} since {since}"
    except (OSError, ValueError):
        return "holder unknown"
