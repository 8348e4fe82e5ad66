"""A throw-away PostgreSQL server for the team-setup tests (no tests here).

Debian's ``postgresql`` package provides the server binaries under
``/usr/lib/postgresql/<version>/bin``; ``make test`` and ``.ci/run`` install it in their set-up
step. The server runs from a temporary folder on 127.0.0.1 and a free port, with password
(SCRAM) authentication only, as the ``postgres`` user when the tests run as root (``initdb``
refuses root), and is stopped and removed afterwards. Every wait is bounded.

Use it from a test module::

    from pg_server import postgres
    pg = pytest.fixture(scope="module")(postgres)
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PgServer", "find_bin_dir", "postgres"]

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "throwaway-superuser-password"
SETUP_HINT = (
    "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; run the test set-up "
    "step first (`make test` does it; by hand, as root: apt-get install -y -qq postgresql)"
)


def find_bin_dir() -> Path | None:
    """Return the newest installed PostgreSQL server's bin folder, or None."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    if not found:
        return None
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a temporary folder, reached over TCP with a password."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = _free_port()
        self.host = "127.0.0.1"
        # Not under pytest's tmp_path: that is private to root and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="optloop-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        self.started = False

    # --- running the server's programs ---------------------------------------------------

    def _cmd(
        self, argv: list[str], timeout_s: float, **env: str
    ) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        full_env = {**os.environ, **env}
        return subprocess.run(prefix + argv, capture_output=True, text=True, env=full_env,
                              timeout=timeout_s, check=False, cwd=self.root)

    def _check(self, argv: list[str], timeout_s: float, **env: str) -> str:
        done = self._cmd(argv, timeout_s, **env)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}\n"
                               f"{done.stdout.strip()}\n{log}")
        return done.stdout

    def start(self) -> PgServer:
        """Create the cluster and start it; return when it accepts connections (≤ 60 s)."""
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._check([str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                     "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                     "--no-sync", "--locale=C"], 120)
        pwfile.unlink()
        opts = (f"-c listen_addresses={self.host} -p {self.port} -k {self.root} "
                "-c fsync=off -c max_connections=40 -c shared_buffers=16MB")
        self._check([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                     "-o", opts, "-w", "-t", "60", "start"], 90)
        self.started = True
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, bounded) and delete its folder."""
        if self.started:
            self.started = False
            done = self._cmd([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                              "-w", "-t", "30", "stop"], 45)
            if done.returncode != 0:
                self._cmd([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m",
                           "immediate", "-w", "-t", "15", "stop"], 25)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- using it -------------------------------------------------------------------------

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser (over TCP, with its password); return psql's output."""
        return self._check([str(self.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", self.host, "-p", str(self.port), "-U", SUPERUSER,
                            "-d", database, "-tA", "-c", sql], 60,
                           PGPASSWORD=SUPERUSER_PASSWORD)

    def create_user_db(self, user: str, password: str, database: str) -> str:
        """Create a login role owning a new database; return its ``postgresql://`` URL."""
        self.psql(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}'")
        self.psql(f"CREATE DATABASE \"{database}\" OWNER \"{user}\"")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{database}"

    def dump(self, database: str) -> str:
        """Return a plain-text dump (schema and every row) of a database."""
        return self._check([str(self.bin_dir / "pg_dump"), "-h", self.host, "-p", str(self.port),
                            "-U", SUPERUSER, "--no-owner", database], 120,
                           PGPASSWORD=SUPERUSER_PASSWORD)

    def env(self, **extra: str) -> dict[str, str]:
        """Return the libpq settings to reach this server as its superuser."""
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": SUPERUSER,
                "PGPASSWORD": SUPERUSER_PASSWORD, **extra}


def postgres() -> Iterator[PgServer]:
    """Yield a started throw-away server; stop it afterwards. Fails when none is installed."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail(SETUP_HINT, pytrace=False)
    server = PgServer(bin_dir)
    try:
        yield server.start()
    finally:
        server.stop()
