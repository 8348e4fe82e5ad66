"""The database engine of a campaign store: SQLite by default, PostgreSQL for a team.

A plain ``postgresql://`` URL uses the maintained driver, psycopg 3 (the ``postgres`` extra:
``pip install 'optloop[postgres]'``), whichever SQLAlchemy release is installed (2.0 would
pick psycopg2, 2.1 picks psycopg 3). A missing driver or an unreachable server is a clear
:class:`StoreConnectionError`, never a driver traceback, and no message carries the URL's
password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

from optloop.exceptions import OptloopError
from optloop.secrets import mask_text, mask_url

__all__ = ["POSTGRES_EXTRA", "StoreConnectionError", "create_schema", "open_engine", "parse"]

#: How to install the PostgreSQL driver (named in every "driver missing" message).
POSTGRES_EXTRA = "pip install 'optloop[postgres]'"

# The dialect of a plain postgresql:// URL: psycopg 3, which the postgres extra installs.
_PG_DEFAULT = "postgresql+psycopg"


class StoreConnectionError(OptloopError):
    """The store's database cannot be opened (bad URL, driver missing, server refusing)."""


def parse(url: str) -> URL:
    """Parse a store URL, mapping plain ``postgresql://`` to the psycopg 3 dialect.

    Raises:
        StoreConnectionError: when the URL is not a database URL.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreConnectionError(
            f"store URL {mask_url(url)!r} is not a database URL ({mask_text(str(exc))}); "
            "expected e.g. sqlite:///runs/x/campaign.db or postgresql://user@host/db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername=_PG_DEFAULT)
    return parsed


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def open_engine(url: str) -> tuple[Engine, Path | None]:
    """Create the engine for a store URL; return it and the SQLite file (None on a server).

    Raises:
        StoreConnectionError: for a URL that is not a database URL, an in-memory SQLite
            store, or a database driver that is not installed (naming the extra to install).
    """
    parsed = parse(url)
    sqlite_path: Path | None = None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreConnectionError(
                f"store URL {mask_url(url)!r}: an SQLite store needs a file path"
            )
        sqlite_path = Path(parsed.database)
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, future=True)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        backend = parsed.get_backend_name()
        if backend == "postgresql":
            hint = (
                f"install the PostgreSQL driver with: {POSTGRES_EXTRA} (psycopg 3), and write "
                "the URL as postgresql://user@host:port/database"
            )
        else:
            hint = f"install the database driver for {parsed.drivername!r}"
        raise StoreConnectionError(
            f"store URL {mask_url(url)!r}: the driver {parsed.drivername!r} is not installed "
            f"({mask_text(str(exc))}); {hint}"
        ) from None
    if sqlite_path is not None:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine, sqlite_path


def create_schema(engine: Engine, meta: MetaData, url: str) -> None:
    """Create the store's tables if missing, turning a refused connection into a message.

    Raises:
        StoreConnectionError: when the database cannot be reached or refuses the login.
    """
    try:
        meta.create_all(engine)
    except (OperationalError, InterfaceError) as exc:
        first = mask_text(str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc))
        raise StoreConnectionError(
            f"cannot open the campaign store {mask_url(url)}: {first}; check the server, the "
            "user and the password (set it in OPTLOOP_STORE_URL or ~/.pgpass, never in a config)"
        ) from None

