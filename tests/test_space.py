"""The design space: feasible sampling, loss-free encoding, rules and claims."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optloop.config import config_from_dict, load_config
from optloop.exceptions import DesignError, InfeasibleDesignError
from optloop.space import Design, DesignSpace, claims_practised, derive
from optloop.space.derived import POSITIVE_FIRST_CYCLE_EFFICIENCY

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = load_config(ROOT / "configs" / "default.yaml")
QUICK = load_config(ROOT / "configs" / "quick.yaml")


def design(**over: Any) -> Design:
    """A hand-made design in the default space; keyword paths override parts of it."""
    data: dict[str, Any] = {
        "alloy_layer": {
            "composition": {"Si": 0.8, "Cu": 0.2},
            "oxygen_ratio": 0.0,
            "thickness_um": 0.5,
            "structure": "amorphous",
            "method": "sputtering",
            "conditions": {
                "substrate_temperature_C": 100.0,
                "power_density_W_cm2": 3.0,
                "pressure_Pa": 0.5,
            },
        },
        "carbon_layer": {"thickness_um": 40.0, "porosity": 0.35},
        "lithium_layer": None,
        "cell": {"positive_electrode": "NMC811", "np_ratio": 1.1},
    }
    for path, value in over.items():
        node = data
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return Design.from_dict(data)


# --- sampling -------------------------------------------------------------------------------

# A family of spaces: random subsets of elements and methods over the default config.
ALLOY = ["Si", "Ge", "Sn", "Al", "Pb", "Ag", "In", "Cd", "Pd"]
INACTIVE = ["Cu", "Fe", "B", "Ni", "Ti", "Ta", "W", "Cr", "Co"]
METHODS = {
    "sputtering": {"substrate_temperature_C": [25, 600], "pressure_Pa": [0.2, 5]},
    "vapour_deposition": {},
    "cvd": {"substrate_temperature_C": [300, 700]},
    "plating": {},
}


@st.composite
def spaces(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(yaml.safe_load((ROOT / "configs" / "default.yaml").read_text()))
    a = data["space"]["alloy_layer"]
    a["alloying_elements"] = draw(
        st.lists(st.sampled_from(ALLOY), min_size=1, max_size=4, unique=True)
    )
    a["non_alloying_elements"] = draw(
        st.lists(st.sampled_from(INACTIVE), min_size=1, max_size=4, unique=True)
    )
    a["max_alloying_elements"] = draw(st.integers(1, len(a["alloying_elements"])))
    a["max_non_alloying_elements"] = draw(st.integers(0, min(2, len(a["non_alloying_elements"]))))
    if a["max_non_alloying_elements"] == 0:
        a["non_alloying_fraction"] = [0.0, 0.0]
    names = draw(st.lists(st.sampled_from(sorted(METHODS)), min_size=1, max_size=4, unique=True))
    a["methods"] = {m: METHODS[m] for m in names}
    a["oxygen_ratio"] = draw(st.sampled_from([None, [0.0, 1.0]]))
    a["structures"] = draw(
        st.sampled_from([["amorphous"], ["crystalline"], ["amorphous", "crystalline"]])
    )
    data["space"]["carbon_layer"]["mode"] = draw(
        st.sampled_from(["optional", "required", "absent"])
    )
    data["space"]["lithium_layer"]["mode"] = draw(
        st.sampled_from(["optional", "required", "absent"])
    )
    return data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=spaces(), seed=st.integers(0, 2**31))
def test_sampling_only_yields_feasible_designs(data: dict[str, Any], seed: int) -> None:
    cfg = config_from_dict(data)
    space = DesignSpace(cfg.space)
    try:
        designs = space.sample(6, seed)
    except InfeasibleDesignError:
        # An empty (or nearly empty) space is refused with reasons, never sampled wrongly.
        return
    assert len(designs) == 6
    for d in designs:
        assert space.violations(d) == []
        comp = d.alloy_layer.composition  # type: ignore[union-attr]
        assert abs(sum(comp.values()) - 1.0) < 1e-9
        assert all(x >= cfg.space.alloy_layer.min_element_fraction - 1e-12 for x in comp.values())


def test_sampling_is_reproducible_by_seed() -> None:
    space = DesignSpace(DEFAULT.space)
    a = [d.key() for d in space.sample(10, seed=11)]
    b = [d.key() for d in space.sample(10, seed=11)]
    c = [d.key() for d in space.sample(10, seed=12)]
    assert a == b and a != c


def test_sampling_covers_the_space() -> None:
    designs = DesignSpace(DEFAULT.space).sample(300, seed=0)
    methods = {d.alloy_layer.method for d in designs}  # type: ignore[union-attr]
    elements = {s for d in designs for s in d.alloy_layer.composition}  # type: ignore[union-attr]
    assert methods == set(DEFAULT.space.alloy_layer.methods)
    assert elements == set(DEFAULT.space.alloy_layer.alloying_elements) | set(
        DEFAULT.space.alloy_layer.non_alloying_elements
    )
    assert any(d.carbon_layer is None for d in designs)
    assert any(d.lithium_layer is not None for d in designs)
    # No plated design ever contains Si, Ge or Al.
    plated = [d for d in designs if d.alloy_layer.method == "plating"]  # type: ignore[union-attr]
    assert plated and all(
        not {"Si", "Ge", "Al", "Ti"} & set(d.alloy_layer.composition) for d in plated
    )  # type: ignore[union-attr]


# --- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["one_hot", "descriptors"])
@pytest.mark.parametrize("cfg", [DEFAULT, QUICK], ids=["default", "quick"])
def test_encode_decode_round_trip(cfg: Any, encoding: str) -> None:
    space = DesignSpace(cfg.space, encoding)  # type: ignore[arg-type]
    for d in space.sample(60, seed=5):
        x = space.encode(d)
        assert x.shape == (space.encoder.dim,)
        assert np.all(x >= space.encoder.bounds[0] - 1e-12)
        assert np.all(x <= space.encoder.bounds[1] + 1e-12)
        back = space.decode(x)
        assert back == d, (d, back)
        np.testing.assert_array_equal(space.encode(back), x)


def test_descriptor_columns_differ_from_one_hot() -> None:
    one_hot = DesignSpace(DEFAULT.space, "one_hot").encoder
    descr = DesignSpace(DEFAULT.space, "descriptors").encoder
    assert any(c.kind == "descriptor" for c in descr.columns)
    assert not any(c.kind == "descriptor" for c in one_hot.columns)
    assert any(c.name.endswith("electronegativity_pauling") for c in descr.columns)


def test_decode_snaps_relaxed_vectors() -> None:
    space = DesignSpace(DEFAULT.space, "descriptors")
    d = space.sample(1, seed=3)[0]
    x = space.encode(d)
    noisy = x + np.where([c.kind == "descriptor" for c in space.encoder.columns], 1e-3, 0.0)
    assert space.decode(noisy).alloy_layer.composition == d.alloy_layer.composition  # type: ignore[union-attr]


# --- rules ----------------------------------------------------------------------------------


def rules_broken(d: Design, cfg: Any = DEFAULT) -> set[str]:
    return {v.rule for v in DesignSpace(cfg.space).violations(d)}


def test_hand_made_design_is_feasible() -> None:
    assert rules_broken(design()) == set()


PLATING = {"bath_temperature_C": 40.0, "current_density_mA_cm2": 10.0}


@pytest.mark.parametrize("element", ["Si", "Ge", "Al"])
def test_plating_cannot_deposit(element: str) -> None:
    d = design(
        alloy_layer__method="plating",
        alloy_layer__conditions=PLATING,
        alloy_layer__structure="crystalline",
        alloy_layer__composition={element: 0.8, "Cu": 0.2},
    )
    violations = DesignSpace(DEFAULT.space).violations(d)
    msg = [v.message for v in violations if v.rule == "plating_elements"]
    assert msg and element in msg[0] and "hydrogen" in msg[0]


def test_plated_tin_copper_is_feasible() -> None:
    d = design(
        alloy_layer__method="plating",
        alloy_layer__conditions=PLATING,
        alloy_layer__structure="crystalline",
        alloy_layer__composition={"Sn": 0.8, "Cu": 0.2},
    )
    assert rules_broken(d) == set()


def test_low_melting_metal_alone_is_not_amorphous() -> None:
    d = design(alloy_layer__composition={"Sn": 1.0})
    assert "amorphous_reachable" in rules_broken(d)
    # ... but co-deposited with >= 20 % of a transition metal it can be (Sn-Co, Dahn).
    ok = design(alloy_layer__composition={"Sn": 0.7, "Cu": 0.3})
    assert "amorphous_reachable" not in rules_broken(ok)


def test_hot_sputtered_silicon_crystallises() -> None:
    d = design(
        alloy_layer__composition={"Si": 0.9, "Cu": 0.1},
        alloy_layer__conditions={
            "substrate_temperature_C": 420.0,
            "power_density_W_cm2": 3.0,
            "pressure_Pa": 0.5,
        },
    )
    v = [x for x in DesignSpace(DEFAULT.space).violations(d) if x.rule == "amorphous_reachable"]
    assert v and "420" in v[0].message and "400" in v[0].message


def test_space_rules_name_value_and_limit() -> None:
    d = design(alloy_layer__thickness_um=5.0, alloy_layer__composition={"Si": 0.5, "Cu": 0.5})
    messages = [str(v) for v in DesignSpace(DEFAULT.space).violations(d)]
    assert any("thickness_um = 5" in m and "[0.05, 3]" in m for m in messages), messages
    assert any("non-alloying fraction = 0.5" in m and "[0, 0.4]" in m for m in messages)


def test_lithium_excess_that_overfills_the_anode_is_refused() -> None:
    d = design(
        carbon_layer=None, alloy_layer__thickness_um=0.1, lithium_layer={"thickness_um": 8.0}
    )
    v = [x for x in DesignSpace(DEFAULT.space).violations(d) if x.rule == "cell_balance"]
    assert any("plating hazard" in x.message and "over-fills" in x.message for x in v), v
    # A Li layer never shrinks the positive (N/P counts reversible capacities only): on a
    # 1 um film the same layer plates far beyond the anode's free capacity, and is refused.
    thick = design(
        carbon_layer=None, alloy_layer__thickness_um=1.0, lithium_layer={"thickness_um": 8.0}
    )
    plain = design(carbon_layer=None, alloy_layer__thickness_um=1.0)
    assert derive(thick).positive_loading_mAh_cm2 == derive(plain).positive_loading_mAh_cm2
    v = [x for x in DesignSpace(DEFAULT.space).violations(thick) if x.rule == "cell_balance"]
    assert len(v) == 1 and "plating hazard" in v[0].message, v


def test_check_raises_with_every_rule() -> None:
    d = design(alloy_layer__composition={"Sn": 1.0}, alloy_layer__thickness_um=9.0)
    with pytest.raises(InfeasibleDesignError) as info:
        DesignSpace(DEFAULT.space).check(d)
    text = str(info.value)
    assert "amorphous_reachable" in text and "alloy_in_space" in text


def test_malformed_design_names_the_field() -> None:
    with pytest.raises(DesignError) as info:
        design(alloy_layer__composition={"Si": 0.7, "Cu": 0.2})
    assert "sum to 0.9" in str(info.value) and "alloy_layer.composition" in str(info.value)
    with pytest.raises(DesignError, match="Mg"):
        design(alloy_layer__composition={"Si": 0.5, "Mg": 0.5})
    with pytest.raises(DesignError, match="conditions for method 'plating'"):
        design(alloy_layer__method="plating")


# --- claims ---------------------------------------------------------------------------------

CLAIM_CASES = [
    ("si_cu_on_carbon_amorphous", {}, [1, 2, 3, 4, 5, 6, 7, 8, 10]),
    (
        "pure_si_no_carbon",
        {"alloy_layer__composition": {"Si": 1.0}, "carbon_layer": None},
        [1, 3, 7, 8, 10],
    ),
    (
        "crystalline_with_li",
        {"alloy_layer__structure": "crystalline", "lithium_layer": {"thickness_um": 1.0}},
        [1, 2, 3, 4, 5, 6, 7, 9, 10],
    ),
]


@pytest.mark.parametrize("case_id,over,expected", CLAIM_CASES, ids=[c[0] for c in CLAIM_CASES])
def test_claims_practised(case_id: str, over: dict[str, Any], expected: list[int]) -> None:
    assert claims_practised(design(**over)) == expected


def test_graphite_only_practises_no_claim() -> None:
    d = design(alloy_layer=None)
    assert claims_practised(d) == []


# --- derived --------------------------------------------------------------------------------


def test_derived_balance_and_swelling() -> None:
    d = design()
    p = derive(d)
    assert p.np_ratio == pytest.approx(1.1)
    # N/P definition: Q_neg = N/P * Q_pos, reversible capacities (a Li layer is not in it).
    assert p.positive_loading_mAh_cm2 * 1.1 == pytest.approx(p.negative_areal_capacity_mAh_cm2)
    assert p.swollen_thickness_um > p.anode_thickness_um
    thin = derive(design(alloy_layer__thickness_um=0.1))
    assert thin.alloy_areal_capacity_mAh_cm2 == pytest.approx(p.alloy_areal_capacity_mAh_cm2 / 5)
    # A Li layer covers the first-cycle loss: the cyclable share of the positive rises, and
    # so does the first-cycle efficiency ceiling of a lossy (oxide) film, up to the positive's
    # own first-cycle efficiency, which no design exceeds.
    li = derive(design(lithium_layer={"thickness_um": 1.0}))
    assert li.positive_cyclable_fraction > p.positive_cyclable_fraction
    assert li.first_cycle_efficiency_max >= p.first_cycle_efficiency_max
    oxide = derive(design(alloy_layer__oxygen_ratio=0.5, carbon_layer=None))
    li_2um = {"thickness_um": 2.0}
    oxide_li = derive(
        design(alloy_layer__oxygen_ratio=0.5, carbon_layer=None, lithium_layer=li_2um)
    )
    assert oxide.first_cycle_efficiency_max < oxide_li.first_cycle_efficiency_max
    for q in (p, li, oxide, oxide_li):
        assert q.first_cycle_efficiency_max <= POSITIVE_FIRST_CYCLE_EFFICIENCY


def test_fully_silicided_film_is_refused() -> None:
    # 2 Si per Ni (NiSi2): Si0.6Ni0.4 has no Si left to alloy with lithium.
    d = design(alloy_layer__composition={"Si": 0.65, "Ni": 0.35})
    v = [x for x in DesignSpace(DEFAULT.space).violations(d) if x.rule == "alloy_stores_lithium"]
    assert v and "stores no lithium" in v[0].message and "NiSi2" in v[0].message


def test_first_cycle_loss_that_leaves_no_cyclable_lithium_is_refused() -> None:
    # A thick SiO2-like film alone: reducing its oxide eats more Li than the positive holds.
    d = design(
        alloy_layer__composition={"Si": 1.0},
        alloy_layer__oxygen_ratio=2.0,
        alloy_layer__thickness_um=3.0,
        alloy_layer__structure="crystalline",
        carbon_layer=None,
    )
    v = [x for x in DesignSpace(DEFAULT.space).violations(d) if x.rule == "cell_balance"]
    assert v and "cyclable" in v[0].message and "less oxygen" in v[0].message
    # With a lithium layer covering the loss the same film balances.
    ok = design(
        alloy_layer__composition={"Si": 1.0},
        alloy_layer__oxygen_ratio=2.0,
        alloy_layer__thickness_um=3.0,
        alloy_layer__structure="crystalline",
        carbon_layer=None,
        lithium_layer={"thickness_um": 8.0},
    )
    assert "cell_balance" not in {x.rule for x in DesignSpace(DEFAULT.space).violations(ok)}
