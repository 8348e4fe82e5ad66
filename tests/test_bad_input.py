"""Bad input and faults from the command line: refused whole, with field, value and limit.

Each test reproduces one item of "faults and bad input" (issue 11) and failed before its fix.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from loop_settings import FAST

from optloop.cli import cli
from optloop.config import config_from_dict
from optloop.objectives import METRICS
from optloop.optimiser import Observation, Optimiser
from optloop.space import DesignSpace

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["store"] = {"url": f"sqlite:///{tmp_path / 'campaign.db'}"}
    data["evaluator"] = {"name": "toy"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _ask(cfg: Path, n: int) -> list[int]:
    out = _invoke("ask", cfg, "-n", str(n), "--json")
    assert out.exit_code == 0, out.output
    return [t["trial"] for t in json.loads(out.output)]


def _counts(cfg: Path) -> dict[str, int]:
    out = _invoke("status", cfg, "--json")
    assert out.exit_code == 0, out.output
    counts: dict[str, int] = json.loads(out.output)["counts"]
    return counts


def _good(trial: int, life: float = 120.0) -> dict[str, Any]:
    return {"trial": trial, "outcomes": {"cycle_life": life, "areal_capacity_mAh_cm2": 1.0}}


# --- 2. tell is all or nothing ---------------------------------------------------------------


def test_tell_with_a_repeated_trial_stores_nothing(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    a, b = _ask(cfg, 2)
    results = tmp_path / "r.json"
    results.write_text(json.dumps([_good(a), _good(b), _good(b, 130.0)]))
    out = _invoke("tell", cfg, results)
    assert out.exit_code == 2
    assert f"trial {b} is given twice" in out.output and "nothing recorded" in out.output
    assert _counts(cfg)["completed"] == 0 and _counts(cfg)["proposed"] == 2


def test_tell_reports_every_bad_row_and_stores_nothing(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    a, b, c = _ask(cfg, 3)
    results = tmp_path / "r.csv"
    results.write_text(
        "trial,cycle_life,areal_capacity_mAh_cm2\n"
        f"{a},100,1.0\n{b},-5,1.0\n{c},100,abc\n"
    )
    out = _invoke("tell", cfg, results)
    assert out.exit_code == 2
    assert "record 3" in out.output and "cycle_life = -5.0" in out.output
    assert "record 4" in out.output and "'abc' is not a number" in out.output
    assert _counts(cfg)["completed"] == 0


def test_tell_stores_a_whole_file_in_one_transaction(tmp_path: Path) -> None:
    from optloop.store.store import CampaignStore

    cfg = _config(tmp_path)
    a, b = _ask(cfg, 2)
    results = tmp_path / "r.json"
    results.write_text(json.dumps([_good(a), {"trial": b, "failed": "cell shorted"}]))
    calls: list[int] = []
    original = CampaignStore.record_batch

    def spy(self: CampaignStore, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(CampaignStore, "record_batch", spy)
        mp.setattr(
            CampaignStore, "transition", lambda *a, **k: pytest.fail("stored outside the batch")
        )
        out = _invoke("tell", cfg, results)
    assert out.exit_code == 0, out.output
    assert calls == [1]
    assert _counts(cfg)["completed"] == 1 and _counts(cfg)["failed"] == 1


def test_a_batch_that_breaks_in_the_store_leaves_nothing(tmp_path: Path) -> None:
    from optloop.store import CampaignStore, StoreError, TrialStatus

    cfg = config_from_dict(yaml.safe_load(_config(tmp_path).read_text()))
    from optloop.campaign import Campaign

    with Campaign(cfg) as camp:
        (t,) = camp.ask(1)
        store: CampaignStore = camp.store
        with pytest.raises(StoreError, match="trial 999 does not exist"):
            store.record_batch(
                [
                    (t.id, TrialStatus.COMPLETED, "ok", {"outcomes": {"cycle_life": 1.0}}),
                    (999, TrialStatus.COMPLETED, "no such trial", {}),
                ]
            )
        assert store.get(t.id).status is TrialStatus.PROPOSED


def test_tell_refuses_an_empty_results_file(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _ask(cfg, 1)
    for name, text in (("r.json", "[]"), ("r.csv", "trial,cycle_life\n")):
        results = tmp_path / name
        results.write_text(text)
        out = _invoke("tell", cfg, results)
        assert out.exit_code == 2, out.output
        assert "holds 0 results; need at least 1 record" in out.output


# --- 3. physical ranges per metric; the optimiser never sees a non-finite value ----------------


@pytest.mark.parametrize(
    ("metric", "value", "limit"),
    [
        ("cycle_life", -5, "[0, 1e+06]"),
        ("cycle_life", 1e308, "[0, 1e+06]"),
        ("first_cycle_efficiency", 0.0, "(0, 1.05]"),
        ("first_cycle_efficiency", 1.2, "(0, 1.05]"),
        ("capacity_retention", -0.1, "[0, 1.05]"),
        ("anode_specific_capacity_mAh_g", 9000, "[0, 4000]"),
        ("areal_capacity_mAh_cm2", 500, "[0, 30]"),
    ],
)
def test_tell_refuses_values_outside_the_physical_range(
    tmp_path: Path, metric: str, value: float, limit: str
) -> None:
    cfg = _config(tmp_path)
    (a,) = _ask(cfg, 1)
    rec = _good(a)
    rec["outcomes"][metric] = value
    results = tmp_path / "r.json"
    results.write_text(json.dumps([rec]))
    out = _invoke("tell", cfg, results)
    assert out.exit_code == 2, out.output
    assert f"{metric} = {float(value)!r}" in out.output and limit in out.output
    assert _counts(cfg)["completed"] == 0


def test_tell_accepts_an_efficiency_slightly_above_one(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    (a,) = _ask(cfg, 1)
    rec = _good(a)
    rec["outcomes"]["first_cycle_efficiency"] = 1.003
    results = tmp_path / "r.json"
    results.write_text(json.dumps([rec]))
    out = _invoke("tell", cfg, results)
    assert out.exit_code == 0, out.output


def test_areal_capacity_is_bounded_by_the_designs_positive_loading(tmp_path: Path) -> None:
    from optloop.space import derive

    cfg = _config(tmp_path)
    out = _invoke("ask", cfg, "-n", "1", "--json")
    asked = json.loads(out.output)[0]
    from optloop.space import Design

    loading = derive(Design.from_dict(asked["design"])).positive_loading_mAh_cm2
    assert loading * 1.2 < METRICS["areal_capacity_mAh_cm2"].high
    rec = _good(asked["trial"])
    rec["outcomes"]["areal_capacity_mAh_cm2"] = loading * 1.5
    results = tmp_path / "r.json"
    results.write_text(json.dumps([rec]))
    out = _invoke("tell", cfg, results)
    assert out.exit_code == 2, out.output
    assert "positive loading" in out.output


def test_every_metric_states_its_limits() -> None:
    for spec in METRICS.values():
        assert spec.low < spec.high and spec.limit
        assert spec.check(math.nan) and spec.check(math.inf)
        assert spec.check((spec.low + spec.high) / 2) is None


def test_the_optimiser_leaves_out_implausible_stored_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An old store holding 1e308 or -5 must not stop the campaign from proposing."""
    cfg = config_from_dict(yaml.safe_load(_config(tmp_path).read_text()))
    space = DesignSpace.from_campaign(cfg)
    opt = Optimiser(
        space,
        list(cfg.objectives),
        list(cfg.outcome_constraints),
        initial_designs=4,
        seed=3,
        settings=FAST,
    )
    sobol, _ = opt.propose([], [], 6)
    obs = [
        Observation(
            design=p.design,
            outcomes={"cycle_life": 50.0 + 30 * i, "areal_capacity_mAh_cm2": 1.0 + 0.1 * i},
        )
        for i, p in enumerate(sobol)
    ]
    obs[0] = Observation(obs[0].design, {"cycle_life": 1e308, "areal_capacity_mAh_cm2": 1.0})
    obs[1] = Observation(obs[1].design, {"cycle_life": -5.0, "areal_capacity_mAh_cm2": 1.2})
    with caplog.at_level(logging.WARNING, logger="optloop.optimiser.optimiser"):
        proposals, _ = opt.propose(obs, [], 1, iteration=1)
    assert len(proposals) == 1 and proposals[0].origin == "botorch"
    assert "cycle_life = 1e+308" in caplog.text and "cycle_life = -5.0" in caplog.text
