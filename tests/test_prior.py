"""Mode (c), a simulator as a prior for real cells: config, stored simulations, costs, resume.

The two-task model's own tests are in ``tests/test_prior_model.py``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from loop_settings import FAST
from pydantic import ValidationError

from optloop.campaign import Campaign
from optloop.campaign.costs import Usage, account
from optloop.campaign.prior import (
    PURPOSES,
    check_prior_config,
    prior_examples,
    prior_seed,
    simulation_usage,
)
from optloop.config import CostsConfig, PriorConfig, config_from_dict
from optloop.data.bdf import build_bdf_frame, write_bdf
from optloop.evaluators._toy import ToyEvaluator
from optloop.evaluators.base import EvaluationResult, JobState
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.simulated_cycler import SimulatedCycler
from optloop.exceptions import ConfigError
from optloop.optimiser import Optimiser
from optloop.space import DesignSpace
from optloop.store import CampaignStore, StoreError

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = "optloop.evaluators.simulated_cycler.profile:synthetic_profile"
#: The loop's small settings with one kernel and short fits: this tests the loop, not the model.
LOOP = dataclasses.replace(FAST, kernel="rbf", fit_maxiter_small=30, mc_samples=16)
#: Simulation seconds each toy simulation reports (``worker_s``).
SIM_SECONDS = 2.5


def toy_sim_score(design: Mapping[str, Any]) -> dict[str, float]:
    """A cheap simulator: the synthetic cell model's trends without the reality gap.

    Life falls and capacity grows with the film's thickness (as ``synthetic_profile``), so it
    ranks designs as the rehearsed cells do, but its numbers are not theirs.
    """
    a = design["alloy_layer"]
    t = float(a["thickness_um"])
    return {
        "cycle_life": 600.0 * math.exp(-1.5 * t),
        "areal_capacity_mAh_cm2": 0.4 + 0.5 * t,
        "first_cycle_efficiency": 0.86,
    }


class ToySimulator(ToyEvaluator):
    """A toy evaluator whose results record simulation seconds, as PyBaMM's do."""

    def __init__(self) -> None:
        super().__init__(toy_sim_score, polls_to_finish=1, name="toy-sim")

    def _finish(self, job_id: str, job: Any) -> None:
        super()._finish(job_id, job)
        r = job.result
        assert r is not None
        job.result = EvaluationResult(
            r.state,
            metrics=r.metrics,
            reason=r.reason,
            metadata={**r.metadata, "worker_s": SIM_SECONDS},
        )

    def submitted(self) -> int:
        """Return how many jobs this instance was given."""
        return len(self._jobs)


# --- config --------------------------------------------------------------------------------


def base_data(tmp_path: Path) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    return data


def test_prior_is_off_by_default_and_validates_its_fields(tmp_path: Path) -> None:
    cfg = config_from_dict(base_data(tmp_path))
    assert cfg.prior == PriorConfig() and not cfg.prior.enabled
    assert (cfg.prior.initial_simulations, cfg.prior.simulations_per_batch) == (16, 4)
    assert cfg.prior.pretrain_predictor is True
    on = PriorConfig(simulator="pybamm", options={"cycle_cap": 300})
    assert on.enabled
    with pytest.raises(ValidationError, match=r"options = \{'cycle_cap': 300\} but simulator"):
        PriorConfig(options={"cycle_cap": 300})
    with pytest.raises(ValidationError, match="simulator = '' is empty"):
        PriorConfig(simulator=" ")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        PriorConfig(simulator="pybamm", initial_simulations=-1)
    with pytest.raises(ValidationError, match="less than or equal to 256"):
        PriorConfig(simulator="pybamm", simulations_per_batch=300)
    with pytest.raises(ValidationError, match="Extra inputs"):
        PriorConfig(simulator="pybamm", cycle_cap=300)  # type: ignore[call-arg]


def test_the_simulator_and_its_options_are_checked_naming_the_prior_field(
    tmp_path: Path,
) -> None:
    data = base_data(tmp_path)
    data["prior"] = {"simulator": "pybam"}
    with pytest.raises(ConfigError, match=r"prior\.simulator: .*'pybam' is not installed"):
        check_prior_config(config_from_dict(data))
    data["prior"] = {"simulator": "pybamm", "options": {"cycle_cap": -5}}
    with pytest.raises(ConfigError, match=r"prior\.options\.cycle_cap"):
        check_prior_config(config_from_dict(data))
    # A campaign refuses it before creating its store.
    with pytest.raises(ConfigError, match=r"prior\.options\.cycle_cap"):
        Campaign(config_from_dict(data))
    assert not (tmp_path / "campaign.db").exists()
    data["prior"] = {"simulator": "pybamm", "options": {"cycle_cap": 300}}
    assert check_prior_config(config_from_dict(data)) is not None
    data.pop("prior")
    assert check_prior_config(config_from_dict(data)) is None


# --- store and costs ------------------------------------------------------------------------


def test_the_store_keeps_simulations_apart_from_trials(tmp_path: Path) -> None:
    cfg = config_from_dict(base_data(tmp_path))
    store = CampaignStore(f"sqlite:///{tmp_path / 's.db'}", "c")
    d = DesignSpace.from_campaign(cfg).sample(2, 0)
    ids = store.add_simulations(
        [{"design": d[0], "purpose": "initial"}, {"design": d[1], "purpose": "twin",
                                                  "metadata": {"trial": 7}}]
    )
    store.update_simulation(ids[0], status="completed", outcomes={"cycle_life": 90.0},
                            censored={"cycle_life": True}, metadata={"worker_s": 4.0})
    store.update_simulation(ids[1], status="failed", reason="solver: no convergence")
    sims = store.simulations()
    assert [s["status"] for s in sims] == ["completed", "failed"]
    assert sims[0]["design"] == d[0] and sims[0]["censored"] == {"cycle_life": True}
    assert sims[1]["metadata"] == {"trial": 7} and sims[1]["finished_at"] is not None
    assert store.trials() == [] and sum(store.counts().values()) == 0
    with pytest.raises(StoreError, match="status 'done'"):
        store.update_simulation(ids[0], status="done")
    with pytest.raises(StoreError, match="simulation 99 not found"):
        store.update_simulation(99, status="failed")
    # Their simulation seconds join a cost report, never its trials.
    costs = CostsConfig(simulation_second=0.5, cell_build=10.0)
    report = account([], costs, cells=True, extra=simulation_usage(sims))
    assert report.usage == Usage(simulation_seconds=4.0) and report.used == 2.0
    assert report.per_trial == {}


def test_prior_seed_is_a_stream_of_its_own() -> None:
    assert prior_seed(0) != 0 and prior_seed(0) == prior_seed(0) != prior_seed(1)


def test_simulated_fade_curves_become_predictor_examples(tmp_path: Path) -> None:
    t: list[float] = []
    v: list[float] = []
    i: list[float] = []
    c: list[int] = []
    now = 0.0
    caps = [1.0 - 0.01 * k for k in range(30)]  # 80 % at cycle 21
    for k, q_out in enumerate(caps):
        for amps, q, volts in ((1.0, q_out / 0.995, (3.1, 4.1)), (-1.0, q_out, (4.1, 3.1))):
            frac = np.linspace(0.0, 1.0, 21)
            t.extend(now + frac * q * 3600.0)
            v.extend(volts[0] + (volts[1] - volts[0]) * frac)
            i.extend([amps] * 21)
            c.extend([k + 1] * 21)
            now += q * 3600.0
    frame = build_bdf_frame(np.array(t), np.array(v), np.array(i), np.array(c))
    path = write_bdf(frame, tmp_path / "sim-1.bdf.csv", {"cell": "full"})
    sims = [
        {"id": 1, "status": "completed", "bdf_path": str(path)},
        {"id": 2, "status": "failed", "bdf_path": str(path)},  # failed: not an example
        {"id": 3, "status": "completed", "bdf_path": None},  # no curve (a toy simulator)
        {"id": 4, "status": "completed", "bdf_path": str(tmp_path / "gone.bdf.csv")},
    ]
    examples = prior_examples(sims)
    assert len(examples) == 1
    ex = examples[0]
    assert len(ex.capacity_Ah) == 30 and ex.capacity_Ah[0] == pytest.approx(1.0, rel=1e-3)
    assert ex.cycle_life == 21 and ex.censored is False


# --- a rehearsal of mode (c) ------------------------------------------------------------------


def rehearsal_data(tmp_path: Path) -> dict[str, Any]:
    data = base_data(tmp_path)
    data["evaluator"] = {
        "name": "simulated_cycler",
        "options": {
            "state_dir": str(tmp_path / "cycler"),
            "channels": 4,
            "build_lead_time_h": 0.0,
            "time_scale": 86400 * 50,
            "cell_model": SYNTHETIC,  # a fast made-up cell model
            "reality": {"preset": "mild"},  # the cells differ from the model systematically
            "pybamm": {"cycle_cap": 400},
            "lost_cell_probability": 0.0,
            "channel_fault_rate_per_day": 0.0,
        },
    }
    data["optimiser"].update(budget=6, initial_designs=4, batch_size=2)
    data["costs"] = {"cell_build": 10.0, "channel_day": 1.0, "simulation_second": 0.1}
    data["prior"] = {
        "simulator": "toy_plugin:ToyPlugin",  # checked by name; the test hands its own in
        "initial_simulations": 6,
        "simulations_per_batch": 2,
    }
    return data


def rehearsal(tmp_path: Path, sim: ToySimulator) -> Campaign:
    cfg = config_from_dict(rehearsal_data(tmp_path))
    opt = Optimiser(
        DesignSpace.from_campaign(cfg), list(cfg.objectives), list(cfg.outcome_constraints),
        initial_designs=cfg.optimiser.initial_designs, seed=cfg.seed, settings=LOOP,
    )
    cycler = SimulatedCycler(cfg.evaluator.options, context=EvaluatorContext(seed=3))
    return Campaign(cfg, optimiser=opt, evaluator=cycler, prior_simulator=sim)


def test_mode_c_rehearsal_records_simulations_apart_counts_their_cost_and_resumes(
    tmp_path: Path,
) -> None:
    sim = ToySimulator()
    with rehearsal(tmp_path, sim) as camp:
        final = camp.run(poll_interval_s=0.0)
        trials = camp.store.trials()
        sims = camp.store.simulations()
        status = camp.status()
        costs = camp.costs()
        iterations = camp.store.iterations()
        proposed_with_prior = [it for it in iterations if it.get("prior", {}).get("models")]
    # The cells: exactly the budget, none of them a simulation.
    assert final.counts["completed"] + final.counts["failed"] == 6 == len(trials)
    # The simulations: the initial ones, one twin per cell proposed, explore ones per BO batch.
    by = {p: [s for s in sims if s["purpose"] == p] for p in PURPOSES}
    assert len(by["initial"]) == 6
    assert sorted(s["metadata"]["trial"] for s in by["twin"]) == sorted(t.id for t in trials)
    assert {s["design_key"] for s in by["twin"]} == {t.design.key() for t in trials}
    asks = len(camp_iterations := [it for it in iterations if "n_proposed" in it])
    assert asks == len(camp_iterations) >= 2
    assert 1 <= len(by["explore"]) <= 2 * asks  # simulations_per_batch per proposed batch
    assert len({s["design_key"] for s in sims}) == len(sims)  # no design simulated twice
    done = [s for s in sims if s["status"] == "completed"]
    assert len(done) >= len(by["initial"])
    # The BO batch was proposed with the prior, and the model says what it did with it.
    assert proposed_with_prior
    for info in proposed_with_prior[-1]["prior"]["models"].values():
        assert info["n_sim"] >= 3 and 0.0 <= info["task_correlation"] <= 1.0
    # A BO batch's expected cost includes its simulations: its cells' twins + 2 explore ones.
    bo = [it for it in iterations if "expected_cost" in it]
    assert bo and all(
        it["expected_simulation_cost"]
        == pytest.approx((it["n_proposed"] + 2) * SIM_SECONDS * 0.1)
        for it in bo
    )
    # Status shows them; costs include their simulation seconds and nothing else of them.
    assert status["prior"]["counts"]["total"] == len(sims)
    assert status["prior"]["simulation_seconds"] == pytest.approx(SIM_SECONDS * len(done))
    assert costs.usage.simulation_seconds == pytest.approx(SIM_SECONDS * len(done))
    assert costs.usage.cells_built == 6
    assert status["costs"]["simulation_seconds"] == pytest.approx(costs.usage.simulation_seconds)
    submitted = sim.submitted()
    assert submitted == len(sims) - sum(s["status"] == "pending" for s in sims)

    # A restarted campaign (a new simulator, the same store) re-runs no stored simulation.
    again = ToySimulator()
    with rehearsal(tmp_path, again) as camp:
        camp.run(poll_interval_s=0.0)
        after = camp.store.simulations()
    finished_before = {s["id"] for s in sims if s["status"] in ("completed", "failed")}
    assert [s["id"] for s in after] == [s["id"] for s in sims]  # nothing new proposed
    assert again.submitted() == len(sims) - len(finished_before)
    assert {s["id"] for s in after if s["status"] == "completed"} >= finished_before


def test_a_failed_simulation_is_stored_as_data_and_not_rerun(tmp_path: Path) -> None:
    def broken(design: Mapping[str, Any]) -> dict[str, float]:
        raise RuntimeError("solver did not converge")

    data = rehearsal_data(tmp_path)
    data["optimiser"].update(budget=2, initial_designs=2, batch_size=2)
    cfg = config_from_dict(data)
    sim = ToyEvaluator(broken, polls_to_finish=1, name="broken-sim")
    cycler = SimulatedCycler(cfg.evaluator.options, context=EvaluatorContext(seed=3))
    with Campaign(cfg, evaluator=cycler, prior_simulator=sim) as camp:
        camp.run(poll_interval_s=0.0)
        camp.prior.pump()  # type: ignore[union-attr]
        sims = camp.store.simulations()
        assert camp.store.counts()["failed"] == 0  # the cells did not fail
        observations = camp.prior.observations()  # type: ignore[union-attr]
    failed = [s for s in sims if s["status"] == "failed"]
    assert len(failed) == len(sims) >= 6
    assert all("solver did not converge" in s["reason"] for s in failed)
    assert all(s["attempts"] == 1 for s in failed)
    assert all(o.failed for o in observations)
    assert JobState.FAILED.value in failed[0]["reason"]


@pytest.mark.slow  # PyBaMM simulations: minutes on a shared 2-core machine
def test_mode_c_with_pybamm_as_the_prior_simulator(tmp_path: Path) -> None:
    data = rehearsal_data(tmp_path)
    data["optimiser"].update(budget=2, initial_designs=2, batch_size=2)
    data["executor"] = {"kind": "local", "workers": 1}
    data["prior"] = {
        "simulator": "pybamm",
        "options": {"cycle_cap": 60, "screen_cycles": 10, "output_dir": str(tmp_path / "sims")},
        "initial_simulations": 2,
        "simulations_per_batch": 0,
    }
    cfg = config_from_dict(data)
    cycler = SimulatedCycler(cfg.evaluator.options, context=EvaluatorContext(seed=3))
    with Campaign(cfg, evaluator=cycler) as camp:
        camp.run(poll_interval_s=0.0)
        prior = camp.prior
        assert prior is not None
        for _ in range(3000):  # the simulations outlive the two cells: wait for them
            prior.pump()
            if not camp.store.simulations(["pending", "running"]):
                break
            time.sleep(0.2)
        sims = camp.store.simulations()
        costs = camp.costs()
    assert len(sims) == 4  # two initial designs and the two cells' twins
    done = [s for s in sims if s["status"] == "completed"]
    assert done, [s["reason"] for s in sims]
    for s in done:
        assert s["outcomes"]["cycle_life"] > 0 and s["metadata"]["worker_s"] > 0
        assert s["bdf_path"]
    assert costs.usage.simulation_seconds == pytest.approx(
        sum(s["metadata"]["worker_s"] for s in sims if "worker_s" in s["metadata"])
    )
    examples = prior_examples(sims)
    assert len(examples) == len(done)
    assert all(len(e.capacity_Ah) >= 10 for e in examples)


def test_status_prints_the_simulation_count(capsys: pytest.CaptureFixture[str]) -> None:
    from optloop.cli.campaign_cmd import _print_prior

    counts = {"pending": 1, "running": 2, "completed": 10, "failed": 1, "initial": 6,
              "twin": 6, "explore": 2, "total": 14}
    _print_prior({"prior": {"simulator": "pybamm", "counts": counts,
                            "simulation_seconds": 123.4, "failures": []}})
    _print_prior({"prior": None})  # no prior: nothing printed
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        "prior simulations (pybamm): 14 (completed 10, failed 1, running 2, pending 1; "
        "initial 6, twins 6, explore 2), 123.4 simulation s; not counted as trials"
    ]


def test_validate_checks_and_shows_the_prior(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optloop.cli import cli

    data = base_data(tmp_path)
    data["prior"] = {"simulator": "pybamm", "options": {"cycle_cap": 300}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    ok = CliRunner().invoke(cli, ["validate", str(path)])
    assert ok.exit_code == 0, ok.output
    assert (
        "prior simulator pybamm, options valid (cycle_cap=300); 16 initial simulations, 4 more "
        "per batch besides each cell's twin" in ok.output
    )
    data["prior"]["options"] = {"cycle_cap": 0}
    path.write_text(yaml.safe_dump(data))
    bad = CliRunner().invoke(cli, ["validate", str(path)])
    assert bad.exit_code != 0
    assert "prior.options.cycle_cap: Input should be greater than or equal to 1 (got 0)" in (
        bad.output
    )
