"""A status for the people who run the lab: channel use, running, waiting, lost and rebuilt
cells, faults, time to results, every completed trial; in the CLI, its JSON and MLflow."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from test_file_exchange import KNOWN, StandInLab, fade_frame, options, thinner, tid
from test_file_exchange import FakeClock as ExchangeClock
from test_simulated_cycler import DAY, DESIGNS, SYNTHETIC, FakeClock, lab

from optloop.cli import cli
from optloop.evaluators.base import JobState
from optloop.evaluators.file_exchange import FileExchangeEvaluator
from optloop.tracking.hook import MirrorCallback
from optloop.tracking.layout import status_tags
from optloop.tracking.state import SyncReport

ROOT = Path(__file__).resolve().parents[1]


def test_simulated_cycler_lab_status_counts_what_happened(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, channels=1, build_lead_time_h=0.0)
    a = ev.submit(DESIGNS[0], trial_id="t-a")
    b = ev.submit(DESIGNS[1], trial_id="t-b")
    clock.days(1.0)
    st = ev.lab_status()
    assert [r["job_id"] for r in st["running"]] == [a]
    running = st["running"][0]
    assert running["channel"] == 1 and running["cycles_done"] == ev.status(a).cycles_done > 0
    assert running["metrics_so_far"] == ev.fetch(a).metrics and running["metrics_so_far"]
    assert [w["job_id"] for w in st["waiting"]] == [b]
    assert "waiting for a channel" in st["waiting"][0]["message"]
    # Run both to their end, then long past it: the span stops at the last test's end.
    while not all(ev.status(j).state.is_terminal for j in (a, b)):
        clock.days(5.0)
    clock.days(100.0)
    st = ev.lab_status()
    assert st["running"] == [] and st["waiting"] == [] and st["lost"] == []
    ga, gb = ev.ground_truth(a)["actual"], ev.ground_truth(b)["actual"]
    # One channel, no faults, no lead time: b starts when a ends; busy = both tests.
    assert gb["start_day"] == pytest.approx(ga["end_day"], abs=1e-9)
    busy = (ga["end_day"] - ga["start_day"]) + (gb["end_day"] - gb["start_day"])
    use = st["channel_use"]
    assert use["busy_channel_days"] == pytest.approx(busy, rel=1e-9)
    submitted = {j: ev.fetch(j).metadata["submitted_day"] for j in (a, b)}
    assert use["span_days"] == pytest.approx(gb["end_day"] - submitted[a], rel=1e-9)
    assert use["utilisation"] == pytest.approx(1.0, rel=1e-6)  # never idle, 100 days later
    ttr = st["time_to_results"]["order_to_result"]
    expect = sorted([ga["end_day"] - submitted[a], gb["end_day"] - submitted[b]])
    assert ttr["n"] == 2 and ttr["max_days"] == pytest.approx(expect[1], rel=1e-9)
    assert ttr["median_days"] == pytest.approx(sum(expect) / 2, rel=1e-9)
    # Built at once (no lead time, a synthetic cell model): b waits for a's channel only.
    queue = st["time_to_results"]["built_to_start"]
    assert queue["max_days"] == pytest.approx(ga["end_day"] - submitted[b], rel=1e-9)
    assert st["time_to_results"]["order_to_start"]["max_days"] == pytest.approx(
        queue["max_days"], rel=1e-9)
    assert st["faults"] == []


def test_faults_and_lost_cells_are_listed(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, channels=2, build_lead_time_h=0.0,
             lost_cell_probability=0.5, channel_fault_rate_per_day=0.3)
    jobs = [ev.submit(d, trial_id=f"t-{i}") for i, d in enumerate(DESIGNS)]
    while not all(ev.status(j).state.is_terminal for j in jobs):
        clock.days(5.0)
    st = ev.lab_status()
    lost = {x["job_id"] for x in st["lost"]}
    assert lost == {j for j in jobs if ev.status(j).state is JobState.LOST}
    assert lost, "no cell was lost: seed 11 with p=0.5 over 6 cells should lose some"
    assert all(re.match(r"(cell .* at cycle \d+|channel \d fault on day)", x["reason"])
               for x in st["lost"])
    faulted = [x for x in st["lost"] if x["reason"].startswith("channel")]
    days = {round(f["day"], 6) for f in st["faults"]}
    for x in faulted:  # every fault that ended a test is among the faults listed
        assert round(x["day"], 6) in days


def test_file_exchange_lab_status(tmp_path: Path) -> None:
    root = tmp_path / "exchange"
    clock = ExchangeClock()
    ev = FileExchangeEvaluator(options(root, channels=4, stale_after_h=48), clock=clock)
    a = ev.submit(KNOWN, trial_id="c.trial-0001")
    ev.submit(thinner(KNOWN, 0.2), trial_id="c.trial-0002")
    ev.submit(thinner(KNOWN, 0.3), trial_id="c.trial-0003")
    lab_ = StandInLab(root)
    lab_.send("p", {"trial_id": tid(root, "c.trial-0001"), "cell_id": "A", "final": False},
              fade_frame(lab_.ticket("c.trial-0001"), cycles=6, running=True))
    lab_.send("x", {"trial_id": tid(root, "c.trial-0003"), "cell_id": "C", "final": True,
                    "status": "lost", "reason": "leaked"})
    assert ev.status("fx-c.trial-0003").state is JobState.LOST  # the campaign polls first
    ev.submit(thinner(KNOWN, 0.3), trial_id="c.trial-0003-r1")
    clock.advance_h(2.0)
    waiting_file = root / "inbox" / "c.trial-0002__B.bdf.csv"
    waiting_file.write_text("waiting for its metadata\n")
    os.utime(waiting_file, (clock.now, clock.now))  # just arrived, by the exchange's clock
    (root / "inbox" / "junk.txt").write_text("x")
    st = ev.lab_status()
    assert [r["trial_id"] for r in st["running"]] == ["c.trial-0001"]
    run = st["running"][0]
    assert run["cycles_done"] == 6 and run["metrics_so_far"] == ev.fetch(a).metrics
    assert run["goes_stale_utc"] > run["last_news_utc"]
    # Every cell is named by the checked id its ticket printed; a rebuild is a new cell.
    cells = [run["cell_id"]] + [w["cell_id"] for w in st["waiting"]] + [st["lost"][0]["cell_id"]]
    assert all(c.startswith("C-") for c in cells) and len(set(cells)) == 4
    assert run["cell_id"] in json.dumps(lab_.ticket("c.trial-0001"))
    assert [w["trial_id"] for w in st["waiting"]] == ["c.trial-0002", "c.trial-0003-r1"]
    assert st["files_waiting"] == ["c.trial-0002__B.bdf.csv"]
    assert st["quarantined"]["count"] == 1  # junk.txt
    assert st["lost"] == [{"trial_id": "c.trial-0003", "cell_id": st["lost"][0]["cell_id"],
                           "reason": "lab reported lost: leaked"}]
    assert st["rebuilt"] == [{"trial_id": "c.trial-0003-r1", "replaces": "c.trial-0003",
                              "reason": "lab reported lost: leaked", "attempt": 2}]
    assert st["channel_use"] == {"tickets_out": 3, "free": 1, "utilisation": 0.75}
    lab_.answer("c.trial-0002")
    clock.advance_h(1.0)
    st = ev.lab_status()
    assert st["time_to_results"]["n"] == 1
    # Ticket at 0 h, final file ingested at 3 h; times are stamped in whole seconds.
    assert st["time_to_results"]["median_h"] == pytest.approx(3.0, abs=1e-3)


def _rehearsal_like(tmp_path: Path) -> Path:
    """A small campaign on a fast simulated cycler with lost cells and faults."""
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["tracking"] = {"enabled": False}
    data["evaluator"] = {"name": "simulated_cycler", "max_attempts": 3, "options": {
        "state_dir": str(tmp_path / "cycler"), "channels": 3, "time_scale": 40 * DAY,
        "build_lead_time_h": 6.0, "cell_model": SYNTHETIC,
        "pybamm": {"cycle_cap": 30, "screen_cycles": 5},
        "lost_cell_probability": 0.3, "channel_fault_rate_per_day": 0.2}}
    data["optimiser"].update(budget=6, initial_designs=6, batch_size=2)
    data["costs"] = {"cell_build": 1.0, "channel_day": 0.1}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return cfg


def test_status_shows_channel_use_lost_and_rebuilt_cells_and_time_to_results(
    tmp_path: Path,
) -> None:
    cfg = _rehearsal_like(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    st = json.loads(runner.invoke(cli, ["status", str(cfg), "--json"]).output)
    lab_ = st["lab"]
    use = lab_["channel_use"]
    assert lab_["evaluator"] == "simulated_cycler" and lab_["channels"] == 3
    assert lab_["channel_use"]["busy_channel_days"] > 0
    assert 0 < lab_["channel_use"]["utilisation"] <= 1
    assert len(st["completed"]) == st["counts"]["completed"]  # all of them, not the front
    assert st["time_to_results_h"]["n"] == st["counts"]["completed"]
    assert lab_["time_to_results"]["order_to_result"]["n"] >= st["counts"]["completed"]
    lost_cells = sum(x["lost_cells"] for x in st["lost_cells"])
    assert lost_cells == len(lab_["lost"]) > 0, "no cell lost: raise the loss rates"
    text = runner.invoke(cli, ["status", str(cfg)]).output
    assert re.search(r"channel use: [0-9.]+ busy channel-days over [0-9.]+ days \(\d+ % of 3 "
                     r"channels\)", text)
    assert re.search(r"time to results: median [0-9.]+ days, max [0-9.]+ days from order to "
                     r"result over \d+ cells \(simulated days\)", text)
    assert f"lost cells: {lost_cells} in {len(st['lost_cells'])} trial(s)" in text
    assert re.search(r"trial \d+: \d lost \(.*\); (rebuilt|abandoned), now ", text)
    assert f"completed trials ({st['counts']['completed']};" in text
    # Costs from the stored records agree with the lab's own books: one cell per submission
    # (every lost cell, and the cell of each trial not given up), and its channel-days.
    costs = st["costs"]
    given_up = sum(1 for x in st["lost_cells"] if x["status"] == "abandoned")
    assert costs["cells_built"] == lost_cells + st["counts"]["completed"] + st["counts"][
        "failed"] + st["counts"]["abandoned"] - given_up
    assert costs["channel_days"] == pytest.approx(use["busy_channel_days"], rel=1e-9)
    assert costs["used"] == pytest.approx(costs["cells_built"] + 0.1 * costs["channel_days"])
    assert re.search(r"costs: used [0-9.]+ \(cost units; \d+ cells built x 1, ", text)


def test_parent_run_summary_tags() -> None:
    st: dict[str, Any] = {
        "completed": [{}, {}, {}], "running": [{}], "abandoned": [{"trial": 4}],
        "lost_cells": [{"lost_cells": 2, "status": "abandoned"},
                       {"lost_cells": 1, "status": "completed"}],
        "lab": {"channel_use": {"busy_channel_days": 270.94, "utilisation": 0.8123},
                "faults": [{"channel": 1, "day": 3.0}],
                "time_to_results": {"order_to_result": {"n": 3, "median_days": 41.25}}},
    }
    assert status_tags(st) == {
        "optloop.lab.completed": "3", "optloop.lab.running": "1",
        "optloop.lab.lost_cells": "3", "optloop.lab.rebuilt_trials": "1",
        "optloop.lab.abandoned": "1", "optloop.lab.busy_channel_days": "270.9",
        "optloop.lab.utilisation": "0.812", "optloop.lab.faults": "1",
        "optloop.lab.median_days_to_result": "41.25",
    }


class _Mirror:
    uri = "sqlite:///x.db"

    def __init__(self) -> None:
        self.logged: list[dict[str, Any]] = []

    def sync(self, store: Any, config: Any) -> SyncReport:
        return SyncReport(tracking_uri=self.uri, ok=True)

    def log_status(self, status: dict[str, Any]) -> SyncReport:
        self.logged.append(status)
        return SyncReport(tracking_uri=self.uri, ok=True)


class _Store:
    def counts(self) -> dict[str, int]:
        return {"completed": 1}

    def iterations(self) -> list[dict[str, Any]]:
        return []


class _Camp:
    store = _Store()
    config = None

    def status(self) -> dict[str, Any]:
        return {"completed": [{"trial": 1}]}


def test_the_mirror_puts_the_status_on_the_parent_run_at_the_end() -> None:
    mirror = _Mirror()
    cb = MirrorCallback(None, "c", background=False, mirror=mirror)  # type: ignore[arg-type]
    cb.on_finish(_Camp(), None)  # type: ignore[arg-type]
    assert mirror.logged == [{"completed": [{"trial": 1}]}]
