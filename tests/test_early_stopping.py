"""Early stopping in a campaign: a rehearsed lab stops clearly poor cells, saving channel-days."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from loop_settings import FAST

from optloop.campaign import Campaign
from optloop.config import config_from_dict
from optloop.evaluators.context import EvaluatorContext
from optloop.evaluators.simulated_cycler import SimulatedCycler
from optloop.exceptions import ConfigError
from optloop.optimiser import Optimiser
from optloop.space import DesignSpace
from optloop.store import TrialStatus

ROOT = Path(__file__).resolve().parents[1]
# A made-up population whose lives span 15-110 cycles: poor cells to stop (not physics).
CELL_MODEL = "optloop.evaluators.simulated_cycler.profile:short_lived_profile"


def config_data(tmp_path: Path, **early: Any) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {
        "name": "simulated_cycler",
        "options": {
            "state_dir": str(tmp_path / "cycler"),
            "channels": 2,
            "build_lead_time_h": 0.0,
            "time_scale": 86400,  # a simulated day per clock second (see PollClock)
            "cell_model": CELL_MODEL,  # a fast made-up cell: this tests the loop, not physics
            "pybamm": {"cycle_cap": 300, "screen_cycles": 20},
            "lost_cell_probability": 0.0,
            "channel_fault_rate_per_day": 0.0,
        },
    }
    data["optimiser"].update(budget=20, initial_designs=14, batch_size=2)
    data["early_stopping"] = {
        "enabled": True, "after_cycles": 10, "min_training_cells": 4,
        "reference_quantile": 0.5, "min_completed": 3, **early,
    }
    return data


class PollClock:
    """A clock that moves on a fixed step each time it is read.

    Simulated lab time then advances with the campaign's polling, not with how long a
    BoTorch fit takes on a busy machine: the same seed gives the same campaign.
    """

    def __init__(self, step_s: float) -> None:
        self.t = 0.0
        self.step_s = step_s

    def __call__(self) -> float:
        self.t += self.step_s
        return self.t


def campaign(tmp_path: Path, **early: Any) -> Campaign:
    cfg = config_from_dict(config_data(tmp_path, **early))
    opt = Optimiser(
        DesignSpace.from_campaign(cfg), list(cfg.objectives), list(cfg.outcome_constraints),
        initial_designs=cfg.optimiser.initial_designs, seed=cfg.seed, settings=FAST,
    )
    # The lab's draws come from seed 3 (the campaign seed is the config's).
    cycler = SimulatedCycler(cfg.evaluator.options, context=EvaluatorContext(seed=3),
                             clock=PollClock(0.02))
    return Campaign(cfg, optimiser=opt, evaluator=cycler)


@pytest.mark.slow  # ~45 s; .ci/run runs it
def test_poor_cells_are_stopped_with_their_predicted_life(tmp_path: Path) -> None:
    with campaign(tmp_path) as camp:
        final = camp.run(poll_interval_s=0.0)
        trials = camp.store.trials()
        truths = {t.id: camp.evaluator.ground_truth(t.job_id) for t in trials}  # type: ignore[attr-defined]
    assert final.counts["completed"] == 20
    stopped = [t for t in trials if t.metadata.get("early_stopped")]
    reviewed = [t for t in trials if "early_stopping" in t.metadata]
    assert stopped, [t.metadata.get("early_stopping") for t in reviewed]
    saved = 0.0
    for t in stopped:
        record = t.metadata["early_stopping"]
        assert record["stop"] is True and record["cycles_observed"] >= 10
        # Stopped only when the whole predicted interval lies below the reference.
        assert record["upper_bound_cycles"] < record["reference_cycles"]
        assert t.outcomes["cycle_life"] == pytest.approx(record["predicted_cycle_life"])
        assert t.censored == {"cycle_life": False}
        truth = truths[t.id]
        # The rule's promise, checked against the cell run to its end (seeded: no wrong stop).
        assert truth["cycle_life"] < record["reference_cycles"], (record, truth["cycle_life"])
        used = truth["actual"]["busy_channel_days"]
        assert used < truth["test_duration_days"]
        saved += truth["test_duration_days"] - used
    assert saved > 0.0
    # Cells that were not stopped ran to their end: their measured life is the true one.
    for t in trials:
        if t.status is TrialStatus.COMPLETED and not t.metadata.get("early_stopped"):
            assert t.outcomes["cycle_life"] == truths[t.id]["cycle_life"]


def test_early_stopping_needs_partial_data(tmp_path: Path) -> None:
    data = config_data(tmp_path)
    data["evaluator"] = {"name": "pybamm"}  # no partial data
    data["executor"] = {"kind": "local", "workers": 1}
    with Campaign(config_from_dict(data)) as camp, pytest.raises(
        ConfigError, match="supports_partial"
    ):
        camp.run(poll_interval_s=0.0)


def test_early_stopping_needs_cycle_life_in_the_campaign(tmp_path: Path) -> None:
    data = config_data(tmp_path)
    data["objectives"] = [
        {"name": "areal_capacity_mAh_cm2", "direction": "maximize", "reference": 0.5}
    ]
    with pytest.raises(ConfigError, match="early_stopping.*cycle_life"):
        config_from_dict(data)


def test_validate_shows_early_stopping_and_the_executor(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optloop.cli import cli

    data = config_data(tmp_path, min_cycle_life=50)
    data["executor"] = {"kind": "dask", "address": "tcp://127.0.0.1:8786"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    out = CliRunner().invoke(cli, ["validate", str(path)])
    assert out.exit_code == 0, out.output
    assert "executor dask at tcp://127.0.0.1:8786" in out.output
    assert "early stopping after 10 cycles; reference: min_cycle_life 50 or quantile 0.5" in (
        out.output
    )
