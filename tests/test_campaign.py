"""The closed loop on a fast stand-in evaluator: ask, tell, run, tick, crashes and locks."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from loop_settings import FAST

from optloop.campaign import Campaign
from optloop.config import config_from_dict
from optloop.evaluators._toy import ToyEvaluator
from optloop.evaluators.base import EvaluationResult, JobState
from optloop.exceptions import OptloopError
from optloop.optimiser import Optimiser
from optloop.space import Design, DesignSpace
from optloop.store import CampaignBusyError, CampaignStore, TrialStatus

ROOT = Path(__file__).resolve().parents[1]


def score(design: Mapping[str, Any]) -> dict[str, float]:
    """A smooth stand-in for the physics: thin Si-rich films live long, thick ones store more."""
    a = design["alloy_layer"]
    t = a["thickness_um"]
    si = a["composition"].get("Si", 0.0)
    if t > 0.9:
        raise RuntimeError("film delaminated")  # a failing region
    life = 400.0 * math.exp(-2.0 * t) * (1.2 if a["structure"] == "amorphous" else 1.0)
    cap = 0.5 + 2.0 * t * (0.4 + si)
    return {"cycle_life": life, "areal_capacity_mAh_cm2": cap, "first_cycle_efficiency": 0.85}


def config_data(tmp_path: Path, **optimiser: Any) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {"name": "toy", "max_concurrency": 2}
    data["optimiser"].update(optimiser)
    return data




def campaign(tmp_path: Path, **optimiser: Any) -> Campaign:
    cfg = config_from_dict(config_data(tmp_path, **optimiser))
    space = DesignSpace.from_campaign(cfg)
    opt = Optimiser(
        space,
        list(cfg.objectives),
        list(cfg.outcome_constraints),
        initial_designs=cfg.optimiser.initial_designs,
        seed=cfg.seed,
        settings=FAST,
    )
    return Campaign(cfg, evaluator=ToyEvaluator(score, polls_to_finish=2), optimiser=opt)


def test_run_reaches_budget_with_feasible_unique_designs(tmp_path: Path) -> None:
    with campaign(tmp_path, budget=10, initial_designs=4, batch_size=2) as camp:
        final = camp.run(poll_interval_s=0.0)
        trials = camp.store.trials()
    assert final.finished == 10
    assert final.counts["proposed"] == final.counts["running"] == 0
    keys = [t.design.key() for t in trials]
    assert len(keys) == len(set(keys)), "a design was proposed twice"
    assert all(camp.space.violations(t.design) == [] for t in trials)
    origins = [t.origin for t in trials]
    assert origins[:4] == ["sobol"] * 4 and "botorch" in origins[4:]
    # Failures are data: thick films failed with the evaluator's reason, the run went on.
    failed = [t for t in trials if t.status is TrialStatus.FAILED]
    assert all("delaminated" in (t.reason or "") for t in failed)
    its = camp.store.iterations()
    assert its and all("fit_seconds" in i and "acquisition_seconds" in i for i in its)


def test_manual_ask_tell_attach_abandon(tmp_path: Path) -> None:
    with campaign(tmp_path) as camp:
        t1, t2, t3 = camp.ask(3)
        assert {t.status for t in (t1, t2, t3)} == {TrialStatus.PROPOSED}
        done = camp.tell(
            t1.id,
            {"cycle_life": 150, "areal_capacity_mAh_cm2": 1.2},
            censored={"cycle_life": True},
        )
        assert done.status is TrialStatus.COMPLETED and done.censored["cycle_life"]
        with pytest.raises(OptloopError, match="unknown metric"):
            camp.tell(t2.id, {"cycle_lyfe": 3, "cycle_life": 1, "areal_capacity_mAh_cm2": 1})
        with pytest.raises(OptloopError, match=r"objective\(s\) \['areal_capacity_mAh_cm2'\]"):
            camp.tell(t2.id, {"cycle_life": 3})
        assert camp.store.get(t2.id).status is TrialStatus.PROPOSED  # nothing was recorded
        camp.abandon(t3.id, "substrate cracked before testing")
        assert camp.store.get(t3.id).status is TrialStatus.ABANDONED
        own = Design.from_dict(
            {**t1.design.to_dict(), "carbon_layer": {"thickness_um": 45.0, "porosity": 0.33}}
        )
        attached = camp.attach(own, {"cycle_life": 90, "areal_capacity_mAh_cm2": 2.0})
        assert attached.origin == "manual" and attached.status is TrialStatus.COMPLETED
        # Pending designs are never proposed again.
        more = camp.ask(2)
        assert t2.design.key() not in {t.design.key() for t in more}


def test_cli_ask_tell_round_trip(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optloop.cli import cli

    data = config_data(tmp_path)
    data["evaluator"] = {"name": "pybamm"}  # never used by ask/tell
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    out = runner.invoke(cli, ["ask", str(cfg_path), "-n", "2", "--json"])
    assert out.exit_code == 0, out.output
    asked = json.loads(out.output)
    csv_path = tmp_path / "results.csv"
    csv_path.write_text(
        "trial,cycle_life,cycle_life_censored,areal_capacity_mAh_cm2,failed_reason\n"
        f"{asked[0]['trial']},210,true,1.5,\n{asked[1]['trial']},,,,cell shorted\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [
                {
                    "trial": asked[0]["trial"],
                    "outcomes": {"cycle_life": "x", "areal_capacity_mAh_cm2": 1},
                }
            ]
        )
    )
    out = runner.invoke(cli, ["tell", str(cfg_path), str(bad)])
    assert out.exit_code == 2 and "cycle_life = 'x' is not a number" in out.output
    out = runner.invoke(cli, ["tell", str(cfg_path), str(csv_path)])
    assert out.exit_code == 0, out.output
    st = runner.invoke(cli, ["status", str(cfg_path), "--json"])
    status = json.loads(st.output)
    assert status["counts"]["completed"] == 1 and status["counts"]["failed"] == 1
    assert status["pareto"][0]["censored"] == {"cycle_life": True}


def test_tick_converges_and_is_idempotent(tmp_path: Path) -> None:
    with campaign(tmp_path, budget=6, initial_designs=4, batch_size=2) as camp:
        for _ in range(10):
            p = camp.tick(poll_interval_s=0.0)
        assert p.finished == 6 and p.counts["proposed"] == p.counts["running"] == 0
        before = [(t.id, t.status) for t in camp.store.trials()]
        camp.tick(poll_interval_s=0.0)
        assert [(t.id, t.status) for t in camp.store.trials()] == before


def test_second_driver_is_refused(tmp_path: Path) -> None:
    with campaign(tmp_path) as camp, camp.store.lock():
        other = campaign(tmp_path)
        with pytest.raises(CampaignBusyError, match="busy"):
            other.run(poll_interval_s=0.0)


def test_lost_jobs_are_resubmitted_after_a_restart(tmp_path: Path) -> None:
    with campaign(tmp_path) as camp:
        (t,) = camp.ask(1)
        camp._submit(t)
    # A new process: the old evaluator (and its job) is gone.
    with campaign(tmp_path, budget=1, initial_designs=1, batch_size=1) as camp:
        camp.run(poll_interval_s=0.0)
        again = camp.store.get(t.id)
    assert again.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
    # The first driver stopped and took its job with it: re-run, no attempt of the design spent.
    assert again.attempts == 1
    assert again.metadata["driver_restarts"] == 1
    assert len(camp.store.trials()) == 1


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from test_campaign import campaign, score
from optloop.evaluators._toy import ToyEvaluator
from optloop.evaluators.base import EvaluationResult, JobState
from pathlib import Path
camp = campaign(Path({tmp!r}), budget=8, initial_designs=4, batch_size=2)
camp._evaluator = ToyEvaluator(score, polls_to_finish=20)
camp.run(poll_interval_s=0.01)
"""


@pytest.mark.integration  # a subprocess
def test_sigkill_mid_campaign_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    code = textwrap.dedent(KILL_SCRIPT.format(tests=str(ROOT / "tests"), tmp=str(tmp_path)))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    store = CampaignStore(f"sqlite:///{tmp_path / 'campaign.db'}", "quick")
    deadline = time.time() + 120
    try:
        while sum(store.counts()[s] for s in ("completed", "failed")) < 3:
            assert proc.poll() is None, "the campaign process ended before it was killed"
            assert time.time() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    before = {t.id: t for t in store.trials()}
    finished_before = {
        i for i, t in before.items() if t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED)
    }
    with campaign(tmp_path, budget=8, initial_designs=4, batch_size=2) as camp:
        final = camp.run(poll_interval_s=0.0)
        after = {t.id: t for t in camp.store.trials()}
    assert final.finished == 8
    for i in finished_before:  # nothing recorded was lost or re-evaluated
        assert after[i].status == before[i].status and after[i].outcomes == before[i].outcomes
        assert after[i].finished_at == before[i].finished_at
    keys = [t.design.key() for t in after.values()]
    assert len(keys) == len(set(keys))
    assert all(t.status in (TrialStatus.COMPLETED, TrialStatus.FAILED) for t in after.values())


class LosingEvaluator(ToyEvaluator):
    """Loses the cell of every submission whose key is in ``lose`` (a short, a channel fault)."""

    def __init__(self, lose: set[str]) -> None:
        super().__init__(score, polls_to_finish=2)
        self.lose = lose
        self.keys: list[str] = []

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        self.keys.append(trial_id)
        job = super().submit(design, trial_id=trial_id, fidelity=fidelity)
        if trial_id in self.lose:
            j = self._jobs[job]
            j.result = EvaluationResult.failed("cell shorted", state=JobState.LOST)
            j.state = JobState.LOST
        return job


def test_a_lost_cell_is_rebuilt_under_a_new_key_then_abandoned(tmp_path: Path) -> None:
    with campaign(tmp_path) as camp:
        first, second = camp.ask(2)
        # First trial: lost once, then the new cell succeeds. Second: lost on every attempt.
        key = {t.id: f"{camp.config.name}.{t.uid}" for t in (first, second)}
        lose = {key[first.id], key[second.id]} | {f"{key[second.id]}-r{i}" for i in range(1, 5)}
        camp._evaluator = ev = LosingEvaluator(lose)
        for t in (first, second):
            camp._submit(t)
        for _ in range(12):
            camp._collect()
        a, b = camp.store.get(first.id), camp.store.get(second.id)
    assert a.status is TrialStatus.COMPLETED
    assert a.metadata["lost_attempts"] == 1 and a.attempts == 2
    assert b.status is TrialStatus.ABANDONED  # says nothing about the design: not a failure
    assert b.attempts == camp.config.evaluator.max_attempts
    assert "lost 3 time(s); last: cell shorted" in (b.reason or "")
    assert ev.keys.count(key[first.id]) == 1 and f"{key[first.id]}-r1" in ev.keys
