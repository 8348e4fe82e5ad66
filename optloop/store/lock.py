"""One driver per campaign: an exclusive lock that a crashed process cannot leave behind.

For an SQLite store the lock is an ``flock`` on a file beside the database: the kernel drops
it when the process dies (even by SIGKILL), so a stale lock is impossible. For a server
database (PostgreSQL) it is a session-level advisory lock, dropped when the connection
closes. Either way a refused process is told who holds the campaign (pid, host, since): from
the lock file on SQLite, from the holder's session name in ``pg_stat_activity`` on PostgreSQL.
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
from sqlalchemy.exc import SQLAlchemyError

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
        self._key = zlib.crc32(f"optloop:{campaign}".encode())

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
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
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


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {info.get('pid')} on {info.get('host')} since {_when(info.get('since', 0))}"
    except (OSError, ValueError):
        return "holder unknown"
