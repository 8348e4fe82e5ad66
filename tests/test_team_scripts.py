"""The team server scripts of ``mlflow/team/``, run as its README says, on a real PostgreSQL.

``setup-postgres.sh`` creates the role and databases on a throw-away PostgreSQL server, the
README's own line copies ``env.example`` into a config folder that does not exist yet,
``start-server.sh`` serves MLflow from PostgreSQL with basic auth on loopback, ``users.py``
rotates the admin's password, creates and grants a user, a campaign mirrors into it as that
user, and a SIGTERM to the script stops the server and every worker.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from mlflow.tracking import MlflowClient
from pg_server import PgServer, postgres
from test_tracking_helpers import ROOT, VENV_BIN, Service, clean_env, config_data, free_port

from optloop.campaign import Campaign
from optloop.config import config_from_dict
from optloop.space import derive
from optloop.tracking import MlflowMirror

pytestmark = pytest.mark.integration

pg = pytest.fixture(scope="module")(postgres)

TEAM = ROOT / "mlflow" / "team"
README = (TEAM / "README.md").read_text()


def _readme_line(prefix: str) -> str:
    """Return the README's shell line that starts with ``prefix`` (comment dropped)."""
    for line in README.splitlines():
        if line.startswith(prefix):
            return line.split("  #", 1)[0].strip()
    raise AssertionError(f"mlflow/team/README.md has no line starting with {prefix!r}")


def _run(argv: list[str], env: dict[str, str], timeout_s: float = 120
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def _fill(env_file: Path, values: dict[str, str]) -> None:
    """Set ``KEY=value`` lines of the copied env file, as a user's editor would."""
    text = env_file.read_text()
    for key, value in values.items():
        pattern = re.compile(rf"^#?\s*{key}=.*$", re.MULTILINE)
        assert pattern.search(text), f"env.example has no {key}"
        text = pattern.sub(f"{key}={value}", text, count=1)
    env_file.write_text(text)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, timeout=30, check=False).stdout
    return [int(p) for p in out.split()]


def _refused(url: str, user: str, password: str) -> bool:
    r = requests.get(f"{url}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                     auth=(user, password), timeout=30)
    return r.status_code == 401


def test_team_scripts_as_documented(pg: PgServer, tmp_path: Path) -> None:
    db_password = f"db-{uuid.uuid4().hex}"
    admin_first = f"admin-first-{uuid.uuid4().hex[:8]}"
    admin_new = f"admin-new-{uuid.uuid4().hex[:8]}"
    alice_pw = f"alice-{uuid.uuid4().hex[:12]}"
    path = f"{pg.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    # Set up (once): the role and databases, twice to show it is idempotent.
    setup_env = {**os.environ, **pg.env(MLFLOW_DB_PASSWORD=db_password), "PATH": path}
    for _ in range(2):
        done = _run(["bash", str(TEAM / "setup-postgres.sh")], setup_env)
        assert done.returncode == 0, done.stderr
    assert pg.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database "
                   "WHERE datname LIKE 'mlflow%'").strip() == "mlflow,mlflow_auth"

    # The README's copy line works when ~/.config/optloop does not exist yet.
    home = tmp_path / "home"
    home.mkdir()
    copy = _readme_line("install -D")
    done = _run(["bash", "-c", copy], {**os.environ, "HOME": str(home)})
    assert done.returncode == 0, done.stderr
    env_file = home / ".config" / "optloop" / "mlflow-team.env"
    assert env_file.is_file() and (env_file.stat().st_mode & 0o777) == 0o600

    port = free_port()
    db = f"postgresql+psycopg://mlflow@{pg.host}:{pg.port}"
    _fill(env_file, {
        "MLFLOW_BACKEND_STORE_URI": f"{db}/mlflow",
        "MLFLOW_AUTH_DATABASE_URI": f"{db}/mlflow_auth",
        "PGPASSWORD": db_password,
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_first,
        "MLFLOW_HOST": "127.0.0.1",
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": "1",
        # The password checks below must not be answered from the cache.
        "MLFLOW_AUTH_CACHE_TTL_SECONDS": "0",
    })

    # Run: load the env file and start the script, as the README's "Run" block does.
    start = (f'set -a; . "{env_file}"; set +a; '
             f'MLFLOW_BIN={VENV_BIN / "mlflow"} exec bash {TEAM / "start-server.sh"}')
    server_env = clean_env(PATH=path)
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD"):
        server_env.pop(var, None)
    server = Service(["bash", "-c", start], port, tmp_path / "team.log", env=server_env)
    server.start(timeout_s=300)
    groups: list[int] = []
    try:
        assert server.proc is not None
        url = server.url
        assert _refused(url, "admin", "wrong-password")
        assert not _refused(url, "admin", admin_first)

        # users.py: rotate the admin's own password (it must send the current one).
        admin_env = clean_env(OPTLOOP_TRACKING_URI=url, MLFLOW_TRACKING_USERNAME="admin",
                              MLFLOW_TRACKING_PASSWORD=admin_first, NEW_PASSWORD=admin_new)
        users = [sys.executable, str(TEAM / "users.py")]
        done = _run([*users, "password", "admin"], admin_env)
        assert done.returncode == 0, done.stderr
        assert _refused(url, "admin", admin_first)
        assert not _refused(url, "admin", admin_new)

        # ... then one user per person, granted on an experiment.
        admin_env.update(MLFLOW_TRACKING_PASSWORD=admin_new, NEW_PASSWORD=alice_pw)
        done = _run([*users, "create", "alice"], admin_env)
        assert done.returncode == 0, done.stderr
        assert not _refused(url, "alice", alice_pw)
        exp_name = "teamquick"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_USERNAME", "admin")
            mp.setenv("MLFLOW_TRACKING_PASSWORD", admin_new)
            MlflowClient(url).create_experiment(exp_name)
        done = _run([*users, "grant", "alice", exp_name, "EDIT"], admin_env)
        assert done.returncode == 0, done.stderr

        # Connect optloop as alice: the mirror logs a campaign to the PostgreSQL backend.
        data = config_data(tmp_path, url, name=exp_name)
        data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
        cfg = config_from_dict(data)
        with pytest.MonkeyPatch.context() as mp:
            for var in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI"):
                mp.delenv(var, raising=False)
            mp.setenv("MLFLOW_TRACKING_USERNAME", "alice")
            mp.setenv("MLFLOW_TRACKING_PASSWORD", alice_pw)
            camp = Campaign(cfg)
            t1, t2 = camp.ask(2)
            # Capacities a full cell can deliver: below each design's positive loading.
            for t, life in ((t1, 120.0), (t2, 80.0)):
                cap = 0.8 * derive(t.design).positive_loading_mAh_cm2
                camp.tell(t.id, {"cycle_life": life, "areal_capacity_mAh_cm2": cap})
            rep = MlflowMirror(cfg.tracking, cfg.name).sync(camp.store, cfg)
            camp.store.close()
            assert rep.ok, rep.error
            assert rep.created == 2
            runs = MlflowClient(url).search_runs(
                [MlflowClient(url).get_experiment_by_name(exp_name).experiment_id])
            assert len(runs) == 3  # parent + two trials
        assert "2" == pg.psql("SELECT count(*) FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                              "WHERE t.key = 'optloop.kind' AND t.value = 'trial'",
                              database="mlflow").strip()

        # SIGTERM to the script alone (as systemd or `kill PID` sends it) stops everything.
        groups = [os.getpgid(p) for p in _children(server.proc.pid)]
        assert groups, "the server runs as a child of the script"
        os.kill(server.proc.pid, signal.SIGTERM)
        assert server.proc.wait(30) == 143
        deadline = time.monotonic() + 30
        while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_group_alive(g) for g in groups), "server processes outlived the script"
        with socket.socket() as s:
            s.settimeout(5)
            assert s.connect_ex(("127.0.0.1", port)) != 0, "the port still answers"
    finally:
        server.stop()
        for g in groups:
            if _group_alive(g):
                os.killpg(g, signal.SIGKILL)


def test_start_script_refuses_a_password_in_a_database_uri(tmp_path: Path) -> None:
    env = clean_env(
        MLFLOW_BACKEND_STORE_URI="postgresql+psycopg://mlflow:hunter2hunter2@127.0.0.1/mlflow",
        MLFLOW_AUTH_DATABASE_URI="postgresql+psycopg://mlflow@127.0.0.1/mlflow_auth",
        MLFLOW_ARTIFACTS_DESTINATION=str(tmp_path / "a"),
        MLFLOW_FLASK_SERVER_SECRET_KEY="x" * 32,
    )
    done = _run(["bash", str(TEAM / "start-server.sh")], env, timeout_s=30)
    assert done.returncode == 2 and "carries a password" in done.stderr
    assert "hunter2hunter2" not in done.stderr

