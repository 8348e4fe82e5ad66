"""The MLflow mirror against a real ``mlflow server`` on loopback (issue 5, done-when 1 and 2).

1. A short campaign mirrored while it runs: one parent run, one child run per trial with the
   design, outcomes, predictions, tags and artifacts, and the parent's step metrics.
2. The server dies mid-campaign; the campaign goes on; after a restart ``optloop sync``
   mirrors every trial exactly once, and a second sync writes nothing.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from test_tracking_helpers import (
    Service,
    make_campaign,
    mlflow_server,
    one_torch_thread,
    write_config,
)

from optloop.cli.tracking_cmd import sync
from optloop.config import CampaignConfig
from optloop.reports import PLOTS
from optloop.store import CampaignStore, TrialStatus
from optloop.tracking import MirrorCallback, MlflowMirror
from optloop.tracking.layout import RUN_STATUS

pytestmark = pytest.mark.integration  # MLflow servers in subprocesses

_one_torch_thread = pytest.fixture(autouse=True)(one_torch_thread)


# Launched when the module is imported (at collection), so that its start-up (seconds of
# imports) overlaps the tests that run first; the fixture waits for it.
_SERVER_DIR = Path(tempfile.mkdtemp(prefix="optloop-mlflow-server-"))
atexit.register(shutil.rmtree, _SERVER_DIR, True)
_SERVER = mlflow_server(_SERVER_DIR).launch()


@pytest.fixture(scope="module")
def server() -> Iterator[Service]:
    """One real server for the module (each test mirrors its own campaign into it)."""
    yield _SERVER.wait_ready()
    _SERVER.stop()


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
                "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)


def _runs(client: MlflowClient, exp_id: str, kind: str) -> list[Any]:
    return list(client.search_runs(
        [exp_id], filter_string=f"tags.`optloop.kind` = '{kind}'", max_results=1000))


def _paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for a in client.list_artifacts(run_id, path):
        out |= _paths(client, run_id, a.path) if a.is_dir else {a.path}
    return out


def check_mirror(client: MlflowClient, store: CampaignStore, cfg: CampaignConfig) -> None:
    """Hold MLflow against the store: every trial exactly once, with everything the issue asks."""
    exp = client.get_experiment_by_name(cfg.name)
    assert exp is not None
    parents = _runs(client, exp.experiment_id, "campaign")
    assert len(parents) == 1, "one parent run per campaign"
    parent = parents[0]
    pid = parent.info.run_id
    trials = store.trials()
    children = _runs(client, exp.experiment_id, "trial")
    per_trial = Counter(int(r.data.tags["optloop.trial_id"]) for r in children)
    assert per_trial == Counter({t.id: 1 for t in trials}), "one child run per trial, no more"
    by_id = {int(r.data.tags["optloop.trial_id"]): r for r in children}
    for t in trials:
        run = by_id[t.id]
        d, tags, params, metrics = run.data, run.data.tags, run.data.params, run.data.metrics
        assert tags["mlflow.parentRunId"] == pid
        assert run.info.run_name == t.uid
        assert run.info.status == RUN_STATUS[t.status]
        assert tags["optloop.status"] == t.status.value
        assert tags["optloop.mirrored"] == t.status.value
        assert tags["optloop.fidelity"] == t.fidelity
        assert tags["optloop.censored"] in ("true", "false")
        assert tags["optloop.claims"] and tags["optloop.claims"] != "none"
        # The design as params.
        a = t.design.alloy_layer
        assert a is not None
        assert float(params["alloy_layer.thickness_um"]) == pytest.approx(a.thickness_um, 1e-5)
        for el, x in a.composition.items():
            assert float(params[f"alloy_layer.composition.{el}"]) == pytest.approx(x, 1e-5)
        assert params["alloy_layer.formula"] == a.formula
        assert params["proposal.iteration"] == str(t.iteration)
        assert params["proposal.batch_index"] == str(t.batch_index)
        # Why it was proposed: predictions before evaluation, held against outcomes.
        for m, (mean, std) in t.predictions.items():
            assert metrics[f"predicted.{m}.mean"] == pytest.approx(mean)
            assert metrics[f"predicted.{m}.std"] == pytest.approx(std)
        if t.acquisition_value is not None:
            assert metrics["acquisition_value"] == pytest.approx(t.acquisition_value)
        if t.status is TrialStatus.COMPLETED:
            for m, v in t.outcomes.items():
                assert metrics[m] == pytest.approx(v)
            files = _paths(client, run.info.run_id)
            assert f"bdf/{Path(t.bdf_path or '').name}" in files
            assert {"plots/capacity_fade.png", "plots/voltage_profile.png",
                    "cycles/cycles.csv"} <= files
            # Per-cycle series are artifacts, not metric histories.
            assert all(len(client.get_metric_history(run.info.run_id, k)) == 1 for k in metrics)
        if t.status is TrialStatus.FAILED:
            assert "delaminated" in tags["optloop.failure_reason"]
        del d
    # The parent: config, key params, step metrics per iteration, plots and the trials table.
    p = parent.data.params
    assert p["seed"] == str(cfg.seed) and p["evaluator"] == cfg.evaluator.name
    assert p["optimiser"].endswith("qLogNEHVI")
    assert p["optimiser.budget"] == str(cfg.optimiser.budget)
    iterations = sorted({r["iteration"] for r in store.iterations()})
    for key in ("hypervolume", "trials.completed", "trials.running", "trials.failed",
                "surrogate.fit_seconds", "acquisition.seconds"):
        steps = [m.step for m in client.get_metric_history(pid, key)]
        assert sorted(steps) == iterations, key
    for o in cfg.objectives:
        assert client.get_metric_history(pid, f"best.{o.name}")
    finished = sum(t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED) for t in trials)
    hv_eval = [m.step for m in client.get_metric_history(pid, "hypervolume_by_evaluations")]
    assert sorted(hv_eval) == list(range(1, finished + 1))
    files = _paths(client, pid)
    assert {"config/campaign.yaml", "plots/pareto_front.png", "plots/hypervolume.png",
            "tables/trials.csv"} <= files
    assert {f"report/plots/{name}.png" for name in PLOTS} <= files
    assert "report/report.html" in files
    assert parent.info.status == "FINISHED"


def test_campaign_mirrors_to_a_real_server(server: Service, tmp_path: Path) -> None:
    _, cfg = write_config(tmp_path, server.url, name="mirrored")
    mirror = MirrorCallback(cfg.tracking, cfg.name)
    with make_campaign(tmp_path, cfg, callbacks=[mirror]) as camp:
        camp.run(poll_interval_s=0.0)
        final = mirror.last_report  # the final sync of on_finish
        assert final is not None and final.ok, final
        client = MlflowClient(server.url)
        check_mirror(client, camp.store, cfg)
        # A second sync from a new process finds everything mirrored and writes nothing.
        again = MlflowMirror(cfg.tracking, cfg.name).sync(camp.store, cfg)
        assert again.ok and not again.changed, again
        assert again.unchanged == len(camp.store.trials())


def test_server_down_mid_campaign_then_sync_catches_up(server: Service, tmp_path: Path
                                                       ) -> None:
    try:
        cfg_path, cfg = write_config(tmp_path, server.url, name="interrupted")
        killed: list[int] = []

        def step(p: Any) -> None:
            if p.finished >= 3 and not killed:
                killed.append(p.finished)
                server.stop()  # whatever the mirror was doing, it is cut off here

        mirror = MirrorCallback(cfg.tracking, cfg.name)
        with make_campaign(tmp_path, cfg, callbacks=[mirror]) as camp:
            progress = camp.run(poll_interval_s=0.0, progress=step)
            assert progress.finished == 6, "the campaign went on without its tracking server"
            final = mirror.last_report  # the final sync of on_finish
            assert final is not None and not final.ok and final.error
        assert killed
        server.start()  # same port, same database
        runner = CliRunner()
        out = runner.invoke(sync, [str(cfg_path), "--json"], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        first = json.loads(out.stdout)
        assert first["ok"] and first["duplicates"] == []
        store = CampaignStore(cfg.store.url or "", cfg.name)
        try:
            check_mirror(MlflowClient(server.url), store, cfg)
        finally:
            store.close()
        out = runner.invoke(sync, [str(cfg_path), "--json"], catch_exceptions=False)
        second = json.loads(out.stdout)
        assert out.exit_code == 0 and second["ok"] and not second["changed"], second
    finally:
        if server.proc is None:
            server.start()  # leave the module's server running for the other tests
