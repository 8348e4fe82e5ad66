"""A small rehearsal of mode (c): predicted lives and a simulator as their prior, together.

The rehearsed lab is the simulated cycler with a fast made-up cell model and a hidden reality
("mild" gap); the prior is a toy simulator that writes a fade curve per design (as PyBaMM's
BDF files), so the early-life predictor is pre-trained on simulated curves and the optimiser
models the cells with the simulations as a second task. The PyBaMM prior runs in the slow
test of ``tests/test_prior.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_early_stopping import PollClock
from test_prior import LOOP, SIM_SECONDS, ToySimulator, rehearsal_data, toy_sim_score

from optloop.campaign import Campaign
from optloop.config import config_from_dict
from optloop.data.bdf import build_bdf_frame, write_bdf
from optloop.evaluators.base import EvaluationResult
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.simulated_cycler import SimulatedCycler
from optloop.optimiser import Optimiser
from optloop.space import DesignSpace

pytestmark = pytest.mark.timeout(240)


def fade_curve(path: Path, life: float, cycles: int) -> Path:
    """Write a BDF fade curve that crosses 80 % at ``life`` cycles (linear fade)."""
    t: list[float] = []
    v: list[float] = []
    i: list[float] = []
    c: list[int] = []
    now = 0.0
    for k in range(cycles):
        q_out = 1e-3 * (1.0 - 0.2 * k / life)
        for amps, q, volts in ((1e-3, q_out / 0.995, (3.1, 4.1)), (-1e-3, q_out, (4.1, 3.1))):
            frac = np.linspace(0.0, 1.0, 11)
            t.extend(now + frac * q / 1e-3 * 3600.0)
            v.extend(volts[0] + (volts[1] - volts[0]) * frac)
            i.extend([amps] * 11)
            c.extend([k + 1] * 11)
            now += q / 1e-3 * 3600.0
    frame = build_bdf_frame(np.array(t), np.array(v), np.array(i), np.array(c))
    return write_bdf(frame, path, {"cell": "full"})


class FadeSimulator(ToySimulator):
    """The toy simulator, with a simulated fade curve per design (to pre-train the predictor)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _finish(self, job_id: str, job: Any) -> None:
        super()._finish(job_id, job)
        r = job.result
        assert r is not None
        life = toy_sim_score(json.loads(job.design_json))["cycle_life"]
        n = int(min(math.ceil(life) + 3, 120))  # to end of life, or a 120-cycle cap
        path = fade_curve(self.folder / f"{job_id}.bdf.csv", life, n)
        job.result = EvaluationResult(
            r.state, metrics=r.metrics, metadata=r.metadata, bdf_path=str(path)
        )


def test_mode_c_rehearsal_predicts_lives_with_a_pretrained_predictor_and_a_prior(
    tmp_path: Path,
) -> None:
    data = rehearsal_data(tmp_path)
    data["optimiser"].update(budget=8, initial_designs=4, batch_size=2)
    data["lives"] = {"mode": "predict", "min_cycles": 10, "review_every_cycles": 10,
                     "min_training_cells": 3}
    cfg = config_from_dict(data)
    opt = Optimiser(
        DesignSpace.from_campaign(cfg), list(cfg.objectives), list(cfg.outcome_constraints),
        initial_designs=cfg.optimiser.initial_designs, seed=cfg.seed, settings=LOOP,
    )
    cycler = SimulatedCycler(cfg.evaluator.options, context=EvaluatorContext(seed=3),
                             clock=PollClock(0.005))  # a quarter of a day per poll
    sim = FadeSimulator(tmp_path / "sim-bdf")
    with Campaign(cfg, optimiser=opt, evaluator=cycler, prior_simulator=sim) as camp:
        final = camp.run(poll_interval_s=0.0)
        trials = camp.store.trials()
        sims = camp.store.simulations()
        reviewer = camp.lives_reviewer
        costs = camp.costs()
        iterations = camp.store.iterations()
        observations = camp.observations()
    # The budget finishes; the simulations are stored apart and cost simulation seconds.
    assert final.counts["completed"] + final.counts["failed"] == 8 == len(trials)
    done = [s for s in sims if s["status"] == "completed"]
    assert len(done) >= 6 and all(s["bdf_path"] for s in done)
    assert costs.usage.simulation_seconds == pytest.approx(SIM_SECONDS * len(done))
    assert costs.usage.cells_built == 8
    # The predictor was pre-trained on the simulated curves (one example per finished one).
    assert reviewer is not None
    assert len(reviewer._prior) == len(done)  # noqa: SLF001 - what the reviewer trains on
    # Every cell was reviewed; a reviewed cell's record names its horizon and decision.
    reviewed = [t for t in trials if t.metadata.get("lives")]
    assert reviewed, [t.metadata for t in trials]
    # The BO batches were proposed with the prior's simulations as a second task.
    assert any(it.get("prior", {}).get("models") for it in iterations)
    # A cell stopped with a prediction reaches the optimiser with its variance.
    stopped = [t for t in trials if t.metadata.get("early_stopped")]
    noisy = [o for o in observations if o.noise.get("cycle_life")]
    assert len(noisy) == len(stopped)
    for t in stopped:
        p = t.metadata["prediction"]
        assert p["lower_cycles"] <= t.outcomes["cycle_life"] <= p["upper_cycles"]
