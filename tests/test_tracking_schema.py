"""The embedded MLflow store survives a kill during its first schema set-up (issue 11, item 4).

A half-migrated store is built deterministically: MLflow's initial tables, its migrations up to
the one that batch-alters ``latest_metrics``, and that migration's temporary table, exactly what
a SIGKILL inside it leaves.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_tracking_helpers import finished_campaign, write_config

from optloop.cli import cli
from optloop.tracking.schema import TrackingStoreError, prepare_tracking_store

#: The migration before MLflow's first batch alteration of ``latest_metrics``.
_BEFORE_BATCH = "a8c4a736bde6"


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)


def half_migrated(path: Path, runs: int = 0) -> str:
    """Leave at ``path`` what a kill inside MLflow's batch migration of latest_metrics leaves."""
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config, create_sqlalchemy_engine_with_retry
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    uri = f"sqlite:///{path}"
    engine = create_sqlalchemy_engine_with_retry(uri)
    InitialBase.metadata.create_all(engine)
    config = _get_alembic_config(uri)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, _BEFORE_BATCH)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE _alembic_tmp_latest_metrics (key VARCHAR(250))")
        for i in range(runs):
            conn.execute(
                "INSERT INTO runs (run_uuid, experiment_id, lifecycle_stage) VALUES (?, 0, ?)",
                (f"run{i}", "active"),
            )
    return uri


def test_sync_repairs_a_store_whose_first_setup_was_killed(tmp_path: Path) -> None:
    tmp, _, _ = finished_campaign()
    db = tmp_path / "mlflow.db"
    uri = half_migrated(db)
    cfg_path, _ = write_config(tmp, uri, path=tmp_path / "c.yaml")
    out = CliRunner().invoke(cli, ["sync", str(cfg_path)])
    assert out.exit_code == 0, out.output
    assert "trial runs created" in out.output
    aside = list(tmp_path.glob("mlflow.db.half-made-*"))
    assert len(aside) == 1  # kept, not deleted
    again = CliRunner().invoke(cli, ["sync", str(cfg_path)])
    assert again.exit_code == 0 and "created 0" in again.output


def test_a_kill_during_the_first_setup_leaves_no_store(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"

    def killed(building: str) -> None:
        Path(building.removeprefix("sqlite:///")).write_bytes(b"half")
        raise KeyboardInterrupt  # stands for the SIGKILL: the build stops midway

    with pytest.raises(KeyboardInterrupt):
        prepare_tracking_store(uri, build=killed)
    assert not db.exists()
    # A real SIGKILL also skips the clean-up; the next set-up removes what it left.
    (tmp_path / "mlflow.db.building-99999").write_bytes(b"half")
    assert prepare_tracking_store(uri) is None
    assert db.is_file() and not list(tmp_path.glob("*.building-*"))
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "runs" in names and not any(n.startswith("_alembic_tmp_") for n in names)
    assert prepare_tracking_store(uri) is None  # complete: nothing to do


def test_a_half_migrated_store_with_runs_is_never_discarded(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    uri = half_migrated(db, runs=1)
    before = db.read_bytes()
    with pytest.raises(TrackingStoreError, match=r"holds 1 run\(s\).*mlflow db upgrade"):
        prepare_tracking_store(uri)
    assert db.read_bytes() == before


def test_a_sigkill_during_the_first_setup_never_leaves_a_half_made_store(tmp_path: Path) -> None:
    """A real kill, at whatever instant the migration has reached (bounded waits only)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    code = (
        "import sys\nfrom optloop.tracking.schema import prepare_tracking_store\n"
        "prepare_tracking_store(sys.argv[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child = subprocess.Popen([sys.executable, "-c", code, uri], env=env)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("mlflow.db.building-*")) and child.poll() is None:
            assert time.monotonic() < deadline, "the set-up never started"
            time.sleep(0.05)
        building = [
            p for p in tmp_path.glob("mlflow.db.building-*") if p.name.split("-")[-1].isdigit()
        ]
        while building and building[0].exists() and building[0].stat().st_size < 300_000:
            if time.monotonic() > deadline or child.poll() is not None:
                break
            time.sleep(0.05)  # let some migrations run: the kill lands mid-migration
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    # Killed mid-way, the store is absent (never half-made); finished first, it is complete.
    assert not db.exists() or prepare_tracking_store(uri) is None
    prepare_tracking_store(uri)
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert "runs" in names and not any(n.startswith("_alembic_tmp_") for n in names)
    from optloop.tracking.schema import _head_revision

    assert version == _head_revision()
    assert not list(tmp_path.glob("*.building-*"))
