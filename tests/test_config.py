"""Config validation: every class of bad input gets one clear message (path, value, limit)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from optloop.config import config_from_dict, load_config
from optloop.exceptions import ConfigError
from optloop.space import DesignSpace

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def base() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())


def mutate(path: str, value: Any, data: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(data or base())
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


_DELETE = object()


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        cfg = config_from_dict(data, "test.yaml")
        DesignSpace.from_campaign(cfg)
    return info.value.messages


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_are_valid_and_have_feasible_designs(path: Path) -> None:
    cfg = load_config(path)
    space = DesignSpace.from_campaign(cfg)
    assert space.sample(3, seed=0)


CASES = [
    # (id, path, value, fragments that must all appear in one message)
    ("unknown_top_key", "sed", 3, ["sed", "unknown key", "3"]),
    (
        "unknown_nested_key",
        "space.alloy_layer.thicknes_um",
        [1, 2],
        ["space.alloy_layer.thicknes_um", "unknown key"],
    ),
    ("wrong_type_seed", "seed", "seven", ["seed", "'seven'"]),
    (
        "wrong_type_bounds",
        "space.alloy_layer.thickness_um",
        "thin",
        ["space.alloy_layer.thickness_um", "'thin'"],
    ),
    ("negative_seed", "seed", -1, ["seed", "-1", "greater than or equal to 0"]),
    (
        "empty_alloying",
        "space.alloy_layer.alloying_elements",
        [],
        ["space.alloy_layer.alloying_elements", "empty"],
    ),
    ("empty_methods", "space.alloy_layer.methods", {}, ["methods", "empty", "sputtering"]),
    ("empty_structures", "space.alloy_layer.structures", [], ["structures", "empty"]),
    (
        "non_claim_alloying",
        "space.alloy_layer.alloying_elements",
        ["Si", "Mg"],
        ["alloying_elements", "['Mg']", "Si, Ge" if False else "'Si', 'Ge'"],
    ),
    (
        "non_claim_inactive",
        "space.alloy_layer.non_alloying_elements",
        ["Mo"],
        ["non_alloying_elements", "['Mo']", "'Cu'"],
    ),
    (
        "duplicate_element",
        "space.alloy_layer.alloying_elements",
        ["Si", "Si"],
        ["more than once", "Si"],
    ),
    (
        "inverted_thickness",
        "space.alloy_layer.thickness_um",
        [2.0, 0.5],
        ["space.alloy_layer.thickness_um", "inverted", "[2, 0.5]"],
    ),
    (
        "inverted_condition",
        "space.alloy_layer.methods.sputtering.pressure_Pa",
        [3, 1],
        ["pressure_Pa", "inverted", "[3, 1]"],
    ),
    (
        "thickness_beyond_physics",
        "space.alloy_layer.thickness_um",
        [0.1, 500],
        ["thickness_um", "[0.1, 500]", "high <= 100"],
    ),
    (
        "condition_beyond_physics",
        "space.alloy_layer.methods.sputtering.substrate_temperature_C",
        [25, 2000],
        ["substrate_temperature_C", "2000", "-20-800"],
    ),
    (
        "unknown_condition",
        "space.alloy_layer.methods.sputtering.rate_nm_s",
        [1, 2],
        ["rate_nm_s", "unknown condition", "power_density_W_cm2"],
    ),
    ("unknown_method", "space.alloy_layer.methods.ald", {}, ["methods.ald", "'sputtering'"]),
    ("unknown_metric", "objectives.0.name", "power", ["objectives.0.name", "power", "cycle_life"]),
    ("bad_direction", "objectives.0.direction", "up", ["direction", "'up'", "maximize"]),
    (
        "unknown_positive",
        "space.cell.positive_electrodes",
        ["LMO"],
        ["positive_electrodes", "LMO", "NMC811"],
    ),
    ("unknown_layer_mode", "space.lithium_layer.mode", "maybe", ["mode", "'maybe'", "optional"]),
    (
        "credentials_in_uri",
        "tracking.uri",
        "http://bob:secret@127.0.0.1:5000",
        ["tracking.uri", "credentials", "MLFLOW_TRACKING_PASSWORD"],
    ),
    ("missing_space", "space", _DELETE, ["space", "missing"]),
    ("unknown_kernel", "optimiser.kernel", "matern", ["optimiser.kernel", "'matern'", "mixed"]),
]


@pytest.mark.parametrize("case_id,path,value,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_config_message(case_id: str, path: str, value: Any, fragments: list[str]) -> None:
    messages = errors_of(mutate(path, value))
    assert any(all(f in m for f in fragments) for m in messages), messages


IMPOSSIBLE = [
    (
        "budget_below_initial",
        {"optimiser": {"initial_designs": 9, "budget": 8}},
        ["initial_designs = 9", "budget = 8"],
    ),
    (
        "batch_above_budget",
        {"optimiser": {"batch_size": 20, "budget": 8, "initial_designs": 2}},
        ["batch_size = 20", "budget = 8"],
    ),
    (
        "more_slots_than_elements",
        {"space": {"alloy_layer": {"max_alloying_elements": 3}}},
        ["max_alloying_elements = 3", "only 2"],
    ),
    (
        "inactive_fraction_without_slot",
        {
            "space": {
                "alloy_layer": {
                    "max_non_alloying_elements": 0,
                    "non_alloying_fraction": [0.1, 0.3],
                }
            }
        },
        ["non_alloying_fraction", "max_non_alloying_elements is 0"],
    ),
    (
        "both_balances",
        {"space": {"cell": {"positive_loading_mAh_cm2": 3.0}}},
        ["exactly one of np_ratio or positive_loading_mAh_cm2"],
    ),
    (
        "np_below_minimum",
        {"space": {"cell": {"np_ratio": [0.9, 1.2]}}},
        ["np_ratio [0.9, 1.2]", "min_np_ratio = 1.05"],
    ),
    (
        "duplicate_objective",
        {
            "objectives": [
                {"name": "cycle_life", "reference": 1},
                {"name": "cycle_life", "reference": 2},
            ]
        },
        ["objective(s) ['cycle_life'] listed more than once"],
    ),
]


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v
    return dst


@pytest.mark.parametrize("case_id,patch,fragments", IMPOSSIBLE, ids=[c[0] for c in IMPOSSIBLE])
def test_impossible_combination(case_id: str, patch: dict[str, Any], fragments: list[str]) -> None:
    messages = errors_of(_merge(base(), patch))
    assert any(all(f in m for f in fragments) for m in messages), messages


def test_empty_space_is_refused_with_the_rules_reason() -> None:
    # Plating cannot deposit Si, so a Si-only plated space has no design at all.
    data = base()
    data["space"]["alloy_layer"]["alloying_elements"] = ["Si"]
    data["space"]["alloy_layer"]["methods"] = {"plating": {}}
    messages = errors_of(data)
    assert messages[0].startswith("space: no feasible design")
    assert any("plating" in m or "fits the method" in m for m in messages[1:]), messages


def test_amorphous_only_low_melting_space_is_empty() -> None:
    data = base()
    a = data["space"]["alloy_layer"]
    a.update(
        alloying_elements=["Sn"],
        non_alloying_elements=[],
        max_non_alloying_elements=0,
        non_alloying_fraction=[0, 0],
        structures=["amorphous"],
    )
    messages = errors_of(data)
    assert any("amorphous" in m and "crystallise" in m for m in messages), messages


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nspace: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert "line" in info.value.messages[0] and str(p) in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config("no/such/config.yaml")


def test_all_errors_reported_at_once() -> None:
    data = mutate("seed", "x", mutate("sed", 1))
    messages = errors_of(data)
    assert len(messages) >= 2
    assert any(m.startswith("seed") for m in messages) and any(
        m.startswith("sed") for m in messages
    )


def test_fixed_value_bounds_and_defaults() -> None:
    cfg = config_from_dict(mutate("space.alloy_layer.thickness_um", 0.5))
    assert cfg.space.alloy_layer.thickness_um.fixed
    # A method listed without conditions takes its full physical range.
    cfg = config_from_dict(mutate("space.alloy_layer.methods", {"sputtering": {}}))
    assert cfg.space.alloy_layer.methods["sputtering"]["pressure_Pa"].high == 10.0


def test_the_configured_kernel_reaches_the_optimiser(tmp_path: Path) -> None:
    from optloop.campaign import Campaign

    data = mutate("optimiser.kernel", "mixed")
    data["store"] = {"url": f"sqlite:///{tmp_path / 'c.db'}"}
    campaign = Campaign(config_from_dict(data))
    assert campaign.optimiser.settings.kernel == "mixed"
    assert config_from_dict(base()).optimiser.kernel == "auto"
