"""Create the embedded SQLite tracking store so that a kill can never leave it half-made.

MLflow builds a new SQLite store by creating its first tables and then running some forty
Alembic migrations, outside one transaction. A process killed in between (a cron ``tick``
stopped by a timeout) leaves a half-migrated file, e.g. with ``_alembic_tmp_latest_metrics``,
and every later MLflow call on it fails. So:

* a new store is built in a temporary file beside the target and renamed over it only once
  complete (``os.replace`` is atomic), under a file lock in the folder that the kernel drops
  if the builder dies: a kill leaves at most a temporary file, removed by the next builder;
* a half-made store left by an older version (no run, schema not at MLflow's head, or
  Alembic's temporary tables) is moved aside to ``<name>.half-made-<time>`` and rebuilt, with
  a logged warning; one that already holds runs is never touched: a clear error says how to
  repair it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock

from optloop.exceptions import OptloopError

__all__ = ["TrackingStoreError", "prepare_tracking_store"]

_log = logging.getLogger(__name__)

_PREFIX = "sqlite:///"
#: Prefix of the tables Alembic's batch migrations create and drop on SQLite.
_ALEMBIC_TMP = "_alembic_tmp_"


class TrackingStoreError(OptloopError):
    """The local tracking store is damaged in a way that cannot be repaired automatically."""


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith(_PREFIX):
        return None
    path = uri[len(_PREFIX) :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's schema lock (a file lock: released by the kernel if we die)."""
    with FileLock(folder / ".optloop-schema.lock"):
        yield


@functools.cache
def _head_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return str(_get_latest_schema_revision())


def _build_schema(uri: str) -> None:
    """Create every MLflow table and run its migrations on an empty database at ``uri``."""
    from mlflow.store.db.utils import _initialize_tables, create_sqlalchemy_engine_with_retry

    engine = create_sqlalchemy_engine_with_retry(uri)
    try:
        _initialize_tables(engine)
    finally:
        engine.dispose()


def _state(path: Path, head: str) -> tuple[bool, int, list[str]]:
    """Return (schema at head and complete, number of runs, leftover Alembic tables)."""
    try:
        return _read_state(path, head)
    except sqlite3.DatabaseError as exc:
        raise TrackingStoreError(
            f"MLflow tracking store {path} is not a readable SQLite database ({exc}); move it "
            "away or point tracking.uri elsewhere"
        ) from None


def _read_state(path: Path, head: str) -> tuple[bool, int, list[str]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        leftovers = sorted(t for t in tables if t.startswith(_ALEMBIC_TMP))
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0] if "runs" in tables else 0
    return revision == head and not leftovers, int(runs), leftovers


def prepare_tracking_store(
    uri: str,
    *,
    build: Callable[[str], None] = _build_schema,
    clock: Callable[[], float] = time.time,
) -> str | None:
    """Make sure a local SQLite tracking store at ``uri`` is complete before MLflow opens it.

    Does nothing for other URIs (a server migrates its own database). Safe to call from
    several processes at once.

    Args:
        uri: The tracking URI (``sqlite:///<absolute path>`` for the embedded store).
        build: Creates the schema in an empty database (injectable for tests).
        clock: Names a moved-aside file (injectable for tests).

    Returns:
        A message when a half-made store was moved aside and rebuilt, else None.

    Raises:
        TrackingStoreError: when the store holds runs but its schema is half-migrated.
    """
    path = _sqlite_path(uri)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    head = _head_revision()
    if path.exists() and _state(path, head)[0]:
        return None  # the common case: complete, no lock needed
    note = None
    with _folder_lock(path.parent):
        for stale in path.parent.glob(f"{path.name}.building-*"):
            stale.unlink(missing_ok=True)  # a builder that was killed: we hold the lock now
        if path.exists():
            complete, runs, leftovers = _state(path, head)
            if complete:
                return None  # another process built it while we waited
            if runs:
                raise TrackingStoreError(
                    f"MLflow tracking store {path} holds {runs} run(s) but its schema is "
                    f"half-migrated (leftover tables {leftovers or 'none'}; not at revision "
                    f"{head}); back it up, then run `mlflow db upgrade {_PREFIX}{path}` or "
                    "restore the backup"
                )
            aside = path.with_name(f"{path.name}.half-made-{int(clock())}")
            os.replace(path, aside)
            note = (
                f"MLflow tracking store {path} was half-made (an earlier set-up was killed; "
                f"leftover tables {leftovers or 'none'}, no runs): moved aside to {aside.name} "
                "and rebuilt"
            )
            _log.warning(note)
        tmp = path.with_name(f"{path.name}.building-{os.getpid()}")
        try:
            build(_PREFIX + str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return note
