"""One lifecycle table for the docs and the campaign; driver sessions; lost vs failed."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from test_campaign import campaign, config_data, score

from optloop.campaign.lifecycle import LIFECYCLE, JobOutcome, markdown_table, outcome_of
from optloop.config import config_from_dict
from optloop.evaluators._toy import ToyEvaluator
from optloop.evaluators.base import JobState, JobStatus
from optloop.exceptions import EvaluationError, OptloopError
from optloop.store import CampaignStore, DriverSession, SessionState, TrialStatus
from optloop.store.session import process_start_token

ROOT = Path(__file__).resolve().parents[1]


def test_readme_shows_the_table_the_campaign_uses() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(
        r"<!-- lifecycle-table:start -->\n(.*?)\n<!-- lifecycle-table:end -->", readme, re.S
    )
    assert found, "README lost its lifecycle table markers"
    assert found.group(1) == markdown_table()


def test_every_terminal_job_state_has_a_rule() -> None:
    for state in JobState:
        if state.is_terminal:
            assert outcome_of(state) in LIFECYCLE
        else:
            with pytest.raises(ValueError, match="not terminal"):
                outcome_of(state)
    for outcome, rule in LIFECYCLE.items():
        # A rule that re-submits has a cap and a status to end in; the others have neither.
        resubmits = rule.trial is TrialStatus.RUNNING
        assert (rule.cap is not None) == resubmits == (rule.after_cap is not None), outcome
    # What the JobState docs say: FAILED is the design's fault (no retry), LOST is not.
    assert LIFECYCLE[JobOutcome.FAILED].trial is TrialStatus.FAILED
    assert LIFECYCLE[JobOutcome.LOST].after_cap is TrialStatus.ABANDONED
    assert not LIFECYCLE[JobOutcome.DRIVER_DIED].spends_attempt


class ForgetfulEvaluator(ToyEvaluator):
    """Accepts every job and forgets it at once (a service that keeps restarting)."""

    def __init__(self) -> None:
        super().__init__(score, polls_to_finish=2)
        self.keys: list[str] = []

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        self.keys.append(trial_id)
        return super().submit(design, trial_id=trial_id, fidelity=fidelity)

    def status(self, job_id: str) -> JobStatus:
        raise EvaluationError(f"unknown job id {job_id!r}")


def test_a_job_forgotten_on_every_attempt_is_abandoned_not_failed(tmp_path: Path) -> None:
    """The README says abandoned; the campaign used to fail such trials ('lost 3 time(s)')."""
    with campaign(tmp_path) as camp:
        camp._evaluator = ev = ForgetfulEvaluator()
        (t,) = camp.ask(1)
        camp._submit(t)
        for _ in range(5):
            camp._collect()
        after = camp.store.get(t.id)
    assert after.status is TrialStatus.ABANDONED
    assert after.attempts == camp.config.evaluator.max_attempts == 3
    assert after.reason == "lost 3 time(s); last: unknown to the evaluator"
    key = f"quick.{t.uid}"
    assert ev.keys == [key, f"{key}-r1", f"{key}-r2"]  # a new job each time


def test_session_states(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    here = socket.gethostname()
    me = DriverSession.new()
    assert me.process_token == process_start_token(os.getpid())
    assert me.state(me.id) is SessionState.CURRENT
    assert me.state("another") is SessionState.ENDED  # this process, not driving any more
    killed = DriverSession("k", dead_pid, here, time.time(), None)
    assert killed.state("x") is SessionState.DIED
    reused = DriverSession("r", os.getpid(), here, time.time(), "not-my-start-time")
    assert reused.state("x") is SessionState.DIED
    ended = DriverSession("e", dead_pid, here, time.time(), None, ended_at=time.time())
    assert ended.state("x") is SessionState.ENDED
    remote = DriverSession("o", 1, f"not-{here}", time.time(), None)
    assert remote.state("x") is SessionState.ELSEWHERE


def test_sessions_are_stored_and_stamped_on_jobs(tmp_path: Path) -> None:
    with campaign(tmp_path) as camp:
        (t,) = camp.ask(1)
        running = camp._submit(t)
        sid = running.session_id
        assert sid is not None
        stored = camp.store.session(sid)
        assert stored is not None and stored.pid == os.getpid() and stored.ended_at is None
    reopened = CampaignStore(f"sqlite:///{tmp_path / 'campaign.db'}", "quick")
    closed = reopened.session(sid)
    assert closed is not None and closed.ended_at is not None  # close() ends it cleanly
    assert reopened.session("nope") is None


def test_an_old_store_gains_the_session_column_and_resumes(tmp_path: Path) -> None:
    with campaign(tmp_path) as camp:
        (t,) = camp.ask(1)
        camp._submit(t)
    db = tmp_path / "campaign.db"
    with sqlite3.connect(db) as conn:  # as a store written before sessions were recorded
        conn.execute("ALTER TABLE trials DROP COLUMN session_id")
    with campaign(tmp_path, budget=1, initial_designs=1, batch_size=1) as camp:
        assert camp.store.get(t.id).session_id is None
        camp.run(poll_interval_s=0.0)
        again = camp.store.get(t.id)
    assert again.status is TrialStatus.COMPLETED and again.attempts == 1
    assert again.metadata["driver_restart_log"][0]["state"] == "unknown"


def test_max_driver_restarts_is_checked() -> None:
    data = config_data(Path("/tmp"))
    data["evaluator"]["max_driver_restarts"] = -1
    with pytest.raises(OptloopError, match="max_driver_restarts"):
        config_from_dict(data)
    data["evaluator"]["max_driver_restarts"] = 0
    assert config_from_dict(data).evaluator.max_driver_restarts == 0
