"""The MLflow UI served from the project's embedded store, seen in headless Chromium.

The campaign uses the default tracking settings (``sqlite:///mlflow/mlflow.db`` under the
working directory, set up with no extra step); ``optloop ui CONFIG`` serves it, and Chromium
must show the campaign's runs. Screenshots go to ``out/test-output/`` (or
``$OPTLOOP_TEST_OUTPUT``) and the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_tracking_helpers import (
    ROOT,
    VENV_BIN,
    Service,
    clean_env,
    free_port,
    make_campaign,
    one_torch_thread,
    write_config,
)

from optloop.tracking import MirrorCallback

pytestmark = pytest.mark.integration  # an MLflow server and headless Chromium

_one_torch_thread = pytest.fixture(autouse=True)(one_torch_thread)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def optloop_argv(command: str) -> list[str]:
    """Return how to run ``optloop COMMAND`` (the standalone command until it is registered)."""
    from optloop.cli import cli

    if command in cli.commands and (VENV_BIN / "optloop").exists():
        return [str(VENV_BIN / "optloop"), command]
    return [sys.executable, "-c", f"from optloop.cli.tracking_cmd import {command}; {command}()"]


def output_dir() -> Path:
    out = Path(os.environ.get("OPTLOOP_TEST_OUTPUT", ROOT / "out" / "test-output"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def browse(url: str, profile: Path, screenshot: Path) -> str:
    """Load ``url`` in headless Chromium; write a screenshot and return the rendered DOM."""
    assert CHROMIUM, "headless Chromium is needed: apt-get install -y chromium"
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,900",
            "--virtual-time-budget=15000", f"--screenshot={screenshot}", "--dump-dom", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
    return done.stdout


def test_mlflow_ui_shows_the_campaign_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    for var in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    cfg_path, cfg = write_config(tmp_path, None)  # default tracking: mlflow/ under the cwd
    assert cfg.tracking.uri == "sqlite:///mlflow/mlflow.db"
    port = free_port()
    ui = Service([*optloop_argv("ui"), str(cfg_path), "--port", str(port)], port,
                 tmp_path / "ui.log", env=clean_env())
    mirror = MirrorCallback(cfg.tracking, cfg.name)
    with make_campaign(tmp_path, cfg, callbacks=[mirror]) as camp:
        # The first step of the campaign sets the embedded store up, with no extra command.
        first = mirror.step(camp.store, camp.config, final=True)
        assert first is not None and first.ok, first
        assert (tmp_path / "mlflow" / "mlflow.db").is_file(), "the embedded store was set up"
        ui.launch()  # starts while the campaign runs
        camp.run(poll_interval_s=0.0)
        final = mirror.last_report  # the final sync of on_finish
        assert final is not None and final.ok, final
        trials = camp.store.trials()
    assert (tmp_path / "mlflow" / "mlartifacts").is_dir()
    ui.wait_ready()
    try:
        client = MlflowClient(ui.url)
        exp = client.get_experiment_by_name(cfg.name)
        assert exp is not None
        runs = client.search_runs([exp.experiment_id], max_results=1000)
        out = output_dir()
        # The compare page of every run of the experiment: the campaign and each trial.
        ids = urllib.parse.quote(json.dumps([r.info.run_id for r in runs]))
        exps = urllib.parse.quote(json.dumps([exp.experiment_id]))
        shot = tmp_path / "mlflow_ui.png"
        dom = browse(f"{ui.url}/#/compare-runs?runs={ids}&experiments={exps}", tmp_path / "c",
                     shot)
        shutil.copy(shot, out / shot.name)
        assert f"Comparing {len(trials) + 1} Runs" in dom
        assert f">{cfg.name}<" in dom, "the campaign's parent run is on the page"
        for t in trials:
            assert f">{t.uid}<" in dom, f"{t.uid} is not on the page"
        print(f"screenshot: {out / shot.name}")
    finally:
        ui.stop()
