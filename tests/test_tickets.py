"""Job tickets a technician can build from: the standard build, per-method settings,
tolerances, as-built values, rebuild tickets, and the lab's own feasibility rules."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from test_file_exchange import KNOWN, FakeClock, StandInLab, fade_frame, options, tid

from optloop.config import config_from_dict
from optloop.config.models import DesignSpaceConfig
from optloop.evaluators.base import JobState
from optloop.evaluators.file_exchange import (
    FileExchangeEvaluator,
    FileExchangeOptions,
    build_recipe,
    build_ticket,
    render_ticket_markdown,
)
from optloop.exceptions import ConfigError
from optloop.space import Design, DesignSpace, derive
from optloop.space.rules import check_design
from optloop.testing.designs import SMALL_SPACE

ROOT = Path(__file__).resolve().parents[1]


def _example() -> Any:
    spec = importlib.util.spec_from_file_location(
        "example_ticket", ROOT / "experiments" / "example_ticket.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["example_ticket"] = module
    spec.loader.exec_module(module)
    return module


def test_example_ticket_in_docs_is_current() -> None:
    for name, text in _example().render().items():
        assert (ROOT / "docs" / name).read_text(encoding="utf-8") == text, (
            f"docs/{name} is stale: run python experiments/example_ticket.py"
        )


def test_ternary_oxide_on_graphite_with_lithium_carries_every_setting() -> None:
    ex = _example()
    ticket = ex.example_ticket()
    md = render_ticket_markdown(ticket)
    carbon, film, lithium = ticket["recipe"]["layers"]
    assert (carbon["layer"], film["layer"], lithium["layer"]) == (
        "carbon", "complex oxide", "lithium")
    # The standard build, stated by the config, printed on the ticket.
    sb = ticket["standard_build"]
    assert sb["stated_in_config"] is True
    for text in ("coin cell CR2032", "anode disc 14 mm", "Cu foil, 10 µm",
                 "1 M LiPF6 in EC:DEC 1:1 (v/v) + 10 wt% FEC, 40 µL per cell",
                 "Celgard 2325 (PP/PE/PP), 25 µm, 16 mm disc",
                 "NMC811 sheets on Al foil from the lab's stock", "(tolerance ± 5 %)",
                 "rest 12 h at open circuit"):
        assert text in md, text
    # Co-sputtering: one target per metal, each with its power (from the lab's calibration,
    # the busiest at the design's 5 W/cm²) and rate; equal deposition time for all three.
    dep = film["deposition"]
    assert dep["method"] == "sputtering"
    sources = {s["element"]: s for s in dep["sources"]}
    assert set(sources) == {"Si", "Sn", "Cu"}
    assert max(s["power_density_W_cm2"] for s in sources.values()) == pytest.approx(5.0)
    rates = {"Si": 0.03, "Sn": 0.12, "Cu": 0.10}
    times = [s["equivalent_thickness_nm"] / (rates[e] * s["power_density_W_cm2"])
             for e, s in sources.items()]
    assert max(times) == pytest.approx(min(times), rel=1e-4)
    assert sum(s["rate_share"] for s in sources.values()) == pytest.approx(1.0, abs=1e-5)
    for e in ("Si", "Sn", "Cu"):
        assert re.search(rf"source: {e} target \(99.99 % or better\): .*power [0-9.]+ ± ", md)
    # Oxide: the reactive gas and its partial pressure from the lab's calibration
    # (0.3 O/M between [0, 0] and [0.5, 0.02 Pa]: 0.012 Pa).
    gas = dep["reactive_gas"]
    assert gas["gas"] == "O2" and gas["target_O_per_metal"] == 0.3
    assert gas["partial_pressure_Pa"] == pytest.approx(0.012, rel=1e-9)
    assert "O2 partial pressure 0.012 Pa, total pressure 0.6 Pa" in md
    # The lithium layer's method, the graphite formulation.
    assert lithium["deposition"]["method"] == "thermal_evaporation"
    assert "method: thermal evaporation, rate 2 nm/s (750 s)" in md
    assert carbon["formulation_wt_percent"] == {"graphite": 94, "carbon black": 2, "CMC": 2,
                                                "SBR": 2}
    assert "formulation (wt.%): graphite 94, carbon black 2, CMC 2, SBR 2" in md
    # Coating mass holds the graphite: 94 wt% of it (1e-5 rel., rounding to 6 digits).
    assert carbon["expected_areal_mass_mg_cm2"] / carbon["expected_coating_mass_mg_cm2"] == (
        pytest.approx(0.94, rel=1e-5))
    # Tolerances on every target; as-built keys for each.
    assert "300 nm ± 10 %" in md and "(each ± 2 at.%)" in md
    assert "40 µm ± 10 %" in md and "porosity 35 ± 3 %" in md
    assert "substrate temperature 150 ± 5 °C" in md
    keys = set(ticket["as_built"]["targets"])
    assert {"film_thickness_nm", "film_Si_at_percent", "film_Sn_at_percent",
            "film_Cu_at_percent", "film_O_per_metal", "target_Sn_power_density_W_cm2",
            "graphite_thickness_um", "graphite_coating_mass_mg_cm2", "lithium_thickness_um",
            "positive_loading_mAh_cm2", "electrolyte_volume_uL"} <= keys
    assert all(t["tolerance"] > 0 for t in ticket["as_built"]["targets"].values())
    # The cycle count and formation, said outright.
    assert ticket["protocol"]["cycles_include_formation"] is False
    assert "Then 200 cycles (formation not included: 201 cycles on the cycler in all)" in md
    # One spelling per unit.
    for ascii_unit in ("degC", "^2", " um", "uL "):
        assert ascii_unit not in md, ascii_unit
    units = {c["unit"] for c in dep["conditions"]}
    assert units == {"W/cm²", "Pa", "°C"}


def _with(design: dict[str, Any], **alloy: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(design))
    out["alloy_layer"].update(alloy)
    return out


def test_settings_per_method_without_calibrations() -> None:
    opts = FileExchangeOptions.from_dict({"root": "/x"})  # no standard build: defaults
    ticket = build_ticket(trial_id="t-1", job_id="fx-t-1", created_utc="2026-01-01T00:00:00",
                          design=_with(KNOWN, oxygen_ratio=0.5), fidelity="full", options=opts)
    md = render_ticket_markdown(ticket)
    assert ticket["standard_build"]["stated_in_config"] is False
    assert "Not stated in the campaign config" in md
    film = ticket["recipe"]["layers"][1]
    si, cu = film["deposition"]["sources"]
    # Without a rate calibration only the main target's power is known (the design's).
    assert si["power_density_W_cm2"] == 4.0 and cu["power_density_W_cm2"] is None
    assert "power from your rate calibration" in md
    gas = film["deposition"]["reactive_gas"]
    assert gas["partial_pressure_Pa"] is None
    assert "no lab calibration" in gas["partial_pressure_basis"]

    evap = _with(KNOWN, method="vapour_deposition",
                 conditions={"substrate_temperature_C": 100.0, "deposition_rate_nm_s": 2.0})
    dep = build_recipe(evap, opts)["layers"][1]["deposition"]
    # 500 nm at 2 nm/s: 250 s; each source's rate is its equivalent thickness over 250 s.
    for src in dep["sources"]:
        assert src["rate_nm_s"] == pytest.approx(src["equivalent_thickness_nm"] / 250.0, rel=1e-5)
    assert dep["reactive_gas"] is None

    cvd = _with(KNOWN, composition={"Si": 0.8, "Ni": 0.2}, method="cvd",
                conditions={"substrate_temperature_C": 500.0, "pressure_Pa": 50.0,
                            "deposition_rate_nm_s": 1.0})
    srcs = build_recipe(cvd, opts)["layers"][1]["deposition"]["sources"]
    assert [s["source"] for s in srcs] == [
        "precursor SiH4", "precursor (the lab's precursor of Ni)"]

    plated = _with(KNOWN, composition={"Sn": 0.7, "Cu": 0.3}, method="plating",
                   oxygen_ratio=0.4, structure="crystalline",
                   conditions={"bath_temperature_C": 40.0, "current_density_mA_cm2": 10.0})
    gas = build_recipe(plated, opts)["layers"][1]["deposition"]["reactive_gas"]
    assert gas["how"].startswith("plate the metals, then anneal in O2")

    foil = FileExchangeOptions.from_dict(
        {"root": "/x", "standard_build": {"lithium_layer": {
            "method": "foil_lamination", "foil": "20 um Li on Cu, supplier X"}}})
    li = build_recipe(KNOWN, foil)["layers"][2]["deposition"]
    assert li["method"] == "foil_lamination" and "rate_nm_s" not in li
    assert li["foil"] == "20 um Li on Cu, supplier X"


def test_rebuild_ticket_says_what_it_replaces_and_why(tmp_path: Path) -> None:
    root = tmp_path / "exchange"
    ev = FileExchangeEvaluator(options(root), clock=FakeClock())
    ev.submit(KNOWN, trial_id="camp.trial-0003")
    other = ev.submit(_with(KNOWN, thickness_um=0.2), trial_id="camp.trial-0004")
    twin = ev.submit(KNOWN, trial_id="camp.trial-0005")  # the same design, another trial
    StandInLab(root).send("lost", {"trial_id": tid(root, "camp.trial-0003"), "cell_id": "C7",
                                   "final": True, "status": "lost",
                                   "reason": "shorted at crimping"})
    assert ev.status("fx-camp.trial-0003").state is JobState.LOST
    StandInLab(root).send("lost5", {"trial_id": tid(root, "camp.trial-0005"), "cell_id": "C9",
                                    "final": True, "status": "lost", "reason": "dropped"})
    assert ev.status(twin).state is JobState.LOST  # lost later: newest, but not the family
    ev.submit(KNOWN, trial_id="camp.trial-0003-r1")
    ticket = json.loads((root / "outbox" / "camp.trial-0003-r1.ticket.json").read_text())
    assert ticket["rebuild"] == {"replaces": "camp.trial-0003",
                                 "reason": "lab reported lost: shorted at crimping",
                                 "attempt": 2}
    md = (root / "outbox" / "camp.trial-0003-r1.ticket.md").read_text()
    assert "**Rebuild (cell 2): replaces `camp.trial-0003`, lost: lab reported lost: " in md
    first = json.loads((root / "outbox" / "camp.trial-0003.ticket.json").read_text())
    assert first["rebuild"] is None
    assert ev.status(other).state is JobState.QUEUED  # an unrelated trial is not a rebuild


def test_as_built_values_flow_into_the_result(tmp_path: Path) -> None:
    root = tmp_path / "exchange"
    ev = FileExchangeEvaluator(options(root), clock=FakeClock())
    job = ev.submit(KNOWN, trial_id="trial-0001")
    lab = StandInLab(root)
    ticket = lab.ticket("trial-0001")
    targets = ticket["as_built"]["targets"]
    as_built = {"film_thickness_nm": 520.0,  # 500 +/- 50: within
                "graphite_thickness_um": 46.0,  # 40 +/- 4: outside
                "operator_remark": "re-punched"}  # no target
    lab.send("c1", {"trial_id": ticket["trial_id"], "cell_id": "C1", "final": True,
                    "as_built": as_built}, fade_frame(ticket))
    result = ev.fetch(job)
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["as_built"] == as_built
    rows = {r["key"]: r for r in result.metadata["as_built_check"]}
    assert rows["film_thickness_nm"]["within"] is True
    assert rows["film_thickness_nm"]["target"] == targets["film_thickness_nm"]["target"] == 500
    assert rows["graphite_thickness_um"]["within"] is False
    assert rows["operator_remark"]["within"] is None
    assert result.metadata["as_built_out_of_tolerance"] == ["graphite_thickness_um"]


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ({"electrolyte": {"volume_uL": -5}},
         "evaluator.options.standard_build.electrolyte.volume_uL: Input should be greater than 0 "
         "(got -5)"),
        ({"graphite": {"formulation_wt_percent": {"graphite": 90, "PVDF": 5}}},
         "shares sum to 95 wt%; limit: 100 +/- 0.5 wt%"),
        ({"separator": {"diameter_mm": 12}},
         "separator.diameter_mm=12 must exceed cell_format.electrode_diameter_mm=14"),
        ({"cell_format": {"electrode_diameter_mm": 16}, "separator": {"diameter_mm": 19}},
         "electrode_diameter_mm=16 makes 2.01 cm², but electrode_area_cm2=1.54; limit: within "
         "2 %"),
        ({"reactive_gas": {"calibration": [[0.5, 0.02], [0.2, 0.01]]}}, "must increase"),
        ({"lithium_layer": {"method": "sprinkling"}}, "lithium_layer.method"),
        ({"electrolyte": {"volume": 40}}, "electrolyte.volume: unknown key"),
    ],
)
def test_standard_build_errors_name_field_value_and_limit(
    build: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        FileExchangeOptions.from_dict({"root": "/x", "standard_build": build})
    assert expected in str(info.value)


def _space(**extra: Any) -> DesignSpaceConfig:
    return DesignSpaceConfig.model_validate({**SMALL_SPACE, **extra})


STOCK = {"name": "cathode_stock", "quantity": "positive_loading_mAh_cm2", "min": 2.2,
         "max": 4.0, "reason": "the lab's sheets span 2.2-4 mAh/cm²"}


def test_lab_rules_refuse_what_the_lab_cannot_build_and_the_sampler_obeys() -> None:
    free = DesignSpace(_space()).sample(30, seed=3)
    loadings = [derive(d).positive_loading_mAh_cm2 for d in free]
    assert min(loadings) < 2.2  # without the rule the space holds lower loadings
    ruled = _space(lab_rules=[STOCK])
    low = next(d for d in free if derive(d).positive_loading_mAh_cm2 < 2.2)
    v = [str(x) for x in check_design(low, ruled)]
    assert len(v) == 1
    assert v[0].startswith("[lab_rules] cathode_stock: positive_loading_mAh_cm2 = ")
    assert "limit >= 2.2 (the lab's sheets span 2.2-4 mAh/cm²)" in v[0]
    sampled = DesignSpace(ruled).sample(30, seed=3)
    assert all(2.2 <= derive(d).positive_loading_mAh_cm2 <= 4.0 for d in sampled)


def test_lab_rule_conditions_and_allowed_values() -> None:
    design = DesignSpace(_space()).sample(1, seed=0)[0]
    d = design.to_dict()
    method = d["alloy_layer"]["method"]
    only_other = {"name": "tools", "quantity": "alloy_layer.method",
                  "one_of": [m for m in ("sputtering", "plating") if m != method],
                  "reason": "the lab has no other deposition tool"}
    assert [x.rule for x in check_design(design, _space(lab_rules=[only_other]))] == ["lab_rules"]
    thin = {"name": "thin", "quantity": "alloy_layer.thickness_um", "max": 0.01,
            "when": {"alloy_layer.method": "cvd"}, "reason": "one CVD run"}
    if method != "cvd":  # the condition does not hold: the rule does not apply
        assert check_design(design, _space(lab_rules=[thin])) == []
    no_li = {"name": "li", "quantity": "lithium_layer.thickness_um", "max": 0.0,
             "reason": "no evaporator"}
    with_li = Design.from_dict({**d, "lithium_layer": None})
    assert check_design(with_li, _space(lab_rules=[no_li])) == []  # absent layer: not refused


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({**STOCK, "quantity": "positive_loading"},
         "quantity='positive_loading' is not a design field or derived property"),
        ({**STOCK, "min": 5.0}, "min=5 exceeds max=4; limit: min <= max"),
        ({"name": "x", "quantity": "cell.np_ratio", "reason": "r"}, "bounds nothing"),
        ({**STOCK, "when": {"alloy_layer.colour": "red"}}, "'alloy_layer.colour' is not"),
    ],
)
def test_bad_lab_rules_are_refused_at_load(rule: dict[str, Any], expected: str) -> None:
    raw = {"name": "c", "space": {**SMALL_SPACE, "lab_rules": [rule]},
           "objectives": [{"name": "cycle_life", "reference": 10}]}
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert expected in str(info.value) and "space.lab_rules.0" in str(info.value)


def test_rule_quantities_name_every_derived_property() -> None:
    from dataclasses import fields

    from optloop.config.models import DERIVED_QUANTITIES
    from optloop.space import DerivedProperties

    assert set(DERIVED_QUANTITIES) == {f.name for f in fields(DerivedProperties)} - {"alloy"}


def test_describe_and_check_name_the_lab_rules(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from optloop.cli import cli

    cfg = str(ROOT / "configs" / "lab-rehearsal.yaml")
    out = CliRunner().invoke(cli, ["space", "describe", cfg]).output
    assert "  cathode_stock: positive_loading_mAh_cm2 >= 0.5 and <= 4 (the lab's NMC811" in out
    # A thin film alone on an N/P 1.1 cell needs a 0.17 mAh/cm2 cathode: not in the stock.
    low = {"alloy_layer": {"composition": {"Si": 0.8, "Cu": 0.2}, "oxygen_ratio": 0.0,
                           "thickness_um": 0.3, "structure": "amorphous", "method": "sputtering",
                           "conditions": {"substrate_temperature_C": 100,
                                          "power_density_W_cm2": 3, "pressure_Pa": 0.5}},
           "carbon_layer": None, "lithium_layer": None,
           "cell": {"positive_electrode": "NMC811", "np_ratio": 1.1}}
    path = tmp_path / "low.json"
    path.write_text(json.dumps(low))
    checked = CliRunner().invoke(cli, ["space", "check", cfg, str(path)])
    assert checked.exit_code == 1
    assert re.search(r"\[lab_rules\] cathode_stock: positive_loading_mAh_cm2 = 0\.17\d*; "
                     r"limit >= 0\.5 \(the lab's NMC811", checked.output)
