"""One outcome-constraint check: the analysis (Pareto, hypervolume) and the optimiser agree.

A constrained metric that is missing is not known to meet its bound: the trial is not
feasible for the front, and the optimiser does not rank it with the designs that meet it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_campaign import campaign

from optloop.analysis import feasible_completed, hypervolume, meets_constraints
from optloop.config.models import OutcomeConstraint
from optloop.optimiser import Observation

CASES = [  # (outcomes beside the objectives, meets first_cycle_efficiency >= 0.6 and <= 0.95)
    ({"first_cycle_efficiency": 0.8}, True),
    ({"first_cycle_efficiency": 0.6}, True),  # on the bound
    ({"first_cycle_efficiency": 0.5}, False),
    ({"first_cycle_efficiency": 0.97}, False),
    ({}, False),  # not measured: not known to meet it
]
BOUNDS = [
    OutcomeConstraint(metric="first_cycle_efficiency", op=">=", value=0.6),
    OutcomeConstraint(metric="first_cycle_efficiency", op="<=", value=0.95),
]


def test_missing_or_non_finite_constrained_metric_does_not_meet_the_constraint() -> None:
    assert meets_constraints({"first_cycle_efficiency": 0.7}, BOUNDS)
    assert not meets_constraints({}, BOUNDS)
    assert not meets_constraints({"first_cycle_efficiency": math.nan}, BOUNDS)
    assert meets_constraints({}, [])


@pytest.mark.parametrize(("extra", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_analysis_and_optimiser_agree(tmp_path: Path, extra: dict[str, float],
                                      expected: bool) -> None:
    with campaign(tmp_path, budget=4, initial_designs=4) as camp:
        camp.config = camp.config.model_copy(update={"outcome_constraints": BOUNDS})
        opt = camp.optimiser
        opt.outcome_constraints = list(BOUNDS)
        design = camp.space.sample(1, seed=3)[0]
        outcomes = {"cycle_life": 200.0, "areal_capacity_mAh_cm2": 2.0, **extra}
        trial = camp.attach(design, outcomes)
        c = camp.config
        in_front = trial.id in {t.id for t in feasible_completed([trial], c.objectives, BOUNDS)}
        ranked_feasible = opt._meets_constraints(Observation(design, dict(trial.outcomes)))
        assert in_front == ranked_feasible == expected
        assert (hypervolume([trial], c.objectives, BOUNDS) > 0) == expected
