"""The team server (``mlflow/team/start-server.sh``): basic auth, proxied artifacts.

The script runs as documented, with SQLite standing in for PostgreSQL (the backend is any
SQLAlchemy URL). A client without credentials is refused; with credentials from the
environment (never from the config) the mirror logs a campaign, artifacts included.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from test_tracking_helpers import (
    ROOT,
    VENV_BIN,
    Service,
    clean_env,
    config_data,
    free_port,
    fresh_mlflow_db,
    one_torch_thread,
    synthetic_bdf,
)

from optloop.campaign import Campaign
from optloop.config import CampaignConfig, config_from_dict
from optloop.store import CampaignStore, TrialStatus
from optloop.tracking import MlflowMirror

pytestmark = pytest.mark.integration  # the team MLflow server (start-server.sh)

_one_torch_thread = pytest.fixture(autouse=True)(one_torch_thread)

ADMIN_PASSWORD = "a-long-test-password-1234"


def _team_server(tmp: Path) -> Service:
    port = free_port()
    env = clean_env(
        MLFLOW_BIN=str(VENV_BIN / "mlflow"),
        MLFLOW_BACKEND_STORE_URI=fresh_mlflow_db(tmp / "tracking.db"),
        MLFLOW_AUTH_DATABASE_URI=f"sqlite:///{tmp / 'auth.db'}",
        MLFLOW_ARTIFACTS_DESTINATION=str(tmp / "artifacts"),
        MLFLOW_FLASK_SERVER_SECRET_KEY="test-secret-key-not-for-production",
        MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
        MLFLOW_HOST="127.0.0.1",
        MLFLOW_PORT=str(port),
        MLFLOW_WORKERS="1",
    )
    return Service(["bash", str(ROOT / "mlflow" / "team" / "start-server.sh")], port,
                   tmp / "team.log", env=env)


# Launched at import (collection) so that its start-up overlaps the tests that run first.
_DIR = Path(tempfile.mkdtemp(prefix="optloop-mlflow-team-"))
atexit.register(shutil.rmtree, _DIR, True)
_TEAM = _team_server(_DIR).launch()


@pytest.fixture()
def team_server() -> Iterator[Service]:
    yield _TEAM.wait_ready()
    _TEAM.stop()


def _store_with_trials(tmp: Path, url: str) -> tuple[CampaignStore, CampaignConfig]:
    """Two Sobol trials told by hand, one with a BDF file."""
    cfg = config_from_dict(config_data(tmp, url))
    camp = Campaign(cfg)
    t1, t2 = camp.ask(2)
    camp.tell(t1.id, {"cycle_life": 120.0, "areal_capacity_mAh_cm2": 1.5})
    bdf = synthetic_bdf(tmp / "t2.bdf.csv", 0.05, 0.01)
    camp.store.transition(t2.id, TrialStatus.COMPLETED, bdf_path=str(bdf),
                          outcomes={"cycle_life": 80.0, "areal_capacity_mAh_cm2": 2.0})
    return camp.store, cfg


def test_unauthenticated_refused_authenticated_logs(
    team_server: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
                "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    url = team_server.url
    # No credentials: refused at the HTTP level and through MLflow's client and our mirror.
    r = requests.get(f"{url}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                     timeout=10)
    assert r.status_code == 401
    with pytest.raises(MlflowException, match="401|nauthori"):
        MlflowClient(url).search_experiments()
    store, cfg = _store_with_trials(tmp_path, url)
    refused = MlflowMirror(cfg.tracking, cfg.name).sync(store, cfg)
    assert not refused.ok and refused.error and ("401" in refused.error
                                                  or "nauthori" in refused.error)
    # Wrong password: refused too.
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    with pytest.raises(MlflowException, match="401|nauthori"):
        MlflowClient(url).search_experiments()
    # Credentials from the environment: the mirror logs runs, params, metrics and artifacts.
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    rep = MlflowMirror(cfg.tracking, cfg.name).sync(store, cfg)
    assert rep.ok, rep.error
    assert rep.created == 2
    client = MlflowClient(url)
    exp = client.get_experiment_by_name(cfg.name)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], "tags.`optloop.kind` = 'trial'")
    assert len(runs) == 2
    with_bdf = [r for r in runs if r.data.tags.get("optloop.bdf_path")]
    assert with_bdf and any(a.path == "plots" for a in client.list_artifacts(
        with_bdf[0].info.run_id))
    assert exp.artifact_location.startswith("mlflow-artifacts:"), "artifacts are proxied"
    assert list((_DIR / "artifacts").rglob("capacity_fade.png")), "stored by the server"
    store.close()
