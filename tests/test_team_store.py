"""The campaign store on PostgreSQL, and no store password anywhere a campaign leaves a trace.

A throw-away PostgreSQL server (tests/pg_server.py) with password authentication holds the
store; the password lives only in ``OPTLOOP_STORE_URL``. Every command runs as a user runs it:
the ``optloop`` CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pg_server import PgServer, postgres
from test_tracking_helpers import ROOT, fresh_mlflow_db

from optloop.cli import cli
from optloop.store import CampaignBusyError, CampaignStore, StoreConnectionError

pytestmark = pytest.mark.integration

pg = pytest.fixture(scope="module")(postgres)

OPTLOOP = [sys.executable, "-c", "from optloop.cli import main; main()"]
CLI_TIMEOUT_S = 600


def _env(**extra: str) -> dict[str, str]:
    drop = ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD", "OPTLOOP_STORE_URL")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def _cli(args: list[str], tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPTLOOP, *args], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S, check=False)


def _config(tmp: Path, name: str, **extra: object) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["name"] = name
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin", "max_concurrency": 2}
    # All Sobol (no model fit in the loop): the test is about what is shown, not the optimiser.
    data["optimiser"].update({"budget": 4, "initial_designs": 4, "batch_size": 2})
    data["tracking"] = {"uri": fresh_mlflow_db(tmp / "mlflow.db"),
                        "artifact_location": str(tmp / "mlartifacts")}
    data.update(extra)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _files_holding(root: Path, secret: bytes, skip: set[Path]) -> list[str]:
    hits = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p not in skip and secret in p.read_bytes():
            hits.append(str(p.relative_to(root)))
    return hits


@pytest.fixture()
def campaign_db(pg: PgServer) -> Iterator[tuple[str, str]]:
    """A login role with a unique planted password, owning a fresh database; (url, password)."""
    tag = uuid.uuid4().hex[:10]
    password = f"Planted{uuid.uuid4().hex}"
    yield pg.create_user_db(f"optloop_{tag}", password, f"campaigns_{tag}"), password


def test_campaign_on_postgres_never_shows_the_password(
    pg: PgServer, campaign_db: tuple[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:
    url, password = campaign_db
    secret = password.encode()
    cfg = _config(tmp_path, "teamrun")
    env = _env(OPTLOOP_STORE_URL=url)  # tracking on, into tmp_path/mlflow.db
    outputs: dict[str, str] = {}

    run = _cli(["run", str(cfg)], tmp_path, env)
    outputs["run"] = run.stdout + run.stderr
    assert run.returncode == 0, outputs["run"][-3000:]
    assert "4/4 done" in run.stdout
    # The store is the PostgreSQL database, shown without its password.
    host_part = url.split("@", 1)[1]
    assert f":***@{host_part}" in run.stdout

    st = _cli(["status", str(cfg)], tmp_path, env)
    outputs["status"] = st.stdout + st.stderr
    assert st.returncode == 0 and "completed 4" in st.stdout, outputs["status"]
    js = _cli(["status", str(cfg), "--json"], tmp_path, env)
    outputs["status --json"] = js.stdout + js.stderr
    assert js.returncode == 0
    status = json.loads(js.stdout)
    assert status["counts"]["completed"] == 4
    assert status["store"] == url.replace(password, "***")

    rep = _cli(["report", str(cfg), "--out", str(tmp_path / "report")], tmp_path, env)
    outputs["report"] = rep.stdout + rep.stderr
    assert rep.returncode == 0, outputs["report"][-3000:]
    assert "logged to MLflow run" in rep.stdout
    html = (tmp_path / "report" / "report.html").read_text()
    assert "***@" in html, "the report names the store, masked"

    sync = _cli(["sync", str(cfg)], tmp_path, env)
    outputs["sync"] = sync.stdout + sync.stderr
    assert sync.returncode == 0, outputs["sync"][-3000:]

    # Bad input that quotes the URL: a password in the config file, an unparsable URL, a
    # driver that is not installed, a tracking URI with credentials. Each is refused with
    # exit 2 and the URL masked. In-process (the same click commands, no interpreter start-up
    # each); capfd also catches anything written to the process's stdout / stderr directly.
    monkeypatch.chdir(tmp_path)
    for var in ("OPTLOOP_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPTLOOP_STORE_URL", url)
    capfd.readouterr()

    def invoke(name: str, args: list[str], **env: str) -> str:
        result = CliRunner().invoke(cli, args, env=env)
        fds = capfd.readouterr()
        outputs[name] = result.stdout + result.stderr + fds.out + fds.err
        assert result.exit_code == 2, f"{name}: {outputs[name][-3000:]}"
        assert "Traceback" not in outputs[name], outputs[name]
        return result.stderr

    bad_cfg = _config(tmp_path, "badcfg", store={"url": url})
    err = invoke("bad config", ["run", str(bad_cfg)])
    assert "store.url" in err and "***" in err
    invoke("validate bad config", ["validate", str(bad_cfg)])
    invoke("bad port", ["status", str(cfg)],
           OPTLOOP_STORE_URL=url.replace(f":{pg.port}/", ":notaport/"))
    err = invoke("missing driver", ["status", str(cfg)],
                 OPTLOOP_STORE_URL=url.replace("postgresql://", "postgresql+pg8000://"))
    assert "not installed" in err and "***" in err
    err = invoke("tracking URI with credentials", ["sync", str(cfg)],
                 OPTLOOP_TRACKING_URI=f"http://alice:{password}@127.0.0.1:1")
    assert "MLFLOW_TRACKING_PASSWORD" in err

    leaked = [name for name, text in outputs.items() if password in text]
    assert not leaked, f"password printed by: {leaked}"
    # Every file the campaign left: run folder, report, MLflow database and artifacts, logs
    # (the bad config file is the user's own and holds the password by design).
    files = _files_holding(tmp_path, secret, skip={bad_cfg})
    assert not files, f"password written to: {files}"
    assert (tmp_path / "mlflow.db").stat().st_size > 0 and list(
        (tmp_path / "mlartifacts").rglob("report.html")), "the report reached MLflow"
    # The store itself: a full dump of its database.
    dump = pg.dump(url.rsplit("/", 1)[1])
    assert "teamrun" in dump and password not in dump


def _hold_lock(url: str, campaign: str) -> subprocess.Popen[str]:
    code = (
        "import sys\n"
        "from optloop.store import CampaignStore\n"
        f"s = CampaignStore({url!r}, {campaign!r})\n"
        "with s.lock():\n"
        "    print('locked', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=_env())


def test_busy_message_names_the_holder_on_postgres(campaign_db: tuple[str, str]) -> None:
    url, password = campaign_db
    holder = _hold_lock(url, "shared")
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"  # bounded: the child exits on error
        store = CampaignStore(url, "shared")
        try:
            with pytest.raises(CampaignBusyError) as err:
                store.lock().acquire()
            msg = str(err.value)
            host = socket.gethostname()[:20]
            assert re.search(rf"pid {holder.pid} on {re.escape(host)}\S* since \d{{4}}-\d\d-\d\d "
                             r"\d\d:\d\d:\d\d", msg), msg
            assert password not in msg
            # Another campaign in the same database is free; the first one after its holder quits.
            with CampaignStore(url, "other").lock():
                pass
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.wait(60) == 0
            with store.lock():
                pass
        finally:
            store.close()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)


def test_lock_released_in_process_can_be_taken_again(campaign_db: tuple[str, str]) -> None:
    url, _ = campaign_db
    a = CampaignStore(url, "again")
    b = CampaignStore(url, "again")
    try:
        with a.lock():
            with pytest.raises(CampaignBusyError, match=f"pid {os.getpid()} "):
                b.lock().acquire()
        with b.lock():  # the pooled connection of a's lock no longer holds it
            pass
    finally:
        a.close()
        b.close()


def test_missing_driver_is_a_clear_exit_2(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "nodriver")
    password = f"Planted{uuid.uuid4().hex}"
    code = ("import sys\n"
            "sys.modules['psycopg'] = None\n"  # as if the postgres extra were not installed
            "sys.modules['psycopg2'] = None\n"
            "from optloop.cli import main\n"
            f"sys.argv = ['optloop', 'status', {str(cfg)!r}]\n"
            "main()\n")
    env = _env(OPTLOOP_STORE_URL=f"postgresql://u:{password}@127.0.0.1:1/db")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "pip install 'optloop[postgres]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3
    assert password not in done.stdout + done.stderr


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    password = f"Planted{uuid.uuid4().hex}"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreConnectionError, match="cannot open the campaign store") as err:
        CampaignStore(f"postgresql://u:{password}@127.0.0.1:{port}/db?connect_timeout=5", "x")
    assert password not in str(err.value) and "***" in str(err.value)


def test_pg_fixture_fails_without_the_server_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    import pg_server

    monkeypatch.setattr(pg_server, "find_bin_dir", lambda: None)
    with pytest.raises(pytest.fail.Exception, match="run the test set-up step"):
        next(pg_server.postgres())
