"""Executors: the local pool and a real Dask cluster on loopback; dying workers and schedulers.

The Dask tests start a real scheduler and worker processes on 127.0.0.1 and run PyBaMM
campaigns through them (5 screen cycles per design, so a job takes about a second once a
worker has built its model). Every wait is bounded: a hang fails the test instead of stalling
the suite.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from helpers import HelperThreads, wait_for
from loop_settings import FAST
from pybamm_designs import SI, alloy, design

from optloop.campaign import Campaign
from optloop.cli import cli
from optloop.config import CampaignConfig, ExecutorConfig, config_from_dict
from optloop.data import read_bdf
from optloop.evaluators.base import JobState
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.pybamm import PybammEvaluator, PybammOptions
from optloop.evaluators.pybamm import evaluator as pybamm_evaluator
from optloop.exceptions import (
    ConfigError,
    EvaluationError,
    EvaluatorUnavailableError,
    OptloopError,
)
from optloop.executors import (
    DASK_ADDRESS_ENV,
    DaskExecutor,
    Executor,
    LocalExecutor,
    TaskState,
    create_executor,
    resolve_address,
)
from optloop.optimiser import Optimiser
from optloop.space import DesignSpace
from optloop.store import CampaignStore, TrialStatus

pytestmark = pytest.mark.integration  # a Dask scheduler and workers on loopback, worker processes

distributed = pytest.importorskip("distributed")  # the [dask] extra; installed in dev venvs

ROOT = Path(__file__).resolve().parents[1]

# Small candidate pools: these tests check the plumbing, not the optimiser (as test_campaign).
SMALL_PYBAMM = {"screen_cycles": 5, "chunk_cycles": 5, "cycle_cap": 5, "timeout_s": 120.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- config and factory (no processes) --------------------------------------------------------


def test_executor_config_defaults_and_rules() -> None:
    cfg = ExecutorConfig()
    assert (cfg.kind, cfg.address, cfg.workers) == ("local", None, None)
    assert ExecutorConfig(kind="dask", address="tcp://10.0.0.5:8786").address
    with pytest.raises(ValueError, match="only used with kind 'dask'"):
        ExecutorConfig(address="tcp://h:8786")
    with pytest.raises(ValueError, match="only used with kind 'local'"):
        ExecutorConfig(kind="dask", workers=2)
    with pytest.raises(ValueError, match="credentials"):
        ExecutorConfig(kind="dask", address="tcp://user:pw@h:8786")
    with pytest.raises(ValueError, match="kind"):
        ExecutorConfig.model_validate({"kind": "ray"})


def quick_config_data(tmp_path: Path, executor: dict[str, Any] | None = None) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {
        "name": "pybamm",
        "fidelity": "screen",
        "options": {**SMALL_PYBAMM, "output_dir": str(tmp_path / "bdf")},
    }
    if executor is not None:
        data["executor"] = executor
    return data


def test_validate_accepts_a_dask_executor_section(tmp_path: Path) -> None:
    data = quick_config_data(tmp_path, {"kind": "dask", "address": "tcp://127.0.0.1:8786"})
    path = tmp_path / "dask.yaml"
    path.write_text(yaml.safe_dump(data))
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 0, out.output
    assert config_from_dict(data).executor.address == "tcp://127.0.0.1:8786"
    data["executor"] = {"kind": "dask", "workers": 3}
    path.write_text(yaml.safe_dump(data))
    bad = CliRunner().invoke(cli, ["validate", str(path)])
    assert bad.exit_code != 0 and "executor" in bad.output


def test_address_comes_from_the_config_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DASK_ADDRESS_ENV, raising=False)
    assert resolve_address({"kind": "local"}) is None
    with pytest.raises(ConfigError, match=f"executor.address.*{DASK_ADDRESS_ENV}"):
        resolve_address({"kind": "dask"})
    with pytest.raises(ConfigError, match="executor.address"):
        create_executor({"kind": "dask"})
    monkeypatch.setenv(DASK_ADDRESS_ENV, "tcp://127.0.0.1:9999")
    assert resolve_address({"kind": "dask"}) == "tcp://127.0.0.1:9999"
    assert resolve_address({"kind": "dask", "address": "tcp://h:1"}) == "tcp://h:1"
    with pytest.raises(ConfigError, match="executor.kind"):
        create_executor({"kind": "slurm"})


def test_local_executor_from_the_factory() -> None:
    ex = create_executor(None, default_workers=3)
    assert isinstance(ex, LocalExecutor) and isinstance(ex, Executor) and ex.workers == 3
    assert create_executor({"workers": 1}, default_workers=3).workers == 1
    ex.shutdown()
    with pytest.raises(EvaluationError, match="after shutdown"):
        ex.submit(os.getpid)


def test_missing_distributed_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(EvaluationError, match=r"pip install optloop\[dask\]"):
        DaskExecutor("tcp://127.0.0.1:1")


def test_unreachable_scheduler_fails_fast() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    # Bounded by the test's deadline (a hang fails it), not timed: a busy machine is slow.
    with pytest.raises(EvaluationError, match=r"connect_timeout_s=1 s"):
        DaskExecutor(address, connect_timeout_s=1.0)
    ev = PybammEvaluator(SMALL_PYBAMM, context=EvaluatorContext(executor={
        "kind": "dask", "address": address, "connect_timeout_s": 1.0}))
    with pytest.raises(EvaluationError, match="no Dask scheduler answered"):
        ev.submit(design(alloy(SI, 0.5), 40.0), trial_id="t", fidelity="screen")
    assert ev._jobs == {}  # nothing recorded for a submission that never happened


# --- local pool: a dead worker is a lost job ----------------------------------------------------


def test_local_worker_killed_is_lost_then_the_pool_recovers() -> None:
    with LocalExecutor(1) as ex:
        handle = ex.submit(time.sleep, 60)
        wait_for(lambda: handle.state is TaskState.RUNNING and bool(ex.pids()), 30, "running")
        assert handle.started_s is not None
        os.kill(ex.pids()[0], signal.SIGKILL)
        wait_for(lambda: handle.state is TaskState.LOST, 20, "LOST after SIGKILL")
        assert "worker process died" in (handle.reason or "")
        again = ex.submit(os.getpid)  # a fresh pool replaces the broken one
        assert isinstance(again.result(timeout=60), int)
        assert again.state is TaskState.FINISHED
        failing = ex.submit(divmod, 1, 0)
        wait_for(lambda: failing.state.value in ("error", "finished"), 30, "divmod")
        assert failing.state is TaskState.ERROR
        assert isinstance(failing.exception(), ZeroDivisionError)


def test_pybamm_local_worker_killed_mid_evaluation_is_lost(tmp_path: Path) -> None:
    opts = PybammOptions(**SMALL_PYBAMM, output_dir=str(tmp_path))
    context = EvaluatorContext(executor={"kind": "local", "workers": 1})
    with PybammEvaluator(opts, context=context) as ev:
        job = ev.submit(design(alloy(SI, 0.5), 40.0), trial_id="t1", fidelity="screen")
        ex = ev.executor
        assert isinstance(ex, LocalExecutor)
        wait_for(lambda: ev.status(job).state is JobState.RUNNING and bool(ex.pids()), 60,
                 "the job to run")
        os.kill(ex.pids()[0], signal.SIGKILL)
        wait_for(lambda: ev.status(job).state.is_terminal, 20, "a terminal state")
        status = ev.status(job)
        # A job that finished in the instant before the kill would be SUCCEEDED; a 5-cycle
        # run takes far longer than the kill, and the model build happens first.
        assert status.state is JobState.LOST, status
        assert "worker process died" in (status.reason or "")
        assert "not the design" in (status.reason or "")


# --- Dask on loopback -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real scheduler and 2 single-thread worker processes (with nannies) on 127.0.0.1."""
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        host="127.0.0.1",
        threads_per_worker=1,
        dashboard_address=None,
    ) as lc:
        yield lc


def fast_campaign(cfg: CampaignConfig) -> Campaign:
    opt = Optimiser(
        DesignSpace.from_campaign(cfg),
        list(cfg.objectives),
        list(cfg.outcome_constraints),
        initial_designs=cfg.optimiser.initial_designs,
        seed=cfg.seed,
        settings=FAST,
    )
    return Campaign(cfg, optimiser=opt)


def run_in_thread(
    cfg: CampaignConfig, helper_threads: HelperThreads
) -> tuple[threading.Thread, queue.Queue[Any], dict[str, Any]]:
    """Run a campaign in a thread (its store stays in that thread); hand its executor out.

    An optloop error is the campaign's result (kept in ``out["error"]``); any other exception
    in the thread fails the test at once.
    """
    handoff: queue.Queue[Any] = queue.Queue()
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            with fast_campaign(cfg) as camp:
                ex = camp.evaluator.executor  # type: ignore[attr-defined]
                handoff.put(ex)
                out["progress"] = camp.run()
                out["trials"] = camp.store.trials()
                out["counts"] = camp.store.counts()
        except OptloopError as exc:  # the campaign's answer, checked by the test
            out["error"] = exc
            handoff.put(exc)
            store = CampaignStore(cfg.store.url or "", cfg.name)
            out["trials"] = store.trials()
            out["counts"] = store.counts()

    thread = helper_threads.start(target, name="campaign")
    return thread, handoff, out


def test_dask_campaign_survives_a_worker_killed_mid_evaluation(
    cluster: Any, tmp_path: Path, helper_threads: HelperThreads
) -> None:
    data = quick_config_data(tmp_path, {"kind": "dask", "address": cluster.scheduler_address})
    data["optimiser"].update(budget=6, initial_designs=4, batch_size=2)
    thread, handoff, out = run_in_thread(config_from_dict(data), helper_threads)
    ex = handoff.get(timeout=60)
    assert isinstance(ex, DaskExecutor), ex
    assert ex.workers == 2
    # Kill the worker of the first job that starts: its first job builds the model (seconds),
    # so the kill lands mid-evaluation.
    wait_for(lambda: bool(ex.started_keys()), 60, "a job to start on a worker")
    key = ex.started_keys()[0]
    victim = ex.starts(key)[0]
    pids = ex.client.run(os.getpid)
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(timeout=150)
    assert not thread.is_alive(), "campaign hung after a worker was killed"
    assert "error" not in out, out.get("error")
    # The scheduler re-ran the killed job on a worker (allowed-failures), nothing was lost.
    assert len(ex.starts(key)) >= 2, ex.starts(key)
    counts = out["counts"]
    assert counts["running"] == 0 and counts["proposed"] == 0
    assert counts["completed"] + counts["failed"] >= 6
    for trial in out["trials"]:
        assert trial.status in (TrialStatus.COMPLETED, TrialStatus.FAILED), trial
        if trial.status is TrialStatus.FAILED:
            assert trial.reason, trial
        else:  # the store is consistent: outcomes and a readable BDF written by this process
            assert trial.bdf_path and Path(trial.bdf_path).is_file()
            assert str(tmp_path / "bdf") in trial.bdf_path
            frame, meta = read_bdf(trial.bdf_path)
            assert frame["Cycle Count / 1"].max() == 5 and meta["evaluator"] == "pybamm"
            assert trial.outcomes["areal_capacity_mAh_cm2"] > 0
    assert counts["completed"] >= 4, counts


def test_dask_hard_timeout_cancels_and_fails(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Backstop limit = timeout_s * 1.5 + grace; with grace 0 and timeout 0.2 s it is 0.3 s,
    # shorter than building the model for these (new) options on a worker.
    monkeypatch.setattr(pybamm_evaluator, "_HARD_TIMEOUT_GRACE_S", 0.0)
    opts = {**SMALL_PYBAMM, "timeout_s": 0.2, "output_dir": str(tmp_path)}
    context = EvaluatorContext(executor={"kind": "dask", "address": cluster.scheduler_address})
    with PybammEvaluator(opts, context=context) as ev:
        job = ev.submit(design(alloy(SI, 0.5), 40.0), trial_id="t1", fidelity="screen")
        wait_for(lambda: ev.status(job).state.is_terminal, 60, "the hard timeout")
        status = ev.status(job)
        assert status.state is JobState.FAILED
        assert "timeout" in (status.reason or "") and "Dask worker" in (status.reason or "")
        assert ev.fetch(job).metrics == {}


# --- a scheduler that disappears --------------------------------------------------------------


@pytest.fixture()
def killable_scheduler(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `dask scheduler` and one `dask worker` subprocess; both stopped by their pids."""
    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed below
    sched = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
         "--host", "127.0.0.1", "--death-timeout", "10"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield address, sched
    finally:
        for proc in (worker, sched):
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        log.close()


def test_scheduler_killed_mid_campaign_stops_it_and_loses_nothing(
    killable_scheduler: tuple[str, subprocess.Popen[bytes]], tmp_path: Path,
    helper_threads: HelperThreads,
) -> None:
    address, sched = killable_scheduler
    data = quick_config_data(
        tmp_path, {"kind": "dask", "address": address, "connect_timeout_s": 20.0}
    )
    data["optimiser"].update(budget=4, initial_designs=4, batch_size=2)
    thread, handoff, out = run_in_thread(config_from_dict(data), helper_threads)
    ex = handoff.get(timeout=60)
    assert isinstance(ex, DaskExecutor), ex
    wait_for(lambda: bool(ex.started_keys()), 60, "a job to start on the worker")
    sched.kill()
    killed_at = time.monotonic()
    thread.join(timeout=60)
    assert not thread.is_alive(), "campaign hung after its scheduler was killed"
    # Bound: the campaign noticed at once (no waiting for connect_timeout_s per trial).
    assert time.monotonic() - killed_at < 30.0
    # It stops with a clear message instead of recording failures the optimiser would learn.
    error = out.get("error")
    assert isinstance(error, EvaluatorUnavailableError), error
    assert "stopped" in str(error) and "nothing recorded is lost" in str(error)
    lost = [r for t in out["trials"] for r in t.metadata.get("lost_reasons", [])]
    assert lost and all("scheduler-connection-lost" in r for r in lost), lost
    assert out["counts"]["failed"] == 0, [t.reason for t in out["trials"]]
    for trial in out["trials"]:  # kept for the next run: proposed, or running to re-poll
        assert trial.status in (
            TrialStatus.PROPOSED, TrialStatus.RUNNING, TrialStatus.COMPLETED
        ), trial
