"""Campaign events: callbacks hear steps, finished trials and the end; errors are contained."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from test_campaign import campaign

from optloop.campaign import Callback, Campaign, Progress
from optloop.store import TERMINAL, Trial


class Recorder(Callback):
    """Remember every event, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_step(self, campaign: Campaign, progress: Progress) -> None:
        self.events.append(("step", progress))

    def on_trial_finished(self, campaign: Campaign, trial: Trial) -> None:
        self.events.append(("trial", trial))

    def on_finish(self, campaign: Campaign, progress: Progress) -> None:
        self.events.append(("finish", progress))

    def names(self) -> list[str]:
        return [e for e, _ in self.events]


class Broken(Callback):
    """Fail on every step."""

    def __init__(self) -> None:
        self.calls = 0

    def on_step(self, campaign: Campaign, progress: Progress) -> None:
        self.calls += 1
        raise RuntimeError("the dashboard is down")


class Strict(Broken):
    raise_errors = True


def _with(camp: Campaign, *callbacks: Any) -> Campaign:
    camp.callbacks = list(callbacks)
    return camp


def test_run_tells_callbacks_each_step_each_finished_trial_once_and_the_end(
    tmp_path: Path,
) -> None:
    rec = Recorder()
    with _with(campaign(tmp_path, budget=4, initial_designs=4, batch_size=2), rec) as camp:
        final = camp.run(poll_interval_s=0.0)
        trials = camp.store.trials()
    names = rec.names()
    assert names[-1] == "finish" and names.count("finish") == 1
    assert rec.events[-1][1] == final and final.finished == 4
    assert names.count("step") >= 2  # polls_to_finish=2: at least two passes
    finished = [t for e, t in rec.events if e == "trial"]
    assert sorted(t.id for t in finished) == sorted(t.id for t in trials if t.status in TERMINAL)
    assert all(t.status in TERMINAL for t in finished)
    # Each step sees the store as it is: the last step's counts are no later than the end's.
    steps = [p for e, p in rec.events if e == "step"]
    assert all(isinstance(p, Progress) for p in steps)
    assert steps[-1].finished <= final.finished


def test_tick_tells_one_step_and_the_end(tmp_path: Path) -> None:
    rec = Recorder()
    with _with(campaign(tmp_path, budget=4, initial_designs=4), rec) as camp:
        p = camp.tick(wait=True, poll_interval_s=0.0)
    assert [n for n in rec.names() if n != "trial"] == ["step", "finish"]
    assert rec.events[-1][1] == p
    assert len([n for n in rec.names() if n == "trial"]) == p.finished == 2  # concurrency 2


def test_a_failing_callback_is_logged_once_and_the_campaign_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken, rec = Broken(), Recorder()
    with (caplog.at_level(logging.DEBUG, logger="optloop.campaign"),
          _with(campaign(tmp_path, budget=4, initial_designs=4), broken, rec) as camp):
        final = camp.run(poll_interval_s=0.0)
    assert final.finished == 4 and broken.calls >= 2
    assert rec.names()[-1] == "finish"  # the callbacks after the broken one still hear
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Broken.on_step failed" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None  # the traceback, the first time
    assert sum(r.levelno == logging.DEBUG and "Broken.on_step" in r.getMessage()
               for r in caplog.records) == broken.calls - 1


def test_a_callback_that_asks_to_raise_stops_the_run_and_keeps_the_store(
    tmp_path: Path,
) -> None:
    with _with(campaign(tmp_path, budget=4, initial_designs=4), Strict()) as camp:
        with pytest.raises(RuntimeError, match="dashboard is down"):
            camp.run(poll_interval_s=0.0)
        kept = len(camp.store.trials())
    assert kept == 4  # proposed before the first step; nothing lost
    with campaign(tmp_path, budget=4, initial_designs=4) as again:  # the lock was released
        assert again.run(poll_interval_s=0.0).finished == 4
        assert len(again.store.trials()) == 4
