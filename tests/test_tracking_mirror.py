"""The mirror on a local SQLite tracking store: layout, idempotency, failures, the hook, the CLI.

No server here (see test_tracking_server.py): a dead or silent server is simulated by a
closed port and by a socket that accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from helpers import background
from mlflow.tracking import MlflowClient
from test_tracking_helpers import (
    config_data,
    finished_campaign,
    free_port,
    fresh_mlflow_db,
    one_torch_thread,
    write_config,
)

from optloop.cli.tracking_cmd import sync, ui
from optloop.config import CampaignConfig, TrackingConfig, config_from_dict
from optloop.exceptions import OptloopError
from optloop.space import Design
from optloop.store import CampaignStore, Trial, TrialStatus
from optloop.tracking import MirrorCallback, MlflowMirror, resolve_tracking_uri
from optloop.tracking import layout as lay
from optloop.tracking import mirror as mirror_module
from optloop.tracking.writes import log_batch

_one_torch_thread = pytest.fixture(autouse=True)(one_torch_thread)


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
                "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def finished() -> tuple[Path, CampaignConfig]:
    """A finished short campaign (shared with the report tests): its folder and config."""
    tmp, _, cfg = finished_campaign()
    return tmp, cfg


def _store(cfg: CampaignConfig) -> CampaignStore:
    return CampaignStore(cfg.store.url or "", cfg.name)


def _child_runs(uri: str, cfg: CampaignConfig) -> list[Any]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(cfg.name)
    assert exp is not None
    return list(client.search_runs([exp.experiment_id], "tags.`optloop.kind` = 'trial'",
                                   max_results=1000))


# --- layout -------------------------------------------------------------------------------


def _trial(**kw: Any) -> Trial:
    design = Design.from_dict({
        "alloy_layer": {"composition": {"Si": 0.8, "Cu": 0.2}, "thickness_um": 0.5,
                        "structure": "amorphous", "method": "sputtering",
                        "conditions": {"substrate_temperature_C": 100,
                                       "power_density_W_cm2": 3, "pressure_Pa": 0.5}},
        "carbon_layer": {"thickness_um": 40, "porosity": 0.35},
        "cell": {"positive_electrode": "NMC811", "np_ratio": 1.1},
    })
    base: dict[str, Any] = {"id": 7, "design": design, "status": TrialStatus.COMPLETED,
                            "origin": "botorch", "iteration": 3, "batch_index": 1}
    base.update(kw)
    return Trial(**base)


def test_layout_of_a_trial() -> None:
    t = _trial(outcomes={"cycle_life": 300.0}, censored={"cycle_life": True},
               predictions={"cycle_life": [250.0, 40.0]}, acquisition_value=-1.5,
               started_at=10.0, finished_at=12.5)
    p = lay.trial_params(t)
    assert p["alloy_layer.composition.Si"] == "0.8" and p["alloy_layer.method"] == "sputtering"
    assert p["carbon_layer.porosity"] == "0.35" and p["lithium_layer"] == "none"
    assert p["layers"] == "carbon/alloy" and p["alloy_layer.formula"] == "Si0.8Cu0.2"
    assert p["proposal.iteration"] == "3" and p["proposal.batch_index"] == "1"
    assert "derived.np_ratio" in p
    m = lay.trial_metrics(t)
    assert m == {"predicted.cycle_life.mean": 250.0, "predicted.cycle_life.std": 40.0,
                 "acquisition_value": -1.5, "cycle_life": 300.0, "evaluation_seconds": 2.5}
    tags = lay.trial_tags(t)
    assert tags["optloop.censored"] == "true" and tags["optloop.censored.cycle_life"] == "true"
    assert tags["optloop.claims"] == "1,2,3,4,5,6,7,8,10"
    failed = lay.trial_tags(_trial(status=TrialStatus.FAILED, reason="failed: x" * 2000))
    assert failed["optloop.failure_reason"].startswith("failed: x")
    assert len(failed["optloop.failure_reason"]) <= 4000
    assert "optloop.early_stopped" not in tags
    stopped = lay.trial_tags(_trial(metadata={
        "early_stopped": True, "lost_attempts": 1,
        "early_stopping": {"stop": True, "reason": "predicted 45 [30, 62] < reference 150"},
    }))
    assert stopped["optloop.early_stopped"] == "true"
    assert stopped["optloop.early_stopping.reason"].startswith("predicted 45")
    assert stopped["optloop.lost_cells"] == "1"
    # Outcomes are mirrored only once the trial is finished.
    assert "cycle_life" not in lay.trial_metrics(_trial(status=TrialStatus.RUNNING,
                                                        outcomes={"cycle_life": 1.0}))


def test_tracking_uri_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri = resolve_tracking_uri(TrackingConfig())
    assert uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert (tmp_path / "mlflow").is_dir()
    monkeypatch.setenv("OPTLOOP_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_tracking_uri(TrackingConfig()) == "http://127.0.0.1:5999"
    monkeypatch.setenv("OPTLOOP_TRACKING_URI", "http://admin:secret@127.0.0.1:5999")
    with pytest.raises(OptloopError, match="credentials"):
        resolve_tracking_uri(TrackingConfig())


# --- the mirror -------------------------------------------------------------------------


def test_sync_is_idempotent_and_survives_a_crash_midway(
    finished: tuple[Path, CampaignConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cfg = finished
    uri = fresh_mlflow_db(tmp_path / "mlflow.db")
    tracking = TrackingConfig(uri=uri, artifact_location=str(tmp_path / "art"))
    store = _store(cfg)
    trials = store.trials()
    # The first sync dies after a few artifacts (a server killed mid-request, say).
    calls = {"n": 0}
    real = mirror_module.log_cycling

    def flaky(client: Any, run_id: str, t: Trial) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("server went away")
        return real(client, run_id, t)

    monkeypatch.setattr(mirror_module, "log_cycling", flaky)
    broken = MlflowMirror(tracking, cfg.name).sync(store, cfg)
    assert not broken.ok and "server went away" in (broken.error or "")
    monkeypatch.setattr(mirror_module, "log_cycling", real)
    # A new process catches up: every trial exactly once, all of them complete.
    rep = MlflowMirror(tracking, cfg.name).sync(store, cfg)
    assert rep.ok, rep.error
    assert rep.created + rep.updated + rep.unchanged == len(trials)
    runs = _child_runs(uri, cfg)
    assert sorted(int(r.data.tags["optloop.trial_id"]) for r in runs) == [t.id for t in trials]
    assert all(r.data.tags["optloop.mirrored"] == r.data.tags["optloop.status"] for r in runs)
    client = MlflowClient(uri)
    for r in runs:
        if r.data.tags["optloop.status"] == "completed":
            assert {a.path for a in client.list_artifacts(r.info.run_id)} >= {
                "bdf", "plots", "cycles"}
            for key in r.data.metrics:
                assert len(client.get_metric_history(r.info.run_id, key)) == 1, key
    parent = client.search_runs([runs[0].info.experiment_id], "tags.`optloop.kind` = 'campaign'")
    assert len(parent) == 1
    steps = [m.step for m in client.get_metric_history(parent[0].info.run_id, "hypervolume")]
    assert sorted(steps) == sorted({r["iteration"] for r in store.iterations()})
    # Nothing left to do: a third sync writes nothing.
    again = MlflowMirror(tracking, cfg.name).sync(store, cfg)
    assert again.ok and not again.changed and again.unchanged == len(trials)
    store.close()


def test_log_batch_chunks_to_mlflow_limits(tmp_path: Path) -> None:
    uri = fresh_mlflow_db(tmp_path / "mlflow.db")
    mirror = MlflowMirror(TrackingConfig(uri=uri), "chunks")
    client = mirror.client()
    exp = client.create_experiment("chunks", artifact_location=(tmp_path / "a").as_uri())
    run = client.create_run(exp)
    log_batch(client, run.info.run_id,
                      metrics={f"m{i}": float(i) for i in range(1050)},
                      params={f"p{i}": str(i) for i in range(150)},
                      tags={f"t{i}": str(i) for i in range(120)})
    data = client.get_run(run.info.run_id).data
    assert len(data.metrics) == 1050 and len(data.params) == 150
    assert sum(k.startswith("t") for k in data.tags) == 120


def test_dead_server_fails_fast(
    finished: tuple[Path, CampaignConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cfg = finished
    store = _store(cfg)
    sleeps: list[float] = []
    # Fast means no back-off: count the waits instead of timing them (a busy machine is slow).
    monkeypatch.setattr(time, "sleep", sleeps.append)
    rep = MlflowMirror(TrackingConfig(uri=f"http://127.0.0.1:{free_port()}"),
                       cfg.name).sync(store, cfg)
    assert not rep.ok and "not reachable" in (rep.error or "")
    assert sum(sleeps) < 1.0, sleeps
    store.close()


def test_silent_server_times_out(finished: tuple[Path, CampaignConfig]) -> None:
    _, cfg = finished
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # takes connections and never answers: a hung server
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue

    store = _store(cfg)
    try:
        with background(accept, name="silent server", stop=stop.set):
            rep = MlflowMirror(TrackingConfig(uri=f"http://127.0.0.1:{sock.getsockname()[1]}"),
                               cfg.name, timeout_s=1.5).sync(store, cfg)
        assert not rep.ok and "not reachable" in (rep.error or "")
        # Bounded by one request's timeout: count the connections rather than time the sync.
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                held.append(sock.accept()[0])
        assert len(held) == 1, f"{len(held)} connections to a silent server"
    finally:
        for c in held:
            c.close()
        sock.close()
        store.close()


# --- the hook ---------------------------------------------------------------------------


class _CountingMirror:
    def __init__(self, ok: bool = True) -> None:
        self.calls = 0
        self.ok = ok

    def sync(self, store: CampaignStore, config: CampaignConfig) -> Any:
        from optloop.tracking import SyncReport

        self.calls += 1
        return SyncReport(tracking_uri="fake", ok=self.ok, error=None if self.ok else "down")


def test_mirror_callback_is_a_no_op_when_nothing_changed_and_backs_off_after_failures(
    finished: tuple[Path, CampaignConfig]
) -> None:
    _, cfg = finished
    store = _store(cfg)
    fake = _CountingMirror()
    hook = MirrorCallback(cfg.tracking, cfg.name, background=False, mirror=fake)  # type: ignore[arg-type]
    assert hook.step(store, cfg) is not None and fake.calls == 1
    for _ in range(20):
        assert hook.step(store, cfg) is None  # nothing changed: no sync
    assert fake.calls == 1
    assert hook.step(store, cfg, final=True) is not None and fake.calls == 1
    now = [1000.0]
    down = _CountingMirror(ok=False)
    hook = MirrorCallback(cfg.tracking, cfg.name, background=False, mirror=down,  # type: ignore[arg-type]
                          retry_after_s=60, max_retry_after_s=100, clock=lambda: now[0])
    assert hook.step(store, cfg) is not None and down.calls == 1
    now[0] += 59
    assert hook.step(store, cfg) is None and down.calls == 1  # waits before trying again
    now[0] += 1
    assert hook.step(store, cfg) is not None and down.calls == 2  # 60 s later: tries again
    now[0] += 99
    assert hook.step(store, cfg) is None and down.calls == 2  # the wait doubled (capped: 100)
    now[0] += 1
    assert hook.step(store, cfg) is not None and down.calls == 3
    report = hook.step(store, cfg, final=True)  # the final step always tries
    assert report is not None and not report.ok and down.calls == 4
    assert hook.last_report is report
    store.close()


def test_mirror_callback_syncs_on_the_campaign_events(
    finished: tuple[Path, CampaignConfig]
) -> None:
    _, cfg = finished
    fake = _CountingMirror()
    hook = MirrorCallback(cfg.tracking, cfg.name, mirror=fake)  # type: ignore[arg-type]

    class Camp:
        config, store = cfg, _store(cfg)

    camp = Camp()
    hook.on_step(camp, None)  # starts a background sync
    hook.wait(60)
    assert fake.calls == 1 and hook.last_report is not None and hook.last_report.ok
    hook.on_trial_finished(camp, None)
    hook.on_finish(camp, None)  # nothing changed since: the last report stands
    assert fake.calls == 1
    camp.store.close()


def test_a_sync_in_the_background_never_changes_the_environment(
    tmp_path: Path, finished: tuple[Path, CampaignConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.environ is process-wide: a sync thread must not write it (MLflow limits included)."""
    _, cfg = finished
    writes: list[tuple[str, str]] = []

    class Recording(dict[str, str]):
        def __setitem__(self, key: str, value: str) -> None:
            writes.append((threading.current_thread().name, key))
            super().__setitem__(key, value)

        def __delitem__(self, key: str) -> None:
            writes.append((threading.current_thread().name, key))
            super().__delitem__(key)

        def pop(self, key: str, *default: Any) -> Any:
            writes.append((threading.current_thread().name, key))
            return super().pop(key, *default)

    for var in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(os, "environ", Recording(os.environ))
    tracking = cfg.tracking.model_copy(update={"uri": f"sqlite:///{tmp_path / 'x.db'}"})
    mirror = MlflowMirror(tracking, cfg.name)  # sets MLflow's limits here, in this thread
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
    mirror._sync = lambda *a, **k: None  # type: ignore[method-assign]  # no MLflow needed
    writes.clear()
    hook = MirrorCallback(tracking, cfg.name, mirror=mirror)

    class Camp:
        config, store = cfg, _store(cfg)

    hook.on_step(Camp(), None)
    hook.wait(60)
    assert hook.last_report is not None and hook.last_report.ok, hook.last_report
    assert writes == [], f"the environment was written during a sync: {writes}"
    Camp.store.close()


def test_the_cli_attaches_the_mirror_unless_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optloop.cli import campaign_cmd
    from optloop.tracking import hook

    real = hook.mirror_callbacks.real  # type: ignore[attr-defined]  # see conftest.py
    data = config_data(tmp_path, fresh_mlflow_db(tmp_path / "mlflow.db"), name="cli-run",
                       budget=4, initial_designs=4)
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin", "max_concurrency": 2}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = config_from_dict(data)
    (mirror,) = real(cfg)
    assert isinstance(mirror, MirrorCallback)
    assert real(cfg, no_tracking=True) == []
    off = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"enabled": False})})
    assert real(off) == []
    # The commands pass --no-tracking on; with the real attachment the run is mirrored.
    seen: list[bool] = []

    def spy(c: CampaignConfig, *, no_tracking: bool = False) -> list[MirrorCallback]:
        seen.append(no_tracking)
        return real(c, no_tracking=no_tracking)

    monkeypatch.setattr(hook, "mirror_callbacks", spy)
    runner = CliRunner()
    out = runner.invoke(campaign_cmd.tick, [str(path), "--no-tracking"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert seen == [True]
    out = runner.invoke(campaign_cmd.run, [str(path)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert seen == [True, False]
    line = next(x for x in out.stdout.splitlines() if x.startswith("MLflow: "))
    assert "failed" not in line, line
    assert len(_child_runs(cfg.tracking.uri, cfg)) == 4


# --- the CLI ------------------------------------------------------------------------------


def test_cli_sync_and_ui(finished: tuple[Path, CampaignConfig], tmp_path: Path) -> None:
    tmp, _ = finished
    cfg_path, cfg = write_config(tmp, fresh_mlflow_db(tmp_path / "cli.db"),
                                 path=tmp_path / "cli.yaml")
    n = len(_store(cfg).trials())
    runner = CliRunner()
    out = runner.invoke(sync, [str(cfg_path)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert f"trial runs created {n}," in out.stdout
    out = runner.invoke(sync, [str(cfg_path)], catch_exceptions=False)
    assert f"created 0, updated 0, unchanged {n};" in out.stdout
    out = runner.invoke(ui, [str(cfg_path), "--port", "5123", "--print-command"])
    assert out.exit_code == 0
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'cli.db'}" in out.stdout
    assert "--host 127.0.0.1 --port 5123" in out.stdout
    remote, _ = write_config(tmp_path, "http://127.0.0.1:5999")
    out = runner.invoke(ui, [str(remote)])
    assert out.exit_code == 0 and "http://127.0.0.1:5999" in out.stdout
    # A server that is down: exit code 1 and the reason.
    down, _ = write_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    out = runner.invoke(sync, [str(down)])
    assert out.exit_code == 1 and "not reachable" in out.output
