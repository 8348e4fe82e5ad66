"""One driver per campaign: an exclusive lock that a crashed process cannot leave behind.

For an SQLite store the lock is a :class:`filelock.FileLock` on a file beside the database (an
``flock``: the kernel drops it when the process dies, even by SIGKILL, so a stale lock is
impossible); the holder writes who it is into a ``.holder`` file beside it. For a server
database (PostgreSQL) it is a session-level advisory lock, dropped when the connection
closes. Either way a refused process is told who holds the campaign (pid, host, since): from
the lock file on SQLite, from the holder's session name in ``pg_stat_activity`` on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import socket
import time
import zlib
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from optloop.exceptions import OptloopError

__all__ = ["CampaignBusyError", "CampaignLock", "lock_path"]


class CampaignBusyError(OptloopError):
    """Another process is driving this campaign."""


class CampaignLock:
    """An exclusive, non-blocking lock on one campaign."""

    def __init__(self, engine: Engine, campaign: str, sqlite_path: Path | None) -> None:
        self.engine = engine
        self.campaign = campaign
        self.sqlite_path = sqlite_path
        self._file_lock: FileLock | None = None
        self._conn: Connection | None = None
        self._key = zlib.crc32(f"optloop:{campaign}".encode())

    def acquire(self) -> None:
        """Take the lock or raise :class:`CampaignBusyError` naming the holder."""
        if self.sqlite_path is not None:
            path = lock_path(self.sqlite_path, self.campaign)
            holder_file = Path(f"{path}.holder")
            lock = FileLock(path, timeout=0)
            try:
                lock.acquire()
            except Timeout:
                raise CampaignBusyError(
                    f"campaign {self.campaign!r} is busy: another process holds {path} "
                    f"({_read_holder(holder_file)}); wait for it to finish, or stop it first"
                ) from None
            # Read only while the lock is held, so a dead holder's file is never believed.
            holder_file.write_text(json.dumps(_me()))
            self._file_lock = lock
            return
        conn = self.engine.connect()
        key = self._key
        # Name this session after its driver first, so a refused contender can read who holds
        # the lock from pg_stat_activity (visible to every role) as soon as it is taken.
        conn.execute(text("SELECT set_config('application_name', :n, false)"),
                     {"n": _pg_app_name(_me())})
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        if not got:
            holder = _pg_holder(conn, key)
            conn.rollback()
            conn.close()
            raise CampaignBusyError(
                f"campaign {self.campaign!r} is busy: another process holds its advisory lock "
                f"({holder}); wait for it to finish, or stop it first"
            )
        conn.commit()
        self._conn = conn

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._file_lock is not None:
            lock, self._file_lock = self._file_lock, None
            lock.release()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                # A pooled connection must not keep the lock or the driver's name.
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                conn.execute(text("RESET application_name"))
                conn.commit()
            except SQLAlchemyError:
                conn.invalidate()  # a broken session is discarded, and its lock with it
            finally:
                conn.close()

    def __enter__(self) -> CampaignLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}


_APP_PREFIX = "optloop"


def _pg_app_name(me: dict[str, Any]) -> str:
    # PostgreSQL keeps 63 bytes of application_name: the host goes last, so only it is cut.
    name = f"{_APP_PREFIX} {me['pid']} {me['since']:.0f} {me['host']}"
    return name.encode()[:63].decode(errors="ignore")


def _pg_holder(conn: Connection, key: int) -> str:
    """Describe the session holding advisory lock ``key`` from pg_locks / pg_stat_activity."""
    row = conn.execute(
        text(
            "SELECT a.application_name, a.client_addr, a.backend_start, a.pid "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 "
            "AND l.objid::bigint = :k AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"k": key},
    ).first()
    if row is None:
        return "holder unknown"
    parts = str(row.application_name or "").split(" ", 3)
    if len(parts) == 4 and parts[0] == _APP_PREFIX:
        pid, since, host = parts[1], float(parts[2]), parts[3]
    else:
        where = f"client {row.client_addr}" if row.client_addr else "a local client"
        pid, host = f"(server backend {row.pid})", where
        since = row.backend_start.timestamp() if row.backend_start else 0.0
    return f"pid {pid} on {host} since {_when(since)}"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def lock_path(sqlite_path: Path, campaign: str) -> Path:
    """Return the lock file of ``campaign`` in the SQLite store at ``sqlite_path``."""
    return Path(f"{sqlite_path}.{campaign}.lock")


def _read_holder(holder_file: Path) -> str:
    try:
        info = json.loads(holder_file.read_text() or "{}")
        return f"pid {info.get('pid')} on {info.get('host')} since {_when(info.get('since', 0))}"
    except (OSError, ValueError):
        return "holder unknown"
