"""The campaign store: lifecycle, durability, the one-driver lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from optloop.config import load_config
from optloop.space import DesignSpace
from optloop.store import CampaignBusyError, CampaignStore, StoreError, TrialStatus

ROOT = Path(__file__).resolve().parents[1]
SPACE = DesignSpace.from_campaign(load_config(ROOT / "configs" / "quick.yaml"))


@pytest.fixture()
def store(tmp_path: Path) -> CampaignStore:
    s = CampaignStore(f"sqlite:///{tmp_path / 'c.db'}", "quick")
    s.init_campaign({"name": "quick"}, "hash-1")
    return s


def test_lifecycle_and_event_log(store: CampaignStore) -> None:
    d1, d2 = SPACE.sample(2, seed=0)
    t1, t2 = store.add_trials([{"design": d1, "origin": "sobol"}, {"design": d2}])
    assert t1.status is TrialStatus.PROPOSED and t1.design == d1
    t1 = store.transition(t1.id, TrialStatus.RUNNING, job_id="job-1", attempts=1)
    assert t1.started_at is not None and t1.job_id == "job-1"
    t1 = store.transition(
        t1.id, TrialStatus.COMPLETED, outcomes={"cycle_life": 120.0}, censored={"cycle_life": True}
    )
    assert t1.outcomes == {"cycle_life": 120.0} and t1.censored == {"cycle_life": True}
    store.transition(t2.id, TrialStatus.ABANDONED, "by hand", reason="by hand")
    assert store.counts() == {
        "proposed": 0,
        "running": 0,
        "completed": 1,
        "failed": 0,
        "abandoned": 1,
    }
    log = [(e["from_status"], e["to_status"]) for e in store.events(t1.id)]
    assert log == [(None, "proposed"), ("proposed", "running"), ("running", "completed")]


def test_illegal_transition_is_refused_and_changes_nothing(store: CampaignStore) -> None:
    (t,) = store.add_trials([{"design": SPACE.sample(1, seed=1)[0]}])
    store.transition(t.id, TrialStatus.COMPLETED, outcomes={"cycle_life": 5.0})
    with pytest.raises(StoreError, match="completed; it cannot become running"):
        store.transition(t.id, TrialStatus.RUNNING)
    assert store.get(t.id).status is TrialStatus.COMPLETED
    with pytest.raises(StoreError, match="trial 999 does not exist"):
        store.get(999)


def test_a_changed_space_is_refused(store: CampaignStore) -> None:
    assert store.init_campaign({"name": "quick"}, "hash-1") is False
    with pytest.raises(StoreError, match="different design space"):
        store.init_campaign({"name": "quick"}, "hash-2")


def test_second_driver_is_refused_clearly(store: CampaignStore) -> None:
    with store.lock():
        other = CampaignStore(store.url, "quick")
        with pytest.raises(CampaignBusyError, match="campaign 'quick' is busy.*pid"):
            other.lock().acquire()
    # Released: the next driver gets it.
    with CampaignStore(store.url, "quick").lock():
        pass


@pytest.mark.integration  # a subprocess
def test_lock_of_a_killed_process_is_released(store: CampaignStore, tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import time
        from optloop.store import CampaignStore
        lock = CampaignStore({store.url!r}, "quick").lock()
        lock.acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(CampaignBusyError):
            store.lock().acquire()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # The holder is dead and reaped, so the lock is free now; the wait only absorbs a
        # slow machine and is bounded (generously: this is no timing claim).
        deadline = time.monotonic() + 60
        while True:
            try:
                store.lock().acquire()
                break
            except CampaignBusyError:
                assert time.monotonic() < deadline, "lock not released after SIGKILL"
                time.sleep(0.05)
    finally:
        proc.kill()


def test_iterations_are_recorded(store: CampaignStore) -> None:
    store.record_iteration(0, {"fit_seconds": 0.5, "hypervolume": 1.0})
    store.record_iteration(1, {"fit_seconds": 0.7, "hypervolume": 2.0})
    its = store.iterations()
    assert [i["iteration"] for i in its] == [0, 1] and its[1]["hypervolume"] == 2.0
