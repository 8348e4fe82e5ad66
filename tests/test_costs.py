"""Costs, a budget in them and the stop rule: config checks, accounting from stored records,
the budget stop, the gain-per-cost stop, and the numbers in status (JSON, text, MLflow tags)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from loop_settings import FAST
from test_campaign import config_data, score
from test_config import errors_of, mutate

from optloop.campaign import Campaign
from optloop.campaign.campaign import BUDGET_SPENT, GAIN_BELOW_THRESHOLD
from optloop.campaign.costs import (
    Usage,
    account,
    batch_gain,
    builds_cells,
    expected_trial_cost,
    gain_per_cost,
    trial_usage,
)
from optloop.cli import cli
from optloop.config import CostsConfig, config_from_dict
from optloop.evaluators._toy import ToyEvaluator
from optloop.evaluators.base import EvaluationResult, JobState
from optloop.optimiser import Observation, Optimiser, Proposal
from optloop.space import Design, DesignSpace
from optloop.store import CampaignStore, Trial, TrialStatus
from optloop.tracking.layout import iteration_metrics, status_tags

# --- config ------------------------------------------------------------------------------

BAD_COSTS = [
    ("negative_cell_build", {"cell_build": -1},
     ["costs.cell_build", "-1", "greater than or equal to 0"]),
    ("nan_channel_day", {"channel_day": float("nan")}, ["costs.channel_day", "finite"]),
    ("zero_budget", {"cell_build": 1, "budget": 0}, ["costs.budget", "0", "greater than 0"]),
    ("negative_threshold", {"cell_build": 1, "stop_below_gain_per_cost": -0.5},
     ["costs.stop_below_gain_per_cost", "-0.5", "greater than 0"]),
    ("unknown_key", {"cell_builds": 3}, ["costs.cell_builds", "unknown key", "3"]),
    ("budget_without_cost", {"budget": 500}, ["budget = 500", "all 0", "at least one cost > 0"]),
    ("threshold_without_cost", {"stop_below_gain_per_cost": 0.1},
     ["stop_below_gain_per_cost = 0.1", "trial_cost_estimate", "at least one cost > 0"]),
]


@pytest.mark.parametrize("case_id,costs,fragments", BAD_COSTS, ids=[c[0] for c in BAD_COSTS])
def test_bad_costs_name_field_value_and_limit(
    case_id: str, costs: dict[str, Any], fragments: list[str]
) -> None:
    messages = errors_of(mutate("costs", costs))
    assert any(all(f in m for f in fragments) for m in messages), messages


def test_costs_default_to_none_and_validate() -> None:
    cfg = config_from_dict(mutate("costs", {
        "cell_build": 120, "channel_day": 1.5, "simulation_second": 0.001, "budget": 5000,
        "stop_below_gain_per_cost": 0.02, "trial_cost_estimate": 200,
    }))
    assert cfg.costs.budget == 5000 and cfg.costs.stop_below_gain_per_cost == 0.02
    plain = config_from_dict(mutate("costs", {}))
    assert plain.costs == CostsConfig() and not plain.costs.any_cost
    # A threshold with only an estimate is allowed (the cost of a trial is known).
    only_estimate = config_from_dict(mutate("costs", {
        "stop_below_gain_per_cost": 1.0, "trial_cost_estimate": 10}))
    assert only_estimate.costs.trial_cost_estimate == 10


# --- accounting from stored records -----------------------------------------------------

COSTS = CostsConfig(cell_build=100.0, channel_day=2.0, simulation_second=0.01, budget=1000.0)


def _stored(tmp_path: Path) -> tuple[CampaignStore, list[Trial]]:
    """Store trials the way a campaign leaves them (transitions with their metadata)."""
    cfg = config_from_dict(config_data(tmp_path))
    space = DesignSpace.from_campaign(cfg)
    store = CampaignStore(f"sqlite:///{tmp_path / 'costs.db'}", cfg.name)
    store.init_campaign(cfg.model_dump(mode="json"), "h")
    designs = space.sample(8, seed=3)
    trials = store.add_trials([{"design": d, "origin": "sobol"} for d in designs])
    ids = [t.id for t in trials]
    run = TrialStatus.RUNNING

    def go(i: int, *steps: tuple[TrialStatus, dict[str, Any]]) -> None:
        for to, values in steps:
            store.transition(ids[i], to, "test", **values)

    # 0: one cell, cycled 30 days on its channel (simulated cycler metadata).
    go(0, (run, {"job_id": "j0", "attempts": 1}),
       (TrialStatus.COMPLETED, {"metadata": {"channel_days": 30.0}}))
    # 1: lost once after 5 channel-days, rebuilt (a second cell), then 40 days.
    go(1, (run, {"job_id": "j1", "attempts": 1}),
       (run, {"attempts": 2, "metadata": {"lost_attempts": 1, "lost_reasons": ["short"],
                                          "lost_usage": [{"channel_days": 5.0}]}}),
       (TrialStatus.COMPLETED, {"metadata": {"lost_attempts": 1, "channel_days": 40.0,
                                             "lost_usage": [{"channel_days": 5.0}]}}))
    # 2: lost on both attempts, given up: two cells, no third.
    go(2, (run, {"job_id": "j2", "attempts": 2, "metadata": {"lost_attempts": 1}}),
       (TrialStatus.ABANDONED, {"reason": "lost 2 time(s); last: short",
                                "metadata": {"lost_attempts": 2}}))
    # 3: running: its cell is built, its channel time not yet recorded.
    go(3, (run, {"job_id": "j3", "attempts": 1}))
    # 4: proposed only: nothing used.
    # 5: the submission failed: no cell.
    go(5, (TrialStatus.FAILED, {"reason": "submit failed: no ticket"}))
    # 6: a lab's file (file exchange metadata): 48 h of data.
    go(6, (run, {"job_id": "j6", "attempts": 1}),
       (TrialStatus.COMPLETED, {"metadata": {"test_duration_h": 48.0}}))
    # 7: an early-stopped cell: the partial result's channel-days so far.
    go(7, (run, {"job_id": "j7", "attempts": 1}),
       (TrialStatus.COMPLETED, {"metadata": {"channel_days": 12.5, "early_stopped": True}}))
    return store, store.trials()


def test_accounting_reads_cells_channel_days_and_a_rebuild_from_the_records(
    tmp_path: Path,
) -> None:
    store, trials = _stored(tmp_path)
    by_id = {t.id: t for t in trials}
    ids = sorted(by_id)
    cells = [trial_usage(by_id[i], cells=True).cells_built for i in ids]
    assert cells == [1, 2, 2, 1, 0, 0, 1, 1]  # the rebuild counts a second cell build
    days = [trial_usage(by_id[i], cells=True).channel_days for i in ids]
    assert days == pytest.approx([30.0, 45.0, 0.0, 0.0, 0.0, 0.0, 2.0, 12.5], abs=1e-12)
    report = account(trials, COSTS, cells=True)
    assert report.usage == Usage(cells_built=8, channel_days=89.5, simulation_seconds=0.0)
    assert report.used == pytest.approx(8 * 100.0 + 89.5 * 2.0)  # 979
    assert report.left == pytest.approx(1000.0 - 979.0) and not report.spent
    assert report.per_trial[ids[1]] == pytest.approx(2 * 100 + 45 * 2)
    assert ids[4] not in report.per_trial and ids[5] not in report.per_trial
    # A simulator builds no cell: the same records cost only their channel time.
    assert account(trials, COSTS, cells=False).usage.cells_built == 0
    # The expected cost of a trial: the mean of the finished trials that cost something
    # (0, 1, 6, 7; the failed submission cost nothing and is left out).
    mean, source = expected_trial_cost(trials, COSTS, cells=True)
    assert mean == pytest.approx((160 + 290 + 104 + 125) / 4) and "4 finished" in source
    store.close()


def test_simulation_seconds_from_the_pybamm_metadata(tmp_path: Path) -> None:
    cfg = config_from_dict(config_data(tmp_path))
    d = DesignSpace.from_campaign(cfg).sample(1, seed=1)[0]
    t = Trial(id=1, design=d, status=TrialStatus.COMPLETED, origin="botorch", iteration=1,
              batch_index=0, job_id="p1", attempts=1,
              metadata={"worker_s": 12.5, "worker_cpu_s": 11.0, "model_build_s": 3.0})
    u = trial_usage(t, cells=builds_cells("pybamm"))
    assert u == Usage(cells_built=0, channel_days=0.0, simulation_seconds=12.5)
    assert u.cost(COSTS) == pytest.approx(0.125)
    assert builds_cells("simulated_cycler") and builds_cells("file_exchange")
    assert builds_cells("my_plugin", {"builds_cells": True})
    assert not builds_cells("file_exchange", {"builds_cells": False})


def test_batch_gain_is_the_sum_of_exp_of_the_log_values(tmp_path: Path) -> None:
    assert batch_gain([math.log(2.0), math.log(0.5)]) == pytest.approx(2.5)
    assert batch_gain([math.log(2.0), -math.inf]) == pytest.approx(2.0)
    assert batch_gain([math.log(2.0), None]) is None  # a Sobol design: no model, no gain
    assert batch_gain([]) is None
    g = gain_per_cost([math.log(3.0)], [], CostsConfig(cell_build=1, trial_cost_estimate=6.0),
                      cells=True)
    assert g is not None and g.gain_per_cost == pytest.approx(0.5)
    assert g.cost_source == "costs.trial_cost_estimate"
    assert gain_per_cost([math.log(3.0)], [], CostsConfig(cell_build=1), cells=True) is None
    d = DesignSpace.from_campaign(config_from_dict(config_data(tmp_path))).sample(1, seed=1)[0]
    assert Proposal(d, "botorch", {}, math.log(4.0), 0).expected_gain == pytest.approx(4.0)
    assert Proposal(d, "sobol", {}, None, 0).expected_gain is None


# --- a campaign that spends -------------------------------------------------------------


class CostlyToy(ToyEvaluator):
    """A toy lab: every submission builds a cell that spends ``days`` on a channel."""

    def __init__(self, days: float = 10.0, worker_s: float = 0.0) -> None:
        super().__init__(score, polls_to_finish=2)
        self.days, self.worker_s = days, worker_s
        self.submitted = 0

    def capabilities(self) -> dict[str, Any]:
        return {**super().capabilities(), "builds_cells": True}

    def submit(self, design: Mapping[str, Any], *, trial_id: str, fidelity: str = "full") -> str:
        self.submitted += 1
        return super().submit(design, trial_id=trial_id, fidelity=fidelity)

    def _finish(self, job_id: str, job: Any) -> None:
        super()._finish(job_id, job)
        assert job.result is not None
        meta = {**job.result.metadata, "channel_days": self.days, "worker_s": self.worker_s}
        job.result = dataclasses.replace(job.result, metadata=meta)


def _campaign(
    tmp_path: Path, costs: dict[str, Any], evaluator: ToyEvaluator, optimiser: Any = None,
    **opt: Any,
) -> Campaign:
    data = config_data(tmp_path, **opt)
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin", "max_concurrency": 2}
    data["costs"] = costs
    cfg = config_from_dict(data)
    if optimiser is None:
        optimiser = Optimiser(
            DesignSpace.from_campaign(cfg), list(cfg.objectives), list(cfg.outcome_constraints),
            initial_designs=cfg.optimiser.initial_designs, seed=cfg.seed, settings=FAST,
        )
    return Campaign(cfg, evaluator=evaluator, optimiser=optimiser)


def test_budget_spent_stops_proposing_and_running_cells_finish(tmp_path: Path) -> None:
    # A cell costs 1 to build and 10 channel-days x 0.1: 2 per finished trial, 1 while it runs.
    costs = {"cell_build": 1.0, "channel_day": 0.1, "budget": 9.0}
    ev = CostlyToy(days=10.0)
    with _campaign(tmp_path, costs, ev, budget=12, initial_designs=4, batch_size=2) as camp:
        final = camp.run(poll_interval_s=0.0)
        report = camp.costs()
        stops = camp.store.stops()
        st = camp.status()
        trials = camp.store.trials()
    assert final.message == f"stopped: {BUDGET_SPENT}"
    assert [s["reason"] for s in stops] == [BUDGET_SPENT]
    assert stops[0]["cost_used"] >= 9.0
    # Stopped before the 12 trials of optimiser.budget; nothing is left proposed or running.
    assert final.finished < 12 and final.counts["proposed"] == final.counts["running"] == 0
    # Every cell built finished and is paid for: 2 per trial; at most the cells running when
    # the budget was reached (concurrency 2) go beyond it.
    n_cells = ev.submitted
    assert report.usage.cells_built == n_cells == final.finished
    assert report.used == pytest.approx(2.0 * n_cells)
    assert 9.0 <= report.used <= 9.0 + 2 * 2.0
    assert report.left == 0.0 and report.spent
    # Status JSON carries the numbers.
    c = json.loads(json.dumps(st))["costs"]
    assert c["used"] == pytest.approx(report.used) and c["left"] == 0.0 and c["budget"] == 9.0
    assert c["cells_built"] == n_cells and c["channel_days"] == pytest.approx(10.0 * n_cells)
    assert c["stopped"] and c["stop"]["reason"] == BUDGET_SPENT
    assert all(t.status is not TrialStatus.PROPOSED for t in trials)
    # Run again: the budget is still spent, nothing new is proposed or built.
    with _campaign(tmp_path, costs, ev, budget=12, initial_designs=4, batch_size=2) as again:
        more = again.run(poll_interval_s=0.0)
    assert more.message == f"stopped: {BUDGET_SPENT}" and ev.submitted == n_cells


class ScriptedGain:
    """An optimiser whose BoTorch proposals carry scripted log-gains (the real designs)."""

    def __init__(self, real: Optimiser, gains: Sequence[float]) -> None:
        self.real, self.gains, self.calls = real, list(gains), 0

    def propose(
        self, observations: Sequence[Observation], pending: Sequence[Design], n: int,
        *, iteration: int = 0,
    ) -> tuple[list[Proposal], Any]:
        proposals, timing = self.real.propose(observations, pending, n, iteration=iteration)
        self.calls += 1
        if all(p.acquisition_value is None for p in proposals):
            return proposals, timing  # the Sobol phase: no gain, no rule
        gain = self.gains.pop(0)
        return [dataclasses.replace(p, acquisition_value=math.log(gain / len(proposals)))
                for p in proposals], timing


def test_gain_per_cost_below_threshold_stops_and_withdraws_the_batch(tmp_path: Path) -> None:
    # Each trial costs 2 (simulation seconds); a batch of 2 is expected to cost 4.
    costs = {"simulation_second": 1.0, "stop_below_gain_per_cost": 1.0}
    data = config_data(tmp_path, budget=20, initial_designs=4, batch_size=2)
    cfg = config_from_dict(data)
    real = Optimiser(DesignSpace.from_campaign(cfg), list(cfg.objectives),
                     list(cfg.outcome_constraints), initial_designs=4, seed=cfg.seed,
                     settings=FAST)
    fake = ScriptedGain(real, gains=[10.0, 0.02])  # 10/4 = 2.5 goes on; 0.02/4 = 0.005 stops
    ev = CostlyToy(days=0.0, worker_s=2.0)
    with _campaign(tmp_path, costs, ev, fake, budget=20, initial_designs=4,
                   batch_size=2) as camp:
        final = camp.run(poll_interval_s=0.0)
        trials = camp.store.trials()
        its = camp.store.iterations()
        st = json.loads(json.dumps(camp.status()))
    assert final.message == f"stopped: {GAIN_BELOW_THRESHOLD}"
    gpc = [i["gain_per_cost"] for i in its if "gain_per_cost" in i]
    assert gpc == pytest.approx([2.5, 0.005])
    withdrawn = [t for t in trials if t.status is TrialStatus.ABANDONED]
    assert len(withdrawn) == 2 and all(t.iteration == its[-1]["iteration"] for t in withdrawn)
    assert all(f"campaign stopped: {GAIN_BELOW_THRESHOLD}" in (t.reason or "")
               for t in withdrawn)
    assert final.finished == 6 and ev.submitted == 6  # 4 Sobol + the first BoTorch batch
    c = st["costs"]
    assert c["last_gain_per_cost"] == pytest.approx(0.005)
    assert c["last_gain"]["expected_gain"] == pytest.approx(0.02)
    assert c["last_gain"]["expected_cost"] == pytest.approx(4.0)
    assert c["used"] == pytest.approx(12.0) and c["simulation_seconds"] == pytest.approx(12.0)
    assert c["stopped"] and c["stop"]["reason"] == GAIN_BELOW_THRESHOLD
    assert c["stop"]["gain_per_cost"] == pytest.approx(0.005) and c["stop"]["threshold"] == 1.0
    # Resumed with no new data, the stop holds without proposing again.
    calls = fake.calls
    with _campaign(tmp_path, costs, ev, fake, budget=20, initial_designs=4,
                   batch_size=2) as again:
        more = again.run(poll_interval_s=0.0)
    assert more.message == f"stopped: {GAIN_BELOW_THRESHOLD}" and fake.calls == calls
    # MLflow: the parent run's cost tags and the iteration's cost metrics.
    tags = status_tags(st)
    assert tags["optloop.cost.used"] == "12" and tags["optloop.cost.stop"] == GAIN_BELOW_THRESHOLD
    assert float(tags["optloop.cost.last_gain_per_cost"]) == pytest.approx(0.005)
    assert "optloop.cost.budget" not in tags  # no cost budget was set
    m = iteration_metrics(its[-1], trials, cfg)
    assert m["cost.gain_per_cost"] == pytest.approx(0.005) and m["cost.used"] == 12.0


def test_a_lost_cell_counts_its_channel_days_and_its_rebuild(tmp_path: Path) -> None:
    class LosingLab(CostlyToy):
        def submit(self, design: Mapping[str, Any], *, trial_id: str,
                   fidelity: str = "full") -> str:
            job = super().submit(design, trial_id=trial_id, fidelity=fidelity)
            if not trial_id.endswith("-r1"):  # the first cell of every trial shorts on day 3
                j = self._jobs[job]
                j.result = EvaluationResult.failed("cell shorted", state=JobState.LOST,
                                                   metadata={"channel_days": 3.0})
                j.state = JobState.LOST
            return job

    costs = {"cell_build": 5.0, "channel_day": 1.0, "budget": 1000.0}
    ev = LosingLab(days=10.0)
    with _campaign(tmp_path, costs, ev, budget=4, initial_designs=2, batch_size=2) as camp:
        first, second = camp.ask(2)
        for t in (first, second):
            camp._submit(t)
        for _ in range(8):
            camp._collect()
        a = camp.store.get(first.id)
        report = camp.costs()
    assert a.status is TrialStatus.COMPLETED and a.metadata["lost_attempts"] == 1
    assert a.metadata["lost_usage"] == [{"channel_days": 3.0}]
    u = trial_usage(a, cells=True)
    assert u.cells_built == 2 and u.channel_days == pytest.approx(13.0)
    assert report.usage.cells_built == 4 == ev.submitted
    assert report.used == pytest.approx(4 * 5.0 + 2 * 13.0)


def test_status_cli_shows_cost_used_and_left(tmp_path: Path) -> None:
    costs = {"simulation_second": 0.5, "budget": 100.0}
    ev = CostlyToy(days=0.0, worker_s=4.0)
    with _campaign(tmp_path, costs, ev, budget=4, initial_designs=4, batch_size=2) as camp:
        camp.run(poll_interval_s=0.0)
        data = camp.config.model_dump(mode="json")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    st = json.loads(runner.invoke(cli, ["status", str(path), "--json"]).output)
    assert st["costs"]["used"] == pytest.approx(4 * 4.0 * 0.5)
    assert st["costs"]["left"] == pytest.approx(92.0) and not st["costs"]["stopped"]
    text = runner.invoke(cli, ["status", str(path)]).output
    assert "costs: used 8, left 92 of budget 100 (cost units; 0 cells built" in text
    assert "16 simulation s x 0.5" in text


def test_validate_shows_the_costs() -> None:
    root = Path(__file__).resolve().parents[1]
    out = CliRunner().invoke(cli, ["validate", str(root / "configs" / "lab-rehearsal.yaml")])
    assert out.exit_code == 0, out.output
    assert "costs (cost units): cell_build 1, channel_day 0.05, simulation_second 0" in out.output
