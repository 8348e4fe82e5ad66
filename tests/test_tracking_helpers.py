"""Shared helpers of the tracking and report tests (no tests here).

Real services only: an ``mlflow server`` on a free loopback port, a fast stand-in evaluator
that writes a synthetic BDF file per trial, and a short campaign driven by the real loop.
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml
from loop_settings import FAST

from optloop.campaign import Campaign, CampaignCallback
from optloop.config import CampaignConfig, config_from_dict
from optloop.data.bdf import build_bdf_frame, write_bdf
from optloop.evaluators._toy import ToyEvaluator
from optloop.evaluators.base import EvaluationResult, JobState
from optloop.optimiser import Optimiser
from optloop.space import DesignSpace

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


# The server's GenAI job runner starts a dozen processes the tests do not need.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """Return the environment without tracking settings that would redirect the tests."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_TRACKING_URI", "OPTLOOP_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
                        "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")}
    env.update(SERVER_ENV)
    env.update(extra)
    return env


class Service:
    """A server process in its own session, stopped with its whole process group."""

    def __init__(self, argv: Sequence[str], port: int, log: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.argv, self.port, self.log = list(argv), port, log
        self.env = dict(env) if env is not None else clean_env()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> Service:
        """Start the process and return at once (see :meth:`wait_ready`)."""
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)
        atexit.register(self.stop)
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> Service:
        """Wait until ``/health`` answers."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[:4]} exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"no /health within {timeout_s} s: {self.log.read_text()[-3000:]}")

    def start(self, timeout_s: float = 120.0) -> Service:
        """Start the process and wait until it serves."""
        return self.launch().wait_ready(timeout_s)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        # Workers (uvicorn) share the group; make sure none is left serving the port.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def mlflow_server(tmp: Path, port: int | None = None) -> Service:
    """Return a plain ``mlflow server`` (SQLite backend, proxied artifacts) on loopback."""
    port = port or free_port()
    argv = [sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", fresh_mlflow_db(tmp / "server.db"),
            "--artifacts-destination", str(tmp / "server-artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return Service(argv, port, tmp / "server.log")


# --- a short campaign -------------------------------------------------------------------


def score(design: Mapping[str, Any]) -> dict[str, float]:
    """Thin Si-rich films live long, thick ones store more; very thick ones delaminate."""
    a = design["alloy_layer"]
    t = a["thickness_um"]
    si = a["composition"].get("Si", 0.0)
    if t > 0.9:
        raise RuntimeError("film delaminated")
    life = 400.0 * math.exp(-2.0 * t) * (1.2 if a["structure"] == "amorphous" else 1.0)
    cap = 0.5 + 2.0 * t * (0.4 + si)
    return {"cycle_life": life, "areal_capacity_mAh_cm2": cap, "first_cycle_efficiency": 0.85}


def synthetic_bdf(path: Path, capacity_Ah: float, fade_per_cycle: float, cycles: int = 30
                  ) -> Path:
    """Write a small full-cell BDF file whose capacity fades linearly per cycle."""
    t, v, i, c = [], [], [], []
    now, current = 0.0, 1.0
    for n in range(1, cycles + 1):
        q = capacity_Ah * max(0.05, 1.0 - fade_per_cycle * (n - 1))
        dur = q / current * 3600.0
        for k in range(6):  # charge, 3.0 -> 4.2 V
            t.append(now + dur * k / 5)
            v.append(3.0 + 1.2 * (k / 5) ** 0.7)
            i.append(current)
            c.append(n)
        now += dur
        for k in range(6):  # discharge, 4.1 -> 3.0 V
            t.append(now + dur * k / 5)
            v.append(4.1 - 1.1 * (k / 5) ** 1.5)
            i.append(-current)
            c.append(n)
        now += dur + 1.0
    times = np.maximum.accumulate(np.round(np.array(t), 3))
    frame = build_bdf_frame(times, np.array(v), np.array(i), np.array(c))
    return write_bdf(frame, path, {"cell": "full", "evaluator": "test"})


class BdfToyEvaluator(ToyEvaluator):
    """The toy evaluator, plus a synthetic BDF file for each successful trial."""

    def __init__(self, bdf_dir: Path, **kw: Any) -> None:
        super().__init__(score, **kw)
        self.bdf_dir = bdf_dir
        bdf_dir.mkdir(parents=True, exist_ok=True)

    def fetch(self, job_id: str) -> EvaluationResult:
        res = super().fetch(job_id)
        if res.state is not JobState.SUCCEEDED or res.partial:
            return res
        life = res.metrics.get("cycle_life", 100.0)
        path = synthetic_bdf(self.bdf_dir / f"{job_id}.bdf.csv",
                             capacity_Ah=0.05 * res.metrics.get("areal_capacity_mAh_cm2", 1.0),
                             fade_per_cycle=0.2 / max(life / 10.0, 1.0))
        return dataclasses.replace(res, bdf_path=str(path))


def config_data(
    tmp: Path, tracking_uri: str | None, name: str = "tracked", **optimiser: Any
) -> dict[str, Any]:
    """Return a short campaign's config; ``tracking_uri=None`` keeps the tracking defaults."""
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["name"] = name
    data["description"] = "a short campaign for the tracking tests"
    data["store"] = {"url": f"sqlite:///{tmp / 'campaign.db'}"}
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin", "max_concurrency": 2}
    data["optimiser"].update({"budget": 6, "initial_designs": 4, "batch_size": 2, **optimiser})
    if tracking_uri is not None:
        data["tracking"] = {"uri": tracking_uri, "artifact_location": str(tmp / "mlartifacts")}
    return data


def write_config(
    tmp: Path, tracking_uri: str | None, name: str = "tracked", *, path: Path | None = None,
    **optimiser: Any,
) -> tuple[Path, CampaignConfig]:
    """Write a short campaign's config (store in ``tmp``) to ``path`` (``tmp/campaign.yaml``)."""
    data = config_data(tmp, tracking_uri, name, **optimiser)
    path = path or tmp / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, config_from_dict(data)


def make_campaign(tmp: Path, cfg: CampaignConfig,
                  callbacks: Sequence[CampaignCallback] = ()) -> Campaign:
    space = DesignSpace.from_campaign(cfg)
    opt = Optimiser(space, list(cfg.objectives), list(cfg.outcome_constraints),
                    initial_designs=cfg.optimiser.initial_designs, seed=cfg.seed, settings=FAST)
    return Campaign(cfg, evaluator=BdfToyEvaluator(tmp / "bdf", polls_to_finish=2),
                    optimiser=opt, callbacks=callbacks)


_FINISHED: list[tuple[Path, Path, CampaignConfig]] = []


def finished_campaign() -> tuple[Path, Path, CampaignConfig]:
    """Return a finished short campaign (folder, config file, config), run once per session.

    It ran with no mirror attached; its config's tracking URI is an SQLite file in its folder.
    """
    if not _FINISHED:
        tmp = Path(tempfile.mkdtemp(prefix="optloop-finished-"))
        atexit.register(shutil.rmtree, tmp, True)
        path, cfg = write_config(tmp, fresh_mlflow_db(tmp / "mlflow.db"))
        with make_campaign(tmp, cfg) as camp:
            camp.run(poll_interval_s=0.0)
        _FINISHED.append((tmp, path, cfg))
    return _FINISHED[0]


def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread (as a fixture): tiny GPs fit several times faster on 2 cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


_TEMPLATE: list[Path] = []


def fresh_mlflow_db(dest: Path) -> str:
    """Put an empty, migrated MLflow SQLite database at ``dest`` and return its URI.

    A new database runs dozens of schema migrations (seconds of fsyncs); the tests copy one
    template made once per session instead.
    """
    if not _TEMPLATE:
        from mlflow.tracking import MlflowClient

        tmp = Path(tempfile.mkdtemp(prefix="optloop-mlflow-template-"))
        atexit.register(shutil.rmtree, tmp, True)
        MlflowClient(f"sqlite:///{tmp / 'template.db'}").search_experiments()
        _TEMPLATE.append(tmp / "template.db")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_TEMPLATE[0], dest)
    return f"sqlite:///{dest}"
