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
    data["evaluator"] = {"name": "optloop.evaluators._toy:ToyEvaluator"}
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


# --- 5. a refused run leaves nothing; unreadable or loosely typed input is refused -------------


@pytest.mark.parametrize("name", ["pybam", "nosuchmod:Cls"])
def test_a_refused_run_leaves_no_store_and_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the default store goes under ./runs/
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["evaluator"] = {"name": name}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = _invoke("run", cfg)
    assert out.exit_code == 2, out.output
    assert "evaluator.name" in out.output and repr(name) in out.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c.yaml"]


def test_a_run_refused_after_opening_its_new_store_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refusal found only once the evaluator is built (its options) leaves nothing either."""
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["evaluator"] = {"name": "toy_plugin:ExplodingPlugin"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = _invoke("run", cfg)
    assert out.exit_code == 2, out.output
    assert "failed in its constructor" in out.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c.yaml"]


def test_a_refused_run_keeps_an_existing_campaign(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    assert _invoke("ask", cfg, "-n", "1").exit_code == 0
    data["evaluator"] = {"name": "toy_plugin:ExplodingPlugin"}
    cfg.write_text(yaml.safe_dump(data))
    out = _invoke("run", cfg)
    assert out.exit_code == 2, out.output
    assert _counts(cfg)["proposed"] == 1


def test_a_binary_config_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    for cmd in ("validate", "run", "status"):
        out = _invoke(cmd, cfg)
        assert out.exit_code == 2, (cmd, out.output)
        assert "not a text file" in out.output and "0x89" in out.output
        assert "Traceback" not in out.output


DESIGN: dict[str, Any] = {
    "alloy_layer": {
        "composition": {"Si": 1.0},
        "thickness_um": 0.5,
        "structure": "amorphous",
        "method": "sputtering",
        "conditions": {
            "substrate_temperature_C": 100.0,
            "power_density_W_cm2": 4.0,
            "pressure_Pa": 0.5,
        },
    },
    "carbon_layer": {"thickness_um": 40.0, "porosity": 0.35},
    "cell": {"positive_electrode": "NMC811", "np_ratio": 1.15},
}


def _design(**alloy: Any) -> dict[str, Any]:
    d = json.loads(json.dumps(DESIGN))
    d["alloy_layer"].update(alloy)
    return d


def test_numeric_strings_in_a_design_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(_design(thickness_um="0.5")))
    out = _invoke("space", "check", ROOT / "configs" / "quick.yaml", path)
    assert out.exit_code == 2, out.output
    assert "alloy_layer.thickness_um" in out.output and "'0.5'" in out.output


# --- 6. evaluate refuses an infeasible design unless forced; messages name what is there -------


def _evaluate(tmp_path: Path, design: dict[str, Any], *extra: str) -> Result:
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    path = tmp_path / "d.json"
    path.write_text(json.dumps(design))
    return _invoke("evaluate", cfg, "--design", path, "--out", tmp_path / "out", *extra)


def test_evaluate_scores_a_feasible_design(tmp_path: Path) -> None:
    out = _evaluate(tmp_path, DESIGN)
    assert out.exit_code == 0, out.output
    assert "status: succeeded" in out.output and "forced" not in out.output


def test_evaluate_refuses_amorphous_tin(tmp_path: Path) -> None:
    amorphous_sn = _design(composition={"Sn": 1.0})
    out = _evaluate(tmp_path, amorphous_sn)
    assert out.exit_code == 1, out.output
    assert "INFEASIBLE" in out.output and "[amorphous_reachable]" in out.output
    assert "status:" not in out.output  # not evaluated
    forced = _evaluate(tmp_path, amorphous_sn, "--force")
    assert forced.exit_code == 0, forced.output
    assert "forced (--force)" in forced.output and "status: succeeded" in forced.output
    doc = json.loads(_evaluate(tmp_path, amorphous_sn, "--force", "--json").output)
    assert doc["forced"] is True and doc["rule_violations"]


def test_evaluate_refuses_a_positive_loading_under_the_limit(tmp_path: Path) -> None:
    low = _design()
    low["cell"] = {"positive_electrode": "NMC811", "positive_loading_mAh_cm2": 0.05}
    out = _evaluate(tmp_path, low, "--json")
    assert out.exit_code == 1, out.output
    doc = json.loads(out.output)
    assert doc["status"] == "infeasible"
    balance = [v for v in doc["rule_violations"] if v.startswith("[cell_balance]")]
    assert balance and "positive_loading_mAh_cm2 = 0.05" in balance[0]
    # The design has no lithium layer: no message may blame one.
    assert not any("lithium layer" in v or "Li excess" in v for v in doc["rule_violations"])


def test_cell_balance_messages_name_only_layers_the_design_has() -> None:
    from optloop.space import Design, check_design

    space = config_from_dict(yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())).space
    low = _design()
    low["cell"] = {"positive_electrode": "NMC811", "positive_loading_mAh_cm2": 0.05}
    messages = [v.message for v in check_design(Design.from_dict(low), space)]
    assert any("positive_loading_mAh_cm2 = 0.05" in m for m in messages)
    assert not any("lithium layer" in m or "Li excess" in m for m in messages), messages
    # A Li layer is named when it matters: here it over-fills the anode (plating hazard).
    with_li = dict(low, lithium_layer={"thickness_um": 20.0})
    messages = [v.message for v in check_design(Design.from_dict(with_li), space)]
    assert any("lithium layer" in m or "Li excess" in m for m in messages), messages


def test_a_binary_design_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    out = _invoke("space", "check", ROOT / "configs" / "quick.yaml", path)
    assert out.exit_code == 2, out.output
    assert "cannot read JSON" in out.output and "Traceback" not in out.output


def test_tell_refuses_a_censoring_flag_that_is_not_a_boolean(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    (a,) = _ask(cfg, 1)
    rec = _good(a)
    rec["censored"] = {"cycle_life": "false"}  # bool("false") is True: never coerce it
    results = tmp_path / "r.json"
    results.write_text(json.dumps([rec]))
    out = _invoke("tell", cfg, results)
    assert out.exit_code == 2, out.output
    assert "censored.cycle_life = 'false'; need true or false" in out.output


def test_tell_refuses_a_design_attached_twice(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    rec = {"design": DESIGN, "outcomes": {"cycle_life": 100, "areal_capacity_mAh_cm2": 1.0}}
    results = tmp_path / "r.json"
    results.write_text(json.dumps([rec, rec]))
    out = _invoke("tell", cfg, results)
    assert out.exit_code == 2, out.output
    assert "the same design is attached twice" in out.output
    assert _counts(cfg)["completed"] == 0


def test_a_refused_tick_leaves_no_store_and_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    data["evaluator"] = {"name": "toy_plugin:ToyPlugin", "options": {"polls": "many"}}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = _invoke("tick", cfg)
    assert out.exit_code == 2, out.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c.yaml"]
