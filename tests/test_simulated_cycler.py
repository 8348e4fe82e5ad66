"""The simulated cycler: lab timing, partial data, seeded failures, persistence, conformance.

Timing and schedule tests use a fake clock and the fast synthetic cell model; the conformance
class runs the real PyBaMM cell model at small settings.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from loop_settings import FAST

from optloop.campaign import Campaign
from optloop.config import config_from_dict
from optloop.data import compute_metrics, read_bdf
from optloop.evaluators.base import Evaluator, JobState
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.simulated_cycler import (
    EXTRAPOLATION_RULE,
    SimulatedCycler,
    synthetic_profile,
)
from optloop.exceptions import ConfigError, EvaluationError
from optloop.optimiser import Optimiser
from optloop.space import DesignSpace
from optloop.store import TrialStatus
from optloop.testing import EvaluatorConformance, sample_designs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from pybamm_designs import design as bare_design  # noqa: E402

SYNTHETIC = "optloop.evaluators.simulated_cycler.profile:synthetic_profile"
DAY = 86400.0
DESIGNS = sample_designs(6, seed=3)


class FakeClock:
    """Wall-clock seconds that move only when told to."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def days(self, d: float, time_scale: float = DAY) -> None:
        """Move simulated time on by ``d`` days."""
        self.t += d * DAY / time_scale


def short_profile(design: dict[str, Any], fidelity: str) -> dict[str, Any]:
    """The synthetic profile cut to its first 20 cycles (to make the cycler extrapolate)."""
    full = synthetic_profile(design, fidelity)
    full["cycles"] = {k: v[:20] for k, v in full["cycles"].items()}
    return full


def lab(tmp_path: Path, clock: FakeClock, name: str = "lab", **options: Any) -> SimulatedCycler:
    opts: dict[str, Any] = {
        "state_dir": str(tmp_path / name),
        "time_scale": DAY,  # one simulated day per fake-clock second
        "cell_model": SYNTHETIC,
        "pybamm": {"cycle_cap": 60, "screen_cycles": 10},
        "lost_cell_probability": 0.0,
        "channel_fault_rate_per_day": 0.0,
    }
    opts.update(options)
    seed = opts.pop("seed", 11)  # the campaign's seed, through the context
    return SimulatedCycler(opts, context=EvaluatorContext(seed=seed), clock=clock)


def states(ev: SimulatedCycler, jobs: Sequence[str]) -> list[JobState]:
    return [ev.status(j).state for j in jobs]


# --- options -----------------------------------------------------------------------------------


def test_bad_options_name_the_field_the_value_and_the_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"evaluator\.options\.channels: .*greater than or "
                       r"equal to 1 \(got 0\)"):
        SimulatedCycler({"state_dir": str(tmp_path), "channels": 0})
    with pytest.raises(ConfigError, match=r"evaluator\.options\.pybamm\.cycle_cap: .*\(got 0\)"):
        SimulatedCycler({"state_dir": str(tmp_path), "pybamm": {"cycle_cap": 0}})
    with pytest.raises(ConfigError, match=r"cell_model: .*'module:function' \(got 'nonsense'\)"):
        SimulatedCycler({"state_dir": str(tmp_path), "cell_model": "nonsense"})
    with pytest.raises(ConfigError, match=r"evaluator\.options\.colour: unknown key"):
        SimulatedCycler({"state_dir": str(tmp_path), "colour": "red"})


def test_a_state_folder_refuses_other_schedule_options(tmp_path: Path) -> None:
    clock = FakeClock()
    lab(tmp_path, clock, channels=4)
    lab(tmp_path, clock, channels=4)  # same options: fine
    with pytest.raises(ConfigError, match=r"evaluator\.options\.channels: 3 differs from 4"):
        lab(tmp_path, clock, channels=3)


def test_capabilities(tmp_path: Path) -> None:
    ev = lab(tmp_path, FakeClock(), channels=5, time_scale=1000.0, build_lead_time_h=10.0,
             cycle_duration_h=2.0)
    caps = ev.capabilities()
    assert caps["max_concurrency"] == 5 and caps["persistent_jobs"] is True
    assert caps["supports_cancel"] and caps["supports_partial"] and caps["asynchronous"]
    assert caps["fidelities"] == ["screen", "full"] and caps["time_scale"] == 1000.0
    # (10 h build + 60 cycles x 2 h) in simulated seconds, at 1000 simulated s per wall s.
    assert caps["est_duration_s"] == pytest.approx((10 + 60 * 2) * 3600 / 1000, rel=1e-12)


# --- lab timing --------------------------------------------------------------------------------


def test_lead_time_then_channels_limit_concurrency_first_come_first_served(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, channels=2, build_lead_time_h=48.0)
    jobs = [ev.submit(d, trial_id=f"t{i}") for i, d in enumerate(DESIGNS[:5])]
    clock.days(1.99)
    assert states(ev, jobs) == [JobState.QUEUED] * 5
    assert ev.status(jobs[0]).message == "building; ready on day 2.0"
    clock.days(0.02)
    assert states(ev, jobs) == [JobState.RUNNING] * 2 + [JobState.QUEUED] * 3
    assert ev.status(jobs[3]).message == "built; waiting for a channel (2 in queue)"
    message = ev.status(jobs[0]).message or ""
    assert re.fullmatch(r"channel 1, cycle \d+/60, day 2\.0", message), message
    for _ in range(200):  # until all are done, never more than 2 at once
        clock.days(0.5)
        now = states(ev, jobs)
        assert now.count(JobState.RUNNING) <= 2
        if all(s.is_terminal for s in now):
            break
    assert states(ev, jobs) == [JobState.SUCCEEDED] * 5
    results = [ev.fetch(j) for j in jobs]
    starts = [r.metadata["start_day"] for r in results]
    assert starts[:2] == [2.0, 2.0]  # started the moment they were built
    assert starts == sorted(starts)  # first submitted, first served
    ends = sorted(r.metadata["end_day"] for r in results[:3])
    # The third cell took the first channel that came free, the moment it did.
    assert starts[2] == pytest.approx(ends[0], abs=1e-9)


def test_partial_data_grow_and_are_valid_bdf(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, build_lead_time_h=0.0)
    job = ev.submit(DESIGNS[0], trial_id="p")
    seen = []
    for _ in range(3):
        clock.days(1.3)
        status = ev.status(job)
        result = ev.fetch(job)
        assert status.state is JobState.RUNNING and result.partial
        assert result.bdf_path is not None and result.bdf_path.endswith(".partial.bdf.csv")
        frame, meta = read_bdf(result.bdf_path)
        assert meta["job_id"] == job and meta["final"] is False
        done = compute_metrics(frame, in_progress=True).cycles_completed
        assert done == status.cycles_done == result.metrics["cycles_completed"]
        assert status.progress == pytest.approx(done / 60, abs=1e-12)
        seen.append((done, len(frame)))
    assert seen[0][0] < seen[1][0] < seen[2][0] and seen[0][1] < seen[1][1] < seen[2][1]


def test_final_metrics_are_those_of_the_final_file(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, build_lead_time_h=0.0, pybamm={"cycle_cap": 300})
    jobs = [ev.submit(d, trial_id=f"f{i}") for i, d in enumerate(DESIGNS[:3])]
    clock.days(400)
    ends_of_life = 0
    for job in jobs:
        result = ev.fetch(job)
        assert result.state is JobState.SUCCEEDED and result.bdf_path is not None
        assert result.bdf_path.endswith(f"{job}.bdf.csv")
        assert not Path(result.bdf_path.replace(".bdf.csv", ".partial.bdf.csv")).exists()
        frame, _ = read_bdf(result.bdf_path)
        core = compute_metrics(frame, planned_cycles=300)
        assert result.metrics["cycle_life"] == core.cycle_life
        assert result.censored["cycle_life"] is core.cycle_life_censored
        assert result.metrics["capacity_retention_final"] == core.capacity_retention_final
        assert result.metrics["first_cycle_efficiency"] == core.first_cycle_efficiency
        assert result.metrics["discharge_capacity_Ah"] == core.capacity_Ah[0]
        # The test stops at end of life: the last cycle is the first one below 80 %.
        assert core.cycles_completed == core.cycle_life
        if not core.cycle_life_censored:
            ends_of_life += 1
            assert core.capacity_retention[-1] < 0.8 <= min(core.capacity_retention[:-1])
        assert ev.fetch(job) == result  # stable
    assert ends_of_life >= 1  # the check above ran


def test_extrapolation_beyond_the_cell_model_is_recorded(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, build_lead_time_h=0.0, cell_model="test_simulated_cycler:"
             "short_profile", fade_cv=0.0, pybamm={"cycle_cap": 30, "screen_cycles": 5})
    thin = {**DESIGNS[0], "alloy_layer": {**DESIGNS[0]["alloy_layer"], "thickness_um": 0.1}}
    job = ev.submit(thin, trial_id="x")
    clock.days(200)
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED
    truth = ev.ground_truth(job)
    assert result.metadata["extrapolated_cycles"] == truth["extrapolated_cycles"] > 0
    assert result.metadata["extrapolation_rule"] == EXTRAPOLATION_RULE


# --- failures ----------------------------------------------------------------------------------


def test_a_cell_the_model_cannot_build_fails_with_its_reason(tmp_path: Path) -> None:
    ev = lab(tmp_path, FakeClock())
    job = ev.submit(bare_design(), trial_id="bare")
    status = ev.status(job)
    assert status.state is JobState.FAILED
    assert status.reason and "cell" in status.reason
    assert ev.fetch(job).reason == status.reason


def test_resubmitting_is_idempotent_and_another_design_is_refused(tmp_path: Path) -> None:
    ev = lab(tmp_path, FakeClock())
    job = ev.submit(DESIGNS[0], trial_id="r")
    assert ev.submit(DESIGNS[0], trial_id="r") == job
    with pytest.raises(EvaluationError, match="different design"):
        ev.submit(DESIGNS[1], trial_id="r")
    with pytest.raises(EvaluationError, match="unknown job id"):
        ev.status("cell-nope")


POPULATION = 240


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Many cells of one design with lost cells turned up, all finished."""
    clock = FakeClock()
    root = tmp_path_factory.mktemp("population")
    opts = {"channels": 80, "build_lead_time_h": 0.0, "lost_cell_probability": 0.2,
            "pybamm": {"cycle_cap": 12, "screen_cycles": 4}}
    ev = lab(root, clock, **opts)
    jobs = [ev.submit(DESIGNS[1], trial_id=f"cell{i}") for i in range(POPULATION)]
    clock.days(60)
    yield {"ev": ev, "jobs": jobs, "clock": clock, "root": root, "opts": opts}


def test_lost_cells_are_reproducible_and_their_rate_is_the_configured_one(
    population: dict[str, Any], tmp_path: Path
) -> None:
    ev, jobs = population["ev"], population["jobs"]
    statuses = [ev.status(j) for j in jobs]
    lost = [s for s in statuses if s.state is JobState.LOST]
    assert {s.state for s in statuses} == {JobState.SUCCEEDED, JobState.LOST}
    # Binomial(240, 0.2): sd 0.026; tolerance 0.07 is about 2.7 sd.
    assert abs(len(lost) / POPULATION - 0.2) < 0.07
    for s in lost:
        assert re.fullmatch(r"cell (shorted|went open circuit) at cycle \d+, channel \d+",
                            s.reason or ""), s.reason
    some = next(j for j, s in zip(jobs, statuses, strict=True) if s.state is JobState.LOST)
    kept = ev.fetch(some)
    assert kept.state is JobState.LOST and kept.bdf_path is not None  # data so far kept
    # Same seed, another folder, reversed submission order: the same cells are lost.
    clock = FakeClock()
    again = lab(tmp_path, clock, name="again", **population["opts"])
    for i in reversed(range(POPULATION)):
        again.submit(DESIGNS[1], trial_id=f"cell{i}")
    clock.days(60)
    assert [again.status(j).state for j in jobs] == [s.state for s in statuses]
    other = lab(tmp_path, clock, name="other", **{**population["opts"], "seed": 12})
    for i in range(POPULATION):
        other.submit(DESIGNS[1], trial_id=f"cell{i}")
    clock.days(60)
    assert [other.status(j).state for j in jobs] != [s.state for s in statuses]


def test_cell_to_cell_variation_has_the_configured_spread(population: dict[str, Any]) -> None:
    ev, jobs = population["ev"], population["jobs"]
    truths = [ev.ground_truth(j) for j in jobs]
    factors = [t["draws"]["capacity_factor"] for t in truths]
    fades = [t["draws"]["fade_factor"] for t in truths]
    # CV estimates from 240 draws have sd ~ CV / sqrt(480) (4.6 % relative): allow 20 %.
    assert statistics.stdev(factors) / statistics.mean(factors) == pytest.approx(0.02, rel=0.2)
    assert statistics.stdev(fades) / statistics.mean(fades) == pytest.approx(0.10, rel=0.2)
    # Measured first-cycle capacities of 100 cells (fetching writes files: ~50 ms each): the
    # capacity CV and the 0.2 % noise add in quadrature; sd of the estimate ~7 %: allow 25 %.
    caps = [r.metrics["discharge_capacity_Ah"] for r in map(ev.fetch, jobs[:100]) if r.metrics]
    assert len(caps) > 75
    expected = math.hypot(0.02, 0.002)
    assert statistics.stdev(caps) / statistics.mean(caps) == pytest.approx(expected, rel=0.25)


def test_channel_faults_happen_at_the_configured_rate_and_are_reproducible(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, channels=4, channel_fault_rate_per_day=0.05,
             channel_repair_days=2.0)
    clock.days(3000)
    usage = ev.channel_usage()
    up_days = 4 * 3000 - usage["down_channel_days"]
    # ~550 faults expected: Poisson sd ~4 %; allow 15 %.
    assert usage["faults"] / up_days == pytest.approx(0.05, rel=0.15)
    assert usage["down_channel_days"] == pytest.approx(2.0 * usage["faults"], abs=2.0 * 4)

    def run(name: str) -> list[tuple[JobState, str | None]]:
        clk = FakeClock()
        cyc = lab(tmp_path, clk, name=name, channels=3, build_lead_time_h=0.0,
                  channel_fault_rate_per_day=0.3, channel_repair_days=1.0)
        jobs = [cyc.submit(DESIGNS[i % 6], trial_id=f"c{i}") for i in range(12)]
        clk.days(200)
        return [(cyc.status(j).state, cyc.status(j).reason) for j in jobs]

    first, second = run("f1"), run("f2")
    assert first == second
    faulted = [r for s, r in first if s is JobState.LOST]
    assert faulted and all(re.fullmatch(r"channel \d fault on day \d+\.\d", r or "")
                           for r in faulted)


# --- cancel, persistence, ground truth ---------------------------------------------------------


def test_cancel_stops_a_running_test_and_frees_its_channel(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, channels=1, build_lead_time_h=0.0)
    running, waiting, queued = (ev.submit(d, trial_id=f"k{i}") for i, d in
                                enumerate(DESIGNS[:3]))
    clock.days(1.5)
    assert states(ev, [running, waiting, queued]) == [JobState.RUNNING, JobState.QUEUED,
                                                       JobState.QUEUED]
    ev.cancel(queued)
    ev.cancel(running)
    assert ev.status(running).state is JobState.CANCELLED
    assert ev.status(waiting).state is JobState.RUNNING  # took the freed channel at once
    stopped = ev.fetch(running)
    assert stopped.state is JobState.CANCELLED and stopped.bdf_path is not None
    assert stopped.metrics["cycles_completed"] >= 1  # the data so far are kept
    assert ev.fetch(waiting).metadata["start_day"] == pytest.approx(1.5, abs=1e-9)
    clock.days(100)
    assert ev.status(queued).state is JobState.CANCELLED
    assert ev.fetch(queued).metadata["channel"] is None  # it never took a channel
    assert ev.channel_usage()["channels"]["1"]["tests"] == 2.0
    ev.cancel(running)  # cancelling a terminal job changes nothing
    assert ev.fetch(running) == stopped


def test_a_fresh_instance_on_the_same_folder_reports_the_same(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, channels=2, lost_cell_probability=0.3,
             channel_fault_rate_per_day=0.1)
    jobs = [ev.submit(d, trial_id=f"s{i}") for i, d in enumerate(DESIGNS)]
    clock.days(3)
    ev.cancel(jobs[4])
    for step in range(6):
        clock.days(4)
        fresh = lab(tmp_path, clock, channels=2, lost_cell_probability=0.3,
                    channel_fault_rate_per_day=0.1)
        assert [fresh.status(j) for j in jobs] == [ev.status(j) for j in jobs], step
        mine, theirs = ev.fetch(jobs[step]), fresh.fetch(jobs[step])
        assert mine.metrics == theirs.metrics and mine.state is theirs.state
    assert fresh.channel_usage() == ev.channel_usage()


def test_ground_truth_matches_an_uncancelled_run(tmp_path: Path) -> None:
    clock = FakeClock()
    ev = lab(tmp_path, clock, build_lead_time_h=0.0, pybamm={"cycle_cap": 200})
    jobs = [ev.submit(d, trial_id=f"g{i}") for i, d in enumerate(DESIGNS[:4])]
    clock.days(300)
    for job in jobs:
        result, truth = ev.fetch(job), ev.ground_truth(job)
        assert result.state is JobState.SUCCEEDED and truth["rehearsal_only"] is True
        assert truth["cycle_life"] == result.metrics["cycle_life"]
        assert truth["cycle_life_censored"] is result.censored["cycle_life"]
        ran = result.metadata["end_day"] - result.metadata["start_day"]
        assert truth["test_duration_days"] == pytest.approx(ran, rel=1e-12)
        assert truth["actual"]["busy_channel_days"] == pytest.approx(ran, rel=1e-12)
    usage = ev.channel_usage()
    total = sum(ev.ground_truth(j)["test_duration_days"] for j in jobs)
    assert usage["busy_channel_days"] == pytest.approx(total, rel=1e-12)


# --- a campaign --------------------------------------------------------------------------------

@pytest.mark.slow  # ~50 s; .ci/run runs it
def test_a_campaign_with_lost_cells_and_faults_finishes_its_budget(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {"name": "simulated_cycler", "max_attempts": 2}
    data["optimiser"].update(budget=8, initial_designs=4, batch_size=2)
    cfg = config_from_dict(data)
    space = DesignSpace.from_campaign(cfg)
    opt = Optimiser(space, list(cfg.objectives), list(cfg.outcome_constraints),
                    initial_designs=4, seed=cfg.seed, settings=FAST)
    # Real clock, 40 simulated days per wall second: a 30-cycle test takes ~0.1 s.
    cycler = SimulatedCycler({
        "state_dir": str(tmp_path / "cycler"), "channels": 3, "time_scale": 40 * DAY,
        "build_lead_time_h": 6.0, "cell_model": SYNTHETIC,
        "pybamm": {"cycle_cap": 30, "screen_cycles": 5},
        "lost_cell_probability": 0.3, "channel_fault_rate_per_day": 0.2,
    }, context=EvaluatorContext(seed=5))
    with Campaign(cfg, evaluator=cycler, optimiser=opt) as camp:
        final = camp.run(poll_interval_s=0.02)
        trials = camp.store.trials()
    assert final.finished == 8 and final.counts["running"] == final.counts["proposed"] == 0
    # A lost cell is rebuilt (a new job) up to max_attempts, then its trial is abandoned.
    done = (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED)
    assert all(t.status in done for t in trials), [(t.status, t.reason) for t in trials]
    rebuilt = [t for t in trials if t.metadata.get("lost_attempts")]
    assert rebuilt, "no cell was lost: turn the loss rates up"
    for t in rebuilt:
        assert all(re.fullmatch(r"(cell .* at cycle \d+|channel \d fault on day [\d.]+).*", r)
                   for r in t.metadata["lost_reasons"]), t.metadata["lost_reasons"]
    completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
    assert completed and all(np.isfinite(t.outcomes["cycle_life"]) for t in completed)
    assert all(t.bdf_path and Path(t.bdf_path).is_file() for t in completed)
    usage = cycler.channel_usage()
    assert usage["busy_channel_days"] > 0


# --- conformance with the real PyBaMM cell model -----------------------------------------------


class TestSimulatedCyclerConformance(EvaluatorConformance):
    fidelity = "screen"
    timeout_s = 180.0
    poll_interval_s = 0.05
    requires_bdf = True
    failing_design = bare_design()

    @pytest.fixture(scope="class")
    @classmethod
    def evaluator(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
        clock = FakeClock()
        ev = SimulatedCycler(
            {
                "state_dir": str(tmp_path_factory.mktemp("cycler")),
                "time_scale": DAY,
                "channels": 2,
                "lost_cell_probability": 0.0,
                "channel_fault_rate_per_day": 0.0,
                "pybamm": {"screen_cycles": 3, "cycle_cap": 5},
            },
            context=EvaluatorContext(executor={"kind": "local", "workers": 1}),
            clock=clock,
        )
        ev._test_clock = clock  # type: ignore[attr-defined]
        yield ev
        ev.close()

    def advance(self, evaluator: Evaluator, job_ids: Sequence[str]) -> None:
        """Move the fake clock on by 0.2 simulated days per poll."""
        evaluator._test_clock.days(0.2)  # type: ignore[attr-defined]


def test_a_profile_claimed_by_a_dead_process_is_recomputed(tmp_path: Path) -> None:
    import json
    import os
    import socket
    import subprocess

    from optloop.evaluators.simulated_cycler.state import CyclerState

    state = CyclerState(tmp_path, FakeClock(), 1.0, {})
    claim = tmp_path / "profiles" / "k.claim"
    assert not state.claimed_elsewhere("k")  # nobody computes it
    state.claim("k")
    assert not state.claimed_elsewhere("k")  # this process: it knows its own runs
    claim.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    assert state.claimed_elsewhere("k")  # a live process computes it: leave it alone
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    claim.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    assert not state.claimed_elsewhere("k")  # its process died: compute it again
