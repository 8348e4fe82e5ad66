"""A killed driver costs the design nothing, and its worker processes die with it.

These tests SIGKILL real processes: a driver holding a local process pool, and real
``optloop run`` subprocesses (on a toy evaluator whose jobs run in a local pool and so die
with their driver, as the local PyBaMM pool's do). Every wait is a bounded poll.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from helpers import wait_for

from optloop.store import CampaignStore, TrialStatus

ROOT = Path(__file__).resolve().parents[1]
POOL_TOY = "optloop.evaluators._toy_pool:PoolToyEvaluator"


def gone(pid: int) -> bool:
    """Return True when ``pid`` has exited (a zombie waiting to be reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")])
    return e


# --- workers exit when their driver dies ------------------------------------------------------

DRIVER = """
import sys, threading, time
from optloop.executors.local import LocalExecutor

ex = LocalExecutor(2)
def start():
    for _ in range(2):
        ex.submit(time.sleep, 600)
if {thread}:  # a pool started from another thread relies on the watchdog, not on prctl
    t = threading.Thread(target=start); t.start(); t.join()
else:
    start()
while len(ex.pids()) < 2:
    time.sleep(0.05)
print(" ".join(map(str, ex.pids())), flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("thread", [False, True], ids=["main-thread", "other-thread"])
def test_local_workers_exit_when_their_driver_is_killed(thread: bool) -> None:
    code = textwrap.dedent(DRIVER.format(thread=thread))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env()
    )
    pids: list[int] = []
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2, "the driver did not report its two workers"
        wait_for(lambda: all(psutil.Process(p).cmdline() for p in pids), 60, "workers up")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: all(gone(p) for p in pids), 30, f"workers {pids} to exit")
    finally:
        proc.kill()
        for p in pids:  # never leave a worker behind, even when the test fails
            if not gone(p):
                os.kill(p, signal.SIGKILL)


# --- `optloop run` killed mid-batch ----------------------------------------------------------

def write_config(tmp_path: Path, **evaluator: Any) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {"name": POOL_TOY, **evaluator}
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start_run(config: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from optloop.cli import main; main()", "run", str(config),
         "--no-tracking"],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def descendants(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def submissions(store: CampaignStore) -> int:
    return sum(1 for e in store.events() if (e["message"] or "").startswith("submitted as"))


def submitted_a_batch(proc: subprocess.Popen[bytes], store: CampaignStore, before: int) -> bool:
    """Return True once the driver submitted two more jobs and its two workers are up."""
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else "the driver ended"
    return submissions(store) >= before + 2 and len(descendants(proc.pid)) >= 2


def test_sigkilled_driver_three_times_mid_batch_spends_no_attempt(tmp_path: Path) -> None:
    """The issue's case: three restarts during one batch used to fail two good designs."""
    config = write_config(
        tmp_path, options={"seconds": 6, "workers": 2}, max_concurrency=2, max_attempts=3
    )
    data = yaml.safe_load(config.read_text())
    data["optimiser"].update(initial_designs=4, batch_size=2, budget=4)  # Sobol only: quick
    config.write_text(yaml.safe_dump(data))
    store = CampaignStore(f"sqlite:///{tmp_path / 'campaign.db'}", "quick")
    leftovers: list[int] = []
    for _ in range(3):
        before = submissions(store)
        proc = start_run(config, tmp_path)
        try:
            wait_for(
                lambda p=proc, n=before: submitted_a_batch(p, store, n),  # type: ignore[misc]
                120,
                "the driver to submit a batch",
            )
            leftovers += descendants(proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            proc.kill()
    proc = start_run(config, tmp_path)
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    trials = store.trials()
    assert len(trials) == 4  # nothing proposed twice
    assert len({t.design.key() for t in trials}) == 4
    assert all(t.status is TrialStatus.COMPLETED for t in trials), [
        (t.id, t.status.value, t.reason) for t in trials
    ]
    assert all(t.attempts == 1 for t in trials), [(t.id, t.attempts) for t in trials]
    restarts = [int(t.metadata.get("driver_restarts", 0)) for t in trials]
    assert max(restarts) == 3, restarts  # the first batch's trials saw all three deaths
    wait_for(lambda: all(gone(p) for p in leftovers), 30, f"workers {leftovers} to exit")


def test_a_design_that_kills_its_driver_fails_after_the_cap(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        options={"seconds": 0.5, "workers": 1, "kill_driver_above_um": 0.0},
        max_concurrency=1,
        max_driver_restarts=2,
    )
    data = yaml.safe_load(config.read_text())
    data["optimiser"].update(initial_designs=1, batch_size=1, budget=1)
    config.write_text(yaml.safe_dump(data))
    codes = []
    for _ in range(6):  # bounded: the cap must end the loop well before this
        proc = start_run(config, tmp_path)
        try:
            _, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
        codes.append(proc.returncode)
        if proc.returncode == 0:
            break
    # Killed three times (first run + two re-runs), then the fourth driver gives up on it.
    assert codes == [-signal.SIGKILL] * 3 + [0], (codes, err.decode())
    store = CampaignStore(f"sqlite:///{tmp_path / 'campaign.db'}", "quick")
    (trial,) = store.trials()
    assert trial.status is TrialStatus.FAILED
    assert trial.attempts == 1
    assert "evaluator.max_driver_restarts = 2" in (trial.reason or "")
    assert json.loads(json.dumps(trial.metadata))["driver_restarts"] == 3


def test_only_the_design_that_kills_its_driver_fails_not_its_batch_mate(tmp_path: Path) -> None:
    """Both trials of a batch die with the driver; re-run alone, only the culprit is charged."""
    config = write_config(
        tmp_path,
        # The two Sobol designs of quick.yaml (seed 1) are 0.70 um and 0.26 um thick.
        options={"seconds": 1.0, "workers": 2, "kill_driver_above_um": 0.5},
        max_concurrency=2,
        max_driver_restarts=2,
    )
    data = yaml.safe_load(config.read_text())
    data["optimiser"].update(initial_designs=2, batch_size=2, budget=2)
    config.write_text(yaml.safe_dump(data))
    codes = []
    for _ in range(8):  # bounded
        proc = start_run(config, tmp_path)
        try:
            _, err = proc.communicate(timeout=300)
        finally:
            proc.kill()
        codes.append(proc.returncode)
        if proc.returncode == 0:
            break
    assert codes[-1] == 0, (codes, err.decode())
    store = CampaignStore(f"sqlite:///{tmp_path / 'campaign.db'}", "quick")
    by_thickness = {t.design.alloy_layer.thickness_um > 0.5: t for t in store.trials()}
    culprit, mate = by_thickness[True], by_thickness[False]
    assert culprit.status is TrialStatus.FAILED
    assert "evaluator.max_driver_restarts = 2" in (culprit.reason or "")
    assert mate.status is TrialStatus.COMPLETED, (mate.status, mate.reason)
    assert culprit.attempts == mate.attempts == 1
